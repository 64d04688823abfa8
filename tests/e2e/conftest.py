"""Fixtures of the browser tests: one Playwright driver and one pool of Chromium processes (one
per fake camera) per module, and the real gateway serving its flow pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.pb_server import PocketBaseServer, free_port
from tests.e2e.browser_support import CHROMIUM, Browsers
from tests.e2e.flow_gateway import LiveGateway, serving, start_gateway


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browsers(playwright: Any) -> Iterator[Browsers]:
    pool = Browsers(playwright)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def live_gateway(pocketbase: PocketBaseServer, ekyc_home: Path) -> Iterator[LiveGateway]:
    """The real app serving its own flow pages, on a free loopback port."""
    port = free_port()
    app, gateway = start_gateway(pocketbase, ekyc_home, port, f"http://127.0.0.1:{port}/flow")
    with serving(app, port):
        yield gateway
