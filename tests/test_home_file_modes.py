"""Everything the stack writes in EKYC_HOME is for the service account alone: files 0600, folders
0700 (PocketBase's data.db and WAL, capture files, backups, the queue file, secrets). The probe
found them 0644 and 0755."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from api_helpers import attach_files, new_profile_id
from flask.testing import FlaskClient
from PIL import Image
from worker_helpers import worker_process

from gateway.container import Services
from gateway.pb_server import PocketBaseServer


def loose_modes(root: Path) -> list[str]:
    """Every file not 0600 and folder not 0700 under ``root`` (sockets and links aside)."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        expected = 0o700 if stat.S_ISDIR(mode) else 0o600 if stat.S_ISREG(mode) else None
        if expected is not None and stat.S_IMODE(mode) != expected:
            found.append(f"{path} {oct(stat.S_IMODE(mode))}")
    return found


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_pocketbase_data_captures_and_backups_are_private(
    pocketbase: PocketBaseServer, client: FlaskClient, services: Services, reviewer: Any
) -> None:
    profile_id = new_profile_id(client, reviewer.headers)
    attached = attach_files(
        client, reviewer.headers, profile_id, {"document_front": (jpeg_bytes(), "front.jpg")}
    )
    assert attached.status_code == 201, attached.get_json()
    services.pb.create_backup(f"modes_{profile_id}.zip")
    data_dir = pocketbase.data_dir
    assert (data_dir / "data.db").exists()
    stored = [path for path in (data_dir / "storage").rglob("*") if path.is_file()]
    assert stored, "no capture file was written"
    assert (data_dir / "backups" / f"modes_{profile_id}.zip").exists()
    assert loose_modes(data_dir) == []


def test_the_ekyc_command_makes_its_home_and_queue_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EKYC_", "PB_", "POCKETBASE_", "REDIS_"))
    }
    env.update({"EKYC_HOME": str(home), "POCKETBASE_URL": "http://127.0.0.1:9"})
    log_path = tmp_path / "worker.log"
    with worker_process([sys.executable, "-m", "gateway.cli", "worker"], env, log_path) as worker:
        deadline = time.monotonic() + 90
        while not (home / "queue.db").exists():
            assert worker.poll() is None, log_path.read_text()
            if time.monotonic() > deadline:
                pytest.fail("the worker made no queue file")
            time.sleep(0.2)
    assert (home / "secrets.json").exists()
    assert loose_modes(home) == []


def test_a_home_made_before_is_tightened_once_and_nothing_else_is_touched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "pb_data" / "storage" / "abc").mkdir(parents=True)
    for path in [
        home / "pb_data" / "data.db",
        home / "pb_data" / "storage" / "abc" / "front.jpg",
        home / "queue.db",
        home / "queue.db-wal",
        home / "operators-notes.txt",
    ]:
        path.write_bytes(b"x")
        path.chmod(0o644)
    for folder in [
        home,
        home / "pb_data",
        home / "pb_data" / "storage",
        home / "pb_data" / "storage" / "abc",
    ]:
        folder.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EKYC_", "PB_", "POCKETBASE_", "REDIS_"))
    }
    env.update({"EKYC_HOME": str(home), "POCKETBASE_URL": "http://127.0.0.1:9"})
    # Any command will do: PocketBase is not even reachable.
    subprocess.run(
        [sys.executable, "-m", "gateway.cli", "backup", "list"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert loose_modes(home / "pb_data") == []
    assert stat.S_IMODE((home / "queue.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "queue.db-wal").stat().st_mode) == 0o600
    # Not the stack's: left as the operator made it.
    assert stat.S_IMODE((home / "operators-notes.txt").stat().st_mode) == 0o644
