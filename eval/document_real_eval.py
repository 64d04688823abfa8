"""Measure the MRZ reader on the real shared images, each also turned 90, 180 and 270 degrees.

    nice python eval/document_real_eval.py                 # the figures in docs/documents.md
    nice python eval/document_real_eval.py --passporteye   # PassportEye on the same pages too
    python eval/document_real_eval.py --only 100_pass-cze.jpg --verbose   # one image, any way up

Reads ``../shared/datasets/documents/real_mrz`` (truth.csv, README). The scored set is the rows
without ``bad-check-digits``, ``annotated`` or ``non-ocrb`` (the issue's target set); every other
row is read too and reported apart, and the ``NONE`` rows must give no MRZ. For each variant it
prints exact-MRZ rate, per-field accuracy, found rate, reads flagged valid that were wrong, and
the time per page. Writes eval/out/document_real_eval.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.verification.documents.mrz import parse_mrz  # noqa: E402
from gateway.verification.documents.reader import read_mrz  # noqa: E402

REAL = REPO.parent / "shared" / "datasets" / "documents" / "real_mrz"
REAL_HELP = (
    "a folder of document images with their truth.csv (file, doc_type, mrz, flags: the shared"
    " set's columns) to measure instead of the shared set"
)
OUT = REPO / "eval" / "out"
CPU_MS: list[float] = []  # CPU time of each read (the machine may be shared: wall time lies)
EXCLUDED_FLAGS = {"bad-check-digits", "annotated", "non-ocrb"}
FIELDS = (
    "document_number",
    "birth_date",
    "expiry_date",
    "surname",
    "given_names",
    "nationality",
    "issuing_state",
    "sex",
)


@dataclass(frozen=True)
class Row:
    """One truth.csv row: the file, its layout and its MRZ lines (empty for NONE)."""

    file: str
    doc_type: str
    lines: tuple[str, ...]
    flags: frozenset[str]

    @property
    def scored(self) -> bool:
        return self.doc_type != "NONE" and not (self.flags & EXCLUDED_FLAGS)


def load_rows(folder: Path = REAL) -> list[Row]:
    with (folder / "truth.csv").open(encoding="utf-8") as handle:
        return [
            Row(
                r["file"],
                r["doc_type"],
                tuple(r["mrz"].split("\\n")) if r["mrz"] else (),
                frozenset(f for f in r["flags"].split(";") if f),
            )
            for r in csv.DictReader(handle)
        ]


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def truth_fields(lines: tuple[str, ...]) -> dict[str, str] | None:
    try:
        return parse_mrz(list(lines), repair=False).fields
    except Exception:  # the Ñ row: not an MRZ alphabet
        return None


@dataclass
class Outcome:
    found: bool
    exact: bool
    fields_right: float
    valid: bool  # every field the reader flags valid, i.e. the whole read flagged valid
    wrong_but_valid: bool
    wrong_valid_fields: list[str]
    elapsed_ms: float
    text: str
    # (lead over the next glyph, lead where close glyphs differ, character right) per character
    margins: list[tuple[float, float, bool]]


def score(row: Row, rgb: np.ndarray) -> Outcome:
    started, cpu_started = time.perf_counter(), time.process_time()
    result = read_mrz(rgb)
    elapsed = (time.perf_counter() - started) * 1000
    CPU_MS.append((time.process_time() - cpu_started) * 1000)
    if result is None:
        return Outcome(False, False, 0.0, False, False, [], elapsed, "", [])
    reading = result.reading
    lines = tuple(reading.lines)
    expected = truth_fields(row.lines) if row.lines else None
    fields_right = 0.0
    if expected:
        fields_right = sum(reading.fields.get(k) == expected.get(k) for k in FIELDS) / len(FIELDS)
    statuses = reading.field_status
    valid = reading.all_fields_valid
    exact = lines == row.lines
    margins = []
    # only reads whose check digits all agree could be flagged valid: their wrong characters
    # are the ones a margin has to catch
    if reading.char_margins and len(lines) == len(row.lines) and reading.all_check_digits_valid:
        evidence = reading.evidence
        for number, (read_line, true_line) in enumerate(zip(lines, row.lines, strict=True)):
            if len(read_line) == len(true_line):
                margins += [
                    (m, p, a == b)
                    for m, p, a, b in zip(
                        evidence.margins[number],
                        evidence.pair_margins[number],
                        read_line,
                        true_line,
                        strict=True,
                    )
                ]
    # a field flagged valid must be right; the read as a whole flagged valid must be exact
    wrong_fields = []
    if expected:
        for name, status in statuses.items():
            if status == "valid" and reading.fields.get(name) != expected.get(name):
                wrong_fields.append(name)
    wrong_valid = (valid and not exact) or bool(wrong_fields)
    if row.doc_type == "NONE":
        wrong_valid = valid
    text = "\n".join(lines)
    return Outcome(
        True, exact, fields_right, valid, wrong_valid, wrong_fields, elapsed, text, margins
    )


def passporteye_mrz(pe_read_mrz, rgb: np.ndarray):
    """PassportEye's MRZ object for the page as PNG (None where it finds none or fails), and
    the milliseconds its read took."""
    _, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    started = time.perf_counter()
    try:
        mrz = pe_read_mrz(io.BytesIO(buffer.tobytes()))
    except Exception:
        mrz = None
    return mrz, (time.perf_counter() - started) * 1000


def passporteye_read(rgb: np.ndarray):
    warnings.simplefilter("ignore")
    from passporteye import read_mrz as pe_read_mrz

    mrz, elapsed = passporteye_mrz(pe_read_mrz, rgb)
    text = tuple(mrz.aux.get("text", "").split("\n")) if mrz is not None else None
    return text, elapsed


def print_load(when: str) -> None:
    """The machine's load average, printed at the start and end of a run (the CPU may be shared)."""
    print(f"load average at {when}: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def write_summary(name: str, summary: dict, folder: Path = REAL) -> None:
    """Write a run's figures to eval/out/<name>.json, or for another folder than the shared
    set (--real) to eval/out/<name>_<folder name>.json, with the folder in the figures."""
    OUT.mkdir(parents=True, exist_ok=True)
    if folder.resolve() != REAL.resolve():
        name = f"{name}_{folder.name}"
    (OUT / f"{name}.json").write_text(json.dumps({"folder": str(folder), **summary}, indent=2))


def print_margins(margins: list[tuple[float, float, bool]]) -> None:
    """Each character's lead over its runner-up, right reads against wrong ones, in reads whose
    check digits all agreed: the evidence behind the thresholds in mrz_certainty."""
    if not margins:
        return
    right_count = sum(ok for *_, ok in margins)
    print(f"\n== character margins in reads whose check digits agreed: {right_count} right, "
          f"{len(margins) - right_count} wrong")  # fmt: skip
    for index, label in ((0, "whole-glyph lead"), (1, "telling-stroke lead over close glyphs")):
        wrong = sorted(m[index] for m in margins if not m[2])
        right = np.array([m[index] for m in margins if m[2]])
        print(f"{label}: largest among wrong characters {[round(m, 3) for m in wrong[-6:]]}")
        for threshold in (0.05, 0.08, 0.1, 0.2, 0.3, 0.4):
            print(f"  < {threshold}: {100 * float(np.mean(right < threshold)):.2f} % of right, "
                  f"{sum(m < threshold for m in wrong)} of {len(wrong)} wrong")  # fmt: skip


def probe_fit_gaps(rows: list[Row], rotations: list[int], folder: Path = REAL) -> None:
    """How far the right way up leads each page's other orientations in probe fit: the
    evidence behind reader.ORIENTATION_MARGIN."""
    from gateway.verification.documents.reader import _attempts, _to_gray

    gaps = []
    for degrees in rotations:
        for row in rows:
            if row.doc_type == "NONE":
                continue
            gray = _to_gray(np.rot90(load_rgb(folder / row.file), -degrees // 90))
            right = (degrees // 90 + (1 if "rotated-90" in row.flags else 0)) % 4
            fits: dict[bool, float] = {True: 0.0, False: 0.0}
            for turns in (0, 1):
                for fit, way, *_ in _attempts(np.ascontiguousarray(np.rot90(gray, turns)),
                                              turns, False):  # fmt: skip
                    fits[way == right] = max(fits[way == right], fit)
            gaps.append((fits[True] - fits[False], degrees, row.file))
    gaps.sort()
    print("\n== probe fit, right way up minus the best other orientation (smallest first)")
    for gap, degrees, name in gaps[:8]:
        print(f"  {gap:+.3f}  {degrees:3d} {name}")


def pct(values: list[bool] | list[float]) -> str:
    return f"{100 * float(np.mean(values)):5.1f} %" if len(values) else "  n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one file name")
    parser.add_argument("--rotations", default="0,90,180,270")
    parser.add_argument("--passporteye", action="store_true", help="also run PassportEye")
    parser.add_argument("--verbose", action="store_true", help="print each miss")
    parser.add_argument(
        "--probe-fits", action="store_true", help="how far the right way up leads in probe fit"
    )
    parser.add_argument("--real", type=Path, default=REAL, help=REAL_HELP)
    args = parser.parse_args()
    real = args.real
    if not (real / "truth.csv").is_file():
        sys.exit(f"no real set at {real}")
    rows = [r for r in load_rows(real) if not args.only or r.file == args.only]
    rotations = [int(x) for x in args.rotations.split(",")]
    if args.probe_fits:
        probe_fit_gaps(rows, rotations, real)
        return
    print_load("start")
    summary: dict = {}
    all_margins: list[tuple[float, float, bool]] = []
    all_ms: list[float] = []
    pe_ms: list[float] = []
    for degrees in rotations:
        per: dict[str, list] = {"scored": [], "other": [], "none": []}
        pe_exact: list[bool] = []
        for row in rows:
            rgb = np.ascontiguousarray(np.rot90(load_rgb(real / row.file), -degrees // 90))
            outcome = score(row, rgb)
            all_ms.append(outcome.elapsed_ms)
            if row.doc_type != "NONE" and "non-mrz-char" not in row.flags:
                all_margins += outcome.margins
            group = "none" if row.doc_type == "NONE" else "scored" if row.scored else "other"
            per[group].append((row, outcome))
            if args.passporteye and row.scored:
                text, elapsed = passporteye_read(rgb)
                pe_ms.append(elapsed)
                pe_exact.append(text == row.lines)
            if args.verbose and (not outcome.exact or outcome.wrong_but_valid) and row.lines:
                mark = " WRONG-BUT-VALID" if outcome.wrong_but_valid else ""
                took = f"{outcome.elapsed_ms:.0f} ms"
                print(f"-- {degrees:3d} {row.file} ({row.doc_type}) {took}{mark}"
                      f" {outcome.wrong_valid_fields or ''}")  # fmt: skip
                print("   truth: " + " | ".join(row.lines))
                print("   read:  " + outcome.text.replace("\n", " | "))
        scored = [o for _, o in per["scored"]]
        other = [o for _, o in per["other"]]
        none = [o for _, o in per["none"]]
        wrong_valid = sum(o.wrong_but_valid for o in scored + other + none)
        print(f"\n== rotated {degrees} deg")
        print(f"scored set ({len(scored)} rows): exact {pct([o.exact for o in scored])}, "
              f"fields {pct([o.fields_right for o in scored])}, "
              f"found {pct([o.found for o in scored])}, "
              f"flagged valid {pct([o.valid for o in scored])}")  # fmt: skip
        print(f"other MRZ rows ({len(other)}): exact {pct([o.exact for o in other])}, "
              f"fields {pct([o.fields_right for o in other])}")  # fmt: skip
        print(f"no-MRZ rows ({len(none)}): MRZ reported on {sum(o.found for o in none)}")
        print(f"wrong reads flagged valid (all rows): {wrong_valid}")
        if pe_exact:
            print(f"PassportEye on the scored set: exact {pct(pe_exact)}")
        summary[str(degrees)] = {
            "scored_n": len(scored),
            "exact": float(np.mean([o.exact for o in scored])) if scored else None,
            "fields": float(np.mean([o.fields_right for o in scored])) if scored else None,
            "found": float(np.mean([o.found for o in scored])) if scored else None,
            "other_exact": float(np.mean([o.exact for o in other])) if other else None,
            "none_reported": int(sum(o.found for o in none)),
            "wrong_but_valid": int(wrong_valid),
            "passporteye_exact": float(np.mean(pe_exact)) if pe_exact else None,
        }
    print_margins(all_margins)
    if all_ms:
        print(f"\ntime per page, ours: p50 {np.percentile(all_ms, 50):.0f} ms, "
              f"p95 {np.percentile(all_ms, 95):.0f} ms ({len(all_ms)} pages)")  # fmt: skip
        summary["p50_ms"], summary["p95_ms"] = np.percentile(all_ms, [50, 95]).tolist()
        print(f"CPU time per page, ours: p50 {np.percentile(CPU_MS, 50):.0f} ms, "
              f"p95 {np.percentile(CPU_MS, 95):.0f} ms")  # fmt: skip
        summary["cpu_p50_ms"], summary["cpu_p95_ms"] = np.percentile(CPU_MS, [50, 95]).tolist()
    if pe_ms:
        print(f"time per page, PassportEye: p50 {np.percentile(pe_ms, 50):.0f} ms, "
              f"p95 {np.percentile(pe_ms, 95):.0f} ms")  # fmt: skip
    print_load("end")
    if not args.only:
        write_summary("document_real_eval", summary, real)


if __name__ == "__main__":
    main()
