"""``Retry-After`` only on 429 and 503, each with its real wait. The probe saw it on every 2xx and
404 (Flask-Limiter's headers), and 503s carrying either 5 s or the rate window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_helpers import assert_problem, new_profile_id
from flask.testing import FlaskClient

from gateway import create_app
from gateway.pb_server import PocketBaseServer, free_port
from gateway.services import partners


def test_success_and_not_found_carry_no_retry_after(client: FlaskClient, partner: Any) -> None:
    profile_id = new_profile_id(client, partner.headers)
    ok = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    missing = client.get("/api/profiles/aaaaaaaaaaaaaaa", headers=partner.headers)
    assert ok.status_code == 200 and missing.status_code == 404
    assert "Retry-After" not in ok.headers
    assert "Retry-After" not in missing.headers
    # The rate-limit counters stay: only Retry-After was misleading.
    assert "X-RateLimit-Remaining" in ok.headers


def test_429_says_when_the_window_resets(make_settings: Any, make_partner: Any) -> None:
    app = create_app(make_settings(rate_limit="3/10 seconds"))
    client = app.test_client()
    partner = make_partner()
    for _ in range(3):
        assert client.get("/api/profiles", headers=partner.headers).status_code == 200
    refused = client.get("/api/profiles", headers=partner.headers)
    assert_problem(refused, 429, "rate_limited")
    wait_s = int(refused.headers["Retry-After"])
    # The 10 s window opened with the first request: the wait is what is left of it, not a
    # fixed minute.
    assert 1 <= wait_s <= 11


def test_503_says_the_store_delay_not_the_rate_window(make_settings: Any) -> None:
    app = create_app(
        make_settings(
            pocketbase_url=f"http://127.0.0.1:{free_port()}",
            valid_api_keys=("bootstrap-key-0123456789",),
        )
    )
    client = app.test_client()
    ready = client.get("/health/ready")
    assert_problem(ready, 503, "store_unavailable")
    assert ready.headers["Retry-After"] == "5"
    api = client.get("/api/profiles", headers={"x-api-key": "bootstrap-key-0123456789"})
    assert api.status_code == 503, api.get_data(as_text=True)
    assert api.headers["Retry-After"] == "5"


def test_503_after_the_rate_limit_counted_keeps_the_store_delay(
    app_on: Any, tmp_path: Path
) -> None:
    # PocketBase stops between two requests of a known key: the limiter has counted the second
    # request (its key is cached), so its window used to replace the store's 5 s.
    server = PocketBaseServer.throwaway(tmp_path, email="retry@ekyc.test")
    try:
        app = app_on(server)
        created = partners.create_partner(app.extensions["ekyc"].pb, "Retry", ("partner",))
        client = app.test_client()
        headers = {"x-api-key": created["api_key"]}
        assert client.get("/api/profiles", headers=headers).status_code == 200
    finally:
        server.stop()
    down = client.get("/api/profiles", headers=headers)
    assert_problem(down, 503, "store_unavailable")
    assert down.headers["Retry-After"] == "5"
