"""Photo degradations for synthetic documents: what a phone camera does to a card.

Each one transforms the image and the card corners together, so quality tests know where the card
went. Parameters are drawn from the generator so a seed reproduces a run.
"""

from __future__ import annotations

import copy

import cv2
import numpy as np

from gateway.synthetic.documents import SyntheticDocument

ALL_DEGRADATIONS = ("perspective", "rotation", "blur", "glare", "jpeg")


def _warp(doc: SyntheticDocument, matrix: np.ndarray, name: str) -> None:
    h, w = doc.image_rgb.shape[:2]
    border = tuple(int(v) for v in doc.image_rgb[2, 2])
    if matrix.shape == (2, 3):
        doc.image_rgb = cv2.warpAffine(
            doc.image_rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=border
        )
        corners = np.hstack([doc.card_corners, np.ones((4, 1), np.float32)]) @ matrix.T
    else:
        doc.image_rgb = cv2.warpPerspective(
            doc.image_rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=border
        )
        corners = cv2.perspectiveTransform(doc.card_corners[None], matrix)[0]
    doc.card_corners = corners.astype(np.float32)
    doc.degradations.append(name)


def rotate(doc: SyntheticDocument, degrees: float) -> None:
    h, w = doc.image_rgb.shape[:2]
    _warp(doc, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), f"rotation {degrees:+.1f}°")


def perspective(doc: SyntheticDocument, rng: np.random.Generator, strength: float = 0.04) -> None:
    """Tilt the card: each corner moves up to ``strength`` of the card width."""
    src = doc.card_corners.astype(np.float32)
    width = float(np.linalg.norm(src[1] - src[0]))
    dst = src + rng.uniform(-strength, strength, size=(4, 2)).astype(np.float32) * width
    _warp(doc, cv2.getPerspectiveTransform(src, dst.astype(np.float32)), "perspective")


def blur(doc: SyntheticDocument, sigma_px: float) -> None:
    doc.image_rgb = cv2.GaussianBlur(doc.image_rgb, (0, 0), sigma_px)
    doc.degradations.append(f"blur σ={sigma_px:.1f}px")


def jpeg(doc: SyntheticDocument, quality: int = 60) -> None:
    ok, buffer = cv2.imencode(
        ".jpg", cv2.cvtColor(doc.image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    doc.image_rgb = cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    doc.degradations.append(f"jpeg q={quality}")


def glare(
    doc: SyntheticDocument,
    rng: np.random.Generator,
    *,
    radius_frac: float = 0.12,
    over_mrz: bool = False,
) -> None:
    """A specular highlight: a saturated white blob with a soft edge, on the upper card.

    By default it avoids the MRZ band (the bottom quarter): glare over the MRZ makes it
    unreadable, which is the quality check's job to report, not the reader's to survive.
    """
    h, w = doc.image_rgb.shape[:2]
    tl, tr, br, bl = doc.card_corners
    u = rng.uniform(0.2, 0.8)
    v = rng.uniform(0.8, 0.95) if over_mrz else rng.uniform(0.15, 0.55)
    top = tl + (tr - tl) * u
    bottom = bl + (br - bl) * u
    centre = top + (bottom - top) * v
    card_w = float(np.linalg.norm(tr - tl))
    radius = radius_frac * card_w
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.sqrt(((xs - centre[0]) / 1.6) ** 2 + (ys - centre[1]) ** 2) / radius
    alpha = np.clip(1.6 - dist, 0, 1)[..., None]
    doc.image_rgb = (doc.image_rgb * (1 - alpha) + 255 * alpha).astype(np.uint8)
    doc.degradations.append("glare over MRZ" if over_mrz else "glare")


def degrade(
    doc: SyntheticDocument, rng: np.random.Generator, kinds: tuple[str, ...] = ALL_DEGRADATIONS
) -> SyntheticDocument:
    """A degraded copy: each named degradation applied once with random strength, in a fixed order
    (geometry first, then optics, then compression, as a camera does)."""
    out = copy.deepcopy(doc)
    if "perspective" in kinds:
        perspective(out, rng)
    if "rotation" in kinds:
        rotate(out, float(rng.uniform(-5, 5)))
    if "glare" in kinds:
        glare(out, rng)
    if "blur" in kinds:
        blur(out, float(rng.uniform(0.8, 1.6)))
    if "jpeg" in kinds:
        jpeg(out, 60)
    return out


def crop_card_edge(
    doc: SyntheticDocument, fraction: float = 0.15, side: str = "right"
) -> SyntheticDocument:
    """Cut the photo so part of the card is outside the frame (for the cut-off quality check)."""
    out = copy.deepcopy(doc)
    tl, tr, _, _ = out.card_corners
    cut = int(np.linalg.norm(tr - tl) * fraction)
    if side == "right":
        x_max = int(out.card_corners[:, 0].max()) - cut
        out.image_rgb = np.ascontiguousarray(out.image_rgb[:, :x_max])
    else:
        y_max = int(out.card_corners[:, 1].max()) - cut
        out.image_rgb = np.ascontiguousarray(out.image_rgb[:y_max])
    out.degradations.append(f"cut off {side}")
    return out


def shrink_in_frame(doc: SyntheticDocument, fill: float = 0.3) -> SyntheticDocument:
    """The same card far from the camera: it fills only ``fill`` of the frame width."""
    out = copy.deepcopy(doc)
    h, w = out.image_rgb.shape[:2]
    card_w = float(out.card_corners[:, 0].max() - out.card_corners[:, 0].min())
    scale = fill * w / card_w
    small = cv2.resize(
        out.image_rgb,
        (max(1, int(w * scale)), max(1, int(h * scale))),
        interpolation=cv2.INTER_AREA,
    )
    canvas = np.empty_like(out.image_rgb)
    canvas[:] = out.image_rgb[2, 2]
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    out.image_rgb = canvas
    out.card_corners = (out.card_corners * scale + np.array([x0, y0], np.float32)).astype(
        np.float32
    )
    out.degradations.append(f"card fills {fill:.0%} of frame")
    return out
