"""What the gateway spends on one dense selfie: the framing check per still, and cleaning the
frames of one challenge before they are stored (both run in the gateway process, not the worker).

Frames are a real clip (liveness/real/d9.mp4) at the page's 480 px, JPEG 0.8, as
``tests/e2e/flow_support.real_face_frames`` makes them; the browser's own figures (capture
rate, upload bytes) come from the browser tests (docs/hosted-flow.md).

Usage (repo root, venv active):
    nice python bench/flow_selfie_bench.py [--frames 102] [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.services.capture_rules import MAX_FRAME_SIDE_PX, SELFIE_CAPTURE  # noqa: E402
from gateway.services.image_policy import clean_image  # noqa: E402
from gateway.services.selfie_capture import FRAMING_MIN_FACE_PX  # noqa: E402
from gateway.verification.images import decode_image  # noqa: E402
from gateway.verification.liveness.selfie_check import check_selfie  # noqa: E402
from tests.e2e.flow_support import real_face_frames  # noqa: E402


def summary(name: str, times_ms: list[float]) -> str:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{name:<34} median {statistics.median(ordered):7.1f} ms   p90 {p90:7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=102, help="one three-prompt challenge")
    parser.add_argument("--datasets", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    args = parser.parse_args(argv)
    frames = real_face_frames(args.datasets, args.frames, "d9.mp4")
    total = sum(len(frame) for frame in frames)
    each = total / len(frames)
    print(f"{len(frames)} frames of d9.mp4 at 480 px: {total} bytes, {each:.0f} each")
    print(f"budget per challenge: {SELFIE_CAPTURE.max_bytes} bytes")
    started = time.perf_counter()
    check_selfie(decode_image(frames[0], field="still"), min_face_px=FRAMING_MIN_FACE_PX)
    first_ms = 1000 * (time.perf_counter() - started)
    print(f"{'first check (loads the face models)':<34} {first_ms:7.1f} ms")
    checks = []
    for frame in frames[:40]:
        started = time.perf_counter()
        check_selfie(decode_image(frame, field="still"), min_face_px=FRAMING_MIN_FACE_PX)
        checks.append(1000 * (time.perf_counter() - started))
    print(summary("framing check per still", checks))
    cleans = []
    for frame in frames:
        started = time.perf_counter()
        clean_image(frame, max_side_px=MAX_FRAME_SIDE_PX)
        cleans.append(1000 * (time.perf_counter() - started))
    print(summary("clean_image per frame", cleans))
    print(f"{'clean_image for the whole challenge':<34} {sum(cleans):7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
