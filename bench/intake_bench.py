"""Server-to-server intake benchmark: intake-to-decision latency through S3 beside the hosted-flow
path, and verifications per minute with one and with two worker processes, in one run.

Everything is real and local: PocketBase, SeaweedFS (S3), Redis (queue and rate limit),
PostgreSQL (result sink), ``ekyc serve`` (2 gunicorn processes) and ``ekyc worker`` processes.
The images are the shared clip's person on a synthetic passport and one selfie frame.

- latency, intake: ``POST /api/v1/process`` until the profile is decided (polled every 20 ms),
  one verification at a time, one worker process;
- latency, hosted-flow path (the baseline): the same images stored on a profile the way the
  hosted flow stores them, moved to ``submitted`` and queued; until decided;
- throughput: ``--jobs`` intake submissions at once, until all are decided, with 1 and then 2
  worker processes (verifications per minute).

    python bench/intake_bench.py --runs 10 --jobs 16
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(REPO_ROOT))

from intake_fixtures import BUCKET, KYC_TABLE, RESULT_KEY_HEX, SERVICE_TOKENS  # noqa: E402
from intake_servers import Postgres, RedisServer, SeaweedS3  # noqa: E402
from scale_out_stack import GatewayProcesses, WorkerProcess, stack_env  # noqa: E402

from bench.bench_store import superuser_client  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services.intake.kyc_service import PARTNER_SLUG  # noqa: E402

DECIDED = {"approved", "manual_review", "rejected", "resubmission_requested"}
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list = []
        self.workers: list[WorkerProcess] = []
        self.kyc_id = int(time.time()) % 1_000_000 * 100

    def start(self) -> None:
        import psycopg

        pocketbase = PocketBaseServer.throwaway(self.root, email="bench@ekyc.test")
        self.servers.append(pocketbase)
        self.s3 = SeaweedS3(self.root / "s3")
        self.servers.append(self.s3)
        self.s3.start()
        self.postgres = Postgres(self.root / "pg")
        self.servers.append(self.postgres)
        self.postgres.start()
        with psycopg.connect(self.postgres.url, autocommit=True) as connection:
            connection.execute(KYC_TABLE)
        self.redis = RedisServer(self.root / "redis")
        self.servers.append(self.redis)
        self.redis.start()
        self.s3.wait_ready(BUCKET)
        self.env = stack_env(
            home=self.root / "ekyc",
            pocketbase=pocketbase,
            redis_url=self.redis.url,
            extra={
                "KYC_SERVICE_SECRET": SERVICE_TOKENS[0],
                "S3_ENDPOINT": self.s3.endpoint,
                "S3_ACCESS_KEY": self.s3.access_key,
                "S3_SECRET_KEY": self.s3.secret_key,
                "S3_BUCKET": BUCKET,
                "POSTGRES_URL": self.postgres.url,
                "KYC_RESULT_KEY": RESULT_KEY_HEX,
                "EKYC_RATE_LIMIT": "100000/minute",
            },
        )
        # The bench process enqueues the hosted-flow baseline on the same Redis queue.
        os.environ["REDIS_URL"] = self.redis.url
        self.gateway = GatewayProcesses(self.env, self.root / "gateway.log")
        self.servers.append(self.gateway)
        self.gateway.start()
        self.pb = superuser_client(pocketbase)

    def images(self) -> dict[str, str]:
        from intake_fixtures import put_images
        from worker_helpers import genuine_capture

        capture = genuine_capture(DATASETS)
        selfie = next(data for _, data, prompt, _ in capture.frames if prompt == "neutral")
        self.passport, self.selfie = capture.document_jpeg, selfie
        return put_images(self.s3, 1, {"passport": self.passport, "selfie": self.selfie})

    def set_workers(self, count: int) -> None:
        while len(self.workers) > count:
            self.workers.pop().stop()
        while len(self.workers) < count:
            worker = WorkerProcess(self.env, self.root / f"worker-{len(self.workers)}.log")
            worker.start()
            self.workers.append(worker)
        for worker in self.workers:
            worker.wait_ready()

    def submit(self, keys: dict[str, str]) -> str:
        self.kyc_id += 1
        response = requests.post(
            f"{self.gateway.url}/api/v1/process",
            json={"userId": 1, "kycId": self.kyc_id, **keys},
            headers={"X-Service-Token": SERVICE_TOKENS[0]},
            timeout=60,
        )
        assert response.status_code == 202, response.text
        return response.json()["jobId"]

    def wait_decided(self, refs: set[str], timeout_s: float = 600) -> None:
        partner = self.pb.find_first("partners", "slug = {:slug}", {"slug": PARTNER_SLUG})
        deadline = time.monotonic() + timeout_s
        pending = set(refs)
        while pending and time.monotonic() < deadline:
            rows = self.pb.find(
                "profiles",
                "partner = {:p} && status != 'submitted' && status != 'processing'",
                {"p": partner["id"]},
                limit=1000,
                sort="-updated",
            )
            pending -= {row["external_ref"] for row in rows if row["status"] in DECIDED}
            if pending:
                time.sleep(0.02)
        if pending:
            raise RuntimeError(f"{len(pending)} verifications not decided in {timeout_s}s")

    def hosted_flow_once(self) -> float:
        """The baseline: images stored as the hosted flow stores them, then queued."""
        from gateway.worker.tasks import enqueue_verification

        partner = self.pb.find_first("partners", "slug = {:slug}", {"slug": PARTNER_SLUG})
        ref = f"flow-{secrets.token_hex(6)}"
        profile = self.pb.create(
            "profiles",
            {
                "partner": partner["id"],
                "external_ref": ref,
                "status": "unverified",
                "link_nonce": secrets.token_hex(8),
                "link_expires_at": "2099-01-01 00:00:00.000Z",
            },
        )
        self.pb.transition(profile["id"], "in_progress", actor="applicant")
        self.pb.update(
            "profiles",
            profile["id"],
            {},
            files={
                "document_front": [("document_front.jpg", self.passport, "image/jpeg")],
                "selfie_frames": [("frame000.jpg", self.selfie, "image/jpeg")],
            },
        )
        started = time.perf_counter()
        self.pb.transition(profile["id"], "submitted", actor="applicant")
        enqueue_verification(profile["id"])
        self.wait_decided({ref})
        return time.perf_counter() - started

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in reversed(self.servers):
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="sequential latency runs per path")
    parser.add_argument("--jobs", type=int, default=16, help="verifications per throughput run")
    args = parser.parse_args()
    if not (DATASETS / "liveness").is_dir():
        sys.exit(f"needs the shared datasets at {DATASETS}")
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            started = time.perf_counter()
            bench.start()
            print(f"servers up in {time.perf_counter() - started:.1f} s", flush=True)
            keys = bench.images()
            bench.set_workers(1)
            bench.wait_decided({bench.submit(keys)})  # warm-up: first job, first connections
            intake, flow = [], []
            for _ in range(args.runs):
                begun = time.perf_counter()
                bench.wait_decided({bench.submit(keys)})
                intake.append(time.perf_counter() - begun)
                flow.append(bench.hosted_flow_once())
            processing_ms = [
                float(line.split('"processing_ms": ')[1].split(",")[0])
                for line in (bench.root / "worker-0.log").read_text().splitlines()
                if '"event": "verification_done"' in line
            ][1:]  # without the warm-up
            load_latency = os.getloadavg()[0]
            per_minute = {}
            for count in (1, 2):
                bench.set_workers(count)
                with ThreadPoolExecutor(8) as pool:
                    begun = time.perf_counter()
                    refs = set(pool.map(lambda _: bench.submit(keys), range(args.jobs)))
                bench.wait_decided(refs)
                per_minute[count] = args.jobs / (time.perf_counter() - begun) * 60
        finally:
            bench.stop()
    print(f"\nintake -> decision through S3, one at a time, n={args.runs}:")
    print(
        f"  intake (POST /api/v1/process)   p50 {statistics.median(intake):.2f} s   "
        f"p95 {percentile(intake, 0.95):.2f} s"
    )
    print(
        f"  hosted-flow path (baseline)     p50 {statistics.median(flow):.2f} s   "
        f"p95 {percentile(flow, 0.95):.2f} s"
    )
    print(
        f"  of which the verification itself (worker processing_ms, both paths) "
        f"p50 {statistics.median(processing_ms) / 1000:.2f} s"
    )
    print(f"  load average after the latency runs: {load_latency:.2f}")
    print(f"\nthroughput, {args.jobs} submissions at once:")
    for count, rate in per_minute.items():
        print(f"  {count} worker process{'es' if count > 1 else ''}: {rate:.1f} verifications/min")
    print(f"  speed-up: {per_minute[2] / per_minute[1]:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
