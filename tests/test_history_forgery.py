"""History and audit rows come only from the data layer's own hooks. The probe, as a superuser,
created a ``status_history`` row "approved -> rejected" for a profile that stayed approved: the
partner then read a ``latest_history`` contradicting ``status``, and a signed ``profile.rejected``
webhook was delivered. Now a direct create is refused for anyone, superusers included, and no
event (so no webhook) follows."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from admin_ui import AdminUI
from api_helpers import TO_PROCESSING, new_profile_id, walk
from flask.testing import FlaskClient
from webhook_receiver import Receiver

from gateway.container import Services
from gateway.errors import StoreError
from gateway.services.audit import append_audit
from gateway.services.webhooks.delivery import DeliveryContext, sweep


def event_count(services: Services, profile_id: str) -> int:
    return len(services.pb.find("webhook_events", "profile = {:p}", {"p": profile_id}, limit=500))


def test_a_superuser_cannot_forge_a_history_row_and_no_webhook_follows(
    admin_ui: AdminUI,
    loopback_client: FlaskClient,
    loopback_services: Services,
    make_partner: Callable[..., Any],
    receiver: Receiver,
) -> None:
    partner = make_partner("Forgery target")
    registered = loopback_client.post(
        "/api/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=partner.headers
    )
    assert registered.status_code == 201, registered.get_json()
    profile_id = new_profile_id(loopback_client, partner.headers)
    walk(loopback_services.pb, profile_id, *TO_PROCESSING, "approved")
    context = DeliveryContext(
        pb=loopback_services.pb,
        data_key=loopback_services.settings.data_key,
        allow_private=True,
        rng=random.Random(3),
    )
    try:
        sweep(context)  # everything true so far is delivered
        delivered_before = len(receiver.requests)
        events_before = event_count(loopback_services, profile_id)

        forged = admin_ui.create(
            "status_history",
            {
                "profile": profile_id,
                "from_status": "approved",
                "to_status": "rejected",
                "actor": "reviewer:forger",
                "reason": "forged",
            },
        )
        assert forged.status_code == 400, forged.text
        assert "data layer only" in forged.json()["message"]

        sweep(context)
    finally:
        context.close()
    assert event_count(loopback_services, profile_id) == events_before
    assert len(receiver.requests) == delivered_before
    sent_types = {json.loads(request.body)["type"] for request in receiver.requests}
    assert "profile.rejected" not in sent_types
    view = loopback_client.get(f"/api/profiles/{profile_id}", headers=partner.headers).get_json()
    assert view["status"] == "approved"
    assert view["latest_history"]["to"] == "approved"


def test_the_gateways_own_client_is_refused_too(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    with pytest.raises(StoreError):
        services.pb.create(
            "status_history",
            {
                "profile": profile_id,
                "from_status": "unverified",
                "to_status": "in_progress",
                "actor": "system",
            },
        )
    history = client.get(f"/api/profiles/{profile_id}/history", headers=partner.headers)
    assert [row["to"] for row in history.get_json()["items"]] == ["unverified"]


def test_audit_rows_cannot_be_created_directly(admin_ui: AdminUI, services: Services) -> None:
    target = f"forged-{secrets.token_hex(6)}"  # no other test's row can share it
    forged = admin_ui.create(
        "audit_log", {"actor": "system", "action": "profile.erased", "target": target}
    )
    assert forged.status_code == 400, forged.text
    assert services.pb.find("audit_log", "target = {:t}", {"t": target}, limit=5) == []


def test_audit_rows_come_through_the_data_layer_route_checked(services: Services) -> None:
    entry_id = append_audit(
        services.pb, "partner:abc", "partner.settings_changed", "abc", {"keys": ["x"]}
    )
    row = services.pb.get("audit_log", entry_id)
    assert (row["actor"], row["action"], row["target"]) == (
        "partner:abc",
        "partner.settings_changed",
        "abc",
    )
    assert row["detail"] == {"keys": ["x"]}
    for bad in [
        {"actor": "", "action": "a.b", "target": "t"},
        {"actor": "x" * 121, "action": "a.b", "target": "t"},
        {"actor": "system", "action": "not an action", "target": "t"},
        {"actor": "system", "action": "a.b", "target": "t", "detail": {"big": "x" * 20_000}},
    ]:
        response = services.pb.request("POST", "/api/ekyc/audit", json=bad)
        assert response.status_code == 400, bad
