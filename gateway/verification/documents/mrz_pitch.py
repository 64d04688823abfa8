"""The glyph pitch of an MRZ line crop: from the period of its glyphs, not its ink extent.

Every MRZ cell holds a glyph (fillers too), so the line's column ink profile repeats at the
pitch whatever stray ink (a stamp, a seal ring, a card edge) lies beyond either end; the ink
extent over the cell count is the fallback, and a pitch no OCR-B line can have ends the read.
"""

from __future__ import annotations

import numpy as np

# The glyph period is trusted while the ink extent holds this many times the layout's cells
# (stray ink at the line's ends adds a few cells; a period that implies twice as many is a
# stroke spacing, not the pitch).
MIN_CELL_RATIO, MAX_CELL_RATIO = 0.7, 1.5


def _pitch_from_glyphs(ink: np.ndarray, top: int, bottom: int) -> float | None:
    """The glyph pitch in crop pixels, from the period of the line's column ink profile.

    Every MRZ cell holds a glyph (fillers too), so the profile repeats at the pitch whatever
    stray ink (a stamp, a seal ring, a card edge) lies beyond either end of the line.
    """
    cap = bottom - top
    profile = ink[top:bottom].mean(axis=0)
    profile = profile - profile.mean()
    if len(profile) < 8 * cap or not profile.any():
        return None
    spectrum = np.fft.rfft(profile, n=2 * len(profile))
    correlation = np.fft.irfft(spectrum * np.conj(spectrum))[: len(profile)]
    correlation /= correlation[0]
    # OCR-B pitch is ~1.0 cap height (ICAO 2.54 mm cells); issuers print 0.8-1.6
    lo, hi = max(2, int(0.6 * cap)), min(len(correlation) - 2, int(1.8 * cap))
    if lo >= hi:
        return None
    window = correlation[lo:hi]
    strongest = float(window.max())
    if strongest < 0.15:
        return None
    # the first peak nearly as strong as the strongest: two pitches repeat too (a run of 0s
    # can make the second peak the higher one)
    peaks = [i for i in range(1, len(window) - 1)
             if window[i] >= window[i - 1] and window[i] >= window[i + 1]
             and window[i] >= 0.7 * strongest]  # fmt: skip
    lag = lo + (peaks[0] if peaks else int(np.argmax(window)))
    # refine on the harmonics (the peak near k pitches pins the pitch to 1/k of a pixel)
    pitch = float(lag)
    for harmonic in (4, 8, 16, 32):
        around = harmonic * pitch
        lo, hi = round(around - pitch / 3), round(around + pitch / 3) + 1
        if hi >= len(correlation) * 0.7:
            break
        peak = lo + int(np.argmax(correlation[lo:hi]))
        if correlation[peak] < 0.1:
            break
        pitch = peak / harmonic
    return pitch


def measured_pitch(
    ink: np.ndarray, extent: tuple[int, int, int, int], char_count: int
) -> float | None:
    """The line's glyph pitch in crop pixels: the period of its glyphs, unless that period puts
    far more (or fewer) cells on the ink than the layout has, then the ink extent over the
    cell count.

    Stray ink at an end (a stamp, a seal ring) skews the extent, so the period comes first; but
    on a line that is not an MRZ of this length the period is some stroke spacing, and a band
    scaled by it grows several times too long to match (seconds of template matching on a page
    of ordinary text).
    """
    top, bottom, left, right = extent
    by_extent = (right - left) / max(char_count - 0.3, 1)
    period = _pitch_from_glyphs(ink, top, bottom)
    if period is not None and MIN_CELL_RATIO < by_extent / period < MAX_CELL_RATIO:
        return period
    # OCR-B cells are 0.8-1.6 cap heights wide as issuers print them: a pitch far outside that
    # is a block of several lines or a short run of ink, not an MRZ line
    if not 0.5 * (bottom - top) <= by_extent <= 2.0 * (bottom - top):
        return None
    return by_extent
