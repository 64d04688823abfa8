"""The transactional outbox in pb_hooks: every status change, from any path (the gateway's
transition route, the records API the admin UI uses), writes its events in the same transaction;
a refused change writes none, and nor does a change nobody subscribed to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import TO_PROCESSING, new_profile_id, subscribe, walk
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.errors import IllegalTransition
from gateway.services.partner_settings import set_partner_settings
from gateway.services.pb_time import parse_pb_time
from gateway.services.webhooks.events import EVENT_TYPES, emit_event, message_body


@pytest.fixture
def partner(make_partner: Callable, services: Services) -> Any:
    """A partner with an endpoint for every event: the outbox holds only events someone receives."""
    made = make_partner()
    subscribe(services, made.partner_id)
    return made


def event_rows(services: Services, profile_id: str) -> list[dict[str, Any]]:
    """The outbox rows of a profile, oldest first."""
    return services.pb.find(
        "webhook_events", "profile = {:p}", {"p": profile_id}, sort="@rowid", limit=200
    )


def types_after(rows: list[dict[str, Any]], count: int) -> list[str]:
    """Event types written after the first ``count`` rows."""
    return [row["type"] for row in rows[count:]]


def test_each_status_change_writes_its_events(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    profile_id = new_profile_id(client, partner.headers, external_ref="outbox-1")
    rows = event_rows(services, profile_id)
    assert [r["type"] for r in rows] == ["profile.created", "profile.status_changed"]
    assert all(r["partner"] == partner.partner_id for r in rows)

    expected = {
        "in_progress": ["profile.started", "profile.status_changed"],
        "submitted": ["profile.submitted", "profile.status_changed"],
        "processing": ["profile.status_changed"],
    }
    for status, types in expected.items():
        before = len(event_rows(services, profile_id))
        services.pb.transition(profile_id, status, actor="worker")
        assert types_after(event_rows(services, profile_id), before) == types

    before = len(event_rows(services, profile_id))
    services.pb.transition(
        profile_id,
        "approved",
        actor="worker",
        set_fields={
            "decision": "approved",
            "score": 92.5,
            "reasons": ["all checks passed"],
            "decided_by": "worker",
            "decision_reason": "score 92.5",
            "automated_decision": {"decision": "approved", "score": 92.5},
        },
    )
    approved = event_rows(services, profile_id)[before:]
    assert [r["type"] for r in approved] == ["profile.approved", "profile.status_changed"]
    data = approved[0]["data"]
    assert data == {
        "profile_id": profile_id,
        "external_ref": "outbox-1",
        "status": "approved",
        "previous_status": "processing",
        "decision": "approved",
        "decided_by": "worker",
        "decision_reason": "score 92.5",
        "automated_decision": {"decision": "approved", "score": 92.5},
        "score": 92.5,
        "reasons": ["all checks passed"],
        "changed_by": "worker",
        "history_id": data["history_id"],
    }
    latest = services.pb.find_first("status_history", where={"profile": profile_id}, sort="-@rowid")
    assert latest is not None
    assert data["history_id"] == latest["id"]
    assert (latest["from_status"], latest["to_status"]) == ("processing", "approved")
    assert parse_pb_time(latest["created"]) <= parse_pb_time(approved[0]["created"])


@pytest.mark.parametrize(
    ("path", "specific"),
    [
        (["manual_review"], "profile.manual_review"),
        (["rejected"], "profile.rejected"),
        (["resubmission_requested"], "profile.resubmission_requested"),
        (["approved", "document_expired"], "profile.document_expired"),
    ],
)
def test_decision_events(
    client: FlaskClient, services: Services, partner: Any, path: list[str], specific: str
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, *path)
    assert event_rows(services, profile_id)[-2]["type"] == specific


def test_admin_ui_status_change_emits_events(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, "manual_review")
    before = len(event_rows(services, profile_id))
    # What the admin UI does: PATCH the record through the records API as a superuser.
    services.pb.update("profiles", profile_id, {"status": "approved", "status_reason": "ok"})
    rows = event_rows(services, profile_id)[before:]
    assert [r["type"] for r in rows] == ["profile.approved", "profile.status_changed"]
    assert rows[0]["data"]["changed_by"] == "reviewer"


def test_a_refused_change_writes_no_event(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    before = len(event_rows(services, profile_id))
    with pytest.raises(IllegalTransition):
        services.pb.transition(profile_id, "approved", actor="worker")
    with pytest.raises(IllegalTransition):
        services.pb.update("profiles", profile_id, {"status": "approved"})
    assert len(event_rows(services, profile_id)) == before


def test_emitted_events_are_checked_and_deduplicated(
    services: Services, make_partner: Callable
) -> None:
    partner = make_partner()
    assert emit_event(services.pb, partner.partner_id, "profile.erased", {}) is None  # no endpoint
    subscribe(services, partner.partner_id, ("profile.erased",))
    with pytest.raises(ValueError):
        emit_event(services.pb, partner.partner_id, "profile.nope", {})
    with pytest.raises(ValueError):  # no PII keys may slip into a payload
        emit_event(services.pb, partner.partner_id, "profile.erased", {"first_name": "A"})
    key = f"test:{partner.partner_id}"
    first = emit_event(services.pb, partner.partner_id, "profile.erased", {}, dedupe_key=key)
    assert first is not None
    assert emit_event(services.pb, partner.partner_id, "profile.erased", {}, dedupe_key=key) is None
    body = message_body(first)
    assert body.startswith(b'{"data":{},"id":"') and b'"type":"profile.erased"' in body
    assert "profile.erased" in EVENT_TYPES


def test_erasure_event_is_announced_once(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    from gateway.services.webhooks.events import emit_profile_erased

    profile_id = new_profile_id(client, partner.headers, external_ref="erase-me", first_name="A")
    profile = services.pb.get("profiles", profile_id)
    event = emit_profile_erased(services.pb, profile)
    assert event is not None and event["type"] == "profile.erased"
    assert event["data"] == {
        "profile_id": profile_id,
        "external_ref": "erase-me",
        "status": "erased",
    }
    assert emit_profile_erased(services.pb, profile) is None


def test_only_subscribed_events_are_written(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    unsubscribed = make_partner("No endpoint")
    profile_id = new_profile_id(client, unsubscribed.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, "manual_review")
    assert event_rows(services, profile_id) == []

    picky = make_partner("Created only")
    subscribe(services, picky.partner_id, ("profile.created",))
    profile_id = new_profile_id(client, picky.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, "approved")
    assert [row["type"] for row in event_rows(services, profile_id)] == ["profile.created"]


def test_a_review_address_alone_keeps_the_events_of_the_review_email(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner("Emailed reviews")
    set_partner_settings(
        services.pb, partner.partner_id, {"review_email": "review@partner.test"}, actor="test"
    )
    profile_id = new_profile_id(client, partner.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, "manual_review")
    assert [row["type"] for row in event_rows(services, profile_id)] == ["profile.manual_review"]
