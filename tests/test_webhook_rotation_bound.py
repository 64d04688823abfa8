"""Secret rotation keeps a bounded set of secrets: the probe's 18th rotation within 24 h overflowed
PocketBase's 4,000-character field (a 500 quoting PocketBase's response), and the endpoint could
not be rotated again until old secrets expired. Now every rotation succeeds, the oldest overlapping
secrets are retired, and no error ever quotes PocketBase."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.errors import StoreError
from gateway.problem import GENERIC_5XX_DETAIL, render_gateway_error
from gateway.services.webhooks.endpoints import MAX_SIGNING_SECRETS, active_secrets

ROTATIONS = 40


def test_rotation_never_fails_and_keeps_the_newest_secrets(
    loopback_client: FlaskClient, loopback_services: Services, partner: Any
) -> None:
    created = loopback_client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"]},
        headers=partner.headers,
    )
    assert created.status_code == 201, created.get_json()
    endpoint_id = created.get_json()["id"]
    issued = [created.get_json()["secret"]]
    for _ in range(ROTATIONS):
        rotated = loopback_client.post(
            f"/api/webhooks/{endpoint_id}/rotate", headers=partner.headers
        )
        assert rotated.status_code == 200, rotated.get_json()
        issued.append(rotated.get_json()["secret"])

    record = loopback_services.pb.get("webhook_endpoints", endpoint_id)
    assert len(record["signing_secrets"]) < 4000
    signing = active_secrets(loopback_services.settings.data_key, record)
    # Newest first: the latest secret and the ones issued just before it, nothing older.
    assert signing == issued[::-1][:MAX_SIGNING_SECRETS]


def test_a_store_error_never_quotes_pocketbase(app: Flask) -> None:
    internal = 'PocketBase refused a webhook_endpoints update: {"data":{"signing_secrets":...}}'
    with app.test_request_context("/"):
        response = render_gateway_error(StoreError(internal))
    body = response.get_json()
    assert response.status_code == 500
    assert body["detail"] == GENERIC_5XX_DETAIL
    assert "PocketBase" not in response.get_data(as_text=True)
