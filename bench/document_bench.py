"""Time the MRZ reader beside PassportEye on the same pages, in one run.

    nice python bench/document_bench.py                       # PassportEye in-process if installed
    nice python bench/document_bench.py --passporteye-python /path/to/venv/bin/python

Pages: every image of ``../shared/datasets/documents/real_mrz`` turned 0, 90, 180 and 270
degrees (orientation search included in our time). For each reader: wall and CPU time per page
(p50, p95), exact MRZ and found rate on the scored rows (see eval/document_real_eval.py). CPU
time is reported beside wall time because the machine may be shared: wall time then measures
the neighbours. PassportEye (``pip install passporteye==2.2.2``, the ``eval`` extra) can run in
another interpreter (``--passporteye-python``) so its dependencies stay out of the project's
environment; it is then timed inside that process, page by page, the same way.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path


def passporteye_page(png: bytes) -> tuple[str | None, float, float]:
    """PassportEye's MRZ text of one PNG, with wall and CPU milliseconds."""
    warnings.simplefilter("ignore")
    from passporteye import read_mrz as pe_read_mrz

    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        mrz = pe_read_mrz(io.BytesIO(png))
    except Exception:  # PassportEye raises on some pages; that is a failed read
        mrz = None
    wall = (time.perf_counter() - started) * 1000
    cpu = (time.process_time() - cpu_started) * 1000
    return (mrz.aux.get("text") if mrz is not None else None), wall, cpu


def serve_passporteye() -> None:
    """Helper mode: read PNG paths from stdin, answer one JSON line each."""
    for path in sys.stdin:
        text, wall, cpu = passporteye_page(Path(path.strip()).read_bytes())
        print(json.dumps({"text": text, "wall_ms": wall, "cpu_ms": cpu}), flush=True)


if __name__ == "__main__" and "--serve-passporteye" in sys.argv:
    serve_passporteye()  # in PassportEye's own interpreter: nothing of the project is imported
    sys.exit(0)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "eval"))

from document_real_eval import REAL, load_rgb, load_rows  # noqa: E402

from gateway.verification.documents.reader import read_mrz  # noqa: E402


def summary(name: str, wall: list[float], cpu: list[float], exact: list[bool], found: list[bool]):
    """One reader's line: time per page (wall and CPU) and how it read the scored rows."""
    wall_p50, wall_p95 = np.percentile(wall, [50, 95])
    cpu_p50, cpu_p95 = np.percentile(cpu, [50, 95])
    print(f"{name:<12} wall p50 {wall_p50:5.0f} ms, p95 {wall_p95:5.0f} ms | "
          f"CPU p50 {cpu_p50:5.0f} ms, p95 {cpu_p95:5.0f} ms | "
          f"exact {100 * np.mean(exact):5.1f} %, found {100 * np.mean(found):5.1f} %")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", default="0,90,180,270")
    parser.add_argument("--passporteye-python", help="an interpreter with passporteye installed")
    parser.add_argument("--no-passporteye", action="store_true")
    parser.add_argument("--serve-passporteye", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"no real set at {REAL}")
    helper = None
    if not args.no_passporteye and args.passporteye_python:
        helper = subprocess.Popen(
            [args.passporteye_python, __file__, "--serve-passporteye"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
    in_process = False
    if not args.no_passporteye and helper is None:
        try:
            import passporteye  # noqa: F401

            in_process = True
        except ImportError:
            print("PassportEye not installed: pip install passporteye==2.2.2 "
                  "(or pass --passporteye-python)")  # fmt: skip
    rows = load_rows()
    rotations = [int(x) for x in args.rotations.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"{len(rows)} images x {len(rotations)} rotations")  # fmt: skip
    ours = {"wall": [], "cpu": [], "exact": [], "found": []}
    theirs = {"wall": [], "cpu": [], "exact": [], "found": []}
    scratch = REPO / "eval" / "out" / "bench_page.png"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    for degrees in rotations:
        for row in rows:
            rgb = np.ascontiguousarray(np.rot90(load_rgb(REAL / row.file), -degrees // 90))
            started, cpu_started = time.perf_counter(), time.process_time()
            result = read_mrz(rgb)
            ours["wall"].append((time.perf_counter() - started) * 1000)
            ours["cpu"].append((time.process_time() - cpu_started) * 1000)
            if row.scored:
                ours["exact"].append(result is not None and result.reading.lines == row.lines)
                ours["found"].append(result is not None)
            if not (in_process or helper):
                continue
            _, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if helper is not None:
                scratch.write_bytes(png.tobytes())
                helper.stdin.write(f"{scratch}\n")
                helper.stdin.flush()
                answer = json.loads(helper.stdout.readline())
                text, wall, cpu = answer["text"], answer["wall_ms"], answer["cpu_ms"]
            else:
                text, wall, cpu = passporteye_page(png.tobytes())
            theirs["wall"].append(wall)
            theirs["cpu"].append(cpu)
            if row.scored:
                theirs["exact"].append(text is not None and tuple(text.split("\n")) == row.lines)
                theirs["found"].append(text is not None)
        print(f"rotation {degrees} done")
    print()
    summary("ours", ours["wall"], ours["cpu"], ours["exact"], ours["found"])
    if theirs["wall"]:
        summary("PassportEye", theirs["wall"], theirs["cpu"], theirs["exact"], theirs["found"])
        ratios = [np.percentile(theirs["wall"], q) / np.percentile(ours["wall"], q)
                  for q in (50, 95)]  # fmt: skip
        print(f"PassportEye / ours, wall time: p50 {ratios[0]:.1f}x, p95 {ratios[1]:.1f}x")
    if helper is not None:
        helper.stdin.close()
        helper.wait(timeout=30)
    print(f"load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
