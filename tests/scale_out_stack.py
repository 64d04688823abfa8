"""The gateway and its workers as real processes sharing one Redis: what an operator scales out.

``GatewayProcesses`` is ``ekyc serve`` (gunicorn, ``GATEWAY_WORKERS`` processes when
``REDIS_URL`` is set); ``WorkerProcess`` is one ``ekyc worker --processes 1`` (a Huey consumer
and its process worker). Each runs in its own session so it can be killed whole (SIGKILL to the
group: the way a machine or container dies mid-job). Used by tests/test_scale_out_redis.py and
bench/intake_bench.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.pb_server import PocketBaseServer, free_port
from gateway.processes import stop_process, wait_healthy

EKYC = str(Path(sys.executable).parent / "ekyc")


def stack_env(
    *,
    home: Path,
    pocketbase: PocketBaseServer,
    redis_url: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment every process of one scaled-out stack shares."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "EKYC_HOME": str(home),
        "POCKETBASE_URL": pocketbase.url,
        "PB_SUPERUSER_EMAIL": pocketbase.superuser_email,
        "PB_SUPERUSER_PASSWORD": pocketbase.superuser_password,
        "EKYC_LINK_SECRET": "scale-out-link-secret-0123456789",
        "EKYC_DATA_KEY": "scale-out-data-key-0123456789abc",
        "REDIS_URL": redis_url,
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_WORKERS": "2",
        "EKYC_LOG_JSON": "true",
        "EKYC_LOG_LEVEL": "INFO",
        **(extra or {}),
    }


def _stop_group(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    stop_process(process, sig=sig, group=True)


@dataclass
class GatewayProcesses:
    """``ekyc serve``: one gunicorn master and its ``GATEWAY_WORKERS`` processes."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def start(self, timeout_s: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [EKYC, "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(
            self.process,
            f"{self.url}/health",
            what=f"ekyc serve (log: {self.log_path})",
            timeout_s=timeout_s,
        )

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        _stop_group(self.process)


@dataclass
class WorkerProcess:
    """One ``ekyc worker --processes 1``; ``kill`` is SIGKILL to it and its process worker."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    started: float = field(default=0.0)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [EKYC, "worker", "--processes", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the face models are loaded (the consumer then takes jobs at once)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "face_models_loaded" in self.log_path.read_text(errors="replace"):
                return
            if self.process is not None and self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"ekyc worker exited; its log ends:\n{tail}")
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not load its models in {timeout_s}s")

    def decided_count(self) -> int:
        """Verifications this worker finished, from its own log."""
        text = self.log_path.read_text(errors="replace")
        return text.count('"event": "verification_done"')

    def kill(self) -> None:
        _stop_group(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _stop_group(self.process, signal.SIGINT)


def run_reconciler(env: dict[str, str], partner_id: str, grace_s: int = 5) -> str:
    """One pass of the worker's minute reconciler, in a process on the same Redis queue (what
    the consumer's periodic job does at the next minute), limited to one partner's profiles."""
    code = (
        "from gateway.worker.queue import worker_services\n"
        "from gateway.worker.reconciler import reconcile_once\n"
        f"print(reconcile_once(worker_services(), partner_id={partner_id!r}, grace_s={grace_s}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout
