"""The document-expiry job on the real PocketBase with a frozen clock: one notice per threshold
crossed, expiry as a transition with history and event, idempotent re-runs, re-verification."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from api_helpers import TO_PROCESSING, approve, new_profile_id, subscribe, walk
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.services.expiry import run_expiry_job

TODAY = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)


def approved_profile(
    client: FlaskClient, services: Services, headers: dict[str, str], expires_on: str
) -> str:
    """A profile created through the API and walked to ``approved`` with a document expiry."""
    profile_id = new_profile_id(client, headers)
    approve(services.pb, profile_id, 91, document_expires_on=expires_on)
    return profile_id


def events_of(services: Services, profile_id: str, event_type: str) -> list[dict[str, Any]]:
    """Outbox rows of one type for one profile."""
    return services.pb.find(
        "webhook_events",
        "profile = {:profile} && type = {:type}",
        {"profile": profile_id, "type": event_type},
        sort="@rowid",
    )


def test_notices_once_per_threshold_then_expiry(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner("Expiry partner")
    subscribe(services, partner.partner_id)
    in_59_days = approved_profile(client, services, partner.headers, "2031-03-01")
    in_19_days = approved_profile(client, services, partner.headers, "2031-01-20")
    in_4_days = approved_profile(client, services, partner.headers, "2031-01-05")
    expires_today = approved_profile(client, services, partner.headers, "2031-01-01")
    expired = approved_profile(client, services, partner.headers, "2030-12-31")
    far = approved_profile(client, services, partner.headers, "2032-06-01")
    mine = {in_59_days, in_19_days, in_4_days, expires_today, expired, far}

    report = run_expiry_job(services.pb, now=TODAY)
    notices = {(pid, days) for pid, days in report.notices if pid in mine}
    assert notices == {(in_59_days, 90), (in_19_days, 30), (in_4_days, 7), (expires_today, 7)}
    assert [pid for pid in report.expired if pid in mine] == [expired]

    [notice] = events_of(services, in_19_days, "profile.document_expiring")
    assert notice["data"]["threshold_days"] == 30 and notice["data"]["days_left"] == 19
    assert notice["data"]["document_expires_on"] == "2031-01-20"
    assert notice["partner"] == partner.partner_id

    gone = services.pb.get("profiles", expired)
    assert gone["status"] == "document_expired"
    history = services.pb.find(
        "status_history", "profile = {:p}", {"p": expired}, sort="-@rowid", limit=1
    )
    # The date is the document's, erased with the profile; the history row is kept for good.
    assert (history[0]["actor"], history[0]["reason"]) == ("system", "identity document expired")
    assert len(events_of(services, expired, "profile.document_expired")) == 1

    # The same day again: nothing new.
    again = run_expiry_job(services.pb, now=TODAY)
    assert not [n for n in again.notices if n[0] in mine]
    assert not [p for p in again.expired if p in mine]
    assert len(events_of(services, in_19_days, "profile.document_expiring")) == 1

    # A month later the 59-day profile crosses 30 days; the 19-day one has expired.
    later = run_expiry_job(services.pb, now=datetime(2031, 2, 1, tzinfo=UTC))
    assert (in_59_days, 30) in later.notices
    assert {in_19_days, in_4_days, expires_today} <= set(later.expired)
    thresholds = [
        e["data"]["threshold_days"]
        for e in events_of(services, in_59_days, "profile.document_expiring")
    ]
    assert thresholds == [90, 30]
    assert services.pb.get("profiles", far)["status"] == "approved"
    assert not events_of(services, far, "profile.document_expiring")

    # A new link starts the re-verification of an expired document.
    response = client.post(f"/api/profiles/{expired}/link", headers=partner.headers)
    assert response.status_code == 200, response.get_json()
    assert services.pb.get("profiles", expired)["status"] == "unverified"


def test_only_approved_profiles_are_considered(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner()
    profile_id = new_profile_id(client, partner.headers)
    walk(services.pb, profile_id, *TO_PROCESSING, "manual_review")
    services.pb.update("profiles", profile_id, {"document_expires_on": "2030-06-01"})
    report = run_expiry_job(services.pb, now=TODAY)
    assert profile_id not in report.expired
    assert services.pb.get("profiles", profile_id)["status"] == "manual_review"
