"""From a document photo to a parsed MRZ: locate the lines, pick the layout, read, parse.

The reader returns None rather than guessing when no MRZ-shaped block is found; a block whose
characters fail their check digits is still returned (the checks then report the failure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from gateway.errors import ValidationFailed
from gateway.services.documents.mrz import MrzReading, parse_mrz
from gateway.services.documents.mrz_locate import cut_line, find_text_lines, pick_mrz_lines
from gateway.services.documents.mrz_ocr import estimate_char_count, read_line


# OCR-B cells of a real MRZ match their templates at ~0.95 clean, ~0.85 degraded; other text
# forced into cells scores ~0.5. Below this, with no check digit agreeing, it is not an MRZ.
MIN_MEAN_MATCH_SCORE = 0.75


@dataclass
class MrzOcrResult:
    """A read MRZ with what it cost and how sure the glyph matcher was."""

    reading: MrzReading
    mean_match_score: float
    min_match_score: float
    elapsed_ms: float
    line_boxes: list[np.ndarray]


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _candidate_lengths(crops: list[np.ndarray]) -> list[int]:
    """TD1 for three lines; for two, TD3 (44) or TD2 (36) by the measured cell count."""
    if len(crops) == 3:
        return [30]
    estimates = [e for e in (estimate_char_count(c) for c in crops) if e]
    estimate = float(np.median(estimates)) if estimates else 44.0
    ordered = sorted([44, 36], key=lambda n: abs(n - estimate))
    return ordered if 38 <= estimate <= 42 else ordered[:1]


def read_mrz(rgb: np.ndarray) -> MrzOcrResult | None:
    """The MRZ of a document photo, or None when no MRZ-shaped block of lines is found."""
    started = time.perf_counter()
    gray = _to_gray(rgb)
    lines = pick_mrz_lines(find_text_lines(gray))
    if len(lines) < 2:
        return None
    crops = [cut_line(gray, line) for line in lines]
    best: tuple[int, MrzReading, list[float]] | None = None
    for length in _candidate_lengths(crops):
        texts, scores = [], []
        for crop in crops:
            text, cell_scores = read_line(crop, length)
            texts.append(text)
            scores += cell_scores
        try:
            reading = parse_mrz(texts, repair=True)
        except ValidationFailed:
            continue
        valid = sum(c.valid for c in reading.check_digits)
        if best is None or valid > best[0]:
            best = (valid, reading, scores)
    if best is None:
        return None
    valid_digits, reading, scores = best
    mean_score = float(np.mean(scores)) if scores else 0.0
    if valid_digits == 0 and mean_score < MIN_MEAN_MATCH_SCORE:
        return None  # two long lines of some other text (a KTP's rows), not an MRZ
    return MrzOcrResult(
        reading=reading,
        mean_match_score=mean_score,
        min_match_score=float(np.min(scores)) if scores else 0.0,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        line_boxes=[line.box for line in lines],
    )
