"""Warm latency and memory of `match_faces` on 640 px images, as a worker process sees them.

Targets (issue #4): p95 <= 400 ms per match on this 2-core machine; process RSS <= 400 MiB.
Baselines measured in the same run, on the same images: detection alone and embedding alone,
so a slower machine or a busy neighbour shows up as a shift of every row, not just one.

Usage (repo root, venv active):
    nice python bench/face_match_bench.py [--runs 40] [--faces-dir ../shared/datasets/faces]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.progress import progress  # noqa: E402
from gateway.verification.faces import recognition as face_service  # noqa: E402
from gateway.verification.faces.match import match_faces  # noqa: E402
from gateway.verification.images import downscale_to_max_side, load_image  # noqa: E402

DEFAULT_FACES_DIR = REPO_ROOT.parent / "shared" / "datasets" / "faces"
SAME_PERSON_PAIRS = [
    ("img1.jpg", "img2.jpg"),
    ("img16.jpg", "img17.jpg"),
    ("img20.jpg", "img21.jpg"),
    ("img22.jpg", "img23.jpg"),
    ("img3.jpg", "img12.jpg"),
]


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc (Linux)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key] = int(amount) / 1024
    return values["VmRSS:"], values["VmHWM:"]


def percentile(samples_ms: list[float], fraction: float) -> float:
    return float(np.quantile(np.array(samples_ms), fraction))


def describe(label: str, samples_ms: list[float]) -> str:
    return (
        f"{label:<38} p50 {percentile(samples_ms, 0.5):7.1f} ms   "
        f"p95 {percentile(samples_ms, 0.95):7.1f} ms   max {max(samples_ms):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces-dir", type=Path, default=DEFAULT_FACES_DIR)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    rss_start, _ = rss_mib()
    started = time.perf_counter()
    face_service.get_face_models()
    load_ms = (time.perf_counter() - started) * 1000
    rss_loaded, _ = rss_mib()
    print(
        f"RSS at start {rss_start:.0f} MiB; model load {load_ms:.0f} ms; "
        f"RSS after load {rss_loaded:.0f} MiB"
    )

    pairs = []
    for source_name, target_name in SAME_PERSON_PAIRS:
        source, _ = downscale_to_max_side(load_image(args.faces_dir / source_name), 640)
        target, _ = downscale_to_max_side(load_image(args.faces_dir / target_name), 640)
        pairs.append((np.ascontiguousarray(source), np.ascontiguousarray(target)))
    print(f"pairs: {len(pairs)} same-person pairs, longest side 640 px")
    # Baselines cycle over the same ten images the matches use, sources and targets alike.
    images = [image for pair in pairs for image in pair]
    first_faces = [face_service.detect_faces(image)[0] for image in images]
    blank = np.full((480, 640, 3), 200, dtype=np.uint8)

    # Warm-up: first calls allocate dlib's buffers.
    for source, target in pairs:
        match_faces(source, target)

    # Interleaved so a neighbour's burst of CPU use slows every measurement alike.
    calls = {
        "match": lambda run: match_faces(*pairs[run % len(pairs)]),
        "detect": lambda run: face_service.detect_faces(images[run % len(images)]),
        "embed": lambda run: face_service.embed_face(
            images[run % len(images)], first_faces[run % len(images)]
        ),
        "no_face_one_pass": lambda _: face_service.detect_faces(blank, upsample_if_none=False),
        "no_face_two_passes": lambda _: face_service.detect_faces(blank),
    }
    samples_ms: dict[str, list[float]] = {name: [] for name in calls}
    cpu_ms: dict[str, list[float]] = {name: [] for name in calls}
    for run in range(args.runs):
        for name, call in calls.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            call(run)
            samples_ms[name].append((time.perf_counter() - started) * 1000)
            cpu_ms[name].append((time.process_time() - cpu_started) * 1000)
        progress("interleaved runs", run + 1, args.runs)
    matches, detections, embeddings = (samples_ms[k] for k in ("match", "detect", "embed"))
    no_face_one_pass = samples_ms["no_face_one_pass"]
    no_face_two_passes = samples_ms["no_face_two_passes"]
    results = [match_faces(source, target) for source, target in pairs]
    rss_after, rss_peak = rss_mib()

    print()
    print(describe("match_faces (2 images: detect + embed)", matches))
    print(describe("  the same, CPU time of this process", cpu_ms["match"]))
    print(describe("baseline: detect_faces, one image", detections))
    print(describe("baseline: embed_face, one face", embeddings))
    print(describe("no face, first pass only (640x480)", no_face_one_pass))
    print(describe("no face, + upsampled second pass", no_face_two_passes))
    one_image_ms = percentile(detections, 0.5) + percentile(embeddings, 0.5)
    print(
        f"ratio match p50 / (2 x (detect p50 + embed p50)): "
        f"{percentile(matches, 0.5) / (2 * one_image_ms):.2f}  "
        "(~1.0: a match costs its two images' detection and embedding, nothing more)"
    )
    second_pass_ratio = percentile(no_face_two_passes, 0.5) / percentile(no_face_one_pass, 0.5)
    print(
        f"second pass costs {second_pass_ratio:.1f}x the first pass when it runs "
        "(only when the first pass finds nothing)"
    )
    print(f"all bench pairs matched: {all(result.match for result in results)}")
    p95 = percentile(matches, 0.95)
    print(f"target p95 <= 400 ms: {'met' if p95 <= 400 else 'NOT met'} ({p95:.0f} ms)")
    print(
        f"RSS after runs {rss_after:.0f} MiB, peak {rss_peak:.0f} MiB; target <= 400 MiB: "
        f"{'met' if rss_peak <= 400 else 'NOT met'}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
