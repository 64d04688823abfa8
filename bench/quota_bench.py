"""What metering costs a /v1 check, with and without a quota, and whether counting stays exact
under load.

Starts a fresh PocketBase (temporary data dir, free loopback port), then, for ``--runs`` calls
each, times the store writes one metered check makes:
  - ``plain create``: one usage row written with a record create (the metering before quotas);
  - ``no quota``: one row through the take route (what a partner without a quota costs now);
  - ``quota``: take a unit in the transaction, then settle the row (two round trips);
and finally ``--threads`` threads race for a quota of ``--quota`` units with twice as many
attempts, and the units taken are counted (must equal the quota).

    python bench/quota_bench.py --runs 300 --threads 8 --quota 400
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.errors import QuotaExceeded  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services import partners  # noqa: E402
from gateway.services.pocketbase import PocketBase  # noqa: E402
from gateway.services.pocketbase_transport import PocketBaseConfig  # noqa: E402
from gateway.services.quotas import settle_unit, take_unit  # noqa: E402

ROW = {"billed": True, "counted": True, "outcome": "ok", "processing_ms": 1.0, "profile": ""}
HELD = {**ROW, "billed": False, "outcome": "pending"}  # what a check holds while it runs


def timed(runs: int, step) -> dict[str, float]:
    """p50 and p95 in ms of ``runs`` calls of ``step``."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1000.0)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * len(samples)) - 1]}


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--quota", type=int, default=400)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ekyc-quota-bench-"))
    server = PocketBaseServer.throwaway(workdir, email="bench@ekyc.test")
    try:
        config = PocketBaseConfig(server.url, server.superuser_email, server.superuser_password)
        pb = PocketBase(config)
        partner_id = partners.create_partner(pb, "Bench partner")["partner_id"]
        now = datetime.now(UTC)

        def plain() -> None:
            pb.create("usage_events", {"partner": partner_id, "module": "face_match", **ROW})

        def no_quota() -> None:
            take_unit(pb, partner_id, "document_ocr", None, ROW, now=now)

        def with_quota() -> None:
            held = take_unit(pb, partner_id, "liveness", 10**8, HELD, now=now)
            settle_unit(pb, held["id"], 10**8, ROW, taken_at=now)

        for name, step in (("plain create", plain), ("no quota", no_quota), ("quota", with_quota)):
            figures = timed(args.runs, step)
            print(f"{name:<14} p50 {figures['p50_ms']:.2f} ms  p95 {figures['p95_ms']:.2f} ms")

        clients = [PocketBase(config) for _ in range(args.threads)]
        start = threading.Barrier(args.threads)

        def race(pb_client: PocketBase) -> int:
            start.wait()
            taken = 0
            for _ in range(2 * args.quota // args.threads):
                try:
                    take_unit(pb_client, partner_id, "verification", args.quota, ROW, now=now)
                    taken += 1
                except QuotaExceeded:
                    pass
            return taken

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            taken = sum(pool.map(race, clients))
        seconds = time.perf_counter() - started
        attempts = args.threads * (2 * args.quota // args.threads)
        print(
            f"race: {args.threads} threads, {attempts} attempts at a quota of {args.quota}:"
            f" {taken} taken ({'exact' if taken == args.quota else 'NOT EXACT'}),"
            f" {attempts / seconds:.0f} takes/s"
        )
        return 0 if taken == args.quota else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
