"""Fixtures of the browser tests: one Playwright driver and one pool of Chromium processes (one
per fake camera) per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_support import CHROMIUM, Browsers


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
