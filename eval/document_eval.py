"""Measure document reading on synthetic TD3 passports and TD1 ID cards, beside PassportEye.

    nice python eval/document_eval.py --n 100 --compare-n 30  # the figures in docs/documents.md
    python eval/document_eval.py --n 10 --no-passporteye  # a quick look

For N clean and N degraded photos (half TD3, half TD1; degraded = perspective, rotation +-5 deg,
glare off the MRZ, blur, JPEG 60) it reports, for our reader and PassportEye on the same images:
exact MRZ read rate, field accuracy and time per page; for our reader also the same reads by the
other engines measured (tesseract eng + whitelist, PP-OCR via rapidocr) on our located lines;
then the share of corrupted check digits caught (typed MRZ and photographed MRZ), and the
quality metrics behind the thresholds. Writes only eval/out/document_eval.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "eval"))

from document_real_eval import passporteye_mrz, print_load  # noqa: E402

from gateway.progress import progress  # noqa: E402
from gateway.synthetic.degrade import blur, degrade  # noqa: E402
from gateway.synthetic.documents import make_id_card, make_passport  # noqa: E402
from gateway.synthetic.identities import (  # noqa: E402
    CHECK_DIGIT_POSITIONS,
    corrupt_check_digit,
    random_identity,
    td1_lines,
    td3_lines,
)
from gateway.verification.documents import mrz_locate  # noqa: E402
from gateway.verification.documents.mrz import parse_mrz  # noqa: E402
from gateway.verification.documents.quality import assess_quality  # noqa: E402
from gateway.verification.documents.reader import read_mrz  # noqa: E402
from gateway.verification.documents.service import validate_mrz  # noqa: E402

FACES = REPO.parent / "shared" / "datasets" / "faces"
OUT = REPO / "eval" / "out"
TODAY = dt.date(2026, 11, 23)


def pct(values: list[float]) -> str:
    return f"{100 * float(np.mean(values)):.1f} %" if values else "n/a"


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.0f} ms" if values else "n/a"


def raw_fields(raw: dict[str, str]) -> dict[str, str]:
    """The eight compared MRZ fields from a parsed MRZ's raw values, fillers dropped."""
    keys = ("document_number", "surname", "given_names", "birth_date", "expiry_date", "sex")
    fields = {key: raw[key] for key in keys}
    fields["nationality"] = raw["nationality"].replace("<", "")
    fields["issuing_state"] = raw["issuing_state"].replace("<", "")
    return fields


def truth_fields(truth: tuple[str, ...]) -> dict[str, str]:
    return raw_fields(parse_mrz(list(truth), repair=False).fields)


def field_accuracy(got: dict[str, str] | None, truth: tuple[str, ...]) -> float:
    """Share of the eight MRZ fields read exactly (raw MRZ values, fillers dropped)."""
    if not got:
        return 0.0
    expected = truth_fields(truth)
    return sum(str(got.get(k, "")).strip() == v for k, v in expected.items()) / len(expected)


def passporteye_fields(found: dict) -> dict[str, str]:
    return {
        "document_number": str(found.get("number", "")).replace("<", ""),
        "surname": str(found.get("surname", "")).replace("<", " ").strip(),
        "given_names": " ".join(str(found.get("names", "")).replace("<", " ").split()),
        "birth_date": found.get("date_of_birth", ""),
        "expiry_date": found.get("expiration_date", ""),
        "sex": found.get("sex", ""),
        "nationality": str(found.get("nationality", "")).replace("<", ""),
        "issuing_state": str(found.get("country", "")).replace("<", ""),
    }


def make_documents(n: int, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    faces = sorted(FACES.glob("img*.jpg")) if FACES.is_dir() else []
    clean, degraded = [], []
    for i in range(n):
        face = faces[i % len(faces)] if faces else None
        maker = make_passport if i % 2 == 0 else make_id_card
        doc = maker(rng, face, today=TODAY)
        clean.append(doc)
        degraded.append(degrade(doc, rng))
        progress("generating documents", i + 1, n)
    return clean, degraded


def passporteye_reader():
    """PassportEye's read_mrz, or None with the reason it cannot run."""
    try:
        warnings.simplefilter("ignore")
        from passporteye import read_mrz as pe_read_mrz
    except Exception as exc:  # not installed, or its imports break
        return None, f"PassportEye not importable: {exc}"
    return pe_read_mrz, None


def run_passporteye(pe_read_mrz, image_rgb: np.ndarray) -> tuple[tuple | None, dict, float]:
    mrz, elapsed = passporteye_mrz(pe_read_mrz, image_rgb)
    if mrz is None:
        return None, {}, elapsed
    return tuple(mrz.aux.get("text", "").split("\n")), passporteye_fields(mrz.to_dict()), elapsed


def other_engines():
    """Tesseract (C API, eng, MRZ whitelist) and rapidocr's PP-OCR recogniser, per line."""
    engines = {}
    from gateway.verification.documents import tesseract

    try:
        tess = tesseract.engine("eval_mrz", whitelist="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
        engines["tesseract 5.3 eng+whitelist"] = lambda crop: tess.read(crop)[0]
    except tesseract.TesseractUnavailable as exc:
        print(f"tesseract unavailable: {exc}")
    try:
        from rapidocr_onnxruntime import RapidOCR

        rapid = RapidOCR()

        def rapid_read(crop: np.ndarray) -> str:
            result, _ = rapid(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), use_det=False, use_cls=False)
            return result[0][0] if result else ""

        engines["rapidocr PP-OCRv4"] = rapid_read
    except Exception as exc:
        print(f"rapidocr unavailable: {exc}")
    return engines


def clean_text(text: str) -> str:
    return "".join(text.split()).upper().replace("«", "<")


def evaluate_set(
    name: str, docs: list, pe_read_mrz, engines: dict, results: dict, compare_n: int
) -> None:
    """Our reader on every photo; PassportEye and the other engines on the first compare_n
    (they take seconds per page), whose figures are printed beside ours on that same subset."""
    ours_exact, ours_fields, ours_ms, ours_repaired, ours_cpu_ms = [], [], [], [], []
    ours_valid, ours_wrong_valid = [], []
    pe_exact, pe_fields, pe_ms = [], [], []
    engine_exact = {k: [] for k in engines}
    engine_ms = {k: [] for k in engines}
    for i, doc in enumerate(docs):
        started, cpu_started = time.perf_counter(), time.process_time()
        read = read_mrz(doc.image_rgb)
        ours_ms.append((time.perf_counter() - started) * 1000)
        ours_cpu_ms.append((time.process_time() - cpu_started) * 1000)
        lines = read.reading.lines if read else None
        ours_exact.append(lines == doc.mrz_lines)
        ours_valid.append(bool(read and read.reading.all_fields_valid))
        ours_wrong_valid.append(ours_valid[-1] and lines != doc.mrz_lines)
        ours_repaired.append(bool(read and read.reading.repairs))
        ours_fields.append(
            field_accuracy(raw_fields(read.reading.fields) if read else None, doc.mrz_lines)
        )
        if pe_read_mrz is not None and i < compare_n:
            pe_lines, pe_found, elapsed = run_passporteye(pe_read_mrz, doc.image_rgb)
            pe_ms.append(elapsed)
            pe_exact.append(pe_lines == doc.mrz_lines)
            pe_fields.append(field_accuracy(pe_found, doc.mrz_lines))
        if engines and i < compare_n:
            gray = cv2.cvtColor(doc.image_rgb, cv2.COLOR_RGB2GRAY)
            found = mrz_locate.pick_mrz_lines(mrz_locate.find_text_lines(gray))
            crops = [mrz_locate.cut_line(gray, line) for line in found]
            for engine_name, engine in engines.items():
                started = time.perf_counter()
                texts = tuple(clean_text(engine(crop)) for crop in crops)
                engine_ms[engine_name].append((time.perf_counter() - started) * 1000)
                engine_exact[engine_name].append(texts == doc.mrz_lines)
        progress(f"reading {name}", i + 1, len(docs))
    results[name] = {
        "ours": {"exact": float(np.mean(ours_exact)),
                 "field_accuracy": float(np.mean(ours_fields)),
                 "p50_ms": float(np.percentile(ours_ms, 50)),
                 "p95_ms": float(np.percentile(ours_ms, 95)),
                 "cpu_p50_ms": float(np.percentile(ours_cpu_ms, 50)),
                 "cpu_p95_ms": float(np.percentile(ours_cpu_ms, 95)),
                 "with_repairs": float(np.mean(ours_repaired))},
        "passporteye": {"exact": float(np.mean(pe_exact)) if pe_exact else None,
                        "field_accuracy": float(np.mean(pe_fields)) if pe_fields else None,
                        "p50_ms": float(np.percentile(pe_ms, 50)) if pe_ms else None,
                        "p95_ms": float(np.percentile(pe_ms, 95)) if pe_ms else None},
        "engines_on_our_lines": {k: {"exact": float(np.mean(v)),
                                     "p50_ms": float(np.percentile(engine_ms[k], 50))}
                                 for k, v in engine_exact.items()},
    }  # fmt: skip
    td3 = len(docs) // 2 + len(docs) % 2
    print(f"\n== {name}: {len(docs)} photos ({td3} TD3, {len(docs) - td3} TD1)")
    print(f"{'reader':<34}{'exact MRZ':>11}{'fields':>9}{'p50':>9}{'p95':>9}")
    print(f"{'ours (OCR-B cells + check digits)':<34}{pct(ours_exact):>11}{pct(ours_fields):>9}"
          f"{ms(ours_ms, 50):>9}{ms(ours_ms, 95):>9}")  # fmt: skip
    compared = min(compare_n, len(docs))
    if (pe_read_mrz is not None or engine_exact) and compared < len(docs):
        print(f"-- the first {compared} photos, every reader on the same images:")
        print(f"{'ours (same subset)':<34}{pct(ours_exact[:compared]):>11}"
              f"{pct(ours_fields[:compared]):>9}{ms(ours_ms[:compared], 50):>9}"
              f"{ms(ours_ms[:compared], 95):>9}")  # fmt: skip
    if pe_read_mrz is not None:
        print(f"{'PassportEye':<34}{pct(pe_exact):>11}{pct(pe_fields):>9}"
              f"{ms(pe_ms, 50):>9}{ms(pe_ms, 95):>9}")  # fmt: skip
    for engine_name, exact in engine_exact.items():
        label = f"{engine_name} (our lines)"
        print(f"{label:<34}{pct(exact):>11}{'':>9}{ms(engine_ms[engine_name], 50):>9}"
              f"{ms(engine_ms[engine_name], 95):>9}")  # fmt: skip
    print(
        f"our CPU time per page (all threads): p50 {ms(ours_cpu_ms, 50)}, p95 {ms(ours_cpu_ms, 95)}"
    )
    print(f"our reads that needed a verified repair: {pct(ours_repaired)}")
    print(f"our reads with every field valid: {pct(ours_valid)}; wrong reads flagged valid: "
          f"{sum(ours_wrong_valid)}")  # fmt: skip
    results[name]["ours"]["all_fields_valid"] = float(np.mean(ours_valid))
    results[name]["ours"]["wrong_but_valid"] = int(sum(ours_wrong_valid))
    if compared:
        results[name]["compared_subset"] = {
            "n": compared,
            "ours_exact": float(np.mean(ours_exact[:compared])),
            "ours_field_accuracy": float(np.mean(ours_fields[:compared])),
        }


def rotated_sets(docs: list, n: int) -> dict:
    """The first N photos turned 90, 180 and 270 degrees: exact rate and wrong-but-valid."""
    out = {}
    for quarter_turns in (1, 2, 3):
        exact, wrong_valid, cpu_ms = [], 0, []
        for doc in docs[:n]:
            turned = np.ascontiguousarray(np.rot90(doc.image_rgb, quarter_turns))
            cpu_started = time.process_time()
            read = read_mrz(turned)
            cpu_ms.append((time.process_time() - cpu_started) * 1000)
            lines = read.reading.lines if read else None
            exact.append(lines == doc.mrz_lines)
            wrong_valid += bool(read and read.reading.all_fields_valid and not exact[-1])
        degrees = 90 * quarter_turns
        print(f"turned {degrees:3d} deg ({len(exact)} photos): exact {pct(exact)}, wrong reads "
              f"flagged valid {wrong_valid}, CPU p95 {ms(cpu_ms, 95)}")  # fmt: skip
        out[str(degrees)] = {"exact": float(np.mean(exact)), "wrong_but_valid": wrong_valid}
    return out


def corrupted_digits(n: int, seed: int, photographed: int) -> dict:
    """Every check digit of N generated MRZs changed to each other digit: all must fail."""
    rng = np.random.default_rng(seed)
    typed_total = typed_caught = 0
    photo_total = photo_caught = 0
    for i in range(n):
        identity = random_identity(rng, TODAY)
        layout = "TD3" if i % 2 == 0 else "TD1"
        lines = td3_lines(identity) if layout == "TD3" else td1_lines(identity)
        for line, column in CHECK_DIGIT_POSITIONS[layout]:
            for shift in range(1, 10):
                bad = corrupt_check_digit(lines, line, column, shift)
                if bad == lines:
                    continue
                typed_total += 1
                result = validate_mrz("\n".join(bad), today=TODAY)
                typed_caught += not result["document_valid"]
        progress("corrupting typed MRZs", i + 1, n)
    # photographed: render documents whose printed check digit is wrong, read them back
    for i in range(photographed):
        identity = random_identity(rng, TODAY)
        layout = "TD3" if i % 2 == 0 else "TD1"
        lines = td3_lines(identity) if layout == "TD3" else td1_lines(identity)
        positions = CHECK_DIGIT_POSITIONS[layout]
        line, column = positions[i % len(positions)]
        bad = corrupt_check_digit(lines, line, column, int(rng.integers(1, 10)))
        if bad == lines:
            continue
        maker = make_passport if layout == "TD3" else make_id_card
        doc = maker(rng, identity=identity, today=TODAY, mrz_lines=bad)
        read = read_mrz(doc.image_rgb)
        photo_total += 1
        photo_caught += read is None or not read.reading.all_check_digits_valid
        progress("corrupted, photographed", i + 1, photographed)
    typed_pct = 100 * typed_caught / max(typed_total, 1)
    photo_pct = 100 * photo_caught / max(photo_total, 1)
    print(f"\n== corrupted check digits caught: typed {typed_caught}/{typed_total}"
          f" ({typed_pct:.1f} %), photographed and read back"
          f" {photo_caught}/{photo_total} ({photo_pct:.1f} %)")  # fmt: skip
    return {"typed": [typed_caught, typed_total], "photographed": [photo_caught, photo_total]}


def quality_figures(clean: list, degraded: list, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = {"clean": [], "degraded": [], "blur_sigma_3px": []}
    times = []
    for doc, worse in zip(clean, degraded, strict=True):
        for name, image in (("clean", doc.image_rgb), ("degraded", worse.image_rgb)):
            report = assess_quality(image)
            times.append(report.metrics["elapsed_ms"])
            rows[name].append(report)
        blurred = degrade(doc, rng, kinds=())
        blur(blurred, 3.0)
        rows["blur_sigma_3px"].append(assess_quality(blurred.image_rgb))
    out = {}
    print("\n== quality (variance of Laplacian in the card, glare fraction; issue rate)")
    for name, reports in rows.items():
        lap = [r.metrics["laplacian_variance"] for r in reports]
        glare = [r.metrics["glare_fraction"] for r in reports]
        codes = {c for r in reports for c in r.codes}
        rate = {c: float(np.mean([c in r.codes for r in reports])) for c in sorted(codes)}
        out[name] = {"laplacian_p5_p50_p95": np.percentile(lap, [5, 50, 95]).round(1).tolist(),
                     "glare_p50_p95": np.percentile(glare, [50, 95]).round(4).tolist(),
                     "issue_rate": rate}  # fmt: skip
        print(f"{name:<16} laplacian p5/p50/p95 {out[name]['laplacian_p5_p50_p95']}, "
              f"glare p50/p95 {out[name]['glare_p50_p95']}, issues {rate}")  # fmt: skip
    print(f"quality time per 1600 px photo: p50 {ms(times, 50)}, p95 {ms(times, 95)}")
    out["p95_ms"] = float(np.percentile(times, 95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="photos per set (clean, degraded)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--no-passporteye", action="store_true")
    parser.add_argument(
        "--compare-n", type=int, default=30, help="photos per set also read by the others"
    )
    parser.add_argument("--no-engines", action="store_true", help="skip tesseract/rapidocr")
    parser.add_argument(
        "--rotated-n", type=int, default=20, help="photos per set also read turned 90/180/270"
    )
    args = parser.parse_args()
    n = max(2, min(args.n, 400))
    OUT.mkdir(parents=True, exist_ok=True)
    pe_read_mrz, reason = (None, "disabled by --no-passporteye")
    if not args.no_passporteye:
        pe_read_mrz, reason = passporteye_reader()
    if pe_read_mrz is None:
        print(f"PassportEye not run: {reason}")
    else:
        from importlib.metadata import version

        print(f"PassportEye {version('passporteye')} (tesseract via pytesseract)")
    engines = {} if args.no_engines else other_engines()
    print_load("start")
    clean, degraded = make_documents(n, args.seed)
    results: dict = {"n_per_set": n, "seed": args.seed, "today": TODAY.isoformat()}
    compare_n = max(0, args.compare_n)
    evaluate_set("clean", clean, pe_read_mrz, engines, results, compare_n)
    evaluate_set("degraded", degraded, pe_read_mrz, engines, results, compare_n)
    if args.rotated_n:
        print("\n== clean photos turned")
        results["clean_turned"] = rotated_sets(clean, args.rotated_n)
        print("== degraded photos turned")
        results["degraded_turned"] = rotated_sets(degraded, args.rotated_n)
    results["corrupted_check_digits"] = corrupted_digits(n, args.seed + 1, photographed=min(n, 60))
    results["quality"] = quality_figures(clean, degraded, args.seed + 2)
    print_load("end")
    (OUT / "document_eval.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten {OUT / 'document_eval.json'}")


if __name__ == "__main__":
    main()
