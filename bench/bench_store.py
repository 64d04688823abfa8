"""The gateway's settings and a superuser client for a bench's own throwaway PocketBase.

Every bench that starts a store (``PocketBaseServer.throwaway``) points the gateway at it the same
way: fresh secrets, the home inside the bench's temporary folder, and whatever the bench measures
(a lifted rate limit, a port for gunicorn) as overrides.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from gateway.pb_server import PocketBaseServer
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import PocketBaseConfig
from gateway.settings import Settings


def bench_settings(server: PocketBaseServer, workdir: Path, **overrides: Any) -> Settings:
    """Settings of a gateway on ``server`` with fresh secrets and its home in ``workdir``."""
    return Settings(
        ekyc_home=workdir / "home",
        pocketbase_url=server.url,
        pb_superuser_email=server.superuser_email,
        pb_superuser_password=server.superuser_password,
        link_secret=secrets.token_urlsafe(24),
        data_key=secrets.token_urlsafe(24),
        **overrides,
    )


def superuser_client(server: PocketBaseServer) -> PocketBase:
    """The gateway's store client, signed in as ``server``'s superuser."""
    return PocketBase(
        PocketBaseConfig(server.url, server.superuser_email, server.superuser_password)
    )
