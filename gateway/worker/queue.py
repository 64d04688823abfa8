"""The Huey instance every task module registers on, and the services a worker process uses.

This module imports no task module, so every task module can import it: the queue is the root of
the worker's import graph.

Storage is a SQLite file in ``EKYC_HOME`` by default and Redis when ``REDIS_URL`` is set, read
straight from the environment here because Huey tasks register at import time. Tests switch the
queue to immediate mode (``huey.immediate = True``) and inject their own services with
``use_services``, so a task runs in-process against the test PocketBase.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from gateway.container import Services
from gateway.settings import Settings


def build_huey(env: dict[str, str] | None = None) -> Huey:
    """The queue for this environment."""
    env = dict(os.environ if env is None else env)
    if env.get("REDIS_URL"):
        return RedisHuey("ekyc", url=env["REDIS_URL"])
    home = Path(env.get("EKYC_HOME") or ".ekyc").resolve()
    home.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("ekyc", filename=str(home / "queue.db"))


huey = build_huey()

_services: Services | None = None
_services_lock = threading.Lock()


def worker_services() -> Services:
    """This process's services, built once from the environment (or injected by tests)."""
    global _services
    with _services_lock:
        if _services is None:
            _services = Services.build(Settings.from_env())
        return _services


def use_services(services: Services | None) -> None:
    """Make tasks in this process use ``services`` (tests), or None to rebuild from the env."""
    global _services
    with _services_lock:
        _services = services
