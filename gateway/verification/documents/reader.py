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
from gateway.verification.documents.geometry import largest_bright_region, warp_card
from gateway.verification.documents.mrz import MrzReading, parse_mrz
from gateway.verification.documents.mrz_certainty import UNCERTAIN, VALID, character_evidence
from gateway.verification.documents.mrz_exemplars import settle_by_exemplars
from gateway.verification.documents.mrz_glyph_pairs import settle_close_cells
from gateway.verification.documents.mrz_levels import settle_by_levels
from gateway.verification.documents.mrz_locate import (
    LINE_HEIGHT_PX,
    candidate_stacks,
    cut_line,
    cut_zone_lines,
    find_text_lines,
)
from gateway.verification.documents.mrz_ocr import (
    LineRead,
    estimate_char_count,
    probe_fit,
    read_line,
)
from gateway.verification.documents.mrz_offers import (
    allowed_by_position,
    code_lags,
    offered_glyphs,
)

# Mean template match of the cells, measured on synthetic photos: a real MRZ 0.97 clean and
# 0.94-0.98 degraded; a KTP's text rows forced into cells 0.52-0.69 (a check digit may still
# agree by chance). Below this the lines are not an MRZ.
MIN_MEAN_MATCH_SCORE = 0.8
# Nor is a read whose any one line matches worse than this: a TD3 cut short by a strong
# keystone read its name line at 0.715 beside a number line at 0.898 (mean over 0.8), and
# names carry no check digit. Every line of the real set's and its derived pages' reads
# (232 lines, small zones included) matched at 0.827 or better.
MIN_LINE_MATCH_SCORE = 0.75
# A cell whose runner-up scored within CLOSE_CELL of its best glyph is re-decided on the strokes
# where the two differ; the runner-up takes it when it leads there by OVERTURN_LEAD (measured on
# the real set: see docs/documents.md).
CLOSE_CELL = 0.1
OVERTURN_LEAD = 0.25
# The outline is sought on a copy this size; a rectified page is read this wide.
OUTLINE_WORK_PX = 640
RECTIFIED_WIDTH_PX = 1400
# Stacks read per orientation, and full reads at most per page (each ~50-150 ms): the
# candidates are ranked by how well a few OCR-B glyphs fit their last line first.
STACKS_PER_ORIENTATION = 4
MAX_FULL_READS = 2
# Reads of the page flattened by its outline (the last resort), best probe fit first.
RECTIFIED_READS = 2
# Below this probe fit a line is not OCR-B text the right way up (measured: see docs).
MIN_PROBE_FIT = 0.5
# A probe fit this good is read before the page is turned a quarter (saves a locate).
STRONG_PROBE_FIT = 0.75
# Once a read is valid, attempts whose probe fit came within this of its attempt's are read
# too (at most MAX_RIVAL_READS more), and the best-scoring valid read wins.
RIVAL_FIT = 0.05
# Every orientation is located and probed; one whose best probe fit trails the page's best by
# more than this is not read in full. Measured on the real set (eval/document_real_eval.py
# --probe-fits): the right way up led every other orientation of its page by 0.05 at least.
ORIENTATION_MARGIN = 0.03
# A read whose cells matched this well is not suffering from perspective: when its check
# digits disagree, the page is not flattened and read again (real reads: 0.83-0.97).
FLAT_MATCH_SCORE = 0.88
MAX_RIVAL_READS = 1
# The cut through the zone's homography is read before its stack's plain cut only when its
# probe fits by this much more: on keystoned copies of the real pages it fitted 0.022-0.047
# better and read right; on 100_pass-lux 0.015 better, and read a digit wrong where the plain
# cut read validly (its line ends are estimates, a pixel or two off).
ZONE_CUT_LAG = 0.02


@dataclass
class MrzOcrResult:
    """A read MRZ with what it cost and how sure the glyph matcher was."""

    reading: MrzReading
    mean_match_score: float
    min_match_score: float
    elapsed_ms: float
    line_boxes: list[np.ndarray]
    quarter_turns: int = 0  # counter-clockwise turns applied to the photo before reading
    rectified: bool = False  # read from the page warped flat by its outline (boxes: that page)
    zone_cut: bool = False  # its lines were cut through the zone's homography (mrz_locate)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _candidate_lengths(crops: list[np.ndarray]) -> list[int]:
    """TD1 for three lines; for two, TD3 (44) and TD2 (36), likelier first by cell count.

    The count measured from cap height runs ~10 % low on TD3 lines (blur fattens the cap), so
    it only orders the tries; the check digits decide.
    """
    if len(crops) == 3:
        return [30]
    estimates = [e for e in (estimate_char_count(c) for c in crops) if e]
    estimate = 1.1 * float(np.median(estimates)) if estimates else 44.0
    return sorted([44, 36], key=lambda n: abs(n - estimate))


def read_mrz(rgb: np.ndarray) -> MrzOcrResult | None:
    """The MRZ of a document photo, or None when no MRZ-shaped block of lines is found.

    Candidate stacks are found the page's way up and turned a quarter (a landscape card shot
    with the phone upright, or the reverse), each probed both ways up, and read best fit first;
    if nothing reads validly, again with local contrast equalised (a faint MRZ), then from the
    page flattened by its outline. Until a read's check digits all agree, every orientation
    that holds a candidate gets at least one read; once one does, the attempts the probe could
    not tell from it are read too, and the best-scoring valid read wins.
    """
    search = _Search(time.perf_counter())
    gray = _to_gray(rgb)
    _search_page(search, gray)
    # last resort for a photographed page: flatten the document from its outline and look again
    # (not for a read that fits OCR-B well and only disagrees with its digits: a misprint or a
    # misread glyph, which no flattening changes); a valid read with fields a person must
    # confirm gets the look too: the outline's corners, far apart, flatten the page better than
    # the zone's own line ends (a 16 % keystone: 0.95 cell match cut by the zone, 0.98 flat)
    best = search.best[1] if search.best else None
    if best is not None and best.reading.all_check_digits_valid:
        # only for a zone cut through its own homography (a page in perspective): elsewhere the
        # look cost 0.4-0.5 s on scans with an outline and read nothing better
        sure = best.reading.all_fields_valid or not best.zone_cut
        outline = None if sure else page_outline(gray)
    else:
        outline = None if search.fits_well() else page_outline(gray)
    if outline is not None:
        flat = warp_card(gray, outline, width_px=RECTIFIED_WIDTH_PX)
        waiting = []
        for quarter_turns in (0, 1):
            turned = np.ascontiguousarray(np.rot90(flat, quarter_turns))
            waiting += _attempts(turned, quarter_turns, False)
        search.rectified, search.reads_left = True, RECTIFIED_READS
        search.valid_fit, search.rival_reads_left = None, MAX_RIVAL_READS
        search.orientations_read, search.top_fit = set(), max([0.0] + [a[0] for a in waiting])
        search.read_all(sorted(waiting, key=lambda attempt: -attempt[0]))
    return search.result()


def _search_page(search: _Search, gray: np.ndarray) -> None:
    """Locate, probe and read the page as it is and turned a quarter, until settled; then
    (nothing found at all) again with contrast equalised."""
    portrait = gray.shape[0] > gray.shape[1]
    for contrast_normalise in (False, True):
        if contrast_normalise and search.best is not None:
            break  # an MRZ was found and read, if not validly: equalising will not find another
        waiting: list[Attempt] = []
        for quarter_turns in (1, 0) if portrait else (0, 1):
            turned = np.ascontiguousarray(np.rot90(gray, quarter_turns))
            waiting = sorted(
                waiting + _attempts(turned, quarter_turns, contrast_normalise),
                key=lambda attempt: -attempt[0],
            )
            search.top_fit = max([search.top_fit] + [attempt[0] for attempt in waiting[:1]])
            # read what already looks like OCR-B the right way up before turning the page
            strong = [attempt for attempt in waiting if attempt[0] >= STRONG_PROBE_FIT]
            waiting = [attempt for attempt in waiting if attempt[0] < STRONG_PROBE_FIT]
            waiting = search.read_all(strong) + waiting
            if search.settled(waiting):
                return
        search.read_all(waiting)
        if search.settled([]):
            return


# (probe fit, quarter turns, line crops, line boxes, crop pixels per photo pixel of each line,
# whether the crops were cut through the zone's homography)
Attempt = tuple[float, int, list[np.ndarray], list[np.ndarray], list[float], bool]


class _Search:
    """The reads of one page: which to make, and the best so far.

    Every orientation that holds a candidate is probed (``probe_fit``); until something reads
    validly, ``MAX_FULL_READS`` reads go to the attempts of the orientations whose probe came
    within ``ORIENTATION_MARGIN`` of the best probe seen, and stop once a read fits the glyphs
    well (``FLAT_MATCH_SCORE``) even if its digits disagree. After a valid read only its rivals
    are read (attempts whose probe fit came within ``RIVAL_FIT`` of it), so the best-scoring
    valid read wins.
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self.best: tuple[tuple, MrzOcrResult] | None = None
        self.reads_left = MAX_FULL_READS
        self.orientations_read: set[int] = set()
        self.top_fit = 0.0
        self.valid_fit: float | None = None
        self.valid_lines: set[int] = set()  # the line boxes of the first valid read
        self.rival_reads_left = MAX_RIVAL_READS
        self.rectified = False

    def wants(self, attempt: Attempt) -> bool:
        fit, turns = attempt[0], attempt[1]
        if self.valid_fit is not None:
            if attempt[3] and {id(box) for box in attempt[3]} <= self.valid_lines:
                return False  # lines that read validly already (fewer of them, or cut otherwise)
            return self.rival_reads_left > 0 and fit >= self.valid_fit - RIVAL_FIT
        if turns not in self.orientations_read and fit < self.top_fit - ORIENTATION_MARGIN:
            return False  # another orientation fits OCR-B clearly better
        # a read that fits OCR-B well is the zone, misprinted or misread: other stacks are not
        return self.reads_left > 0 and (self.rectified or not self.fits_well())

    def read_all(self, attempts: list[Attempt]) -> list[Attempt]:
        """Read the attempts wanted, in order; the ones left unread are returned."""
        left = []
        for attempt in attempts:
            if not self.wants(attempt):
                left.append(attempt)
                continue
            fit, turns, crops, boxes, upscales, zone_cut = attempt
            self.reads_left -= 1
            if self.valid_fit is not None:
                self.rival_reads_left -= 1
            self.orientations_read.add(turns)
            result = _read_lines(crops, upscales, self.started)
            if result is None:
                continue
            result.quarter_turns, result.line_boxes = turns, boxes
            result.rectified, result.zone_cut = self.rectified, zone_cut
            reading = result.reading
            rank = (reading.all_check_digits_valid, sum(c.valid for c in reading.check_digits),
                    result.mean_match_score)  # fmt: skip
            if self.best is None or rank > self.best[0]:
                self.best = (rank, result)
            if reading.all_check_digits_valid and self.valid_fit is None:
                self.valid_fit, self.valid_lines = fit, {id(box) for box in boxes}
        return left

    def fits_well(self) -> bool:
        """The best read so far matched the glyphs well enough that the page is flat enough."""
        return self.best is not None and self.best[1].mean_match_score >= FLAT_MATCH_SCORE

    def settled(self, waiting: list[Attempt]) -> bool:
        """A valid read is in hand and no rival of it is left to read."""
        return self.valid_fit is not None and not any(self.wants(a) for a in waiting)

    def result(self) -> MrzOcrResult | None:
        if self.best is None:
            return None
        self.best[1].elapsed_ms = (time.perf_counter() - self.started) * 1000
        return self.best[1]


def page_outline(gray: np.ndarray) -> np.ndarray | None:
    """The four corners of a document photographed on a darker ground, when its outline is a
    clear quadrilateral (perspective kept: the page is then warped flat), else None."""
    scale = OUTLINE_WORK_PX / max(gray.shape)
    if min(gray.shape) * scale < 16:
        return None  # a sliver, not a page
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # A page filling the frame has no perspective to undo.
    contour = largest_bright_region(small, 0.15, 0.9)
    if contour is None:
        return None
    quad = cv2.approxPolyDP(contour, 0.03 * cv2.arcLength(contour, True), True)
    if len(quad) != 4 or not cv2.isContourConvex(quad):
        return None
    return quad.reshape(4, 2).astype(np.float32) / scale


def _attempts(turned: np.ndarray, quarter_turns: int, contrast_normalise: bool) -> list[Attempt]:
    """Candidate stacks of one orientation, each the way up its glyphs fit, with that fit."""
    out = []
    lines = find_text_lines(turned, contrast_normalise=contrast_normalise)
    # each line's crop (and turned over), cut once for all the stacks it is in, and each
    # last line's probe fit: stacks share lines, and the same line probes the same
    cut: dict[int, np.ndarray] = {}
    turned_over: dict[int, np.ndarray] = {}
    probed: dict[tuple[int, int], float] = {}
    for rank, stack in enumerate(candidate_stacks(lines, limit=STACKS_PER_ORIENTATION)):
        upscales = [LINE_HEIGHT_PX / max(line.height_px, 1.0) for line in stack]
        length = 30 if len(stack) == 3 else 44
        boxes = [line.box for line in stack]
        # each line's own rectangle, and (a zone in perspective) the lines cut through the
        # zone's homography: both are attempts, read best probe fit first (the zone's line
        # ends can be off by a pixel or two: on 100_pass-lux its cut fitted OCR-B better and
        # read a digit wrong, and the plain cut, read next, was valid)
        for line in stack:
            if id(line) not in cut:
                cut[id(line)] = cut_line(turned, line)
                turned_over[id(line)] = np.ascontiguousarray(cut[id(line)][::-1, ::-1])
        cuts = [[cut[id(line)] for line in stack]]
        if (zone := cut_zone_lines(turned, stack)) is not None:
            cuts.append(zone)
        for index, crops in enumerate(cuts):
            if index == 0:
                flipped = [turned_over[id(line)] for line in reversed(stack)]
            else:
                flipped = [np.ascontiguousarray(c[::-1, ::-1]) for c in reversed(crops)]
            for way, these, ups in ((0, crops, upscales), (2, flipped, upscales[::-1])):
                if index == 1:  # the zone's own cut: new crops every stack
                    fit = probe_fit(these[-1], length, ups[-1])
                else:  # a line's crop, kept in ``cut`` or ``turned_over``: its id stays its own
                    key = (id(these[-1]), length)
                    if key not in probed:
                        probed[key] = probe_fit(these[-1], length, ups[-1])
                    fit = probed[key]
                if fit >= MIN_PROBE_FIT:
                    turns = (quarter_turns + way) % 4
                    lag = 0.02 * rank + (ZONE_CUT_LAG if index == 1 else 0.0)
                    out.append((fit - lag, turns, these, boxes, ups, index == 1))
    return out


def _read_lines(
    crops: list[np.ndarray], upscales: list[float], started: float
) -> MrzOcrResult | None:
    lengths = _candidate_lengths(crops)
    raw_reads: dict[tuple[int, int], LineRead] = {}
    reads: dict[tuple[int, int], LineRead] = {}
    responses: list[dict] = [{} for _ in crops]

    def raw_read(index: int, length: int) -> LineRead:
        if (index, length) not in raw_reads:
            raw_reads[(index, length)] = read_line(
                crops[index], length, responses[index], upscales[index]
            )
        return raw_reads[(index, length)]

    def line_read(index: int, length: int) -> LineRead:
        if (index, length) not in reads:
            read = raw_read(index, length)
            read = settle_by_levels(read)
            reads[(index, length)] = settle_close_cells(read, CLOSE_CELL, OVERTURN_LEAD)
        return reads[(index, length)]

    # the last line first, with the likelier layout: if its cells do not fit the glyphs (and
    # neither do the other layout's), this is other text, not an MRZ (and not worth settling
    # its close cells: the scores do not change when they are)
    last = len(crops) - 1
    for length in lengths:
        if np.mean(raw_read(last, length).scores or [0.0]) >= MIN_MEAN_MATCH_SCORE - 0.1:
            break
    else:
        return None

    def cell_mean(length: int) -> float:
        """The mean cell score of the lines read in this layout, as the gate at the end takes
        it (settling cells changes their glyphs, never their scores)."""
        scores = [score for i in range(len(crops)) for score in raw_read(i, length).scores]
        return float(np.mean(scores)) if scores else 0.0

    if all(cell_mean(length) < MIN_MEAN_MATCH_SCORE for length in lengths):
        return None  # the gate at the end fails whichever layout wins: not worth settling
    best: tuple[int, MrzReading, list[float]] | None = None
    for length in lengths:
        texts, scores = [], []
        alternatives: dict[tuple[int, int], str] = {}
        lags: dict[tuple[int, int], dict[str, float]] = {}
        line_reads = settle_by_exemplars(
            [line_read(i, length) for i in range(len(crops))],
            allowed_by_position(length, len(crops)),
        )
        for line_number, read in enumerate(line_reads):
            texts.append(read.text)
            scores += read.scores
            alternatives.update(offered_glyphs(read, line_number, length, len(crops)))
            lags.update(code_lags(read, line_number, length, len(crops)))
        try:
            reading = parse_mrz(texts, repair=True, alternatives=alternatives, code_lags=lags)
        except ValidationFailed:
            continue
        # a visa (MRV-A, MRV-B) has no composite digit: nothing failed to spare strokes over
        composite_ok = all(c.valid for c in reading.check_digits if c.name == "composite")
        evidence = character_evidence(
            reading.lines, reading.layout, line_reads, compare_strokes=composite_ok
        )
        reading.set_evidence(evidence)
        if any(read.small_zone for read in line_reads):
            # glyphs of 4-12 px: margins are not evidence there (a 40 % copy of a real page
            # read five digits wrong with both their check digits agreeing), so a person looks
            reading.field_status = {
                name: UNCERTAIN if status == VALID else status
                for name, status in reading.field_status.items()
            }
        valid = sum(c.valid for c in reading.check_digits)
        if best is None or valid > best[0]:
            best = (valid, reading, scores)
        if reading.all_check_digits_valid:
            break
    if best is None:
        return None
    _, reading, scores = best
    mean_score = float(np.mean(scores)) if scores else 0.0
    if mean_score < MIN_MEAN_MATCH_SCORE:
        return None  # two long lines of some other text (a KTP's rows), not an MRZ
    line_length = len(scores) // max(len(reading.lines), 1)
    if (
        min(np.mean(scores[i : i + line_length]) for i in range(0, len(scores), line_length))
        < MIN_LINE_MATCH_SCORE
    ):
        return None  # one line is not read (a name line has no check digit to say so)
    return MrzOcrResult(
        reading=reading,
        mean_match_score=mean_score,
        min_match_score=float(np.min(scores)) if scores else 0.0,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        line_boxes=[],
    )
