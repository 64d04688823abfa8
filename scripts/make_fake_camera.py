"""Build .y4m videos for Chromium's fake camera (``--use-file-for-fake-video-capture``).

Two cameras, both generated, nothing downloaded:

- ``document.y4m``: a still of a synthetic TD1 identity card (portrait from the shared face set)
  on a desk, the way a rear camera sees a card held under it;
- ``face.y4m``: the shared head-turn clip (a real person turning left and right), so the selfie
  frames the browser uploads show a moving head, not a frozen photo.

Usage: ``python scripts/make_fake_camera.py OUT_DIR [--datasets ../shared/datasets]``.
Needs Debian ``ffmpeg``. Files are rebuilt only when missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.synthetic.documents import make_id_card  # noqa: E402

DOCUMENT_SIZE = (1280, 960)  # 4:3, what a phone's rear camera streams by default
FACE_SIZE = (640, 360)
FACE_FPS = 10
DOCUMENT_FACE = "faces/img2.jpg"
FACE_CLIP = "liveness/short_hamilton_clip.mp4"


class FakeCameraError(RuntimeError):
    """ffmpeg is missing or failed."""


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise FakeCameraError("ffmpeg not found: apt-get install -y ffmpeg")
    return path


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise FakeCameraError(f"ffmpeg failed: {result.stderr[-800:]}")


def document_still(datasets_dir: Path, seed: int = 3) -> np.ndarray:
    """The synthetic card the document camera shows (also usable as an upload)."""
    face = datasets_dir / DOCUMENT_FACE
    return make_id_card(np.random.default_rng(seed), face if face.exists() else None).image_rgb


def still_to_y4m(rgb: np.ndarray, out_path: Path, size: tuple[int, int], frames: int = 3) -> Path:
    """A few identical frames (Chromium loops the file) at ``size``."""
    with tempfile.TemporaryDirectory() as tmp:
        still = Path(tmp) / "still.png"
        Image.fromarray(rgb).save(still)
        _run(
            [
                _ffmpeg(), "-y", "-loglevel", "error", "-loop", "1", "-i", str(still),
                "-frames:v", str(frames), "-r", "10",
                "-vf", f"scale={size[0]}:{size[1]}:flags=lanczos", "-pix_fmt", "yuv420p",
                str(out_path),
            ]
        )  # fmt: skip
    return out_path


def clip_to_y4m(clip: Path, out_path: Path, size: tuple[int, int], fps: int) -> Path:
    """The head-turn clip, resampled to ``fps`` so the file stays small."""
    _run(
        [
            _ffmpeg(), "-y", "-loglevel", "error", "-i", str(clip),
            "-vf", f"fps={fps},scale={size[0]}:{size[1]}", "-pix_fmt", "yuv420p", "-an",
            str(out_path),
        ]
    )  # fmt: skip
    return out_path


def build_document_camera(out_dir: Path, datasets_dir: Path) -> Path:
    """``out_dir/document.y4m`` (built when missing); the portrait is blank without the data."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = out_dir / "document.y4m"
    if not document.exists():
        still_to_y4m(document_still(datasets_dir), document, DOCUMENT_SIZE)
    return document


def build_face_camera(out_dir: Path, datasets_dir: Path) -> Path:
    """``out_dir/face.y4m`` from the shared head-turn clip (built when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    face = out_dir / "face.y4m"
    if not face.exists():
        clip_to_y4m(datasets_dir / FACE_CLIP, face, FACE_SIZE, FACE_FPS)
    return face


def build_fake_cameras(out_dir: Path, datasets_dir: Path) -> dict[str, Path]:
    """``{"document": ..., "face": ...}`` y4m paths in ``out_dir`` (built when missing)."""
    return {
        "document": build_document_camera(out_dir, datasets_dir),
        "face": build_face_camera(out_dir, datasets_dir),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--datasets", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    for name, path in build_fake_cameras(args.out_dir, args.datasets).items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
