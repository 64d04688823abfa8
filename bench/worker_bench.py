"""Warm worker latency per verification, per factor, and the worker's memory.

Runs the verification pipeline in this process exactly as a worker does after its start-up hook
(models loaded once), on the genuine capture the end-to-end test uses: a synthetic passport whose
portrait is a frame of the shared head-turn clip, and 11 frames of that clip under a
turn_right/turn_left challenge. PocketBase I/O is left out (a few ms of loopback HTTP); this
measures the CPU a verification costs.

Targets (issue #4, 2-core machine): face match <= 400 ms p95, worker RSS <= 400 MiB.
Baseline in the same run: a fixed CPU reference (a 256x256 float matrix product repeated), timed
between verifications, so the printed ratio (verification / reference) stays comparable when
neighbours load the machine.

Usage (repo root, venv active):
    nice python bench/worker_bench.py [--runs 15] [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from worker_helpers import genuine_capture  # noqa: E402

from bench.face_match_bench import rss_mib  # noqa: E402
from gateway.progress import progress  # noqa: E402
from gateway.verification.captures import Captures, SelfieFrame  # noqa: E402
from gateway.verification.faces.recognition import get_face_models  # noqa: E402
from gateway.verification.pipeline import run_pipeline  # noqa: E402

DEFAULT_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def p(samples: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(samples), q))


def reference_ms(rng: np.random.Generator) -> float:
    """A fixed CPU workload: the yardstick the verification time is divided by."""
    a = rng.standard_normal((256, 256))
    started = time.perf_counter()
    for _ in range(20):
        a = np.tanh(a @ a.T / 256.0)
    return (time.perf_counter() - started) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    rss_start, _ = rss_mib()
    started = time.perf_counter()
    get_face_models()
    print(f"model load (once per worker process): {(time.perf_counter() - started) * 1e3:.0f} ms")
    capture = genuine_capture(args.datasets)
    now = time.time()
    captures = Captures(
        document_front=capture.document_jpeg,
        selfie_frames=[SelfieFrame(data, prompt, t_ms) for _, data, prompt, t_ms in capture.frames],
        liveness_challenge={
            "id": "bench",
            "prompts": list(capture.prompts),
            "issued_at": now,
            "expires_at": now + 3600,
        },
        challenge_checked_at=now,
    )
    applicant = {
        "first_name": capture.fields["given_names"],
        "last_name": capture.fields["surname"],
        "document_number": capture.fields["document_number"],
    }
    run_pipeline(captures, applicant, {})  # warm-up: first-call costs (OCR templates, caches)

    rng = np.random.default_rng(0)
    totals: list[float] = []
    references: list[float] = []
    per_factor: dict[str, list[float]] = {}
    decisions = set()
    for run in range(args.runs):
        references.append(reference_ms(rng))
        started = time.perf_counter()
        result = run_pipeline(captures, applicant, {})
        totals.append((time.perf_counter() - started) * 1000.0)
        decisions.add(result.decision.decision)
        for name, value in result.timings_ms.items():
            per_factor.setdefault(name, []).append(value)
        progress("verifications", run + 1, args.runs)
    rss_now, rss_peak = rss_mib()

    print(f"frames per verification: {len(capture.frames)}, decisions: {sorted(decisions)}")
    print(f"{'stage':<16} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for name, samples in per_factor.items():
        print(f"{name:<16} {p(samples, 0.5):9.1f} {p(samples, 0.95):9.1f} {max(samples):9.1f}")
    print(f"{'verification':<16} {p(totals, 0.5):9.1f} {p(totals, 0.95):9.1f} {max(totals):9.1f}")
    face_ms = [
        document + match
        for document, match in zip(
            per_factor["document_face"], per_factor["face_match"], strict=True
        )
    ]
    print(
        "face match (portrait detect + embed, then the matcher on the frontal frames): "
        f"p95 {p(face_ms, 0.95):.1f} ms (target <= 400)"
    )
    reference = statistics.median(references)
    print(
        f"baseline reference workload: median {reference:.1f} ms; "
        f"verification p50 / reference = {p(totals, 0.5) / reference:.1f}x"
    )
    print(
        f"RSS: start {rss_start:.0f} MiB, now {rss_now:.0f} MiB, peak {rss_peak:.0f} MiB "
        "(target <= 400)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
