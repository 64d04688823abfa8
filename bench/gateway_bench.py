"""Gateway vs direct PocketBase: create-profile and get-profile throughput and latency.

Bounded and loopback only: it starts a fresh PocketBase (temporary data dir, free port) and the
gateway under the same gunicorn command ``ekyc serve`` runs, drives both with the same native
load generator (Debian ``wrk``, one Lua script for both sides, unique bodies per request), and
stops everything it started. Each measurement runs for a fixed time (wrk always runs its full
``--duration``, so a fixed request count would distort the rate); the whole run takes about
``6 x --seconds`` plus start-up, and every subprocess has a timeout.

The direct side performs the same record operation the gateway performs for that call: the
atomic upsert route for a create (with the fields the gateway writes), the record GET for a get.
The floor (``bench/floor_app.py``) is a bare Flask app under the same gunicorn command: the issue's
floor answers with no store call (``get_static``); a second floor row makes the PocketBase GET an
uncached poll makes, through the gateway's own transport. The gateway's GET rows poll up to 1,000
profiles round-robin after reading each once, so they measure polls of profiles the gateway has
read, answered by its cache (services/profile_cache.py) while PocketBase's change stream keeps it
current; with ``--no-cache`` every poll reads PocketBase. PocketBase spends more CPU per
request when requests come slower (measured: 1.6 ms for a sequential GET, 0.9 ms at 2,000/s), so
a last row paces the direct GET to the gateway's rate: PocketBase's CPU per gateway GET is
compared with that row (like for like) as well as with the unpaced one.

    python bench/gateway_bench.py                      # 10 s per measurement
    python bench/gateway_bench.py --seconds 3 --only get --signed-requests 0   # GET rows only
    python bench/gateway_bench.py --seconds 20 --workers 2 --threads 4 --json out.json

Why a native client: a Python threaded client tops out near 250 creates/s on this machine
(ARCHITECTURE.md), below what PocketBase serves, so it would measure itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_store import bench_settings, superuser_client  # noqa: E402
from bench.wrk_load import WRK_SCRIPT, Measurement, free_port, run_wrk, tree_cpu_seconds, wait_for  # noqa: E402
from gateway.cli import gunicorn_command  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services import partners  # noqa: E402
from gateway.services.profile_reads import encode_cursor, profile_etag  # noqa: E402
from gateway.services.request_signing import sign_request  # noqa: E402


def measure_signing(
    base_url: str,
    created: dict[str, str],
    ids: list[str],
    *,
    count: int,
    watched: dict[str, int],
) -> dict[str, dict[str, float]]:
    """CPU per request of the gateway and PocketBase for the same GETs unsigned and signed.

    Sequential from one thread, so the CPU each process spends is the request's own. Each
    signed request is a new signature (another profile's path), as a partner's would be.
    """
    session = requests.Session()
    figures: dict[str, dict[str, float]] = {}
    for mode in ("unsigned", "signed"):
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in watched.items()}
        latencies = []
        for index in range(count):
            path = f"/api/profiles/{ids[index % len(ids)]}"
            headers = {"x-api-key": created["api_key"]}
            if mode == "signed":
                timestamp = str(int(time.time()))
                signature = sign_request(created["signing_secret"], timestamp, "GET", path, b"")
                headers.update({"X-API-TIMESTAMP": timestamp, "X-API-SIGN": signature})
            started = time.perf_counter()
            response = session.get(base_url + path, headers=headers, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{mode} GET answered {response.status_code}")
        latencies.sort()
        figures[mode] = {
            name: round((tree_cpu_seconds(pid) - cpu_before[name]) * 1000 / count, 3)
            for name, pid in watched.items()
        }
        figures[mode]["p50_ms"] = round(latencies[len(latencies) // 2], 2)
    return figures


FEED_PAGE = 100  # profiles per changes-feed page in the bench


def report_ratios(
    by_key: dict[tuple[str, str], Measurement],
) -> tuple[dict[str, float], dict[str, bool]]:
    """Print the ratios issue 18 sets targets on (all measured in this run) and their verdicts,
    for the rows this run measured."""
    ratios: dict[str, float] = {}
    if ("gateway", "get") in by_key:
        # The floor of the issue: bare Flask answering a poll with no store call at all.
        floor_get = by_key[("floor", "get_static")].per_second
        store_floor_get = by_key[("floor", "get")].per_second
        gateway_get, direct_get = by_key[("gateway", "get")], by_key[("direct", "get")]
        gateway_304 = by_key[("gateway", "get_304")].per_second
        paced = by_key[("direct", "get_paced")]
        ratios.update(
            {
                "get_vs_floor": gateway_get.per_second / floor_get,
                "get_304_vs_floor": gateway_304 / floor_get,
                "get_vs_direct": gateway_get.per_second / direct_get.per_second,
                "pb_cpu_gateway_get_vs_direct": gateway_get.cpu_ms["pocketbase"]
                / direct_get.cpu_ms["pocketbase"],
                "pb_cpu_gateway_get_vs_direct_same_rate": gateway_get.cpu_ms["pocketbase"]
                / paced.cpu_ms["pocketbase"],
                # Context: the floor that makes the same PocketBase GET as an uncached poll.
                "get_vs_store_floor": gateway_get.per_second / store_floor_get,
                "get_304_vs_store_floor": gateway_304 / store_floor_get,
                "store_floor_get_vs_direct": store_floor_get / direct_get.per_second,
            }
        )
    if ("gateway", "create") in by_key:
        gateway_create, direct_create = by_key[("gateway", "create")], by_key[("direct", "create")]
        ratios["create_vs_direct"] = gateway_create.per_second / direct_create.per_second
        ratios["create_p95_vs_direct"] = gateway_create.p95_ms / direct_create.p95_ms
    ratios = {name: round(value, 3) for name, value in ratios.items()}
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.2f}")
    if ("gateway", "changes") in by_key:
        feed = by_key[("gateway", "changes")]
        print(
            f"changes feed: {feed.per_second:.0f} pages/s of {FEED_PAGE} profiles"
            f" = {feed.per_second * FEED_PAGE:.0f} profiles/s, p95 {feed.p95_ms:.1f} ms"
        )
    checks = {
        "get_at_least_45pct_of_floor": ("get_vs_floor", 0.45, True),
        "get_304_at_least_60pct_of_floor": ("get_304_vs_floor", 0.60, True),
        "pb_cpu_per_get_at_most_1.2x_direct": ("pb_cpu_gateway_get_vs_direct", 1.2, False),
        "pb_cpu_per_get_at_most_1.2x_direct_same_rate": (
            "pb_cpu_gateway_get_vs_direct_same_rate",
            1.2,
            False,
        ),
        "create_at_least_75pct_of_direct": ("create_vs_direct", 0.75, True),
        "create_p95_at_most_1.25x_direct": ("create_p95_vs_direct", 1.25, False),
    }
    verdict = {
        name: (ratios[ratio] >= bound) if at_least else (ratios[ratio] <= bound)
        for name, (ratio, bound, at_least) in checks.items()
        if ratio in ratios
    }
    for name, passed in verdict.items():
        print(f"{name}: {'yes' if passed else 'NO'}")
    return ratios, verdict


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads each")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--signed-requests", type=int, default=400, help="sequential GETs, signed and not (0: skip)"
    )
    parser.add_argument(
        "--only", choices=("all", "get", "create"), default="all", help="which rows to measure"
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="the gateway without its poll cache (every poll "
        "reads PocketBase: the figures of a poll the cache does not hold)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("gateway_bench: needs wrk (apt-get install -y wrk)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="ekyc-bench-"))
    pocketbase = PocketBaseServer.throwaway(workdir, email="bench@ekyc.test")
    gateway: subprocess.Popen[bytes] | None = None
    floor: subprocess.Popen[bytes] | None = None
    gateway_log = open(workdir / "gateway.log", "wb")  # noqa: SIM115 (closed in finally)
    try:
        settings = bench_settings(pocketbase, workdir, gateway_port=free_port())
        pb = superuser_client(pocketbase)
        # With the data key, the key gets a signing secret: the signed-request rows use it.
        created = partners.create_partner(pb, "Bench partner", data_key=settings.data_key)
        superuser_token = pb.request(
            "POST",
            "/api/collections/_superusers/auth-with-password",
            json={
                "identity": pocketbase.superuser_email,
                "password": pocketbase.superuser_password,
            },
        ).json()["token"]

        command = gunicorn_command(settings)
        for flag, value in (("--workers", args.workers), ("--threads", args.threads)):
            if value is not None:
                command[command.index(flag) + 1] = str(value)
        metrics_dir = workdir / "metrics"
        metrics_dir.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
            **settings.child_env(),
            # The benchmark measures throughput, not the limiter: lift the per-key limit.
            "EKYC_RATE_LIMIT": "10000000/minute",
            **({"EKYC_PROFILE_CACHE_SIZE": "0"} if args.no_cache else {}),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        gateway = subprocess.Popen(
            command, env=env, stdout=gateway_log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
        gateway_url = f"http://127.0.0.1:{settings.gateway_port}"
        print(f"... {' '.join(command[1:])}", file=sys.stderr, flush=True)
        wait_for(f"{gateway_url}/health/ready", 30)
        # The same gunicorn command serving a bare Flask app: the ceiling of any Flask GET here.
        floor_port = free_port()
        floor_command = ["bench.floor_app:app" if part == "wsgi:app" else part for part in command]
        floor_command[floor_command.index("--bind") + 1] = f"127.0.0.1:{floor_port}"
        floor_command[floor_command.index("--control-socket") + 1] = str(workdir / "floor.ctl")
        floor_env = {
            **env,
            "FLOOR_PB_URL": pocketbase.url,
            "FLOOR_PB_EMAIL": pocketbase.superuser_email,
            "FLOOR_PB_PASSWORD": pocketbase.superuser_password,
            "FLOOR_PARTNER": created["partner_id"],
        }
        floor = subprocess.Popen(
            floor_command,
            env=floor_env,
            stdout=gateway_log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        floor_url = f"http://127.0.0.1:{floor_port}"
        wait_for(f"{floor_url}/floor/ready", 30)

        script = workdir / "bench.lua"
        script.write_text(WRK_SCRIPT)
        common = {
            "concurrency": args.concurrency,
            "wrk_threads": args.wrk_threads,
            "script": script,
        }
        sides = {
            "gateway": {
                "base_url": gateway_url,
                "auth": ("x-api-key", created["api_key"]),
                "create": "/api/profiles",
                "get": "/api/profiles/",
                "get_304": "/api/profiles/",
                "changes": f"/api/profiles/changes?limit={FEED_PAGE}&after=",
            },
            "direct": {
                "base_url": pocketbase.url,
                "auth": ("Authorization", superuser_token),
                "create": "/api/ekyc/profiles/upsert",
                "get": "/api/collections/profiles/records/",
                "get_paced": "/api/collections/profiles/records/",
            },
        }
        sides["floor"] = {
            "base_url": floor_url,
            "auth": ("x-api-key", "unused"),
            "create": "/floor/profiles",
            "get": "/floor/",
            "get_static": "/floor/static/",
        }
        extra = {"BENCH_PARTNER": created["partner_id"], "BENCH_IDS_FILE": ""}

        def measure(side: str, op: str, seconds: int, delay_ms: float = 0) -> Measurement:
            target = sides[side]
            print(f"... {side} {op} {seconds} s", file=sys.stderr, flush=True)
            conditional = {
                "BENCH_CONDITIONAL": "1" if op == "get_304" else "0",
                "BENCH_DELAY_MS": str(round(delay_ms)),
            }
            if op == "changes":
                conditional["BENCH_IDS_FILE"] = str(cursors_file)
            measurement = run_wrk(
                side=side,
                op="create" if op == "create" else "get",
                base_url=target["base_url"],
                path=target[op],
                auth=target["auth"],
                extra_env={**extra, **conditional},
                seconds=seconds,
                watched={
                    "gateway": gateway.pid,
                    "pocketbase": pocketbase.process.pid,
                    "floor": floor.pid,
                },
                **common,
            )
            measurement.op = op
            return measurement

        # Warm-up (not reported): connections, gunicorn threads, PocketBase's statement cache.
        for side in ("gateway", "direct", "floor"):
            measure(side, "create", 2)
        # One poll opens the gateway's change stream (its cache subscribes at the first poll), so
        # creates are measured as in service: PocketBase sends each one to the subscriber too.
        polled = pb.find("profiles", "partner = {:p}", {"p": created["partner_id"]}, limit=1)[0]
        requests.get(
            f"{gateway_url}/api/profiles/{polled['id']}",
            headers={"x-api-key": created["api_key"]},
            timeout=10,
        ).raise_for_status()

        results = []
        if args.only in ("all", "create"):
            results.append(measure("direct", "create", args.seconds))
            results.append(measure("gateway", "create", args.seconds))
            results.append(measure("floor", "create", args.seconds))
        rows = pb.find("profiles", "partner = {:p}", {"p": created["partner_id"]}, limit=1000)
        ids = [row["id"] for row in rows]
        ids_file = workdir / "ids.txt"
        ids_file.write_text("".join(f"{row['id']} {profile_etag(row)}\n" for row in rows))
        extra["BENCH_IDS_FILE"] = str(ids_file)
        # Feed pages from random places in the partner's changes, each a full page.
        top = max(int(row["change_seq"]) for row in rows)
        cursors_file = workdir / "cursors.txt"
        cursors_file.write_text(
            "".join(
                encode_cursor("changes", {"seq": top - FEED_PAGE - offset}) + "\n"
                for offset in range(0, min(len(rows), 900), 7)
            )
        )
        if args.only in ("all", "get"):
            # Every polled profile read once through the gateway first, so the GET rows measure
            # what they say, polls of profiles the gateway has read (a 2 s round-robin warm-up
            # covered ~60 % of them, and the rest were first reads inside the measured rows).
            with requests.Session() as session:
                for profile_id in ids:
                    session.get(
                        f"{gateway_url}/api/profiles/{profile_id}",
                        headers={"x-api-key": created["api_key"]},
                        timeout=10,
                    ).raise_for_status()
            for side, op in (("gateway", "get"), ("direct", "get"), ("floor", "get")):
                measure(side, op, 2)
            results.append(measure("direct", "get", args.seconds))
            results.append(gateway_get := measure("gateway", "get", args.seconds))
            results.append(measure("gateway", "get_304", args.seconds))
            results.append(measure("floor", "get", args.seconds))
            results.append(measure("floor", "get_static", args.seconds))
            # Each connection waits so that the direct GET runs at about the gateway's rate.
            pace_ms = args.concurrency * 1000 / max(gateway_get.per_second, 1)
            results.append(measure("direct", "get_paced", args.seconds, delay_ms=pace_ms))
            results.append(measure("gateway", "changes", args.seconds))
        signing = None
        if args.signed_requests:
            print(f"... signed vs unsigned GET, {args.signed_requests} each", file=sys.stderr)
            signing = measure_signing(
                gateway_url,
                created,
                ids,
                count=args.signed_requests,
                watched={"gateway": gateway.pid, "pocketbase": pocketbase.process.pid},
            )
    finally:
        if floor is not None and floor.poll() is None:
            floor.send_signal(signal.SIGTERM)
            floor.wait(timeout=15)
        if gateway is not None and gateway.poll() is None:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait(timeout=5)
        gateway_log.close()
        pocketbase.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    by_key = {(m.side, m.op): m for m in results}
    workers = command[command.index("--workers") + 1]
    threads = command[command.index("--threads") + 1]
    print(
        f"gateway: gunicorn gthread, {workers} process(es) x {threads} threads; client: wrk "
        f"{args.wrk_threads} threads, {args.concurrency} connections, {args.seconds} s per row;"
        f" {os.cpu_count()} CPUs; poll cache {'off' if args.no_cache else 'on'}"
    )
    print(
        f"{'side':<8} {'op':<10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} errors"
        "   CPU ms per request: python    pb  client  -> CPU-bound ceiling req/s"
    )
    for m in results:
        python_ms = m.cpu_ms["floor"] if m.side == "floor" else m.cpu_ms["gateway"]
        pb_ms = m.cpu_ms["pocketbase"]
        total_ms = python_ms + pb_ms + m.cpu_ms["client"]
        print(
            f"{m.side:<8} {m.op:<10} {m.per_second:>8.1f} {m.p50_ms:>8.2f} {m.p95_ms:>8.2f} "
            f"{m.p99_ms:>8.2f} {m.bad_status + m.socket_errors:>6}"
            f"   {'':>18} {python_ms:>6.2f} {pb_ms:>5.2f} {m.cpu_ms['client']:>7.2f}"
            f"  -> {(os.cpu_count() or 1) * 1000 / total_ms:>8.0f}"
        )
    ratios, verdict = report_ratios(by_key)
    if signing is not None:
        unsigned, signed = signing["unsigned"], signing["signed"]
        print(
            f"signed GET, {args.signed_requests} sequential requests each (one client thread): CPU"
            f" ms per request gateway {signed['gateway']:.2f} vs unsigned"
            f" {unsigned['gateway']:.2f} ({signed['gateway'] / unsigned['gateway']:.2f}x),"
            f" PocketBase {signed['pocketbase']:.2f} vs {unsigned['pocketbase']:.2f} (the replay"
            f" record); latency p50 {signed['p50_ms']:.1f} vs {unsigned['p50_ms']:.1f} ms"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "gunicorn": {"workers": int(workers), "threads": int(threads)},
                    "poll_cache": not args.no_cache,
                    "results": [asdict(m) for m in results],
                    "ratios": ratios,
                    "signing": signing,
                    "targets": verdict,
                },
                indent=2,
            )
        )
    errors = sum(m.bad_status + m.socket_errors for m in results)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
