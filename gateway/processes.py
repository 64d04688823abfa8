"""Child processes the gateway starts (PocketBase, gunicorn, the worker) and how they end.

`ekyc up`, the PocketBase launcher, the benches and the test fixtures all start servers and must
stop them the same way: a polite signal first, a kill when the grace runs out, so no test or
`ekyc up` leaves a server holding a port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import requests


class ProcessNotReady(RuntimeError):
    """A started server exited, or did not answer its health URL in time."""


def wait_healthy(
    process: subprocess.Popen,
    url: str,
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.2,
) -> None:
    """Return once ``url`` answers 200; raise `ProcessNotReady` if the process dies or time runs
    out (checking the process first, so a crash is reported as a crash, not as a timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessNotReady(f"{what} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(interval_s)
    raise ProcessNotReady(f"{what} did not answer {url} within {timeout_s:g} s")


def stop_process(
    process: subprocess.Popen | None,
    *,
    sig: int = signal.SIGTERM,
    grace_s: float = 15,
    group: bool = False,
    already_signalled: bool = False,
) -> None:
    """Send ``sig`` (to the whole process group when ``group``), then SIGKILL after ``grace_s``.

    ``already_signalled``: the caller sent ``sig`` itself (``ekyc up`` signals every child first
    so they stop at the same time); only wait, so no child gets the polite signal twice.
    """
    if process is None:
        return
    if process.poll() is None and not already_signalled:
        _signal(process, sig, group)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL, group)
        process.wait(timeout=10)


def _signal(process: subprocess.Popen, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass
