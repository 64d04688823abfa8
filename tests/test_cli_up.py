"""``ekyc up`` as an operator runs it: real PocketBase, gunicorn and worker processes on loopback.

Proves the README's first command end to end: everything starts, a partner made with the CLI can
create a profile through gunicorn, SIGTERM stops all three processes, and a second start on the same
EKYC_HOME finds the same data.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.pb_server import free_port
from gateway.processes import wait_healthy

pytestmark = pytest.mark.slow


def _env(home: Path, gateway_port: int, pb_port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EKYC_", "PB_", "POCKETBASE_", "GATEWAY_", "KYC_", "REDIS_"))
    }
    env.update(
        {
            "EKYC_HOME": str(home),
            "GATEWAY_PORT": str(gateway_port),
            "POCKETBASE_PORT": str(pb_port),
            "EKYC_LOG_JSON": "true",
        }
    )
    return env


def _start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], object]:
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return process, log


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    wait_healthy(process, f"{url}/health/ready", what="ekyc up", timeout_s=timeout_s)


def _wait_for_banner(
    log_path: Path, process: subprocess.Popen[bytes], timeout_s: float = 60
) -> str:
    """The output of ``ekyc up`` up to its "is up" banner, read as soon as the banner appears."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        output = log_path.read_text(errors="replace")
        if "Ctrl-C stops everything." in output:
            return output
        assert process.poll() is None, output
        time.sleep(0.02)
    raise AssertionError(f"no banner in {timeout_s} s: {log_path.read_text()}")


def _port_closed(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    except requests.ConnectionError:
        return True
    return False


def _stop(process: subprocess.Popen[bytes], log: object) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        log.close()  # type: ignore[attr-defined]


def test_up_serves_stops_and_reuses_its_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    gateway_port, pb_port = free_port(), free_port()
    env = _env(home, gateway_port, pb_port)
    url = f"http://127.0.0.1:{gateway_port}"

    process, log = _start(env, tmp_path / "up.log")
    try:
        # What the banner says holds when it is printed: the gateway answers (a reader, or a
        # script waiting for the line, goes on at once), and its command to make a partner runs.
        banner = _wait_for_banner(tmp_path / "up.log", process)
        assert requests.get(f"{url}/health/ready", timeout=5).status_code == 200
        [ekyc] = re.findall(r"Make a partner: (\S+) partner create", banner)
        assert Path(ekyc).is_file() and os.access(ekyc, os.X_OK), banner
        _wait_ready(url, process)
        secrets_file = home / "secrets.json"
        assert secrets_file.stat().st_mode & 0o777 == 0o600
        created = json.loads(
            subprocess.run(
                [sys.executable, "-m", "gateway.cli", "partner", "create", "Up test", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )
        assert set(created) == {"partner_id", "slug", "key_id", "api_key", "signing_secret"}
        response = requests.post(
            f"{url}/api/profiles",
            json={"external_ref": "up-1"},
            headers={"x-api-key": created["api_key"]},
            timeout=10,
        )
        assert response.status_code == 201
        profile_id = response.json()["id"]
        assert requests.get(f"http://127.0.0.1:{pb_port}/_/", timeout=5).status_code == 200
    finally:
        exit_code = _stop(process, log)
    output = (tmp_path / "up.log").read_text()
    assert exit_code == 0, output
    assert "Admin UI" in output and f"127.0.0.1:{pb_port}/_/" in output
    assert _port_closed(gateway_port) and _port_closed(pb_port)

    process, log = _start(env, tmp_path / "up2.log")
    try:
        _wait_ready(url, process)
        again = requests.get(
            f"{url}/api/profiles/{profile_id}",
            headers={"x-api-key": created["api_key"]},
            timeout=10,
        )
        assert again.status_code == 200
        assert again.json()["external_ref"] == "up-1"
    finally:
        assert _stop(process, log) == 0
