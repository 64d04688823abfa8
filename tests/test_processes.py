"""How the gateway stops a child: one polite signal, a wait, then SIGKILL; never the signal twice.

The child here ignores SIGTERM and counts it, so the test sees both how many SIGTERMs arrived and
that the kill came when the grace ran out.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.processes import stop_process

# Counts every SIGTERM into a file and keeps running: only SIGKILL ends it.
STUBBORN_CHILD = """
import signal, sys, time
count = 0
def on_term(signum, frame):
    global count
    count += 1
    open(sys.argv[1], "w").write(str(count))
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(0.01)
"""


def start_stubborn_child(counter: Path) -> subprocess.Popen[str]:
    counter.write_text("0")
    child = subprocess.Popen(
        [sys.executable, "-c", STUBBORN_CHILD, str(counter)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def wait_for_count(counter: Path, expected: str, timeout_s: float = 5.0) -> None:
    """The handler runs asynchronously in the child: give it time to write."""
    deadline = time.monotonic() + timeout_s
    while counter.read_text() != expected and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("signalled_by_caller", [False, True])
def test_one_sigterm_then_sigkill_when_the_grace_runs_out(
    tmp_path: Path, signalled_by_caller: bool
) -> None:
    counter = tmp_path / "sigterms"
    child = start_stubborn_child(counter)
    try:
        if signalled_by_caller:  # as `ekyc up` does: every child first, then each one's grace
            child.send_signal(signal.SIGTERM)
            wait_for_count(counter, "1")
        stop_process(child, grace_s=1.0, already_signalled=signalled_by_caller)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert counter.read_text() == "1"
