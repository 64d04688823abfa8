"""``DELETE /api/profiles/{id}``: a partner erases an applicant's personal data.

Proved against the real PocketBase: personal fields and capture files are gone, the history stays
(and records the end of an open capture), links stop working, the partner is told once by
webhook event, and a running verification is not pulled from under the worker.
"""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from api_helpers import TO_PROCESSING, assert_problem, attach_files, subscribe, walk
from PIL import Image

from gateway.errors import NotFound
from gateway.services import links


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def create(client, headers, **extra) -> dict:
    body = {
        "external_ref": extra.pop("external_ref", "erase-me"),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+447700900123",
        "date_of_birth": "1990-12-10",
        "document": {"type": "passport", "country": "GBR", "number": "123456789"},
        "metadata": {"customer": "42"},
        **extra,
    }
    response = client.post("/api/profiles", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def erased_events(services, profile_id: str) -> list[dict]:
    return services.pb.find(
        "webhook_events",
        "profile = {:profile} && type = 'profile.erased'",
        {"profile": profile_id},
    )


def test_erasing_an_open_profile_wipes_it_ends_the_capture_and_tells_the_partner_once(
    client, services, partner, settings
):
    subscribe(services, partner.partner_id)
    created = create(client, partner.headers)
    token = created["redirect_url"].split("?t=", 1)[1]

    response = client.delete(f"/api/profiles/{created['id']}", headers=partner.headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "expired" and body["erased_at"]
    record = services.pb.get("profiles", created["id"])
    for field in ("first_name", "last_name", "email", "phone", "date_of_birth"):
        assert record[field] == "", field
    assert record["document_number_enc"] == "" and record["document_index"] == ""
    assert record["metadata"] is None
    # The capture link no longer matches the profile's nonce.
    claims = links.read_link(settings.link_secret, token, now_ts=0)
    assert claims.nonce != record["link_nonce"]
    # The end of the capture is in the history, which keeps everything before it.
    history = client.get(f"/api/profiles/{created['id']}/history", headers=partner.headers)
    rows = history.get_json()["items"]
    assert [(row["from"], row["to"]) for row in rows] == [
        (None, "unverified"),
        ("unverified", "expired"),
    ]
    assert "erased" in rows[-1]["reason"]
    assert len(erased_events(services, created["id"])) == 1

    again = client.delete(f"/api/profiles/{created['id']}", headers=partner.headers)
    assert again.status_code == 200
    assert again.get_json()["erased_at"] == body["erased_at"]
    assert len(erased_events(services, created["id"])) == 1


def test_erasing_a_decided_profile_keeps_the_decision_and_removes_files_and_notes(
    client, services, reviewer
):
    created = create(client, reviewer.headers, external_ref="decided")
    profile_id = created["id"]
    uploaded = attach_files(
        client, reviewer.headers, profile_id, {"document_front": (jpeg_bytes(), "front.jpg")}
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    front_name = uploaded.get_json()["documents"]["document_front"]
    assert services.pb.download_file("profiles", profile_id, front_name)
    client.post(
        f"/api/profiles/{profile_id}/notes",
        json={"body": "Ada looks fine"},
        headers=reviewer.headers,
    )
    walk(services.pb, profile_id, *TO_PROCESSING, actor="system")
    services.pb.transition(
        profile_id,
        "approved",
        actor="worker",
        reason="score 91",
        set_fields={
            "decision": "approved",
            "score": 91,
            "reasons": ["face match passed: similarity 0.93"],
            "scores": {
                "factors": {
                    "document": {
                        "status": "pass",
                        "score": 0.9,
                        "detail": {"fields": {"surname": "LOVELACE"}},
                    }
                }
            },
        },
    )

    response = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "approved"
    view = client.get(f"/api/profiles/{profile_id}", headers=reviewer.headers).get_json()
    assert (view["decision"], view["score"]) == ("approved", 91)
    assert view["reasons"] == ["face match passed: similarity 0.93"]
    record = services.pb.get("profiles", profile_id)
    assert record["document_front"] == ""
    with pytest.raises(NotFound):
        services.pb.download_file("profiles", profile_id, front_name)
    assert record["scores"] == {
        "erased": True,
        "factors": {"document": {"status": "pass", "score": 0.9}},
    }
    assert "LOVELACE" not in str(record)
    notes = client.get(f"/api/profiles/{profile_id}/notes", headers=reviewer.headers)
    assert notes.get_json()["items"] == []


def test_a_running_verification_is_not_erased(client, services, partner):
    created = create(client, partner.headers, external_ref="running")
    walk(services.pb, created["id"], *TO_PROCESSING, actor="system")

    response = client.delete(f"/api/profiles/{created['id']}", headers=partner.headers)

    assert_problem(response, 409, "conflict")
    assert services.pb.get("profiles", created["id"])["first_name"] == "Ada"


def test_another_partners_profile_cannot_be_erased(client, services, partner, make_partner):
    created = create(client, partner.headers, external_ref="theirs")
    other = make_partner("Other bank")

    response = client.delete(f"/api/profiles/{created['id']}", headers=other.headers)

    assert_problem(response, 404, "not_found")
    assert services.pb.get("profiles", created["id"])["first_name"] == "Ada"


TYPED_REASON = "name on passport is J. Smith, not John Smith"


def decided_by_the_worker(
    client, services, reviewer, status: str, reason: str, fields: dict, **body
) -> str:
    """A profile created with ``body`` that the worker decided (``status``, its own ``reason``,
    ``fields`` written with the decision); the partner receives every event."""
    subscribe(services, reviewer.partner_id)
    profile_id = create(client, reviewer.headers, **body)["id"]
    walk(services.pb, profile_id, *TO_PROCESSING, actor="worker", reason="queued")
    services.pb.transition(
        profile_id, status, actor="worker", reason=reason, set_fields={"decision": status, **fields}
    )
    return profile_id


def sent_to_manual_review(client, services, reviewer, external_ref: str, number: str) -> str:
    """A profile the worker sent to manual review (its own reason, no reviewer's yet)."""
    return decided_by_the_worker(
        client,
        services,
        reviewer,
        "manual_review",
        "processing_failed",
        {"score": 72, "reasons": ["MRZ checksum fail"]},
        external_ref=external_ref,
        document={"type": "passport", "country": "GBR", "number": number},
    )


def decided_by_a_reviewer(
    client, services, reviewer, external_ref: str, number: str = "123456789"
) -> str:
    """A profile the worker sent to manual review and a reviewer approved with a typed reason
    that names the applicant; the partner receives every event."""
    profile_id = sent_to_manual_review(client, services, reviewer, external_ref, number)
    response = client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "approved", "reason": TYPED_REASON},
        headers=reviewer.headers,
    )
    assert response.status_code == 200, response.get_json()
    return profile_id


def stored_text(services, profile_id: str) -> str:
    """Everything stored about the profile that an erasure must reach, as one text."""
    return json.dumps(
        [
            services.pb.get("profiles", profile_id),
            services.pb.find("status_history", "profile = {:p}", {"p": profile_id}, limit=100),
            services.pb.find("webhook_events", "profile = {:p}", {"p": profile_id}, limit=100),
        ]
    )


def test_erasure_redacts_the_reason_a_reviewer_typed_and_keeps_the_history(
    client, services, reviewer
):
    profile_id = decided_by_a_reviewer(client, services, reviewer, "typed-reason")
    assert "J. Smith" in stored_text(services, profile_id)  # it was there to be erased
    before = client.get(f"/api/profiles/{profile_id}/history", headers=reviewer.headers)
    rows_before = before.get_json()["items"]

    response = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)

    assert response.status_code == 200, response.get_json()
    assert "Smith" not in stored_text(services, profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status_reason"] == record["decision_reason"] == "[erased]"
    assert record["last_change"]["reason"] == "[erased]"
    assert record["last_change"]["actor"].startswith("reviewer:")
    view = client.get(f"/api/profiles/{profile_id}", headers=reviewer.headers).get_json()
    assert (view["decision"], view["decision_reason"]) == ("approved", "[erased]")
    assert view["reasons"] == ["MRZ checksum fail"]  # the worker's reasons stay
    # Every row stays, with its statuses, actor and time; only the typed reason is gone.
    after = client.get(f"/api/profiles/{profile_id}/history", headers=reviewer.headers)
    rows_after = after.get_json()["items"]
    strip = [{**row, "reason": None} for row in rows_before]
    assert [{**row, "reason": None} for row in rows_after] == strip
    assert [row["reason"] for row in rows_after] == [
        *(row["reason"] for row in rows_before[:-1]),
        "[erased]",
    ]
    assert rows_after[-2]["reason"] == "processing_failed"  # the worker's code stays
    approved_events = services.pb.find(
        "webhook_events", "profile = {:p} && type = 'profile.approved'", {"p": profile_id}
    )
    assert [event["data"]["decision_reason"] for event in approved_events] == ["[erased]"]


def test_the_retention_job_redacts_typed_reasons_too(client, services, reviewer):
    from datetime import UTC, datetime, timedelta

    from gateway.services.pb_time import pb_datetime
    from gateway.services.retention import run_retention_job

    profile_id = decided_by_a_reviewer(client, services, reviewer, "typed-reason-retention")
    now = datetime.now(UTC)
    services.pb.update(
        "profiles", profile_id, {"retention_until": pb_datetime(now - timedelta(days=1))}
    )

    assert profile_id in run_retention_job(services.profiles, now=now).erased

    assert "Smith" not in stored_text(services, profile_id)
    assert services.pb.get("profiles", profile_id)["decision_reason"] == "[erased]"


def test_history_rows_stay_append_only_after_an_erasure(
    client, services, reviewer, pocketbase, admin_ui
):
    """The records API refuses every change, the redaction included; raw SQL may make only the
    redaction, of a reviewer's row of an erased profile."""
    erased_id = decided_by_a_reviewer(client, services, reviewer, "append-only-erased")
    kept_id = decided_by_a_reviewer(
        client, services, reviewer, "append-only-kept", number="987654321"
    )
    assert client.delete(f"/api/profiles/{erased_id}", headers=reviewer.headers).status_code == 200
    rows = services.pb.find("status_history", "profile = {:p}", {"p": erased_id}, sort="@rowid")
    reviewer_row, worker_row = rows[-1], rows[-2]
    kept_row = services.pb.find("status_history", "profile = {:p}", {"p": kept_id}, sort="@rowid")[
        -1
    ]

    for row, change in (
        (reviewer_row, {"reason": "[erased]"}),
        (kept_row, {"reason": "[erased]"}),
        (worker_row, {"reason": "rewritten"}),
    ):
        patched = admin_ui.patch("status_history", row["id"], change)
        assert patched.status_code == 400, patched.text
        assert "append-only" in patched.json()["message"]
    assert services.pb.get("status_history", kept_row["id"])["reason"] == TYPED_REASON

    database = sqlite3.connect(pocketbase.data_dir / "data.db", timeout=10)
    try:
        for statement, row_id in (
            ("UPDATE status_history SET reason = '[erased]' WHERE id = ?", kept_row["id"]),
            ("UPDATE status_history SET reason = '[erased]' WHERE id = ?", worker_row["id"]),
            ("UPDATE status_history SET reason = 'rewritten' WHERE id = ?", reviewer_row["id"]),
            ("UPDATE status_history SET to_status = 'rejected' WHERE id = ?", reviewer_row["id"]),
            ("UPDATE status_history SET actor = 'worker' WHERE id = ?", reviewer_row["id"]),
            ("DELETE FROM status_history WHERE id = ?", reviewer_row["id"]),
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                database.execute(statement, (row_id,))
            database.rollback()
    finally:
        database.close()
    assert services.pb.get("status_history", worker_row["id"]) == worker_row
    assert services.pb.get("status_history", reviewer_row["id"]) == reviewer_row


def test_a_reason_typed_in_the_admin_ui_without_a_status_change_is_erased_too(
    client, services, reviewer, admin_ui
):
    """The admin UI lets a reviewer edit status_reason alone (the worker's change stays the last
    one): what they typed is a person's words all the same."""
    profile_id = sent_to_manual_review(client, services, reviewer, "typed-alone", "246813579")
    edited = admin_ui.patch("profiles", profile_id, {"status_reason": TYPED_REASON})
    assert edited.status_code == 200, edited.text

    response = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)

    assert response.status_code == 200, response.get_json()
    assert "Smith" not in stored_text(services, profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status_reason"] == "[erased]"
    assert record["last_change"]["reason"] == "processing_failed"  # the worker's code stays


def test_a_worker_reason_on_the_profile_stays_after_an_erasure(client, services, reviewer):
    profile_id = sent_to_manual_review(client, services, reviewer, "worker-reason", "135792468")

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    assert services.pb.get("profiles", profile_id)["status_reason"] == "processing_failed"


def test_a_reason_typed_after_the_erasure_is_not_kept(client, services, reviewer, admin_ui):
    """An erased profile waiting in manual review can still be decided (through the gateway or
    the admin UI), but what the reviewer types is not stored: an erasure has already run and
    will not run again, so the words would outlive it."""
    profile_id = sent_to_manual_review(client, services, reviewer, "typed-after", "975318642")
    other_id = sent_to_manual_review(client, services, reviewer, "typed-after-ui", "864297531")
    for erased in (profile_id, other_id):
        assert client.delete(f"/api/profiles/{erased}", headers=reviewer.headers).status_code == 200

    decided = client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "approved", "reason": TYPED_REASON},
        headers=reviewer.headers,
    )
    edited = admin_ui.patch("profiles", other_id, {"status_reason": TYPED_REASON})
    decided_in_ui = admin_ui.patch(
        "profiles", other_id, {"status": "rejected", "status_reason": "J. Smith looked away"}
    )

    assert decided.status_code == 200, decided.get_json()
    assert edited.status_code == 200, edited.text
    assert decided_in_ui.status_code == 200, decided_in_ui.text
    for erased in (profile_id, other_id):
        assert "Smith" not in stored_text(services, erased)
        record = services.pb.get("profiles", erased)
        assert record["status_reason"] == record["decision_reason"] == "[erased]"
        assert record["decided_by"].startswith("reviewer:")
        rows = services.pb.find("status_history", "profile = {:p}", {"p": erased}, sort="@rowid")
        assert rows[-1]["reason"] == "[erased]"


def test_a_reason_typed_when_creating_a_profile_in_the_admin_ui_is_erased(
    client, services, reviewer, admin_ui
):
    created = admin_ui.create(
        "profiles",
        {"partner": reviewer.partner_id, "status": "unverified", "status_reason": TYPED_REASON},
    )
    assert created.status_code == 200, created.text
    profile_id = created.json()["id"]

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    assert "Smith" not in stored_text(services, profile_id)


def test_an_erased_profile_takes_no_new_personal_data(client, services, reviewer, admin_ui):
    """A second DELETE answers as the first (the profile is erased) and the retention job skips
    erased profiles, so whatever reached the profile after its erasure would be kept for good:
    a new link reopened the capture, and documents and notes were stored on it."""
    from gateway.errors import IllegalTransition

    profile_id = create(client, reviewer.headers, external_ref="erased-stays-closed")["id"]
    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200
    erased = services.pb.get("profiles", profile_id)

    link = client.post(f"/api/profiles/{profile_id}/link", headers=reviewer.headers)
    uploaded = attach_files(
        client, reviewer.headers, profile_id, {"document_front": (jpeg_bytes(), "front.jpg")}
    )
    noted = client.post(
        f"/api/profiles/{profile_id}/notes", json={"body": "Ada again"}, headers=reviewer.headers
    )
    noted_in_ui = admin_ui.create("notes", {"profile": profile_id, "body": "Ada again"})

    for response in (link, uploaded, noted):
        assert_problem(response, 410, "profile_erased")
    assert noted_in_ui.status_code == 400, noted_in_ui.text
    with pytest.raises(IllegalTransition):  # the data layer, for every writer
        services.pb.transition(profile_id, "unverified", actor="system", reason="reopened")
    assert services.pb.get("profiles", profile_id) == erased
    assert services.pb.find("notes", "profile = {:p}", {"p": profile_id}) == []


def test_an_erased_decision_reopened_by_a_reviewer_takes_no_new_capture(client, services, reviewer):
    from gateway.errors import IllegalTransition

    profile_id = decided_by_a_reviewer(client, services, reviewer, "erased-reopened", "192837465")
    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200
    reopened = client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "resubmission_requested", "reason": "retake"},
        headers=reviewer.headers,
    )
    assert reopened.status_code == 200, reopened.get_json()

    with pytest.raises(IllegalTransition):
        services.pb.transition(
            profile_id, "in_progress", actor="applicant", reason="capture started"
        )
    assert services.pb.get("profiles", profile_id)["status"] == "resubmission_requested"


def test_no_personal_data_is_written_to_an_erased_profile_by_anyone(
    client, services, reviewer, admin_ui
):
    """The admin UI could type applicant data or attach documents to an erased profile, and the
    erasure, having run, would never reach them."""
    from gateway.errors import ProfileErased

    profile_id = create(client, reviewer.headers, external_ref="erased-no-refill")["id"]
    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200
    erased = services.pb.get("profiles", profile_id)
    url = f"{admin_ui.url}/api/collections/profiles/records/{profile_id}"

    typed = admin_ui.patch("profiles", profile_id, {"first_name": "Ada", "metadata": {"a": 1}})
    attached = admin_ui.session.patch(
        url, files={"other_documents+": ("o.jpg", jpeg_bytes(), "image/jpeg")}, timeout=10
    )

    for response in (typed, attached):
        assert response.status_code == 400, response.text
    assert typed.json()["data"]["first_name"]["code"] == "profile_erased"
    with pytest.raises(ProfileErased):  # the platform's client too (the API's 410)
        services.pb.update("profiles", profile_id, {"email": "ada@example.com"})
    with pytest.raises(ProfileErased):  # a capture upload that passed its checks before the erasure
        services.pb.update(
            "profiles", profile_id, {}, files={"selfie": [("s.jpg", jpeg_bytes(), "image/jpeg")]}
        )
    assert services.pb.get("profiles", profile_id) == erased
    kept = admin_ui.patch("profiles", profile_id, {"external_ref": "renamed-after-erasure"})
    assert kept.status_code == 200, kept.text  # the partner's reference is not personal data


def test_the_erasures_own_reason_stays_when_a_reviewer_key_erases(client, services, reviewer):
    """With a reviewer key the erasure's history row is the reviewer's, but its reason is the
    platform's sentence, as the profile's last_change says: it was redacted after its own save."""
    profile_id = create(client, reviewer.headers, external_ref="erased-by-reviewer-key")["id"]

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    rows = services.pb.find("status_history", "profile = {:p}", {"p": profile_id}, sort="@rowid")
    record = services.pb.get("profiles", profile_id)
    assert rows[-1]["actor"].startswith("reviewer:")
    assert rows[-1]["reason"] == record["last_change"]["reason"] == record["status_reason"]
    assert "erased" in rows[-1]["reason"] and rows[-1]["reason"] != "[erased]"


def test_an_erasure_cut_short_after_its_commit_leaves_no_note_and_tells_the_partner_once(
    client, services, reviewer, monkeypatch
):
    """What follows the erasure's commit can fail (503, "retry"). The notes were deleted after
    the commit, one request each, and the event sent after it: the retry found the profile
    erased and returned at once, so the notes stayed for good (the retention job skips erased
    profiles) and profile.erased was never sent. Notes now go in the erasure's transaction."""
    from gateway.errors import StoreUnavailable
    from gateway.services import profiles as profiles_module

    subscribe(services, reviewer.partner_id)
    profile_id = create(client, reviewer.headers, external_ref="erasure-event-retried")["id"]
    for body in ("Ada called", "Ada sent a bill"):
        noted = client.post(
            f"/api/profiles/{profile_id}/notes", json={"body": body}, headers=reviewer.headers
        )
        assert noted.status_code == 201, noted.get_json()
    real_emit = profiles_module.emit_profile_erased
    calls = []

    def unavailable_once(pb, profile):
        calls.append(profile["id"])
        if len(calls) == 1:
            raise StoreUnavailable("PocketBase did not answer")
        return real_emit(pb, profile)

    monkeypatch.setattr(profiles_module, "emit_profile_erased", unavailable_once)

    first = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)
    retried = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)
    again = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)

    assert first.status_code == 503, first.get_json()
    assert services.pb.find("notes", "profile = {:p}", {"p": profile_id}) == []
    assert retried.status_code == again.status_code == 200
    assert len(erased_events(services, profile_id)) == 1


def approved_until(client, services, reviewer, external_ref: str, expires_on: str) -> str:
    """A profile the worker approved, its document expiring on ``expires_on``; the partner
    receives every event."""
    return decided_by_the_worker(
        client,
        services,
        reviewer,
        "approved",
        "score 91",
        {"score": 91, "document_expires_on": expires_on},
        external_ref=external_ref,
    )


def test_an_erasure_removes_the_documents_expiry_date(client, services, reviewer):
    """document_expires_on is read from the document: kept, it drove expiry notices and a
    document_expired move with the date in its history row, for a profile the partner erased."""
    from datetime import UTC, datetime

    from gateway.services.expiry import run_expiry_job

    profile_id = approved_until(client, services, reviewer, "erased-expiry", "2031-05-17")

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    assert services.pb.get("profiles", profile_id)["document_expires_on"] == ""
    report = run_expiry_job(services.pb, now=datetime(2031, 6, 1, tzinfo=UTC))
    assert profile_id not in [*report.expired, *(notified for notified, _ in report.notices)]
    assert services.pb.get("profiles", profile_id)["status"] == "approved"
    assert "2031-05-17" not in stored_text(services, profile_id)


def test_an_erasure_made_on_a_status_that_moved_since_it_was_read_still_erases(
    client, services, reviewer
):
    """A partner's DELETE racing a reviewer's decision answered 409 'Cannot erase a profile that
    is now approved': the erasure is made on the status it reads again."""
    profile_id = sent_to_manual_review(client, services, reviewer, "erase-race", "555444333")
    read_before = services.pb.get("profiles", profile_id)  # what the DELETE read: manual_review
    decided = client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "approved", "reason": TYPED_REASON},
        headers=reviewer.headers,
    )
    assert decided.status_code == 200, decided.get_json()

    erased = services.profiles.erase_record(read_before, actor="partner:test", reason="asked")

    assert erased["erased_at"]
    assert erased["status"] == "approved"  # the decision stays; the personal data goes
    assert "Smith" not in stored_text(services, profile_id)
    assert len(erased_events(services, profile_id)) == 1


def test_an_erasure_cut_short_before_its_audit_row_is_still_audited(
    client, services, reviewer, monkeypatch
):
    """The audit row was appended after the erasure had committed: a failure there (503, "retry")
    and the retry, which found the profile erased and returned, left an erasure nobody audited."""
    from gateway.errors import StoreUnavailable
    from gateway.services import profiles as profiles_module

    profile_id = create(client, reviewer.headers, external_ref="erasure-audit-retried")["id"]
    real_append = profiles_module.append_audit
    calls = []

    def unavailable_once(pb, actor, action, target, detail):
        calls.append(action)
        if action == "profile.erased" and calls.count(action) == 1:
            raise StoreUnavailable("PocketBase did not answer")
        return real_append(pb, actor, action, target, detail)

    monkeypatch.setattr(profiles_module, "append_audit", unavailable_once)

    first = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)
    retried = client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers)

    assert first.status_code in (200, 503)
    assert retried.status_code == 200, retried.get_json()
    rows = services.pb.find(
        "audit_log",
        "action = 'profile.erased' && target = {:profile}",
        {"profile": profile_id},
        limit=10,
    )
    assert [(row["actor"], row["detail"]) for row in rows] == [
        (f"reviewer:{reviewer.key_id}", {"status": "expired"})
    ]


def test_an_erasure_leaves_the_documents_expiry_date_nowhere_the_expiry_job_wrote_it(
    client, services, reviewer
):
    """The erasure emptied document_expires_on, but the expiry job had already copied the date into
    the profile.document_expiring events it stored (payload and dedupe key) and into the reason of
    the document_expired move (history row, status_reason, last_change): all kept after it."""
    from datetime import UTC, datetime

    from gateway.services.expiry import run_expiry_job

    profile_id = approved_until(client, services, reviewer, "erased-after-expiry", "2031-05-17")
    notified = run_expiry_job(services.pb, now=datetime(2031, 5, 1, tzinfo=UTC))
    expired = run_expiry_job(services.pb, now=datetime(2031, 6, 1, tzinfo=UTC))
    assert profile_id in [notice for notice, _ in notified.notices]
    assert profile_id in expired.expired
    assert "2031-05-17" in stored_text(services, profile_id)  # it was there to be erased

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    assert "2031-05-17" not in stored_text(services, profile_id)  # dedupe keys included
    assert services.pb.get("profiles", profile_id)["status"] == "document_expired"


# The reason the expiry job gave its document_expired move until 67fb1d5: the document's expiry
# date, in an append-only history row (gateway/services/expiry.py, ``git log -p``).
OLD_EXPIRY_REASON = "identity document expired on 2031-05-17"


def expired_the_old_way(
    client, services, reviewer, external_ref: str, number: str = "123456789"
) -> str:
    """A profile the worker approved, its document expiring on 2031-05-17, that the expiry job
    moved to document_expired as it did before 67fb1d5, the day after."""
    profile_id = decided_by_the_worker(
        client,
        services,
        reviewer,
        "approved",
        "score 91",
        {"score": 91, "document_expires_on": "2031-05-17"},
        external_ref=external_ref,
        document={"type": "passport", "country": "GBR", "number": number},
    )
    services.pb.transition(
        profile_id,
        "document_expired",
        actor="system",
        reason=OLD_EXPIRY_REASON,
        expected_from=["approved"],
    )
    return profile_id


def test_an_erasure_redacts_the_expiry_date_the_expiry_job_wrote_into_history_before_67fb1d5(
    client, services, reviewer
):
    """Until 67fb1d5 the expiry job moved a profile to document_expired with the reason
    'identity document expired on <date>', copied to its history row, status_reason and
    last_change. An erasure since then kept all three (the append-only trigger admitted only a
    reviewer's reason being redacted): the document's expiry date outlived the erasure."""
    profile_id = expired_the_old_way(client, services, reviewer, "expired-the-old-way")
    assert "2031-05-17" in stored_text(services, profile_id)  # it was there to be erased
    before = services.pb.find("status_history", "profile = {:p}", {"p": profile_id}, sort="id")

    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200

    assert "2031-05-17" not in stored_text(services, profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "document_expired"
    assert record["status_reason"] == record["last_change"]["reason"] == "[erased]"
    after = services.pb.find("status_history", "profile = {:p}", {"p": profile_id}, sort="id")
    # Every row stays as it was, but for that one reason.
    redacted = [
        {**row, "reason": "[erased]"} if row["reason"] == OLD_EXPIRY_REASON else row
        for row in before
    ]
    assert after == redacted
    assert [row["reason"] for row in after if row["to_status"] == "document_expired"] == [
        "[erased]"
    ]


def test_the_trigger_lets_an_erasure_redact_only_the_expiry_jobs_dated_reason(
    client, services, reviewer, pocketbase, admin_ui
):
    """The exception for the expiry job's dated reason is as narrow as a reviewer's: that row's
    reason becoming '[erased]', on an erased profile, and nothing else; the records API still
    refuses every change."""
    rows_of = {}
    for external_ref, number in (("dated-erased", "111222333"), ("dated-kept", "333222111")):
        profile_id = expired_the_old_way(client, services, reviewer, external_ref, number)
        rows_of[external_ref] = services.pb.find(
            "status_history", "profile = {:p}", {"p": profile_id}, sort="@rowid"
        )
    erased_rows, kept_rows = rows_of["dated-erased"], rows_of["dated-kept"]
    dated_row, worker_row, kept_row = erased_rows[-1], erased_rows[-2], kept_rows[-1]
    assert dated_row["reason"] == kept_row["reason"] == OLD_EXPIRY_REASON
    assert worker_row["actor"] == "worker"

    database = sqlite3.connect(pocketbase.data_dir / "data.db", timeout=10)
    try:
        # Erased by the code before this exception: the dated reason still in its history.
        with database:
            database.execute(
                "UPDATE profiles SET erased_at = '2026-11-30 10:00:00.000Z' WHERE id = ?",
                (dated_row["profile"],),
            )
        patched = admin_ui.patch("status_history", dated_row["id"], {"reason": "[erased]"})
        assert patched.status_code == 400, patched.text
        assert "append-only" in patched.json()["message"]
        for statement, row_id in (
            ("UPDATE status_history SET reason = '[erased]' WHERE id = ?", kept_row["id"]),
            ("UPDATE status_history SET reason = '[erased]' WHERE id = ?", worker_row["id"]),
            (
                "UPDATE status_history SET reason = 'identity document expired' WHERE id = ?",
                dated_row["id"],
            ),
            (
                "UPDATE status_history SET reason = '[erased]', to_status = 'approved' "
                "WHERE id = ?",
                dated_row["id"],
            ),
            (
                "UPDATE status_history SET reason = '[erased]', actor = 'worker' WHERE id = ?",
                dated_row["id"],
            ),
            ("DELETE FROM status_history WHERE id = ?", dated_row["id"]),
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                database.execute(statement, (row_id,))
            database.rollback()
        with database:  # the erasure's own change
            database.execute(
                "UPDATE status_history SET reason = '[erased]' WHERE id = ?", (dated_row["id"],)
            )
        # Once redacted, it stays so: nothing brings the date back.
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            database.execute(
                "UPDATE status_history SET reason = ? WHERE id = ?",
                (OLD_EXPIRY_REASON, dated_row["id"]),
            )
        database.rollback()
    finally:
        database.close()
    assert services.pb.get("status_history", dated_row["id"]) == {
        **dated_row,
        "reason": "[erased]",
    }
    assert services.pb.get("status_history", worker_row["id"]) == worker_row
    assert services.pb.get("status_history", kept_row["id"]) == kept_row


def migrations_before(tmp_path, first_left_out: str):
    """A folder holding the project's migrations named before ``first_left_out``: the schema of
    an older release, to upgrade from."""
    import shutil

    from gateway.pb_server import MIGRATIONS_DIR

    before = tmp_path / "migrations_before"
    before.mkdir()
    for migration in sorted(MIGRATIONS_DIR.glob("*.js")):
        if migration.name < first_left_out:
            shutil.copy(migration, before / migration.name)
    return before


def migrate(data_dir, migrations, *command: str) -> None:
    """``pocketbase migrate`` (``up`` unless ``command`` says otherwise) on ``data_dir``; ``down``
    asks for a confirmation, answered yes (without it, it cancels and still exits 0)."""
    import subprocess

    from gateway.pb_server import HOOKS_DIR, pocketbase_binary

    subprocess.run(
        [
            pocketbase_binary(),
            "migrate",
            *(command or ("up",)),
            "--dir",
            str(data_dir),
            "--migrationsDir",
            str(migrations),
            "--hooksDir",
            str(HOOKS_DIR),
        ],
        check=True,
        capture_output=True,
        input="y\n",
        text=True,
        timeout=60,
    )


def test_an_upgrade_redacts_the_typed_reasons_of_profiles_erased_before_it(tmp_path):
    """Migration 1764730000 let the erasure redact a reviewer's typed reason from then on, but a
    profile erased before the upgrade kept it for good: an erasure runs once (a second DELETE and
    the retention job skip an erased profile), so nothing would ever reach it. The same held for
    the document's expiry date, which the erasure leaves out since 822e5cb."""
    from gateway.pb_server import MIGRATIONS_DIR

    erasure_sentence = "personal data erased at the partner's request"

    data_dir = tmp_path / "pb_data"
    migrate(data_dir, migrations_before(tmp_path, "1764730000"))
    database = sqlite3.connect(data_dir / "data.db")
    with database:  # a profile a reviewer decided, erased by the code before the upgrade
        database.execute(
            "INSERT INTO partners (id, name, slug) VALUES ('p00000000000001', 'P', 'p')"
        )
        database.execute(
            "INSERT INTO profiles (id, partner, status, erased_at, status_actor, status_reason, "
            "decided_by, decision_reason, decision, last_change) VALUES ('a00000000000001', "
            "'p00000000000001', 'approved', '2026-11-30 10:00:00.000Z', 'reviewer:k1', ?, "
            "'reviewer:k1', ?, 'approved', ?)",
            (
                TYPED_REASON,
                TYPED_REASON,
                json.dumps({"actor": "reviewer:k1", "reason": TYPED_REASON}),
            ),
        )
        database.executemany(
            "INSERT INTO status_history (id, profile, from_status, to_status, actor, reason) "
            "VALUES (?, 'a00000000000001', ?, ?, ?, ?)",
            [
                ("h00000000000001", "processing", "manual_review", "worker", "processing_failed"),
                ("h00000000000002", "manual_review", "approved", "reviewer:k1", TYPED_REASON),
                ("h00000000000003", "unverified", "expired", "reviewer:k1", erasure_sentence),
            ],
        )
        event = {"decided_by": "reviewer:k1", "decision_reason": TYPED_REASON}
        database.execute(
            "INSERT INTO webhook_events (id, partner, profile, type, data) VALUES "
            "('e00000000000001', 'p00000000000001', 'a00000000000001', 'profile.approved', ?)",
            (json.dumps(event),),
        )
        # Erased before 822e5cb too: the document's expiry date, and the notice that quoted it.
        notices = {"expires_on": "2031-05-17", "sent": [90]}
        database.execute(
            "UPDATE profiles SET document_expires_on = '2031-05-17', expiry_notices = ? "
            "WHERE id = 'a00000000000001'",
            (json.dumps(notices),),
        )
        notice = {"document_expires_on": "2031-05-17", "days_left": 80, "threshold_days": 90}
        database.execute(
            "INSERT INTO webhook_events (id, partner, profile, type, data, dedupe_key) VALUES "
            "('e00000000000002', 'p00000000000001', 'a00000000000001', "
            "'profile.document_expiring', ?, 'document_expiring:a00000000000001:2031-05-17:90')",
            (json.dumps(notice),),
        )
        # A profile not erased keeps its reviewer's words.
        database.execute(
            "INSERT INTO profiles (id, partner, status, decided_by, decision_reason) VALUES "
            "('b00000000000001', 'p00000000000001', 'approved', 'reviewer:k1', ?)",
            (TYPED_REASON,),
        )
        database.execute(
            "INSERT INTO status_history (id, profile, from_status, to_status, actor, reason) "
            "VALUES ('h00000000000004', 'b00000000000001', 'manual_review', 'approved', "
            "'reviewer:k1', ?)",
            (TYPED_REASON,),
        )
    database.close()

    migrate(data_dir, MIGRATIONS_DIR)

    database = sqlite3.connect(data_dir / "data.db")
    try:
        reasons = database.execute("SELECT reason FROM status_history ORDER BY id").fetchall()
        profiles = database.execute(
            "SELECT status_reason, decision_reason, last_change FROM profiles ORDER BY id"
        ).fetchall()
        [(data,), (notice_data,)] = database.execute(
            "SELECT data FROM webhook_events ORDER BY id"
        ).fetchall()
        everything = "\n".join(line for line in database.iterdump())
    finally:
        database.close()
    assert "2031-05-17" not in everything  # the expiry date, wherever it was
    assert json.loads(notice_data)["days_left"] is None
    assert reasons == [("processing_failed",), ("[erased]",), (erasure_sentence,), (TYPED_REASON,)]
    assert profiles[0][:2] == ("[erased]", "[erased]")
    assert json.loads(profiles[0][2])["reason"] == "[erased]"
    assert profiles[1][1] == TYPED_REASON
    assert json.loads(data)["decision_reason"] == "[erased]"


def test_an_upgrade_redacts_the_expiry_date_in_the_history_of_profiles_erased_before_it(tmp_path):
    """Migration 1764750000 lets the erasure redact the expiry job's dated reason from then on, but
    a profile erased before the upgrade would keep it for good (an erasure runs once). The upgrade
    redacts it as the erasure now does, once: running it again changes nothing."""
    from gateway.pb_server import MIGRATIONS_DIR

    data_dir = tmp_path / "pb_data"
    migrate(data_dir, migrations_before(tmp_path, "1764750000"))
    last_change = json.dumps({"actor": "system", "reason": OLD_EXPIRY_REASON})
    database = sqlite3.connect(data_dir / "data.db")
    with database:
        database.execute(
            "INSERT INTO partners (id, name, slug) VALUES ('p00000000000001', 'P', 'p')"
        )
        # Erased before the upgrade (a), and not erased (b): both expired by the old job.
        for profile_id, erased_at in (
            ("a00000000000001", "2026-11-30 10:00:00.000Z"),
            ("b00000000000001", ""),
        ):
            database.execute(
                "INSERT INTO profiles (id, partner, status, erased_at, status_actor, "
                "status_reason, last_change) VALUES (?, 'p00000000000001', 'document_expired', "
                "?, 'system', ?, ?)",
                (profile_id, erased_at, OLD_EXPIRY_REASON, last_change),
            )
        database.executemany(
            "INSERT INTO status_history (id, profile, from_status, to_status, actor, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("h00000000000001", "a00000000000001", "processing", "approved", "worker", "s 91"),
                (
                    "h00000000000002",
                    "a00000000000001",
                    "approved",
                    "document_expired",
                    "system",
                    OLD_EXPIRY_REASON,
                ),
                # Verified again, expired again: the job's reason since 67fb1d5 has no date.
                (
                    "h00000000000003",
                    "a00000000000001",
                    "approved",
                    "document_expired",
                    "system",
                    "identity document expired",
                ),
                (
                    "h00000000000004",
                    "b00000000000001",
                    "approved",
                    "document_expired",
                    "system",
                    OLD_EXPIRY_REASON,
                ),
            ],
        )
    database.close()

    def stored() -> tuple[list, list, str]:
        database = sqlite3.connect(data_dir / "data.db")
        try:
            reasons = database.execute("SELECT reason FROM status_history ORDER BY id").fetchall()
            profiles = database.execute(
                "SELECT status_reason, last_change FROM profiles ORDER BY id"
            ).fetchall()
            erased = repr(  # every column of the erased profile and its history
                database.execute("SELECT * FROM profiles WHERE erased_at != ''").fetchall()
                + database.execute(
                    "SELECT * FROM status_history WHERE profile = 'a00000000000001' ORDER BY id"
                ).fetchall()
            )
        finally:
            database.close()
        return reasons, profiles, erased

    migrate(data_dir, MIGRATIONS_DIR)
    reasons, profiles, erased = stored()

    assert "2031-05-17" not in erased  # the erased profile's rows, wherever the date was
    assert reasons == [
        ("s 91",),
        ("[erased]",),
        ("identity document expired",),
        (OLD_EXPIRY_REASON,),  # a profile not erased keeps it
    ]
    assert profiles[0][0] == json.loads(profiles[0][1])["reason"] == "[erased]"
    assert profiles[1] == (OLD_EXPIRY_REASON, last_change)

    def applied_last() -> str:
        database = sqlite3.connect(data_dir / "data.db")
        try:
            return database.execute(
                "SELECT file FROM _migrations ORDER BY applied DESC, file DESC LIMIT 1"
            ).fetchone()[0]
        finally:
            database.close()

    backfill = "1764750001_erased_expiry_dates_backfill.js"
    assert applied_last() == backfill
    migrate(data_dir, MIGRATIONS_DIR, "down", "1")  # its down changes nothing
    assert applied_last() != backfill
    assert stored() == (reasons, profiles, erased)
    migrate(data_dir, MIGRATIONS_DIR)  # and its second run neither
    assert applied_last() == backfill
    assert stored() == (reasons, profiles, erased)


def test_a_write_that_races_an_erasure_is_a_410_not_a_500(client, services, reviewer, monkeypatch):
    """The gateway checks that a profile is not erased, then writes: an erasure committing in
    between (the retention job, another request) made the data layer refuse the write, which the
    caller saw as a 500 store_error instead of the 410 profile_erased the docs promise."""
    profile_id = create(client, reviewer.headers, external_ref="erased-meanwhile")["id"]
    checked = services.profiles.load_open

    def erased_right_after_the_check(principal, checked_id):
        profile = checked(principal, checked_id)
        services.profiles.erase_record(dict(profile), actor="system", reason="retention")
        return profile

    monkeypatch.setattr(services.profiles, "load_open", erased_right_after_the_check)

    noted = client.post(
        f"/api/profiles/{profile_id}/notes", json={"body": "Ada"}, headers=reviewer.headers
    )
    monkeypatch.setattr(services.profiles, "load_open", checked)
    assert services.pb.get("profiles", profile_id)["erased_at"]

    assert_problem(noted, 410, "profile_erased")
    assert services.pb.find("notes", "profile = {:p}", {"p": profile_id}) == []


def test_the_reference_of_an_erased_profile_gives_no_link_to_it(client, services, reviewer):
    """POST /api/profiles with an erased profile's external_ref answered 200 with the erased
    profile and a freshly signed link whose page could only say 410."""
    body = {"external_ref": "erased-then-reused"}
    created = client.post(
        "/api/profiles", json=body, headers={**reviewer.headers, "Idempotency-Key": "k-erased-1"}
    )
    assert created.status_code == 201, created.get_json()
    profile_id = created.get_json()["id"]
    assert client.delete(f"/api/profiles/{profile_id}", headers=reviewer.headers).status_code == 200
    before = services.pb.get("profiles", profile_id)

    again = client.post("/api/profiles", json=body, headers=reviewer.headers)
    replay = client.post(
        "/api/profiles", json=body, headers={**reviewer.headers, "Idempotency-Key": "k-erased-1"}
    )

    for response in (again, replay):
        assert response.status_code == 410, response.get_json()
        assert response.get_json()["code"] == "profile_erased"
        assert "redirect_url" not in response.get_json()
    assert services.pb.get("profiles", profile_id) == before
    other = client.post("/api/profiles", json={"external_ref": "new-ref"}, headers=reviewer.headers)
    assert other.status_code == 201, other.get_json()
