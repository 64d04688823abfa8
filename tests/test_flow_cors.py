"""The flow API from pages served on another origin (``KYC_FRONTEND_URL``): CORS for that one
origin, none for any other, none on the partner API, and none when the pages are the gateway's own.
The browser side of the same setup is in tests/e2e/test_flow_browser.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from gateway import create_app
from gateway.settings import Settings
from tests.conftest import PartnerHandle
from tests.e2e.flow_support import Link, create_profile

FRONTEND = "https://kyc.partner.example"
PREFLIGHT = {
    "Origin": FRONTEND,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-capture-token",
}


@pytest.fixture
def cross_client(make_settings: Callable[..., Settings]) -> FlaskClient:
    """A gateway whose flow pages are served from ``FRONTEND``."""
    app = create_app(
        make_settings(
            public_base_url="http://127.0.0.1:8000", kyc_frontend_url=f"{FRONTEND}/verify"
        )
    )
    return app.test_client()


@pytest.fixture
def cross_link(cross_client: FlaskClient, make_partner: Callable[..., PartnerHandle]) -> Link:
    return create_profile(cross_client, make_partner("Cross-origin partner").headers)


def test_the_link_points_at_the_frontend_origin(cross_link: Link) -> None:
    assert cross_link.url.startswith(f"{FRONTEND}/verify/{cross_link.profile_id}?t=")


def test_preflight_from_the_frontend_origin_is_allowed(
    cross_client: FlaskClient, cross_link: Link
) -> None:
    response = cross_client.options(f"/flow/api/{cross_link.profile_id}/start", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert {"content-type", "x-capture-token"} <= set(allowed_headers)
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_calls_from_the_frontend_origin_carry_cors_headers(
    cross_client: FlaskClient, cross_link: Link
) -> None:
    headers = {"Origin": FRONTEND, "X-Capture-Token": cross_link.token}
    started = cross_client.post(f"/flow/api/{cross_link.profile_id}/start", headers=headers)
    assert started.status_code == 200, started.get_json()
    assert started.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "Retry-After" in started.headers["Access-Control-Expose-Headers"]
    # A refusal must be readable by the page too, or it cannot say why.
    refused = cross_client.post(
        f"/flow/api/{cross_link.profile_id}/start", headers={"Origin": FRONTEND}
    )
    assert refused.status_code in (401, 403)
    assert refused.headers["Access-Control-Allow-Origin"] == FRONTEND


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://kyc.partner.example", f"{FRONTEND}:8443", "null"]
)
def test_any_other_origin_gets_no_cors_headers(
    cross_client: FlaskClient, cross_link: Link, origin: str
) -> None:
    headers = {**PREFLIGHT, "Origin": origin}
    preflight = cross_client.options(f"/flow/api/{cross_link.profile_id}/start", headers=headers)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    call = cross_client.post(
        f"/flow/api/{cross_link.profile_id}/start",
        headers={"Origin": origin, "X-Capture-Token": cross_link.token},
    )
    assert "Access-Control-Allow-Origin" not in call.headers


def test_the_partner_api_and_the_pages_get_no_cors_headers(
    cross_client: FlaskClient, cross_link: Link, make_partner: Callable[..., PartnerHandle]
) -> None:
    partner = make_partner("Cross-origin API partner")
    api = cross_client.post(
        "/api/profiles", json={"external_ref": "cors-1"}, headers={**partner.headers, **PREFLIGHT}
    )
    assert api.status_code == 201
    assert "Access-Control-Allow-Origin" not in api.headers
    page = cross_client.get(cross_link.path, headers={"Origin": FRONTEND})
    assert "Access-Control-Allow-Origin" not in page.headers


def test_same_origin_pages_need_no_cors(client: FlaskClient, partner: PartnerHandle) -> None:
    link = create_profile(client, partner.headers)
    response = client.post(
        f"/flow/api/{link.profile_id}/start",
        headers={"Origin": "http://127.0.0.1:8000", "X-Capture-Token": link.token},
    )
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
