"""Is the document's portrait found whichever way up the page was photographed?

    nice .venv/bin/python eval/document_orientation_eval.py    # the figures in docs/face-match.md
    nice .venv/bin/python eval/document_orientation_eval.py --synthetic 0 --real <folder>

Every page (the real specimen pages of ``../shared/datasets/documents/real_mrz``, or a folder of
yours with the same truth.csv; ``--synthetic`` generated passports, ID cards and KTPs carrying
the shared faces; ``--misread`` passports whose MRZ has a check digit one off) is turned 0, 90,
180 and 270 degrees, read as the worker reads it (analyze_document), and its portrait looked
for as the worker looked for it before (the photo as given) and as it does now (turned the way
its MRZ or, on a KTP, its NIK reads: ``front_quarter_turns``, factors.document_portrait), both
in the same run.

Each copy's portrait is compared with the page's reference: the portrait found on the page
stood upright (a real page's upright turn is the one its trusted reads give, which must agree
across the four copies; a synthetic page is drawn upright). Outcomes: ``same`` (a usable face
within SAME_FACE_DISTANCE of the reference's embedding), ``other`` (a usable face that is not
the reference's: where the upright page has none, a false face), ``none`` (no usable face: the
applicant would be asked for a new photo). Writes eval/out/document_orientation_eval.json (or
``_<folder>`` with --real).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "eval"))

from document_real_eval import REAL, REAL_HELP, load_rgb, load_rows  # noqa: E402

from gateway.synthetic.documents import make_id_card, make_passport  # noqa: E402
from gateway.synthetic.ktp import make_ktp  # noqa: E402
from gateway.verification.documents.service import analyze_document  # noqa: E402
from gateway.verification.faces.recognition import face_distance  # noqa: E402
from gateway.verification.factors import DocumentPortrait, document_portrait  # noqa: E402

FACES = REPO.parent / "shared" / "datasets" / "faces"
# Far under the face match's own bar (EER distance ~0.5): the same printed portrait, re-found on
# a turned copy, is the same pixels (measured 0.000 on every real page).
SAME_FACE_DISTANCE = 0.1
TURNS = (0, 1, 2, 3)
# The synthetic identities are dated from this day, so every run draws the same pages.
TODAY = dt.date(2026, 12, 1)


@dataclass
class Copy:
    """One turned copy of a page: its trusted read's turn, and the portrait before and now."""

    page: str
    turns: int
    read_turns: int | None  # front quarter turns from a trusted read, None without one
    before: DocumentPortrait
    now: DocumentPortrait
    read_ms: float


def outcome(portrait: DocumentPortrait, reference: DocumentPortrait | None) -> str:
    if portrait.portrait is None or portrait.portrait.embedding is None:
        return "none"
    if reference is None or reference.portrait is None or reference.portrait.embedding is None:
        return "other"
    distance = face_distance(portrait.portrait.embedding, reference.portrait.embedding)
    return "same" if distance <= SAME_FACE_DISTANCE else "other"


def trusted_turns(result: dict) -> int | None:
    """The front's turn from a read that can tell it: an MRZ read from the front (its check
    digits agreeing or not: the reader takes the way up its glyphs fit best), or a KTP's NIK
    that parses; None otherwise."""
    mrz = result.get("mrz")
    if mrz is not None:
        valid = mrz.get("side") == "front"
    else:
        checks = {item["name"]: item["status"] for item in result["checks"]}
        valid = checks.get("nik_structure") == "pass"
    return int(result["front_quarter_turns"]) if valid else None


def turned_copies(name: str, rgb: np.ndarray) -> list[Copy]:
    """The page at each turn, read as the worker reads it (analyze_document, as the document
    factor calls it, without the visual zone), its portrait looked for before and now."""
    copies = []
    for turns in TURNS:
        turned = np.ascontiguousarray(np.rot90(rgb, turns))
        started = time.perf_counter()
        result = analyze_document(turned, today=TODAY, detect_face=False, read_visual_zone=False)
        read_ms = (time.perf_counter() - started) * 1000.0
        front_turns = int(result["front_quarter_turns"])
        before = document_portrait(turned)
        now = document_portrait(turned, front_turns) if front_turns else before
        copies.append(Copy(name, turns, trusted_turns(result), before, now, read_ms))
    return copies


def upright_turns(copies: list[Copy]) -> int | None:
    """How far the page as stored is from upright, as its valid reads say: every valid copy
    must name the same (turns + read turns), else None."""
    stands = {(c.turns + c.read_turns) % 4 for c in copies if c.read_turns is not None}
    return stands.pop() if len(stands) == 1 else None


def reference(copies: list[Copy], stored_upright: int | None) -> DocumentPortrait:
    """The portrait, as given, on the copy that stands the page upright (the stored page itself
    when that is not known)."""
    if stored_upright is None:
        return copies[0].before
    return next(c for c in copies if c.turns == stored_upright % 4).before


def synthetic_pages(count: int, misread: bool = False) -> list[tuple[str, np.ndarray]]:
    """Passports, TD1 fronts and KTPs in turn, or (`misread`) passports whose MRZ prints the
    document number's check digit one off, as a misprint or a misread would: the read fails a
    digit, and still says which way up the page is."""
    faces = sorted(FACES.glob("img*.jpg"), key=lambda path: int(path.stem[3:]))
    if not faces:
        print(f"no faces in {FACES}: synthetic pages left out")
        return []
    pages = []
    for index in range(count):
        make = make_passport if misread else (make_passport, make_id_card, make_ktp)[index % 3]
        face = faces[index % len(faces)]
        seed = (2000 if misread else 1000) + index
        options = {}
        if misread:
            first, second = make(np.random.default_rng(seed), face, today=TODAY).mrz_lines
            wrong = str((int(second[9]) + 1) % 10)
            options["mrz_lines"] = (first, second[:9] + wrong + second[10:])
        document = make(np.random.default_rng(seed), face, today=TODAY, **options)
        label = "misread_passport" if misread else make.__name__[5:]
        pages.append((f"{label}_{face.stem}_{index}", document.image_rgb))
    return pages


def summarise(label: str, pages: list[tuple[list[Copy], int | None]]) -> dict:
    """`pages`: each page's copies and how far it is stored from upright when that is known (a
    synthetic page: 0); a real page's comes from its valid reads, which must agree."""
    table: dict[str, dict[str, Counter]] = {"before": {}, "now": {}}
    valid = agree = 0
    read_ms = []
    for copies, known in pages:
        stands = upright_turns(copies)
        if any(c.read_turns is not None for c in copies):
            valid += 1
            agree += stands is not None and (known is None or stands == known)
        ref = reference(copies, known if known is not None else stands)
        for copy in copies:
            read_ms.append(copy.read_ms)
            for when, portrait in (("before", copy.before), ("now", copy.now)):
                rotation = f"{copy.turns * 90}"
                table[when].setdefault(rotation, Counter())[outcome(portrait, ref)] += 1
    print(f"\n{label}: {len(pages)} pages x 4 turns; a trusted read (MRZ, NIK) on {valid}, its")
    print(f"turn standing the page upright at every valid copy on {agree} of them")
    print("| portrait looked for | page turned | the upright page's | another face | none |")
    print("|---|---|---|---|---|")
    for when in ("before", "now"):
        for rotation in ("0", "90", "180", "270"):
            counts = table[when].get(rotation, Counter())
            shown = "as given" if when == "before" else "turned by its read"
            cells = " | ".join(str(counts[kind]) for kind in ("same", "other", "none"))
            print(f"| {shown} | {rotation} | {cells} |")
    return {
        "pages": len(pages),
        "trusted_read_pages": valid,
        "turn_agrees": agree,
        "outcomes": {w: {r: dict(c) for r, c in rows.items()} for w, rows in table.items()},
        "read_ms_p50": float(np.median(read_ms)) if read_ms else None,
    }


def derived_turns(pages: list[tuple[str, np.ndarray, int]], variants: list[str]) -> dict:
    """Each real page with a read, derived as eval/document_derived_eval.py derives it (smaller,
    keystoned, faded, JPEG 30) and turned 0-270 degrees: does every read from the front, a
    check digit failing or not, name the turn that stands the page upright? `pages`: (file,
    pixels, how far the stored page is from upright)."""
    from document_derived_eval import VARIANTS

    table = {}
    for variant in variants:
        derive = VARIANTS[variant]
        counts = Counter()
        for name, rgb, stands in pages:
            derived = derive(rgb)
            for turns in TURNS:
                turned = np.ascontiguousarray(np.rot90(derived, turns))
                result = analyze_document(
                    turned, today=TODAY, detect_face=False, read_visual_zone=False
                )
                mrz = result.get("mrz")
                if mrz is None or mrz.get("side") != "front":
                    continue
                checks = {item["name"]: item["status"] for item in result["checks"]}
                failing = "fail" in [v for k, v in checks.items() if k.startswith("mrz_check")]
                wrong = (turns + int(result["front_quarter_turns"])) % 4 != stands
                counts["reads"] += 1
                counts["failing"] += failing
                counts["wrong_turn"] += wrong
                counts["wrong_turn_failing"] += wrong and failing
                if wrong:
                    print(f"  wrong turn: {name} {variant} turned {turns * 90}")
        table[variant] = dict(counts)
        print(
            f"{variant:8s} reads from the front {counts['reads']} (a digit failing on "
            f"{counts['failing']}); wrong turn {counts['wrong_turn']} "
            f"({counts['wrong_turn_failing']} of them failing)"
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synthetic", type=int, default=30, help="synthetic pages: passports, ID cards, KTPs"
    )
    parser.add_argument(
        "--misread", type=int, default=10, help="synthetic passports with a check digit one off"
    )
    parser.add_argument("--real", type=Path, default=None, help=REAL_HELP)
    parser.add_argument(
        "--derived",
        default="",
        help="comma-separated variants of eval/document_derived_eval.py (scale60, scale40, warp,"
        " faded, jpeg30): the real pages with a read, so derived, checked for the turn alone",
    )
    args = parser.parse_args()
    real = args.real or REAL
    results: dict[str, dict] = {}
    if (real / "truth.csv").is_file():
        pages, read_pages = [], []
        for row in load_rows(real):
            rgb = load_rgb(real / row.file)
            copies = turned_copies(row.file, rgb)
            stands = upright_turns(copies)
            if stands is not None:
                read_pages.append((row.file, rgb, stands))
            ref = reference(copies, stands)
            marks = "  ".join(
                f"{c.turns * 90}: {outcome(c.before, ref)} -> {outcome(c.now, ref)}" for c in copies
            )
            print(f"{row.file:24s} stored {stands if stands is not None else '?'}  {marks}")
            pages.append((copies, None))
        results["real"] = summarise(f"real pages ({real})", pages)
        if args.derived:
            print("\nderived real pages, each turned 0-270 degrees: the turn of every read")
            results["derived"] = derived_turns(read_pages, args.derived.split(","))
    else:
        print(f"no truth.csv in {real}: the real pages are left out")
    for key, drawn, label in (
        ("synthetic", synthetic_pages(args.synthetic), "synthetic pages (drawn upright)"),
        (
            "synthetic_misread",
            synthetic_pages(args.misread, misread=True),
            "synthetic passports with a check digit one off (drawn upright)",
        ),
    ):
        if drawn:
            pages = [(turned_copies(name, rgb), 0) for name, rgb in drawn]
            results[key] = summarise(label, pages)
    name = "document_orientation_eval" + (f"_{args.real.name}" if args.real else "")
    out = REPO / "eval" / "out" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
