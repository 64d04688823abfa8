"""Reviewer routes: status changes with reasons, documents stored as protected files, notes."""

from __future__ import annotations

import io

import pytest
import requests
from api_helpers import TO_PROCESSING, assert_problem, attach_files, new_profile_id, subscribe, walk
from PIL import Image
from pypdf import PdfWriter

from gateway import create_app


def image_bytes(kind: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real image."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, kind)
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    """A small real one-page PDF."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PDF = pdf_bytes()


def in_manual_review(services, profile_id: str) -> None:
    """Walk a profile to manual_review the way the pipeline does."""
    walk(services.pb, profile_id, *TO_PROCESSING, "manual_review", reason="pipeline")


def patch_status(client, headers, profile_id, **body):
    """PATCH /api/profiles/{id}/status."""
    return client.patch(f"/api/profiles/{profile_id}/status", json=body, headers=headers)


def upload(client, headers, profile_id, files: dict[str, tuple[bytes, str]]):
    """POST /api/profiles/{id}/documents as multipart."""
    return attach_files(client, headers, profile_id, files)


# -- status ------------------------------------------------------------------------------------


def test_a_reviewers_decision_is_the_decision_and_the_workers_stays_beside_it(
    client, reviewer, services
):
    """status and decision agree after a reviewer decides, in GET and in the webhook event."""
    subscribe(services, reviewer.partner_id)
    profile_id = new_profile_id(client, reviewer.headers)
    walk(services.pb, profile_id, *TO_PROCESSING)
    automated = {"decision": "manual_review", "score": 71.5, "reasons": ["similarity 0.70 < 0.75"]}
    services.pb.transition(
        profile_id,
        "manual_review",
        actor="worker",
        reason="similarity 0.70 < 0.75",
        set_fields={
            "decision": "manual_review",
            "score": 71.5,
            "reasons": automated["reasons"],
            "decided_by": "worker",
            "decision_reason": "similarity 0.70 < 0.75",
            "automated_decision": automated,
        },
    )
    before = client.get(f"/api/profiles/{profile_id}", headers=reviewer.headers).get_json()
    assert (before["decision"], before["decided_by"]) == ("manual_review", "worker")

    response = patch_status(
        client, reviewer.headers, profile_id, status="approved", reason="passport checked by hand"
    )
    body = response.get_json()
    assert (body["status"], body["decision"]) == ("approved", "approved")
    assert body["decided_by"] == f"reviewer:{reviewer.key_id}"
    assert body["decision_reason"] == "passport checked by hand"
    assert body["automated_decision"] == automated
    assert body["score"] == 71.5  # the automated score, still there to compare

    [event] = services.pb.find(
        "webhook_events", "profile = {:p} && type = 'profile.approved'", {"p": profile_id}
    )
    data = event["data"]
    assert (data["status"], data["decision"]) == ("approved", "approved")
    assert data["decided_by"] == f"reviewer:{reviewer.key_id}"
    assert data["automated_decision"]["decision"] == "manual_review"


def test_a_decision_typed_in_the_admin_ui_names_the_superuser(client, reviewer, services):
    """The records API (what the admin UI calls) goes through the same data-layer rule."""
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    response = services.pb.request(
        "PATCH",
        f"/api/collections/profiles/records/{profile_id}",
        json={"status": "rejected", "status_reason": "forged document"},
    )
    assert response.status_code == 200, response.text
    body = client.get(f"/api/profiles/{profile_id}", headers=reviewer.headers).get_json()
    assert (body["status"], body["decision"]) == ("rejected", "rejected")
    assert body["decided_by"].startswith("reviewer:")
    assert body["decision_reason"] == "forged document"


def test_reviewer_approves_with_a_reason_and_is_named_in_history(client, reviewer, services):
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    response = patch_status(
        client, reviewer.headers, profile_id, status="approved", reason="documents match"
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "approved"
    assert body["latest_history"]["actor"] == f"reviewer:{reviewer.key_id}"
    assert body["latest_history"]["reason"] == "documents match"
    items = client.get(f"/api/profiles/{profile_id}/history", headers=reviewer.headers)
    actors = [item["actor"] for item in items.get_json()["items"]]
    assert actors == [
        f"partner:{reviewer.partner_id}",
        *["worker"] * 4,
        f"reviewer:{reviewer.key_id}",
    ]
    audit = services.pb.find("audit_log", "target = {:t}", {"t": profile_id})
    assert [(row["action"], row["actor"]) for row in audit] == [
        ("profile.status_changed", f"reviewer:{reviewer.key_id}")
    ]


@pytest.mark.parametrize("status", ["approved", "rejected"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_approve_and_reject_require_a_reason(client, reviewer, services, status, reason):
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    body = {"status": status} if reason is None else {"status": status, "reason": reason}
    response = patch_status(client, reviewer.headers, profile_id, **body)
    assert "reason" in assert_problem(response, 422, "validation_failed")["errors"]
    assert services.pb.get("profiles", profile_id)["status"] == "manual_review"


def test_resubmission_needs_no_reason(client, reviewer, services):
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    response = patch_status(client, reviewer.headers, profile_id, status="resubmission_requested")
    assert response.status_code == 200
    assert response.get_json()["latest_history"]["reason"] is None


@pytest.mark.parametrize("status", ["in_progress", "submitted", "processing", "manual_review"])
def test_a_reviewer_cannot_make_the_applicants_or_the_workers_moves(
    client, reviewer, services, status
):
    """The data layer's table lets unverified reach approved through in_progress, submitted and
    manual_review; a reviewer key walking that path approved a profile never captured."""
    profile_id = new_profile_id(client, reviewer.headers)
    response = patch_status(client, reviewer.headers, profile_id, status=status, reason="x")
    assert "status" in assert_problem(response, 422, "validation_failed")["errors"]
    assert services.pb.get("profiles", profile_id)["status"] == "unverified"


@pytest.mark.parametrize("current", ["submitted", "processing"])
def test_a_reviewer_decides_only_from_manual_review(client, reviewer, services, current):
    """processing -> approved is the worker's move (and submitted -> manual_review the
    reconciler's): a reviewer is told what it may do from here, which is nothing."""
    profile_id = new_profile_id(client, reviewer.headers)
    walk(services.pb, profile_id, *TO_PROCESSING[: TO_PROCESSING.index(current) + 1])
    response = patch_status(client, reviewer.headers, profile_id, status="approved", reason="x")
    body = assert_problem(response, 409, "illegal_transition")
    assert body["current_status"] == current and body["allowed"] == []
    assert services.pb.get("profiles", profile_id)["status"] == current


def test_a_reviewer_reopens_a_decision_for_resubmission(client, reviewer, services):
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    decided = patch_status(client, reviewer.headers, profile_id, status="rejected", reason="blur")
    assert decided.status_code == 200
    again = patch_status(client, reviewer.headers, profile_id, status="approved", reason="x")
    body = assert_problem(again, 409, "illegal_transition")
    assert body["allowed"] == ["resubmission_requested"]
    reopened = patch_status(client, reviewer.headers, profile_id, status="resubmission_requested")
    assert reopened.status_code == 200
    assert services.pb.get("profiles", profile_id)["status"] == "resubmission_requested"


def test_a_reopened_decision_is_no_longer_the_decision(client, reviewer, services):
    """A reviewer who reopens an approval for resubmission decided that: the partner no longer
    reads "approved" (nor the approval's reason) on a profile that waits for new captures, in
    GET or in the profile.resubmission_requested event."""
    subscribe(services, reviewer.partner_id)
    profile_id = new_profile_id(client, reviewer.headers)
    in_manual_review(services, profile_id)
    approved = patch_status(client, reviewer.headers, profile_id, status="approved", reason="ok")
    assert approved.get_json()["decision"] == "approved"
    reopened = patch_status(
        client, reviewer.headers, profile_id, status="resubmission_requested", reason="glare"
    )
    body = reopened.get_json()
    assert (body["status"], body["decision"]) == ("resubmission_requested",) * 2
    assert (body["decided_by"], body["decision_reason"]) == (f"reviewer:{reviewer.key_id}", "glare")
    [event] = services.pb.find(
        "webhook_events",
        "profile = {:p} && type = 'profile.resubmission_requested'",
        {"p": profile_id},
    )
    assert (event["data"]["decision"], event["data"]["decision_reason"]) == (
        "resubmission_requested",
        "glare",
    )


@pytest.mark.parametrize(
    "body, field",
    [({"status": "bogus"}, "status"), ({}, "status"), ({"status": "approved", "x": 1}, "x")],
)
def test_bad_status_bodies_are_422(client, reviewer, body, field):
    profile_id = new_profile_id(client, reviewer.headers)
    response = patch_status(client, reviewer.headers, profile_id, **body)
    assert field in assert_problem(response, 422, "validation_failed")["errors"]


def every_reviewer_route(client, headers, profile_id) -> list:
    """One call to each reviewer route (a status change that would be legal from manual_review)."""
    return [
        patch_status(client, headers, profile_id, status="approved", reason="x"),
        client.post(f"/api/profiles/{profile_id}/notes", json={"body": "x"}, headers=headers),
        client.get(f"/api/profiles/{profile_id}/notes", headers=headers),
        upload(client, headers, profile_id, {"selfie": (image_bytes(), "s.jpg")}),
    ]


def test_partner_scope_alone_cannot_use_reviewer_routes(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)
    in_manual_review(services, profile_id)
    for response in every_reviewer_route(client, partner.headers, profile_id):
        assert_problem(response, 403, "forbidden")
    assert services.pb.get("profiles", profile_id)["status"] == "manual_review"


def test_reviewer_of_another_partner_gets_404(client, make_partner, services):
    owner = make_partner("Owner", ("partner", "reviewer"))
    stranger = make_partner("Stranger", ("partner", "reviewer"))
    profile_id = new_profile_id(client, owner.headers)
    in_manual_review(services, profile_id)
    for response in every_reviewer_route(client, stranger.headers, profile_id):
        assert_problem(response, 404, "not_found")
    assert services.pb.get("profiles", profile_id)["status"] == "manual_review"


# -- documents ---------------------------------------------------------------------------------


def test_documents_are_stored_as_protected_files(client, reviewer, services, pocketbase):
    profile_id = new_profile_id(client, reviewer.headers)
    front, selfie = image_bytes("JPEG"), image_bytes("PNG")
    response = upload(
        client,
        reviewer.headers,
        profile_id,
        {
            "document_front": (front, "front.jpg"),
            "selfie": (selfie, "me.png"),
            "other": (PDF, "utility-bill.pdf"),
        },
    )
    assert response.status_code == 201, response.get_json()
    documents = response.get_json()["documents"]
    # Every image is stored as the upload policy's re-encoded JPEG (tests/test_upload_policy.py).
    assert documents["document_front"].endswith(".jpg")
    assert documents["selfie"].endswith(".jpg")
    assert len(documents["other"]) == 1 and documents["other"][0].endswith(".pdf")
    assert documents["document_back"] is None

    url = f"{pocketbase.url}/api/files/profiles/{profile_id}/{documents['document_front']}"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code in (401, 403, 404)
    assert anonymous.content != front
    stored = services.pb.download_file("profiles", profile_id, documents["document_front"])
    assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(front)).size
    stored_selfie = services.pb.download_file("profiles", profile_id, documents["selfie"])
    assert Image.open(io.BytesIO(stored_selfie)).size == Image.open(io.BytesIO(selfie)).size

    again = upload(client, reviewer.headers, profile_id, {"other": (image_bytes(), "more.jpg")})
    assert len(again.get_json()["documents"]["other"]) == 2
    audit = services.pb.find("audit_log", "target = {:t}", {"t": profile_id})
    assert [row["action"] for row in audit] == ["profile.documents_attached"] * 2


def test_a_jpg_that_is_really_text_is_415(client, reviewer, services):
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(
        client, reviewer.headers, profile_id, {"document_front": (b"just some text", "x.jpg")}
    )
    assert "document_front" in assert_problem(response, 415, "image_type_refused")["errors"]
    assert services.pb.get("profiles", profile_id)["document_front"] == ""


def test_pdf_is_only_accepted_as_other(client, reviewer):
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, {"selfie": (PDF, "selfie.pdf")})
    assert_problem(response, 415, "image_type_refused")


def test_documents_must_be_multipart(client, reviewer):
    profile_id = new_profile_id(client, reviewer.headers)
    response = client.post(
        f"/api/profiles/{profile_id}/documents", json={"selfie": "x"}, headers=reviewer.headers
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_unknown_or_missing_file_fields_are_400(client, reviewer):
    profile_id = new_profile_id(client, reviewer.headers)
    unknown = upload(client, reviewer.headers, profile_id, {"passport": (image_bytes(), "p.jpg")})
    assert "passport" in assert_problem(unknown, 400, "bad_request")["errors"]
    empty = attach_files(client, reviewer.headers, profile_id, {"note": "no files"})
    assert_problem(empty, 400, "bad_request")


def post_files(client, headers, profile_id, field: str, count: int):
    """POST /api/profiles/{id}/documents with ``count`` small JPEGs in one field."""
    files = [(io.BytesIO(image_bytes()), f"{field}{index}.jpg") for index in range(count)]
    return client.post(
        f"/api/profiles/{profile_id}/documents",
        data={field: files},
        headers=headers,
        content_type="multipart/form-data",
    )


def test_more_other_documents_than_the_store_keeps_is_422(client, reviewer, services):
    """other_documents holds 20 files (pb_migrations): the 21st was PocketBase's 400, a 500 here."""
    profile_id = new_profile_id(client, reviewer.headers)
    too_many = post_files(client, reviewer.headers, profile_id, "other", 21)
    assert "other" in assert_problem(too_many, 422, "validation_failed")["errors"]
    assert services.pb.get("profiles", profile_id)["other_documents"] == []
    assert post_files(client, reviewer.headers, profile_id, "other", 19).status_code == 201
    over = post_files(client, reviewer.headers, profile_id, "other", 2)
    assert "other" in assert_problem(over, 422, "validation_failed")["errors"]
    assert len(services.pb.get("profiles", profile_id)["other_documents"]) == 19


def test_two_files_for_a_one_file_field_are_422(client, reviewer, services):
    """document_front holds one file: of two sent, one was kept without a word."""
    profile_id = new_profile_id(client, reviewer.headers)
    response = post_files(client, reviewer.headers, profile_id, "document_front", 2)
    assert "document_front" in assert_problem(response, 422, "validation_failed")["errors"]
    assert services.pb.get("profiles", profile_id)["document_front"] == ""


def test_a_file_over_the_limit_is_413(make_settings, reviewer):
    client = create_app(make_settings(max_upload_bytes=4096)).test_client()
    profile_id = new_profile_id(client, reviewer.headers)
    big = image_bytes("PNG", (400, 400))
    big += b"\0" * max(0, 5000 - len(big))
    response = upload(client, reviewer.headers, profile_id, {"selfie": (big, "big.png")})
    assert_problem(response, 413, "image_too_large")


# -- notes -------------------------------------------------------------------------------------


def test_notes_are_added_and_listed_oldest_first(client, reviewer):
    profile_id = new_profile_id(client, reviewer.headers)
    for text in ("called the applicant", "address confirmed"):
        response = client.post(
            f"/api/profiles/{profile_id}/notes", json={"body": text}, headers=reviewer.headers
        )
        assert response.status_code == 201
        note = response.get_json()
        assert note["author"] == f"reviewer:{reviewer.key_id}" and note["body"] == text
    listed = client.get(f"/api/profiles/{profile_id}/notes", headers=reviewer.headers).get_json()
    assert [note["body"] for note in listed["items"]] == [
        "called the applicant",
        "address confirmed",
    ]
    assert set(listed["items"][0]) == {"id", "author", "body", "created"}


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "x" * 10_001}, {"body": "x", "y": 1}])
def test_bad_notes_are_422(client, reviewer, body):
    profile_id = new_profile_id(client, reviewer.headers)
    response = client.post(f"/api/profiles/{profile_id}/notes", json=body, headers=reviewer.headers)
    assert_problem(response, 422, "validation_failed")
