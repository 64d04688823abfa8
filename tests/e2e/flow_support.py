"""Helpers shared by the hosted-flow tests (server-side and browser): synthetic document photos,
partners with flow settings, and profiles created through the real partner API."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from gateway.services.pocketbase import PocketBase
from gateway.synthetic import degrade
from gateway.synthetic.documents import make_id_card, make_passport


def jpeg_bytes(rgb: np.ndarray, quality: int = 92, **save_args: Any) -> bytes:
    """Encode pixels as JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, **save_args)
    return buffer.getvalue()


def document_rgb(
    kind: str = "passport",
    *,
    seed: int = 7,
    blur_sigma_px: float | None = None,
    face: Path | np.ndarray | None = None,
) -> np.ndarray:
    """A synthetic document photographed on a desk, sharp unless ``blur_sigma_px`` is given."""
    rng = np.random.default_rng(seed)
    maker = make_passport if kind == "passport" else make_id_card
    document = maker(rng, face)
    if blur_sigma_px:
        degrade.blur(document, blur_sigma_px)
    return document.image_rgb


def document_jpeg(kind: str = "passport", **kwargs: Any) -> bytes:
    """``document_rgb`` as JPEG bytes, as a phone would upload it."""
    return jpeg_bytes(document_rgb(kind, **kwargs))


def set_partner_settings(pb: PocketBase, partner_id: str, settings: dict[str, Any]) -> None:
    """Store flow-related partner settings (return URLs, branding, limits)."""
    pb.update("partners", partner_id, {"settings": settings})


@dataclass
class Link:
    """A capture link as the partner API returned it."""

    profile_id: str
    token: str
    url: str

    @property
    def path(self) -> str:
        """Path and query, for a test client on another host name."""
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}"

    def forged(self) -> Link:
        """The same link with its signature's first character changed: a token nobody issued
        (that character carries six bits of the signature; a last one may carry unused bits)."""
        payload, signature = self.token.split(".")
        first = "B" if signature[0] != "B" else "C"
        return Link(self.profile_id, f"{payload}.{first}{signature[1:]}", self.url)


def read_link(redirect_url: str) -> Link:
    """Profile id and token from a redirect URL."""
    parts = urlsplit(redirect_url)
    return Link(
        profile_id=parts.path.rstrip("/").split("/")[-1],
        token=parse_qs(parts.query)["t"][0],
        url=redirect_url,
    )


def create_profile(client: Any, headers: dict[str, str], **body: Any) -> Link:
    """Create a profile through the partner API (the real route) and return its link."""
    body.setdefault("external_ref", f"flow-{np.random.default_rng().integers(1 << 40)}")
    response = client.post("/api/profiles", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return read_link(response.get_json()["redirect_url"])


def real_face_frames(datasets_dir: Path, count: int, clip: str = "d5.mp4") -> list[bytes]:
    """``count`` consecutive frames of a real clip (a young man facing the camera, d5.mp4) as the
    page sends them: JPEG, 480 px on the longer side. Every one passes the framing check."""
    import cv2

    capture = cv2.VideoCapture(str(datasets_dir / "liveness" / "real" / clip))
    frames = []
    try:
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                raise ValueError(f"{clip} holds fewer than {count} frames")
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            scale = 480 / max(rgb.shape[:2])
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            frames.append(jpeg_bytes(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), 80))
    finally:
        capture.release()
    return frames
