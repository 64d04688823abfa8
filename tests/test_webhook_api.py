"""The partner webhook API: validation, one-time secrets, partner isolation, problem bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import assert_problem
from flask.testing import FlaskClient

PUBLIC_URL = "https://93.184.215.14/hooks"  # a public literal: no DNS needed


def create(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    """POST /api/webhooks."""
    body.setdefault("url", PUBLIC_URL)
    body.setdefault("events", ["*"])
    return client.post("/api/webhooks", json=body, headers=headers)


def test_create_list_update_delete(client: FlaskClient, partner: Any) -> None:
    created = create(client, partner.headers, events=["profile.approved", "profile.rejected"])
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["profile.approved", "profile.rejected"]

    listed = client.get("/api/webhooks", headers=partner.headers).get_json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0] and "signing_secrets" not in listed[0]

    patched = client.patch(
        f"/api/webhooks/{body['id']}",
        json={"events": ["*", "profile.approved"], "description": "main"},
        headers=partner.headers,
    )
    assert patched.status_code == 200
    assert patched.get_json()["events"] == ["*"]
    assert patched.get_json()["description"] == "main"

    disabled = client.patch(
        f"/api/webhooks/{body['id']}", json={"enabled": False}, headers=partner.headers
    ).get_json()
    assert disabled["enabled"] is False and disabled["disabled_reason"]

    assert client.delete(f"/api/webhooks/{body['id']}", headers=partner.headers).status_code == 204
    missing = client.get(f"/api/webhooks/{body['id']}", headers=partner.headers)
    assert_problem(missing, 404, "not_found")


REFUSED = "webhook_url_refused"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"events": ["profile.exploded"]}, "events", "validation_failed"),
        ({"events": []}, "events", "validation_failed"),
        ({"url": "ftp://93.184.215.14/x"}, "url", REFUSED),
        ({"url": "http://localhost:9/x"}, "url", REFUSED),
        ({"url": "https://user:pw@93.184.215.14/x"}, "url", REFUSED),
        ({"colour": "red"}, "colour", "validation_failed"),
    ],
)
def test_invalid_bodies_are_422(
    client: FlaskClient, partner: Any, body: dict, field: str, code: str
) -> None:
    response = create(client, partner.headers, **body)
    assert_problem(response, 422, code)
    assert field in (response.get_json().get("errors") or {})


def test_loopback_is_allowed_when_the_operator_says_so(
    loopback_client: FlaskClient, make_partner: Callable
) -> None:
    partner = make_partner()
    response = create(loopback_client, partner.headers, url="http://localhost:9/x")
    assert response.status_code == 201


def test_other_partners_see_nothing(client: FlaskClient, make_partner: Callable) -> None:
    owner, stranger = make_partner("Owner"), make_partner("Stranger")
    endpoint_id = create(client, owner.headers).get_json()["id"]
    for method, path in (
        ("get", f"/api/webhooks/{endpoint_id}"),
        ("patch", f"/api/webhooks/{endpoint_id}"),
        ("delete", f"/api/webhooks/{endpoint_id}"),
        ("post", f"/api/webhooks/{endpoint_id}/rotate"),
    ):
        kwargs: dict[str, Any] = {"headers": stranger.headers}
        if method == "patch":
            kwargs["json"] = {"enabled": False}
        assert_problem(getattr(client, method)(path, **kwargs), 404, "not_found")
    assert client.get("/api/webhooks", headers=stranger.headers).get_json()["items"] == []
    still = client.get(f"/api/webhooks/{endpoint_id}", headers=owner.headers).get_json()
    assert still["enabled"] is True


def test_rotation_returns_a_new_secret_once(client: FlaskClient, partner: Any) -> None:
    created = create(client, partner.headers).get_json()
    rotated = client.post(f"/api/webhooks/{created['id']}/rotate", headers=partner.headers)
    assert rotated.status_code == 200
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secrets_expire_at"]
    too_long = client.post(
        f"/api/webhooks/{created['id']}/rotate",
        json={"overlap_s": 30 * 86_400},
        headers=partner.headers,
    )
    assert_problem(too_long, 422, "validation_failed")


def test_keys_are_required(client: FlaskClient) -> None:
    assert_problem(client.get("/api/webhooks"), 401, "unauthorized")
    assert_problem(client.get("/api/webhooks/deliveries"), 401, "unauthorized")


def test_delivery_listing_validates_its_query(client: FlaskClient, partner: Any) -> None:
    assert client.get("/api/webhooks/deliveries", headers=partner.headers).get_json()["items"] == []
    bad = client.get("/api/webhooks/deliveries?status=lost", headers=partner.headers)
    assert_problem(bad, 422, "validation_failed")
    assert_problem(
        client.post("/api/webhooks/deliveries/aaaaaaaaaaaaaaa/replay", headers=partner.headers),
        404,
        "not_found",
    )
