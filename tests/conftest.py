"""Shared fixtures: the real PocketBase binary on a free loopback port, the real Flask app, and
partners made through the same service the CLI uses. Each test makes its own partner, so tests
share one PocketBase without sharing data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from admin_ui import AdminUI
from flask import Flask
from flask.testing import FlaskClient
from webhook_receiver import Receiver, start_receiver

from gateway import create_app
from gateway.container import Services
from gateway.pb_server import PocketBaseServer
from gateway.services import partners
from gateway.settings import Settings
from gateway.worker import queue

# The webhook tests' clock, delivery context and partner-with-an-endpoint fixtures.
pytest_plugins = ["webhook_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def close_built_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every set of services a test builds (``create_app`` and the worker's included) is closed
    when the test ends. A profile cache's stream thread otherwise outlived its app, and when
    PocketBase stopped it logged into the stream of a later test that pytest had closed."""
    built: list[Services] = []
    build = Services.build.__func__  # type: ignore[attr-defined]

    def recording(cls: type[Services], *args: Any, **kwargs: Any) -> Services:
        services = build(cls, *args, **kwargs)
        built.append(services)
        return services

    monkeypatch.setattr(Services, "build", classmethod(recording))
    yield
    for services in built:
        services.close()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared test data; tests that need it skip (never pass) where CI lacks it."""
    if not (DATASETS_DIR / "faces").is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS_DIR}")
    return DATASETS_DIR


@pytest.fixture(scope="module")
def face_frames(datasets_dir: Path) -> list[bytes]:
    """Frames of a real person (d5.mp4), as the hosted flow's page sends them: a selfie is
    checked for a usable face before it is stored."""
    from tests.e2e.flow_support import real_face_frames

    return real_face_frames(datasets_dir, 30)


@pytest.fixture(scope="session")
def pocketbase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PocketBaseServer]:
    """The real PocketBase, migrated from pb_migrations/ with pb_hooks/, for the whole session."""
    server = PocketBaseServer.throwaway(tmp_path_factory.mktemp("pb"))
    yield server
    server.stop()


@pytest.fixture
def admin_ui(pocketbase: PocketBaseServer) -> Iterator[AdminUI]:
    """A person in PocketBase's admin UI: a superuser session on the records API, closed after
    the test."""
    ui = AdminUI.of(pocketbase)
    yield ui
    ui.session.close()


@pytest.fixture(scope="session")
def ekyc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway EKYC_HOME for the session."""
    return tmp_path_factory.mktemp("ekyc_home")


@pytest.fixture
def make_settings(pocketbase: PocketBaseServer, ekyc_home: Path) -> Callable[..., Settings]:
    """Settings pointing at the test PocketBase; keyword overrides for one test."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ekyc_home": ekyc_home,
            "pocketbase_url": pocketbase.url,
            "pb_superuser_email": pocketbase.superuser_email,
            "pb_superuser_password": pocketbase.superuser_password,
            "link_secret": "test-link-secret-0123456789",
            "data_key": "test-data-key-0123456789abcdef",
            "rate_limit": "1000/minute",
            "log_json": True,
            "kyc_frontend_url": "http://127.0.0.1:8000/flow",
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default test settings."""
    return make_settings()


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Callable[..., Flask]:
    """Build the real app on the test PocketBase with settings overridden by keyword."""

    def build(**overrides: Any) -> Flask:
        application = create_app(make_settings(**overrides))
        application.config["TESTING"] = True
        return application

    return build


@pytest.fixture
def app_on(make_app: Callable[..., Flask]) -> Callable[[PocketBaseServer], Flask]:
    """Build the real app on another PocketBase (a test's own, which it may stop and start)."""

    def build(server: PocketBaseServer) -> Flask:
        return make_app(
            pocketbase_url=server.url,
            pb_superuser_email=server.superuser_email,
            pb_superuser_password=server.superuser_password,
        )

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The real app on the test PocketBase."""
    return make_app()


@pytest.fixture
def loopback_app(make_app: Callable[..., Flask]) -> Flask:
    """The app with loopback webhook URLs allowed (as an operator would for a local receiver)."""
    return make_app(webhook_allow_private=True)


@pytest.fixture
def loopback_client(loopback_app: Flask) -> FlaskClient:
    """A client of that app."""
    return loopback_app.test_client()


@pytest.fixture
def loopback_services(loopback_app: Flask) -> Services:
    """That app's services."""
    return loopback_app.extensions["ekyc"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def services(app: Flask) -> Services:
    """The app's services (PocketBase client, profile service...)."""
    return app.extensions["ekyc"]


@dataclass
class PartnerHandle:
    """A partner made for one test, with its key and ready headers."""

    partner_id: str
    key_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as this partner."""
        return {"x-api-key": self.api_key}


@pytest.fixture
def make_partner(services: Services) -> Callable[..., PartnerHandle]:
    """Create a partner (with the given scopes) through the same service the CLI uses."""

    def build(name: str = "Test partner", scopes: tuple[str, ...] = ("partner",)) -> PartnerHandle:
        created = partners.create_partner(services.pb, name, scopes)
        return PartnerHandle(created["partner_id"], created["key_id"], created["api_key"])

    return build


@pytest.fixture
def partner(make_partner: Callable[..., PartnerHandle]) -> PartnerHandle:
    """A partner with the ``partner`` scope."""
    return make_partner()


@pytest.fixture
def reviewer(make_partner: Callable[..., PartnerHandle]) -> PartnerHandle:
    """A partner key with both the ``partner`` and ``reviewer`` scopes."""
    return make_partner("Reviewing partner", ("partner", "reviewer"))


@pytest.fixture
def inline_worker() -> Iterator[Callable[[Services], Services]]:
    """Huey runs queued tasks in-process (immediate mode) on the services the test hands it.

    ``inline_worker(services)`` points the worker at an app's services and returns them; the
    queue's mode and the worker's services are restored afterwards whatever the test did.
    """
    previous = queue.huey.immediate
    queue.huey.immediate = True

    def run_on(services: Services) -> Services:
        queue.use_services(services)
        return services

    try:
        yield run_on
    finally:
        queue.huey.immediate = previous
        queue.use_services(None)


@pytest.fixture
def worker(services: Services, inline_worker: Callable[[Services], Services]) -> Services:
    """The common case: tasks run in-process on the default app's services."""
    return inline_worker(services)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records the webhooks it receives."""
    server = start_receiver()
    yield server
    server.stop()
