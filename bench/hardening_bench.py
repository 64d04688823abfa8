"""What the request and upload guards cost: the JSON depth check, and the upload policy on a phone
photo, a large PNG and PDFs. Prints one line per case (median of ``--runs`` calls, in ms).

    python bench/hardening_bench.py [--runs 5]

Synthetic inputs only (a noise photo, blank PDF pages): real scans compress differently, so read
the figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from pypdf import PdfWriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.request_json import json_depth, parse_json
from gateway.services.uploads import accept_upload


def median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def photo(width: int, height: int, kind: str) -> bytes:
    rng = np.random.default_rng(0)
    pixels = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, kind, **({"quality": 90} if kind == "JPEG" else {}))
    return buffer.getvalue()


def pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def frames_body(total_bytes: int, frames: int = 250) -> bytes:
    each = b"A" * (total_bytes // frames)
    items = b",".join(b'{"image_base64":"' + each + b'","t_ms":1}' for _ in range(frames))
    return b'{"frames":[' + items + b"]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"load average: {os.getloadavg()[0]:.1f}")
    for size_mb in (1, 10):
        body = frames_body(size_mb * 1_000_000)
        depth_ms = median_ms(lambda b=body: json_depth(b), runs)
        parse_ms = median_ms(lambda b=body: parse_json(b), runs)
        print(f"JSON {size_mb} MB, 250 frames: depth check {depth_ms} ms, parse {parse_ms} ms")
    cases = [
        ("JPEG 1600x1200 (phone photo)", photo(1600, 1200, "JPEG"), "document_front"),
        ("PNG 5000x3000 (stored at 4096 px)", photo(5000, 3000, "PNG"), "document_front"),
        ("PDF 1 page", pdf(1), "other"),
        ("PDF 50 pages", pdf(50), "other"),
    ]
    for name, content, field in cases:
        elapsed = median_ms(
            lambda c=content, f=field: accept_upload(
                f, c, max_bytes=100_000_000, allow_pdf=f == "other"
            ),
            runs,
        )
        print(f"upload policy, {name}, {len(content) // 1024} KiB: {elapsed} ms")


if __name__ == "__main__":
    main()
