"""The load generator the gateway benches share: Debian ``wrk`` driven by one Lua script, with the
CPU each watched process spent during a run.

Every run has a fixed duration (wrk always runs its full ``--duration``) and a subprocess timeout.
``op`` "create" posts unique bodies; "get" requests ``path + token`` for tokens read from a file,
one a line (``token [etag]``), and with ``BENCH_CONDITIONAL=1`` sends the line's ETag in
``If-None-Match``. With ``BENCH_DELAY_MS`` each connection waits that long before each request
(wrk's ``delay()``): a paced run, to compare a server's CPU per request at another side's rate.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

# One script for both sides; what differs (path, auth header, body shape) comes from env vars.
WRK_SCRIPT = r"""
local op = os.getenv("BENCH_OP")              -- "create" or "get"
local side = os.getenv("BENCH_SIDE")          -- "gateway" or "direct"
local expected = tonumber(os.getenv("BENCH_EXPECTED_STATUS"))
local run = os.getenv("BENCH_RUN")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
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
  etags = {}
  local ids_file = os.getenv("BENCH_IDS_FILE")
  if ids_file and ids_file ~= "" then
    for line in io.lines(ids_file) do
      local token, etag = line:match("^(%S+)%s*(%S*)$")
      table.insert(ids, token)
      table.insert(etags, etag)
    end
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
  local index = (thread_no * 7919 + sent) % #ids + 1
  local headers = nil
  if os.getenv("BENCH_CONDITIONAL") == "1" then
    headers = {["If-None-Match"] = etags[index]}  -- given headers replace wrk.headers
    for name, value in pairs(wrk.headers) do headers[name] = value end
  end
  return wrk.format("GET", os.getenv("BENCH_PATH") .. ids[index], headers)
end

if delay_ms > 0 then
  function delay() return delay_ms end
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


def expected_status(op: str, side: str, extra_env: dict[str, str]) -> str:
    """The status every response of a run must have."""
    if op == "create":
        return "200" if side == "direct" else "201"
    return "304" if extra_env.get("BENCH_CONDITIONAL") == "1" else "200"


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
        "BENCH_EXPECTED_STATUS": expected_status(op, side, extra_env),
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
