"""Gateway vs direct PocketBase: create-profile and get-profile throughput and latency.

Bounded and loopback only: it starts a fresh PocketBase (temporary data dir, free port) and the
gateway under the same gunicorn command ``ekyc serve`` runs, drives both with the same native
load generator (Debian ``wrk``, one Lua script for both sides, unique bodies per request), and
stops everything it started. Each measurement runs for a fixed time (wrk always runs its full
``--duration``, so a fixed request count would distort the rate); the whole run takes about
``6 x --seconds`` plus start-up, and every subprocess has a timeout.

The direct side performs the same record operation the gateway performs for that call: the
atomic upsert route for a create (with the fields the gateway writes), the record GET for a get.

    python bench/gateway_bench.py                      # 10 s per measurement
    python bench/gateway_bench.py --seconds 20 --workers 2 --threads 4 --json out.json

Why a native client: a Python threaded client tops out near 250 creates/s on this machine
(ARCHITECTURE.md), below what PocketBase serves, so it would measure itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.cli import gunicorn_command  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services import partners  # noqa: E402
from gateway.services.pocketbase import PocketBase, PocketBaseConfig  # noqa: E402
from gateway.services.request_signing import sign_request  # noqa: E402
from gateway.settings import Settings  # noqa: E402

# One script for both sides; what differs (path, auth header, body shape) comes from env vars.
WRK_SCRIPT = r"""
local op = os.getenv("BENCH_OP")              -- "create" or "get"
local side = os.getenv("BENCH_SIDE")          -- "gateway" or "direct"
local expected = tonumber(os.getenv("BENCH_EXPECTED_STATUS"))
local run = os.getenv("BENCH_RUN")
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  received = 0
  bad_status = 0
  ids = {}
  local ids_file = os.getenv("BENCH_IDS_FILE")
  if ids_file and ids_file ~= "" then
    for line in io.lines(ids_file) do table.insert(ids, line) end
  end
  wrk.headers[os.getenv("BENCH_AUTH_HEADER")] = os.getenv("BENCH_AUTH_VALUE")
  wrk.headers["Content-Type"] = "application/json"
end

local function create_body(ref)
  if side ~= "direct" then
    return '{"external_ref":"' .. ref .. '","first_name":"Bench","last_name":"Mark"}'
  end
  return '{"partner":"' .. os.getenv("BENCH_PARTNER") .. '","fields":{'
    .. '"external_ref":"' .. ref .. '","first_name":"Bench","last_name":"Mark",'
    .. '"metadata":null,"return_url":"",'
    .. '"status_actor":"partner:' .. os.getenv("BENCH_PARTNER") .. '",'
    .. '"status_reason":"created by partner","link_nonce":"' .. ref .. '",'
    .. '"link_expires_at":"2099-01-01 00:00:00.000Z","retention_until":"2099-01-01 00:00:00.000Z"},'
    .. '"idempotency":null}'
end

function request()
  sent = sent + 1
  if op == "create" then
    local ref = run .. "-" .. thread_no .. "-" .. sent
    return wrk.format("POST", os.getenv("BENCH_PATH"), nil, create_body(ref))
  end
  local id = ids[(thread_no * 7919 + sent) % #ids + 1]
  return wrk.format("GET", os.getenv("BENCH_PATH") .. id)
end

function response(status, headers, body)
  received = received + 1
  if status ~= expected then bad_status = bad_status + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("bad_status") end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bad_status":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, bad,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


@dataclass
class Measurement:
    """One wrk run."""

    side: str
    op: str
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    bad_status: int
    socket_errors: int
    # CPU milliseconds per request spent by each process during the row (user + system).
    cpu_ms: dict[str, float] = field(default_factory=dict)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ..., utime (14), stime (15).
        rest = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(rest[1])
        times[int(entry.name)] = (int(rest[11]) + int(rest[12])) / ticks
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += times.get(current, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == current)
    return total


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout_s}s")


def run_wrk(
    *,
    side: str,
    op: str,
    base_url: str,
    path: str,
    auth: tuple[str, str],
    seconds: int,
    concurrency: int,
    wrk_threads: int,
    script: Path,
    extra_env: dict[str, str],
    watched: dict[str, int],
) -> Measurement:
    """One wrk run of ``seconds``, with the CPU each ``watched`` process tree spent meanwhile."""
    env = {
        **os.environ,
        **extra_env,
        "BENCH_OP": op,
        "BENCH_SIDE": side,
        "BENCH_PATH": path,
        "BENCH_AUTH_HEADER": auth[0],
        "BENCH_AUTH_VALUE": auth[1],
        "BENCH_EXPECTED_STATUS": "201" if op == "create" and side != "direct" else "200",
        "BENCH_RUN": secrets.token_hex(4),
    }
    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in watched.items()}
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [
            "wrk",
            f"--threads={wrk_threads}",
            f"--connections={concurrency}",
            f"--duration={seconds}s",
            "--timeout=10s",
            f"--script={script}",
            base_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
    cpu["client"] = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("BENCH_RESULT "))
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    count = max(result["requests"], 1)
    seconds = result["duration_us"] / 1e6
    return Measurement(
        side=side,
        op=op,
        requests=result["requests"],
        seconds=round(seconds, 2),
        per_second=round(result["requests"] / seconds, 1),
        p50_ms=round(result["p50_us"] / 1000, 2),
        p95_ms=round(result["p95_us"] / 1000, 2),
        p99_ms=round(result["p99_us"] / 1000, 2),
        bad_status=result["bad_status"],
        socket_errors=result["socket_errors"],
        cpu_ms={name: round(seconds * 1000 / count, 3) for name, seconds in cpu.items()},
    )


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
        "--signed-requests", type=int, default=400, help="sequential GETs, signed and not"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("gateway_bench: needs wrk (apt-get install -y wrk)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="ekyc-bench-"))
    pocketbase = PocketBaseServer(
        data_dir=workdir / "pb_data",
        port=free_port(),
        superuser_email="bench@ekyc.test",
        superuser_password=secrets.token_urlsafe(16),
    )
    gateway: subprocess.Popen[bytes] | None = None
    floor: subprocess.Popen[bytes] | None = None
    gateway_log = open(workdir / "gateway.log", "wb")  # noqa: SIM115 (closed in finally)
    try:
        pocketbase.prepare()
        pocketbase.start(log_path=workdir / "pocketbase.log")
        settings = Settings(
            ekyc_home=workdir / "home",
            pocketbase_url=pocketbase.url,
            pb_superuser_email=pocketbase.superuser_email,
            pb_superuser_password=pocketbase.superuser_password,
            gateway_port=free_port(),
            link_secret=secrets.token_urlsafe(24),
            data_key=secrets.token_urlsafe(24),
        )
        pb = PocketBase(
            PocketBaseConfig(
                pocketbase.url, pocketbase.superuser_email, pocketbase.superuser_password
            )
        )
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
            "FLOOR_PB_TOKEN": superuser_token,
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
            },
            "direct": {
                "base_url": pocketbase.url,
                "auth": ("Authorization", superuser_token),
                "create": "/api/ekyc/profiles/upsert",
                "get": "/api/collections/profiles/records/",
            },
        }
        sides["floor"] = {
            "base_url": floor_url,
            "auth": ("x-api-key", "unused"),
            "create": "/floor/profiles",
            "get": "/floor/",
        }
        extra = {"BENCH_PARTNER": created["partner_id"], "BENCH_IDS_FILE": ""}

        def measure(side: str, op: str, seconds: int) -> Measurement:
            target = sides[side]
            print(f"... {side} {op} {seconds} s", file=sys.stderr, flush=True)
            return run_wrk(
                side=side,
                op=op,
                base_url=target["base_url"],
                path=target[op],
                auth=target["auth"],
                extra_env=extra,
                seconds=seconds,
                watched={
                    "gateway": gateway.pid,
                    "pocketbase": pocketbase.process.pid,
                    "floor": floor.pid,
                },
                **common,
            )

        # Warm-up (not reported): connections, gunicorn threads, PocketBase's statement cache.
        for side in ("gateway", "direct", "floor"):
            measure(side, "create", 2)

        results = [measure("direct", "create", args.seconds)]
        results.append(measure("gateway", "create", args.seconds))
        results.append(measure("floor", "create", args.seconds))
        ids = [
            row["id"]
            for row in pb.find(
                "profiles", "partner = {:p}", {"p": created["partner_id"]}, limit=1000
            )
        ]
        ids_file = workdir / "ids.txt"
        ids_file.write_text("\n".join(ids) + "\n")
        extra["BENCH_IDS_FILE"] = str(ids_file)
        for side in ("gateway", "direct", "floor"):
            measure(side, "get", 2)
        results.append(measure("direct", "get", args.seconds))
        results.append(measure("gateway", "get", args.seconds))
        results.append(measure("floor", "get", args.seconds))
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
        f" {os.cpu_count()} CPUs"
    )
    print(
        f"{'side':<8} {'op':<7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} errors"
        "   CPU ms per request: python    pb  client  -> CPU-bound ceiling req/s"
    )
    for m in results:
        python_ms = m.cpu_ms["floor"] if m.side == "floor" else m.cpu_ms["gateway"]
        pb_ms = m.cpu_ms["pocketbase"]
        total_ms = python_ms + pb_ms + m.cpu_ms["client"]
        print(
            f"{m.side:<8} {m.op:<7} {m.per_second:>8.1f} {m.p50_ms:>8.2f} {m.p95_ms:>8.2f} "
            f"{m.p99_ms:>8.2f} {m.bad_status + m.socket_errors:>6}"
            f"   {'':>18} {python_ms:>6.2f} {pb_ms:>5.2f} {m.cpu_ms['client']:>7.2f}"
            f"  -> {(os.cpu_count() or 1) * 1000 / total_ms:>8.0f}"
        )
    ratios = {}
    for op in ("create", "get"):
        ratio = by_key[("gateway", op)].per_second / by_key[("direct", op)].per_second
        ratios[op] = round(ratio, 3)
        print(f"ratio gateway/direct {op}: {ratio:.0%}")
    floor_ratio = by_key[("floor", "get")].per_second / by_key[("direct", "get")].per_second
    ratios["floor_get"] = round(floor_ratio, 3)
    print(f"ratio bare-Flask floor/direct get: {floor_ratio:.0%} (no gateway can exceed this)")
    print(
        f"bare-Flask floor create p95: {by_key[('floor', 'create')].p95_ms:.1f} ms"
        " (one native PocketBase create behind Flask, nothing else)"
    )
    create_p95 = by_key[("gateway", "create")].p95_ms
    verdict = {
        "gateway_create_p95_under_50ms": create_p95 < 50,
        "create_throughput_at_least_half_of_direct": ratios["create"] >= 0.5,
        "get_throughput_at_least_half_of_direct": ratios["get"] >= 0.5,
    }
    for name, passed in verdict.items():
        print(f"{name}: {'yes' if passed else 'NO'}")
    unsigned, signed = signing["unsigned"], signing["signed"]
    print(
        f"signed GET, {args.signed_requests} sequential requests each (one client thread): CPU ms"
        f" per request gateway {signed['gateway']:.2f} vs unsigned {unsigned['gateway']:.2f}"
        f" ({signed['gateway'] / unsigned['gateway']:.2f}x), PocketBase {signed['pocketbase']:.2f}"
        f" vs {unsigned['pocketbase']:.2f} (the replay record); latency p50 "
        f"{signed['p50_ms']:.1f} vs {unsigned['p50_ms']:.1f} ms"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "gunicorn": {"workers": int(workers), "threads": int(threads)},
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
