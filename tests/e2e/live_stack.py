"""The product as an operator runs it, for browser tests that must reach a decision: the gateway
started with the exact gunicorn command of ``ekyc serve`` and the worker with ``ekyc worker``,
both child processes sharing one EKYC_HOME (so one SQLite queue), on the test PocketBase.

Nothing is replaced: the gateway enqueues on the real queue, the worker consumes it, decides,
and delivers webhooks. The test process talks to them only over HTTP (and reads PocketBase)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from gateway.cli import gunicorn_command
from gateway.container import Services
from gateway.pb_server import REPO_ROOT, PocketBaseServer, free_port
from gateway.processes import ProcessNotReady, stop_process, wait_healthy
from gateway.services import partners
from gateway.settings import Settings
from tests.e2e.flow_gateway import loopback_settings

START_TIMEOUT_S = 60


@dataclass
class LiveStack:
    """A running gateway and worker, the partner they serve, and where their logs are."""

    url: str
    settings: Settings
    services: Services
    api_key: str
    partner_id: str
    logs: dict[str, Path]

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A partner API call with this partner's key."""
        headers = {"x-api-key": self.api_key, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.logs[name].read_text(errors="replace")[-chars:]


def warm_framing_check(stack: LiveStack) -> None:
    """One framing check on a throwaway link, so the gateway process has loaded its face models
    (4-5 s on the first check) before a recorded camera, which cannot wait, meets it."""
    import io

    import numpy as np
    from PIL import Image

    created = stack.api("POST", "/api/profiles", json={"external_ref": "warm-up"})
    assert created.status_code == 201, created.text
    redirect = created.json()["redirect_url"]
    profile_id = redirect.split("?")[0].rstrip("/").split("/")[-1]
    token = redirect.split("t=", 1)[1]
    flow = requests.Session()
    flow.headers["X-Capture-Token"] = token
    base = f"{stack.url}/flow/api/{profile_id}"
    assert flow.post(f"{base}/start", timeout=30).ok
    assert flow.post(f"{base}/consent", json={"accepted": True}, timeout=30).ok
    still = io.BytesIO()
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(still, "JPEG")
    checked = flow.post(f"{base}/selfie/check", files={"file": still.getvalue()}, timeout=60)
    assert checked.ok, checked.text
    flow.close()


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    try:
        wait_healthy(process, f"{url}/health", what="the gateway", timeout_s=START_TIMEOUT_S)
    except ProcessNotReady as error:
        raise AssertionError(f"{error}\n{log.read_text(errors='replace')[-3000:]}") from error


def _stop(process: subprocess.Popen, sig: int) -> None:
    stop_process(process, sig=sig, grace_s=30)


@contextmanager
def live_stack(pocketbase: PocketBaseServer, home: Path) -> Iterator[LiveStack]:
    """Start gunicorn and the worker on ``home``; stop both (gracefully) afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = loopback_settings(pocketbase, home, url, gateway_port=port)
    env = {
        **os.environ,
        **settings.child_env(),
        "EKYC_RATE_LIMIT": "1000/minute",
        # The webhook receiver is on loopback, which the SSRF guard refuses unless told.
        "EKYC_WEBHOOK_ALLOW_PRIVATE": "true",
        "EKYC_WORKER_PROCESSES": "1",
        "EKYC_LOG_JSON": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(home),
    }
    env.pop("REDIS_URL", None)
    services = Services.build(settings)
    created = partners.create_partner(services.pb, f"Live partner {port}", ("partner",))
    logs = {"gateway": home / "gateway.log", "worker": home / "worker.log"}
    with ExitStack() as stack:
        gateway_log = stack.enter_context(logs["gateway"].open("ab"))
        worker_log = stack.enter_context(logs["worker"].open("ab"))
        gateway = subprocess.Popen(
            gunicorn_command(settings), env=env, stdout=gateway_log, stderr=gateway_log
        )
        stack.callback(_stop, gateway, signal.SIGTERM)
        _wait_healthy(url, gateway, logs["gateway"])
        worker = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "worker"],
            env=env,
            cwd=str(REPO_ROOT),
            stdout=worker_log,
            stderr=worker_log,
        )
        stack.callback(_stop, worker, signal.SIGINT)
        running = LiveStack(
            url, settings, services, created["api_key"], created["partner_id"], logs
        )
        warm_framing_check(running)
        yield running
