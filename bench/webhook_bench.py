"""Webhook delivery: throughput, fairness between partners, PocketBase's idle cost, and the
database size per profile, on a fresh PocketBase with profiles made through the gateway's create
path (the Flask app in-process, so the hooks write what they write in production).

Bounded and loopback only: one throwaway PocketBase, receivers in child processes on 127.0.0.1
(HTTP/1.1 keep-alive, answering 200 at once or after ``--slow-s``), everything stopped at the end.
The data is synthetic (generated applicants), so the sizes are those of synthetic profiles.

    python bench/webhook_bench.py                       # ~1 minute on 2 cores
    python bench/webhook_bench.py --events 6000 --idle-s 20

Figures printed:
- throughput: events/s the engine delivers from a full outbox to one fast receiver and to four
  (one per partner), against the one-attempt-at-a-time path (the old sweep's per-delivery work:
  claim, two reads, send, write) measured in the same run;
- fairness: latency of a partner's webhooks while another partner's slow receiver works through
  a backlog, against the same partner's latency with no backlog;
- idle: PocketBase CPU (% of a core) while the engine polls an idle outbox of thousands of rows,
  against PocketBase with nobody polling;
- size: database bytes per profile for a partner without endpoints, with one, and after pruning.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.wrk_load import tree_cpu_seconds  # noqa: E402
from gateway import create_app  # noqa: E402
from gateway.pb_server import PocketBaseServer, free_port  # noqa: E402
from gateway.services import partners  # noqa: E402
from gateway.services.webhooks.context import DeliveryContext  # noqa: E402
from gateway.services.webhooks.delivery import (  # noqa: E402
    attempt_delivery,
    dispatch_events,
    due_deliveries,
    sweep,
)
from gateway.services.webhooks.endpoints import create_endpoint  # noqa: E402
from gateway.services.webhooks.engine import DeliveryEngine, EngineLimits  # noqa: E402
from gateway.services.webhooks.pruning import prune_outbox  # noqa: E402
from gateway.settings import Settings  # noqa: E402

# -- receivers (child processes) ------------------------------------------------------------------


def serve_receiver(port: int, delay_s: float) -> None:
    """A receiver: 200 to every POST (after ``delay_s``); the first arrival time of each
    profile's webhooks kept, ``GET /arrivals`` answers them as JSON."""
    arrivals: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: with Nagle on, each answer waited ~40 ms for an ACK.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            arrivals.setdefault(body["data"].get("profile_id") or "", time.time())
            if delay_s:
                time.sleep(delay_s)
            self._answer(b"ok")

        def do_GET(self) -> None:
            self._answer(json.dumps(arrivals).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


class ReceiverProcess:
    """A receiver in a child process, so its CPU is not the engine's."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.process = multiprocessing.Process(
            target=serve_receiver, args=(self.port, delay_s), daemon=True
        )
        self.process.start()
        time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def arrivals(self) -> dict[str, float]:
        return requests.get(f"http://127.0.0.1:{self.port}/arrivals", timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


APPLICANT = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
             "phone": "+447700900123", "date_of_birth": "1990-12-10"}  # fmt: skip


def applicant(index: int) -> dict:
    """A synthetic applicant (unique reference and document number)."""
    document = {"type": "passport", "country": "GBR", "number": f"{index:09d}"}
    return {"external_ref": f"bench-{uuid.uuid4().hex[:16]}", **APPLICANT, "document": document}


class Bench:
    """The PocketBase, the app and the delivery context every measurement shares."""

    def __init__(self, workdir: Path) -> None:
        self.server = PocketBaseServer.throwaway(workdir, email="bench@ekyc.test")
        self.settings = Settings(
            ekyc_home=workdir,
            pocketbase_url=self.server.url,
            pb_superuser_email=self.server.superuser_email,
            pb_superuser_password=self.server.superuser_password,
            link_secret="bench-link-secret-0123456789",  # noqa: S106  (a throwaway store)
            data_key="bench-data-key-0123456789abcdef",
            rate_limit="1000000/minute",
            webhook_allow_private=True,
            log_json=True,
            log_level="WARNING",
        )
        self.app = create_app(self.settings)
        self.client = self.app.test_client()
        self.services = self.app.extensions["ekyc"]
        self.pb = self.services.pb
        self.serial = 0

    def context(self) -> DeliveryContext:
        return DeliveryContext(pb=self.pb, data_key=self.settings.data_key, allow_private=True)

    def partner(self, name: str, url: str | None = None) -> dict:
        created = partners.create_partner(self.pb, name)
        if url:
            key, partner_id = self.settings.data_key, created["partner_id"]
            create_endpoint(self.pb, key, partner_id, url, ["*"], allow_private=True)
        return created

    def create_profiles(self, partner: dict, count: int) -> dict[str, float]:
        """Create ``count`` profiles through the API; their ids and commit times."""
        committed = {}
        for _ in range(count):
            self.serial += 1
            response = self.client.post(
                "/api/profiles",
                json=applicant(self.serial),
                headers={"x-api-key": partner["api_key"]},
            )
            if response.status_code != 201:
                raise RuntimeError(f"create answered {response.status_code}: {response.data!r}")
            committed[response.get_json()["id"]] = time.time()
        return committed

    def table_bytes(self) -> dict[str, int]:
        """Bytes per table (with its indexes) as SQLite sees the file now (WAL included)."""
        db = sqlite3.connect(f"file:{self.server.data_dir / 'data.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT COALESCE(m.tbl_name, s.name), SUM(s.pgsize) FROM dbstat s"
                " LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY 1"
            ).fetchall()
        finally:
            db.close()
        return {name: size for name, size in rows}


# -- measurements ---------------------------------------------------------------------------------


def measure_throughput(bench: Bench, events: int, receivers: int) -> tuple[float, float, float]:
    """Events/s the engine delivers from a full outbox to ``receivers`` receivers, and the CPU
    ms per event of PocketBase and of the engine's process (less sensitive to a shared machine's
    load than the rate)."""
    started_receivers = [ReceiverProcess() for _ in range(receivers)]
    try:
        per_partner = events // receivers // 2  # two events per created profile
        for index, receiver in enumerate(started_receivers):
            partner = bench.partner(f"Throughput {receivers}x{index}", receiver.url)
            bench.create_profiles(partner, per_partner)
        pb_cpu, own_cpu = tree_cpu_seconds(bench.server.process.pid), time.process_time()
        started = time.perf_counter()
        counts = sweep(bench.context())
        seconds = time.perf_counter() - started
        pb_cpu = tree_cpu_seconds(bench.server.process.pid) - pb_cpu
        own_cpu = time.process_time() - own_cpu
        sent = counts["succeeded"]
        if sent != per_partner * receivers * 2:
            raise RuntimeError(f"not every event was delivered: {counts}")
        return sent / seconds, pb_cpu * 1000 / sent, own_cpu * 1000 / sent
    finally:
        for receiver in started_receivers:
            receiver.stop()


def measure_one_at_a_time(bench: Bench, events: int) -> float:
    """Events/s of the single-attempt path (claim, read endpoint and event, send, write)."""
    receiver = ReceiverProcess()
    try:
        partner = bench.partner("One at a time", receiver.url)
        bench.create_profiles(partner, events // 2)
        ctx = bench.context()
        dispatch_events(ctx)
        started = time.perf_counter()
        sent = 0
        for delivery_id in due_deliveries(ctx, limit=events):
            sent += attempt_delivery(ctx, delivery_id).status == "succeeded"
        return sent / (time.perf_counter() - started)
    finally:
        receiver.stop()


def latencies_ms(bench: Bench, partner: dict, receiver: ReceiverProcess, count: int) -> list[float]:
    """Commit-to-arrival latency of the first webhook of ``count`` profiles made 50 ms apart."""
    committed: dict[str, float] = {}
    for _ in range(count):
        committed.update(bench.create_profiles(partner, 1))
        time.sleep(0.05)
    deadline = time.time() + 30
    arrivals = receiver.arrivals()
    while len(arrivals) < count and time.time() < deadline:
        time.sleep(0.1)
        arrivals = receiver.arrivals()
    if len(arrivals) < count:
        raise RuntimeError(f"only {len(arrivals)} of {count} profiles' webhooks arrived")
    return sorted((arrivals[key] - moment) * 1000 for key, moment in committed.items())


def measure_fairness(bench: Bench, backlog: int, slow_s: float, samples: int) -> dict:
    """A partner's webhook latency with the engine idle, then while another partner's slow
    receiver works through a backlog: with the per-endpoint cap, and without it (every thread
    may go to one endpoint)."""
    figures: dict = {"backlog": backlog}
    uncapped = EngineLimits(per_endpoint=EngineLimits().concurrency)
    for label, limits in (
        ("alone", EngineLimits()),
        ("beside", EngineLimits()),
        ("uncapped", uncapped),
    ):
        engine = DeliveryEngine(bench.context(), limits)
        stop = threading.Event()
        thread = threading.Thread(target=engine.run, args=(stop, 0.5), daemon=True)
        fast, slow = ReceiverProcess(), ReceiverProcess(delay_s=slow_s)
        try:
            if label != "alone":
                busy = bench.partner(f"Fairness busy {label}", slow.url)
                bench.create_profiles(busy, backlog // 2)
            thread.start()
            time.sleep(1.0)  # the backlog is being worked on
            other = bench.partner(f"Fairness {label}", fast.url)
            figures[label] = latencies_ms(bench, other, fast, samples)
            figures[f"{label} slow delivered"] = 2 * len(slow.arrivals())
        finally:
            slow.stop()  # its remaining deliveries fail at once and wait for their retry
            stop.set()
            thread.join(60)
            fast.stop()
    return figures


def measure_idle(bench: Bench, seconds: float) -> dict[str, float]:
    """PocketBase CPU, % of one core, over ``seconds`` each: nobody polling; the outbox watcher
    this engine replaced (its query every 0.5 s); the engine idle (its round every 0.5 s)."""
    pid = bench.server.process.pid

    def old_watcher(stop: threading.Event) -> None:
        while not stop.wait(0.5):
            bench.pb.find("webhook_events", where={"dispatched_at": ""}, sort="@rowid", limit=1)

    def engine(stop: threading.Event) -> None:
        DeliveryEngine(bench.context(), EngineLimits()).run(stop, 0.5)

    figures = {}
    for label, poller in (("nobody", None), ("old watcher", old_watcher), ("engine", engine)):
        stop = threading.Event()
        thread = threading.Thread(target=poller, args=(stop,), daemon=True) if poller else None
        if thread:
            thread.start()
        time.sleep(0.5)
        before = tree_cpu_seconds(pid)
        time.sleep(seconds)
        figures[label] = (tree_cpu_seconds(pid) - before) / seconds * 100
        stop.set()
        if thread:
            thread.join(10)
    return figures


def measure_size(bench: Bench, profiles: int) -> dict[str, float]:
    """Database bytes per profile added: no endpoint, an endpoint (delivered), then pruned."""
    figures = {}
    receiver = ReceiverProcess()
    try:
        for label, url in (("no endpoint", None), ("endpoint", receiver.url)):
            before = sum(bench.table_bytes().values())
            partner = bench.partner(f"Size {label}", url)
            bench.create_profiles(partner, profiles)
            sweep(bench.context())
            figures[label] = (sum(bench.table_bytes().values()) - before) / profiles
        tables = bench.table_bytes()
        figures["outbox share"] = (
            tables.get("webhook_events", 0) + tables.get("webhook_deliveries", 0)
        ) / sum(tables.values())
        report = prune_outbox(bench.pb, 30, datetime.now(UTC) + timedelta(days=31))
        figures["pruned events"] = report.events
        tables = bench.table_bytes()
        figures["outbox after pruning"] = tables.get("webhook_events", 0) + tables.get(
            "webhook_deliveries", 0
        )
    finally:
        receiver.stop()
    return figures


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events per throughput run")
    parser.add_argument("--baseline-events", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=300, help="slow partner's events")
    parser.add_argument("--slow-s", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--size-profiles", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ekyc-webhook-bench-") as workdir:
        bench = Bench(Path(workdir))
        try:
            baseline = measure_one_at_a_time(bench, args.baseline_events)
            print(f"throughput, one attempt at a time (baseline): {baseline:7.0f} events/s")
            for receivers in (1, 4):
                rate, pb_ms, engine_ms = measure_throughput(bench, args.events, receivers)
                print(
                    f"throughput, engine, {receivers} receiver(s): {rate:7.0f} events/s"
                    f" ({rate / baseline:.1f}x); CPU per event: PocketBase {pb_ms:.2f} ms,"
                    f" engine {engine_ms:.2f} ms"
                )

            idle = measure_idle(bench, args.idle_s)
            outbox = sum(
                bench.table_bytes().get(name, 0)
                for name in ("webhook_events", "webhook_deliveries")
            )
            print(
                f"idle PocketBase CPU, % of a core (outbox {outbox / 1e6:.1f} MB, all delivered):"
                f" nobody polling {idle['nobody']:.2f}, the old watcher's query every 0.5 s"
                f" {idle['old watcher']:.2f}, the engine's round every 0.5 s {idle['engine']:.2f}"
            )

            fair = measure_fairness(bench, args.backlog, args.slow_s, args.samples)
            for label in ("alone", "beside", "uncapped"):
                values = fair[label]
                print(
                    f"latency, {label:<8} p50 {statistics.median(values):6.0f} ms"
                    f"  p95 {percentile(values, 0.95):6.0f} ms  max {max(values):6.0f} ms"
                )
            print(
                f"  (alone: the engine idle, polling every 0.5 s; beside: another partner's"
                f" {fair['backlog']} events to a receiver answering in {args.slow_s} s,"
                f" {fair['beside slow delivered']} of them delivered meanwhile; uncapped: the"
                " same without the per-endpoint cap)"
            )

            size = measure_size(bench, args.size_profiles)
            print(
                f"database bytes per profile (synthetic): no endpoint {size['no endpoint']:.0f},"
                f" endpoint for every event {size['endpoint']:.0f};"
                f" outbox {size['outbox share']:.0%} of the database before pruning,"
                f" {size['outbox after pruning'] / 1e3:.0f} kB after"
                f" ({size['pruned events']} events pruned)"
            )
        finally:
            bench.server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
