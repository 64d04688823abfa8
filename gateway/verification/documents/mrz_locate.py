"""Find the MRZ text lines in a photo and cut each one out straight.

An MRZ is two or three long lines of equal length, pitch and spacing, made of many separate
glyphs of one height, lying at an edge of the document. Dark-on-light ink survives a black-hat
transform; closing it horizontally melts each text line into one blob. A blob is kept as a line
only when it holds many glyph-sized pieces of ink and no piece spans a large part of it (a ruled
line, a card edge or a form border is one long piece, whatever its neighbours). Lines are then
grouped into stacks, two or three at a time, and the stacks ranked by how MRZ-like they are: the
reader reads the best few and lets the check digits decide, so three evenly spaced lines of
ordinary text cannot win just by being three.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH_PX = 1000
# A page is looked at for lines only when its height is at most this many times its width.
MAX_PAGE_ASPECT = 5.0
LINE_HEIGHT_PX = 44  # the height the reader scales a line crop to
# A line is at least this long on the work image (an MRZ spans ~90 % of its document, and the
# document must fill ~30 % of the frame to be read at all).
MIN_LINE_LENGTH_PX = 0.15 * WORK_WIDTH_PX
# Glyph pieces a line must hold: an MRZ line has 30-44 glyphs; low resolution merges runs of
# fillers, so a 30-glyph line of the real set counted 12 pieces at the least.
MIN_GLYPH_PIECES = 10
# No piece of ink may span more than this share of its line: glyphs are one cell wide (a run of
# merged fillers about a quarter of a TD1 line), a ruled line or a card edge spans it all.
MAX_PIECE_SHARE = 0.4
# Ink runs this long on a single row are rules or edges, never glyph strokes: removed first.
RULE_LENGTH_PX = 120
# Two lines of one MRZ: parallel, within this length ratio, overlapping along their axis, and
# spaced 1.1-3.2 line heights apart (OCR-B lines sit ~1.5 heights apart, centre to centre).
MAX_ANGLE_DIFF_DEG = 3.0
LENGTH_RATIO = (0.86, 1.16)
SPACING_HEIGHTS = (1.05, 3.2)


@dataclass(frozen=True)
class TextLine:
    """One candidate text line in full-image pixels."""

    centre: tuple[float, float]
    length_px: float
    height_px: float
    angle_deg: float
    box: np.ndarray  # 4x2, tl tr br bl
    glyph_pieces: int = 0


def _order_corners(points: np.ndarray, angle_deg: float) -> np.ndarray:
    """tl, tr, br, bl of a rotated rectangle, judged along and across its own axis."""
    centre = points.mean(axis=0)
    along = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))])
    across = np.array([-along[1], along[0]])
    s = (points - centre) @ along
    t = (points - centre) @ across
    pick = [
        np.argmin(s + t),  # tl: behind and above
        np.argmax(s - t),  # tr
        np.argmax(s + t),  # br
        np.argmin(s - t),  # bl
    ]
    return points[pick].astype(np.float32)


def _ink_mask(small: np.ndarray, contrast_normalise: bool) -> np.ndarray:
    """Dark strokes on a lighter ground, with long straight rules removed."""
    if contrast_normalise:
        # a faint MRZ (light print, a washed-out scan) loses to darker text under one global
        # threshold: equalise contrast locally first
        small = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(small)
    blackhat = cv2.morphologyEx(
        small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    )
    _, mask = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    rules = cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (RULE_LENGTH_PX, 1))
    )
    rules |= cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, RULE_LENGTH_PX // 2))
    )
    return cv2.subtract(mask, cv2.dilate(rules, np.ones((3, 3), np.uint8)))


def find_text_lines(gray: np.ndarray, *, contrast_normalise: bool = False) -> list[TextLine]:
    """Long, thin blobs of many glyph-sized pieces of ink (candidate MRZ lines), longest first.

    None in an image more than MAX_PAGE_ASPECT times taller than wide: scaled to the work width
    it would be enormous (a 1 x 2000 px "document" asked for tens of GB), and no page is that
    shape (the real specimen set: 3.2 at most, an MRZ cut out of a card, turned)."""
    height, width = gray.shape
    if height > MAX_PAGE_ASPECT * width:
        return []
    scale = WORK_WIDTH_PX / width
    small = cv2.resize(
        gray,
        (WORK_WIDTH_PX, max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    # the work image's true scale on each axis (its height was rounded to whole pixels)
    scales = np.array([WORK_WIDTH_PX / width, small.shape[0] / height], np.float32)
    ink = _ink_mask(small, contrast_normalise)
    mask = cv2.morphologyEx(
        ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (29, 3))
    )
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    blob_count, blob_labels, blob_stats, _ = cv2.connectedComponentsWithStats(mask)
    piece_count, piece_labels, piece_stats, _ = cv2.connectedComponentsWithStats(ink)
    # which blob each piece of ink fell in (0: none), and each blob's piece count and widest piece
    inked = piece_labels > 0
    piece_blob = np.zeros(piece_count, np.int32)
    np.maximum.at(piece_blob, piece_labels[inked], blob_labels[inked])
    piece_width = piece_stats[:, cv2.CC_STAT_WIDTH]
    pieces = np.bincount(piece_blob[1:], minlength=blob_count)
    widest = np.zeros(blob_count, np.int32)
    np.maximum.at(widest, piece_blob[1:], piece_width[1:])
    lines = []
    for label in range(1, blob_count):
        if pieces[label] < MIN_GLYPH_PIECES:
            continue
        x, y, bw, bh = blob_stats[label, :4]
        if max(bw, bh) < MIN_LINE_LENGTH_PX:
            continue
        points = cv2.findNonZero((blob_labels[y : y + bh, x : x + bw] == label).astype(np.uint8))
        (cx, cy), (w, h), angle = cv2.minAreaRect(points + np.array([x, y], np.int32))
        if w < h:
            w, h, angle = h, w, angle - 90
        if angle < -45:
            angle += 180
        if angle > 45:
            angle -= 180
        if w < MIN_LINE_LENGTH_PX or h < 4 or w / h < 8:
            continue
        if widest[label] > MAX_PIECE_SHARE * w * abs(np.cos(np.radians(angle))) + 2:
            continue
        box = _order_corners(_to_photo(cv2.boxPoints(((cx, cy), (w, h), angle)), scales), angle)
        centre = _to_photo(np.array([[cx, cy]], np.float32), scales)[0]
        lines.append(
            TextLine(
                (float(centre[0]), float(centre[1])), w / scale, h / scale, angle, box,
                int(pieces[label]),
            )
        )  # fmt: skip
    return sorted(lines, key=lambda line: -line.length_px)


def _to_photo(points: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Work-image pixel coordinates in the photo's pixels, pixel centres matched (as
    ``cv2.resize`` places them): a plain division shifts every box by ``1/scale - 1`` pixels
    toward the origin, which is a different part of the glyphs once the page is upside down
    (0.7 px on a 275 px thumbnail, a seventh of its 5 px glyphs: its `E` read `F` upside down
    only)."""
    return ((points + 0.5) / scales - 0.5).astype(np.float32)


def _along_span(line: TextLine, origin: np.ndarray, along: np.ndarray) -> tuple[float, float]:
    s = (line.box - origin) @ along
    return float(s.min()), float(s.max())


def _compatible(a: TextLine, b: TextLine) -> bool:
    """Two lines that could belong to one MRZ: parallel, of a length, of a height, aligned."""
    if abs(a.angle_deg - b.angle_deg) > MAX_ANGLE_DIFF_DEG:
        return False
    if not LENGTH_RATIO[0] < b.length_px / a.length_px < LENGTH_RATIO[1]:
        return False
    if not 0.6 < b.height_px / a.height_px < 1.65:
        return False
    along = np.array([np.cos(np.radians(a.angle_deg)), np.sin(np.radians(a.angle_deg))])
    origin = np.asarray(a.centre)
    a0, a1 = _along_span(a, origin, along)
    b0, b1 = _along_span(b, origin, along)
    overlap = min(a1, b1) - max(a0, b0)
    return overlap > 0.8 * min(a1 - a0, b1 - b0)


def _spacing_ok(upper: TextLine, lower: TextLine, gap_px: float) -> bool:
    height = (upper.height_px + lower.height_px) / 2
    return SPACING_HEIGHTS[0] * height <= gap_px <= SPACING_HEIGHTS[1] * height


def candidate_stacks(lines: list[TextLine], limit: int = 4) -> list[list[TextLine]]:
    """Stacks of 2-3 lines that could be an MRZ, top to bottom, likeliest first.

    Likelier: longer lines (an MRZ spans its document), of more nearly equal length and
    spacing, with fewer other text lines between the stack and the page's edge (the MRZ is the
    last thing printed on its page, whichever way up).
    """
    lines = lines[:24]
    scored: list[tuple[float, list[TextLine]]] = []
    for anchor in lines:
        normal = np.array(
            [-np.sin(np.radians(anchor.angle_deg)), np.cos(np.radians(anchor.angle_deg))]
        )
        below = sorted(
            (
                (float(np.dot(np.subtract(line.centre, anchor.centre), normal)), line)
                for line in lines
                if line is not anchor and _compatible(anchor, line)
            ),
            key=lambda pair: pair[0],
        )
        below = [(offset, line) for offset, line in below if offset > 0]
        for i, (gap, second) in enumerate(below):
            if not _spacing_ok(anchor, second, gap):
                continue
            scored.append((_stack_score([anchor, second], lines, normal), [anchor, second]))
            for gap_2, third in below[i + 1 :]:
                step = gap_2 - gap
                regular = _spacing_ok(second, third, step) and 0.8 < step / gap < 1.25
                if regular and _compatible(second, third):
                    stack = [anchor, second, third]
                    scored.append((_stack_score(stack, lines, normal), stack))
    scored.sort(key=lambda pair: -pair[0])
    out: list[list[TextLine]] = []
    for _, stack in scored:
        if not any([id(x) for x in stack] == [id(x) for x in other] for other in out):
            out.append(stack)
        if len(out) == limit:
            break
    return out


def _stack_score(stack: list[TextLine], lines: list[TextLine], normal: np.ndarray) -> float:
    lengths = np.array([line.length_px for line in stack])
    longest = max(line.length_px for line in lines)
    equal = 1 - (lengths.max() - lengths.min()) / lengths.max()
    members = {id(line) for line in stack}
    offsets = [float(np.dot(line.centre, normal)) for line in lines if id(line) not in members]
    top = float(np.dot(stack[0].centre, normal))
    bottom = float(np.dot(stack[-1].centre, normal))
    # other long text lines beyond the stack on its nearer side (short labels do not count)
    above = sum(o < top for o in offsets)
    under = sum(o > bottom for o in offsets)
    return float(lengths.mean() / longest + equal - 0.08 * min(above, under))


def pick_mrz_lines(lines: list[TextLine]) -> list[TextLine]:
    """The likeliest MRZ stack (empty when none): kept for callers that want one answer."""
    stacks = candidate_stacks(lines, limit=1)
    return stacks[0] if stacks else []


def _crop_corners(out_w: int, out_h: int) -> np.ndarray:
    """The outer corners of an ``out_w`` x ``out_h`` crop in pixel-centre coordinates: the
    crop's pixels then sample the source quadrilateral evenly from end to end, so a line cut
    from the page upside down is the exact turn of the one cut the right way up (mapping the
    corners to 0 and ``out_w`` drops the last half pixel at one end only)."""
    return np.float32(
        [[-0.5, -0.5], [out_w - 0.5, -0.5], [out_w - 0.5, out_h - 0.5], [-0.5, out_h - 0.5]]
    )


def cut_line(gray: np.ndarray, line: TextLine, margin: float = 0.5) -> np.ndarray:
    """The line warped level, scaled to ``LINE_HEIGHT_PX`` of text with a white-ish margin."""
    tl, tr, br, bl = line.box
    along = (tr - tl) / np.linalg.norm(tr - tl)
    across = (bl - tl) / np.linalg.norm(bl - tl)
    pad_y = margin * line.height_px
    pad_x = 0.02 * line.length_px + line.height_px
    src = np.array(
        [
            tl - along * pad_x - across * pad_y,
            tr + along * pad_x - across * pad_y,
            br + along * pad_x + across * pad_y,
            bl - along * pad_x + across * pad_y,
        ],
        dtype=np.float32,
    )
    scale = LINE_HEIGHT_PX / max(line.height_px, 1)
    out_w = round((line.length_px + 2 * pad_x) * scale)
    out_h = round((line.height_px + 2 * pad_y) * scale)
    matrix = cv2.getPerspectiveTransform(src, _crop_corners(out_w, out_h))
    return cv2.warpPerspective(
        gray, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


# A stack whose line ends stray less than this (degrees) from a rectangle is cut line by line.
ZONE_SKEW_DEG = 2.0
# Line ends that stray more than this are a stamp or a stray blob at an end, not perspective.
MAX_ZONE_SKEW_DEG = 15.0


def zone_skew_deg(stack: list[TextLine]) -> float:
    """How far the stack's line ends stray from a rectangle (degrees): the worst of the lines'
    convergence and the lean of the line through their left or right ends off the normal.

    Every line of an MRZ holds the same number of cells (fillers print to the end), so the
    first and last lines' ends are the corners of the zone; in a photo taken at an angle they
    form a quadrilateral, not a rectangle, and glyphs lean with its sides.
    """
    first, last = stack[0].box, stack[-1].box
    along = _unit(first[1] + first[2] - first[0] - first[3])
    normal = np.array([-along[1], along[0]])
    worst = 0.0
    for end in (0, 1):  # left ends (tl, bl), right ends (tr, br)
        top = (first[end] + first[3 - end]) / 2
        bottom = (last[end] + last[3 - end]) / 2
        side = _unit(bottom - top)
        worst = max(worst, float(np.degrees(np.arccos(np.clip(abs(side @ normal), 0, 1)))))
    last_along = _unit(last[1] + last[2] - last[0] - last[3])
    converge = float(np.degrees(np.arccos(np.clip(abs(last_along @ along), 0, 1))))
    return max(worst, converge)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def cut_zone_lines(gray: np.ndarray, stack: list[TextLine]) -> list[np.ndarray] | None:
    """The stack's lines cut along the zone's own perspective, or None when it has none.

    The ends of the first and last lines give a homography from the photo to the zone's
    plane (their corners map to a rectangle as long as the lines and as tall as their
    spacing); each line is then cut out of the photo through it, so glyphs that lean with a
    page photographed at an angle are stood upright. ``cut_line`` cuts each line's own
    rectangle instead, which cannot undo a lean.
    """
    if len(stack) < 2:
        return None
    skew = zone_skew_deg(stack)
    if not ZONE_SKEW_DEG <= skew <= MAX_ZONE_SKEW_DEG:
        return None
    first, last = stack[0].box, stack[-1].box
    corners = np.float32(
        [(first[0] + first[3]) / 2, (first[1] + first[2]) / 2,
         (last[1] + last[2]) / 2, (last[0] + last[3]) / 2]
    )  # fmt: skip
    width = float(np.mean([line.length_px for line in stack]))
    spacing = (
        float(np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1])) / 2
    )
    flat = np.float32([[0, 0], [width, 0], [width, spacing], [0, spacing]])
    to_photo = cv2.getPerspectiveTransform(flat, corners)
    height = float(np.mean([line.height_px for line in stack]))
    pad_y = 0.5 * height
    pad_x = 0.02 * width + height
    scale = LINE_HEIGHT_PX / max(height, 1)
    out_w, out_h = round((width + 2 * pad_x) * scale), round((height + 2 * pad_y) * scale)
    crops = []
    for index in range(len(stack)):
        y = spacing * index / (len(stack) - 1)
        box = np.float32(
            [[-pad_x, y - height / 2 - pad_y], [width + pad_x, y - height / 2 - pad_y],
             [width + pad_x, y + height / 2 + pad_y], [-pad_x, y + height / 2 + pad_y]]
        )  # fmt: skip
        src = cv2.perspectiveTransform(box[None], to_photo)[0]
        matrix = cv2.getPerspectiveTransform(src, _crop_corners(out_w, out_h))
        crops.append(
            cv2.warpPerspective(
                gray, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )  # fmt: skip
    return crops
