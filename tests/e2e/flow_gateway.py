"""The real gateway serving its own flow pages on a loopback port, for the browser tests: a
partner with flow settings (return URL, retention, branding) and verification only recorded as
queued (the worker's decision is test_flow_to_decision.py's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from gateway import create_app
from gateway.pb_server import PocketBaseServer
from gateway.routes.flow import capture_service
from gateway.services import partners
from gateway.settings import Settings
from tests.e2e.browser_support import RETURN_PREFIX
from tests.e2e.flow_support import read_link, set_partner_settings


@dataclass
class LiveGateway:
    url: str
    settings: Settings
    api_key: str
    partner_id: str
    enqueued: list[str] = field(default_factory=list)

    def create_profile(self, **body: Any):
        body.setdefault("return_url", RETURN_PREFIX + "?session=42")
        response = requests.post(
            f"{self.url}/api/profiles", json=body, headers={"x-api-key": self.api_key}, timeout=10
        )
        assert response.status_code == 201, response.text
        return read_link(response.json()["redirect_url"])


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """A WSGI app served by werkzeug on a loopback port, in a thread, for the block."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def loopback_settings(
    pocketbase: PocketBaseServer, home: Path, url: str, **overrides: Any
) -> Settings:
    """Settings of a gateway at ``url`` on the test PocketBase, with the tests' fixed secrets."""
    values: dict[str, Any] = {
        "ekyc_home": home,
        "pocketbase_url": pocketbase.url,
        "pb_superuser_email": pocketbase.superuser_email,
        "pb_superuser_password": pocketbase.superuser_password,
        "link_secret": "test-link-secret-0123456789",
        "data_key": "test-data-key-0123456789abcdef",
        "public_base_url": url,
        "kyc_frontend_url": f"{url}/flow",
    }
    return Settings(**{**values, **overrides})


def start_gateway(
    pocketbase: PocketBaseServer, ekyc_home: Path, port: int, frontend_url: str
) -> tuple[Any, LiveGateway]:
    """The real app for a partner with flow settings; verification is only recorded as queued."""
    url = f"http://127.0.0.1:{port}"
    settings = loopback_settings(
        pocketbase,
        ekyc_home,
        url,
        rate_limit="1000/minute",
        kyc_frontend_url=frontend_url,
        log_level="WARNING",
    )
    app = create_app(settings)
    services = app.extensions["ekyc"]
    created = partners.create_partner(services.pb, "Browser partner", ("partner",))
    set_partner_settings(
        services.pb,
        created["partner_id"],
        {
            "allowed_return_urls": [RETURN_PREFIX],
            "retention_days": 60,
            "branding": {"name": "Acme Bank", "accent_color": "#0b6e4f"},
        },
    )
    gateway = LiveGateway(url, settings, created["api_key"], created["partner_id"])
    with app.app_context():
        # Verification itself is the worker's (tested there); here we see that it was queued.
        capture_service().enqueue = gateway.enqueued.append
    return app, gateway
