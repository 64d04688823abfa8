"""``DELETE /api/profiles/{id}``: a partner erases an applicant's personal data.

Proved against the real PocketBase: personal fields and capture files are gone, the history stays
(and records the end of an open capture), links stop working, the partner is told once by
webhook event, and a running verification is not pulled from under the worker.
"""

from __future__ import annotations

import io

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
