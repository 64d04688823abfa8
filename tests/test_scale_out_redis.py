"""Scale-out on a real Redis: two gunicorn processes and two worker processes share one rate
limit (exactly) and one queue, and a worker killed mid-job loses nothing.

Everything is a real process: ``ekyc serve`` (gunicorn, 2 processes), ``ekyc worker`` twice,
redis-server with ``maxmemory-policy noeviction``, SeaweedFS, PostgreSQL and PocketBase.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from intake_fixtures import (
    BUCKET,
    RESULT_KEY_HEX,
    SERVICE_TOKENS,
    insert_row,
    new_kyc_id,
    put_images,
    shared_postgres,
    shared_redis,
    shared_s3,
)
from scale_out_stack import GatewayProcesses, WorkerProcess, run_reconciler, stack_env
from worker_helpers import genuine_capture, set_aside_leftover_jobs

from gateway.pb_server import PocketBaseServer
from gateway.services import partners
from gateway.services.intake.kyc_service import PARTNER_SLUG
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import PocketBaseConfig

pytestmark = pytest.mark.slow
RATE_LIMIT = 40
LEASE_S = 8
SUBMISSIONS, DISTINCT = 50, 10
DECIDED = {"approved", "manual_review", "rejected", "resubmission_requested"}


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, pocketbase: PocketBaseServer, pb: PocketBase):
    """The gateway (2 gunicorn processes) on the test PocketBase and the shared servers; the
    workers the tests start find no earlier test's unfinished job there."""
    set_aside_leftover_jobs(pb)
    s3 = shared_s3(request.config, tmp_path_factory)
    postgres = shared_postgres(request.config, tmp_path_factory)
    redis_server = shared_redis(request.config, tmp_path_factory)
    redis.Redis.from_url(redis_server.url).flushdb()
    home = tmp_path_factory.mktemp("scale_out")
    env = stack_env(
        home=home / "ekyc",
        pocketbase=pocketbase,
        redis_url=redis_server.url,
        extra={
            "EKYC_RATE_LIMIT": f"{RATE_LIMIT}/hour",
            "EKYC_WORKER_LEASE_S": str(LEASE_S),
            "KYC_SERVICE_SECRET": ",".join(SERVICE_TOKENS),
            "S3_ENDPOINT": s3.endpoint,
            "S3_ACCESS_KEY": s3.access_key,
            "S3_SECRET_KEY": s3.secret_key,
            "S3_BUCKET": BUCKET,
            "POSTGRES_URL": postgres.url,
            "KYC_RESULT_KEY": RESULT_KEY_HEX,
        },
    )
    gateway = GatewayProcesses(env, home / "gateway.log")
    gateway.start()
    yield {"env": env, "gateway": gateway, "home": home, "s3": s3, "postgres": postgres}
    gateway.stop()


@pytest.fixture(scope="module")
def pb(pocketbase: PocketBaseServer) -> PocketBase:
    return PocketBase(
        PocketBaseConfig(
            url=pocketbase.url,
            email=pocketbase.superuser_email,
            password=pocketbase.superuser_password,
        )
    )


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_two_gunicorn_processes_share_one_rate_limit_exactly(stack, pb):
    gateway: GatewayProcesses = stack["gateway"]
    pids = gateway.worker_pids()
    assert len(pids) == 2
    before = {pid: cpu_ticks(pid) for pid in pids}
    key = partners.create_partner(pb, "Scale-out partner", ("partner",))["api_key"]

    def call(_: int) -> int:
        # A new connection per request: the kernel spreads them over both processes.
        return requests.get(
            f"{gateway.url}/api/profiles",
            headers={"x-api-key": key, "Connection": "close"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = collections.Counter(pool.map(call, range(RATE_LIMIT + 20)))
    assert statuses == {200: RATE_LIMIT, 429: 20}
    # Both processes served (each spent CPU on requests): the limit held across them.
    assert all(cpu_ticks(pid) > before[pid] for pid in pids)


def test_one_queue_two_workers_and_a_killed_worker_loses_nothing(stack, pb, datasets_dir):
    env, home, gateway = stack["env"], stack["home"], stack["gateway"]
    capture = genuine_capture(datasets_dir)
    selfie = next(data for _, data, prompt, _ in capture.frames if prompt == "neutral")
    shared_keys = put_images(
        stack["s3"], new_kyc_id(), {"passport": capture.document_jpeg, "selfie": selfie}
    )
    kyc_ids = [new_kyc_id() for _ in range(DISTINCT)]
    for kyc_id in kyc_ids:
        insert_row(stack["postgres"], kyc_id)
    # 50 submissions, every kycId five times, duplicates interleaved and concurrent.
    submissions = kyc_ids * (SUBMISSIONS // DISTINCT)

    first = WorkerProcess(env, home / "worker-a.log")
    first.start()
    first.wait_ready()

    def submit(kyc_id: int) -> tuple[int, str]:
        response = requests.post(
            f"{gateway.url}/api/v1/process",
            json={"userId": 1, "kycId": kyc_id, **shared_keys},
            headers={"X-Service-Token": SERVICE_TOKENS[0]},
            timeout=60,
        )
        return response.status_code, response.json().get("jobId")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, submissions))
    assert all(status == 202 for status, _ in answers), answers
    assert [job for _, job in answers] == [f"kyc-{kyc_id}" for kyc_id in submissions]

    partner = pb.find_first("partners", "slug = {:slug}", {"slug": PARTNER_SLUG})
    refs = {f"kyc-{kyc_id}" for kyc_id in kyc_ids}

    def ours(status: str | None = None) -> list[dict]:
        rows = pb.find(
            "profiles",
            "partner = {:p}" + (" && status = {:s}" if status else ""),
            {"p": partner["id"], **({"s": status} if status else {})},
            limit=500,
        )
        return [row for row in rows if row["external_ref"] in refs]

    # Kill the only worker while it holds a job; retry if it finished between poll and kill.
    orphan = None
    for _ in range(3):
        deadline = time.monotonic() + 60
        while not ours("processing") and time.monotonic() < deadline:
            time.sleep(0.02)
        first.kill()
        time.sleep(1.0)
        left = ours("processing")
        if left:
            orphan = left[0]["id"]
            break
        first = WorkerProcess(env, home / "worker-a.log")
        first.start()
        first.wait_ready()
    assert orphan is not None, "the worker was never caught mid-job"

    workers = [WorkerProcess(env, home / f"worker-{name}.log") for name in ("b", "c")]
    for worker in workers:
        worker.start()
    try:
        # What the consumers' minute reconciler does, run once the orphan's lease has run out
        # rather than at the next minute (and again if anything is still undecided later).
        time.sleep(LEASE_S)
        deadline = time.monotonic() + 240
        next_reconcile = 0.0
        while time.monotonic() < deadline:
            if all(row["status"] in DECIDED for row in ours()):
                break
            if time.monotonic() >= next_reconcile:
                run_reconciler(env, partner["id"])
                next_reconcile = time.monotonic() + 30
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.stop()

    profiles = ours()
    # One profile per kycId, each decided, the orphan included.
    assert sorted(row["external_ref"] for row in profiles) == sorted(refs)
    assert all(row["status"] in DECIDED for row in profiles), [r["status"] for r in profiles]
    for row in profiles:
        history = pb.find("status_history", "profile = {:p}", {"p": row["id"]}, limit=100)
        moves = collections.Counter((h["from_status"], h["to_status"]) for h in history)
        # Queued once (duplicates were not), decided once (no job ran to a decision twice).
        assert moves[("in_progress", "submitted")] == 1, moves
        assert (
            sum(n for (src, dst), n in moves.items() if src == "processing" and dst in DECIDED) == 1
        )
    orphan_history = pb.find("status_history", "profile = {:p}", {"p": orphan}, limit=100)
    assert ("processing", "submitted") in {
        (h["from_status"], h["to_status"]) for h in orphan_history
    }
    # Both new workers took jobs from the one queue.
    assert all(worker.decided_count() > 0 for worker in workers), [
        worker.decided_count() for worker in workers
    ]
    # And every result reached the KYC Service's database.
    with psycopg.connect(stack["postgres"].url) as connection:
        statuses = dict(
            connection.execute(
                "SELECT id, status FROM kyc_verification WHERE id = ANY(%s)", (kyc_ids,)
            ).fetchall()
        )
    assert set(statuses.values()) <= {"ocr_complete", "ocr_failed"} and len(statuses) == DISTINCT
    # Redis never evicts the queue.
    policy = redis.Redis.from_url(env["REDIS_URL"]).config_get("maxmemory-policy")
    assert policy == {"maxmemory-policy": "noeviction"}


def test_the_compose_file_runs_redis_so_it_cannot_evict_queue_keys():
    import yaml

    compose = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text()
    )
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
