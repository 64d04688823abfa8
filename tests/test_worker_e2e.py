"""The worker end to end on the real PocketBase: a profile created through the API, captures
stored on it, the task run through Huey in immediate mode, the decision read back through the
API; plus the error mapping and a twice-delivered job that runs once."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from api_helpers import new_profile_id
from PIL import Image
from worker_helpers import genuine_capture, history, jpeg, submit

from gateway.errors import StoreUnavailable
from gateway.services.sealed_scores import reveal_scores
from gateway.synthetic.documents import make_passport
from gateway.worker import tasks, verification_job
from gateway.worker.queue import huey
from gateway.worker.tasks import enqueue_verification

# Every test runs tasks in-process (Huey immediate mode) on the test PocketBase.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("worker")]


def applicant_body(fields: dict[str, str]) -> dict:
    return {
        "first_name": fields["given_names"].title(),
        "last_name": fields["surname"].title(),
        "email": "applicant@example.com",
        "document": {
            "type": "passport",
            "country": fields["issuing_state"],
            "number": fields["document_number"],
        },
    }


def test_genuine_capture_is_approved_with_every_factor_recorded(
    client, services, partner, datasets_dir
):
    capture = genuine_capture(datasets_dir)
    profile_id = new_profile_id(client, partner.headers, **applicant_body(capture.fields))
    submit(
        services.pb,
        profile_id,
        document_jpeg=capture.document_jpeg,
        frames=capture.frames,
        prompts=capture.prompts,
    )

    enqueue_verification(profile_id)

    view = client.get(f"/api/profiles/{profile_id}", headers=partner.headers).get_json()
    record = services.pb.get("profiles", profile_id)
    factors = record["scores"]["factors"]
    assert {name: factors[name]["status"] for name in factors} == {
        "face_match": "pass",
        "liveness": "pass",
        "document": "pass",
        "kya": "pass",
    }, record["reasons"]
    assert view["status"] == "approved"
    assert view["decision"] == "approved"
    assert 80 <= view["score"] <= 100
    assert any(reason.startswith("face match passed: similarity") for reason in view["reasons"])
    # The settings that produced the decision are stored with it.
    assert record["scores"]["settings"]["weights"] == {
        "liveness": 30,
        "face_match": 40,
        "document": 25,
        "kya": 5,
    }
    assert record["scores"]["settings"]["face_match_threshold"] == 0.75
    # What was read is stored masked (last 3 characters), the full value sealed with the data key.
    number = capture.fields["document_number"]
    stored_number = factors["document"]["detail"]["fields"]["document_number"]
    assert stored_number == "*" * (len(number) - 3) + number[-3:]
    revealed = reveal_scores(services.settings.data_key, record["scores"])
    assert revealed["factors"]["document"]["detail"]["fields"]["document_number"] == number
    assert record["processing_attempts"] == 1
    assert record["lease_until"] == ""
    # The expiry date read from the MRZ feeds the document-expiry job.
    assert record["document_expires_on"] == factors["document"]["detail"]["fields"]["expiry_date"]
    assert record["document_expires_on"] > "2026-01-01"
    rows = history(services.pb, profile_id)
    assert rows[-3:] == [
        ("in_progress", "submitted", "applicant", "captures complete"),
        ("submitted", "processing", "worker", "claimed by a worker"),
        ("processing", "approved", "worker", rows[-1][3]),
    ]
    assert rows[-1][3].startswith("score ")
    usage = services.pb.find(
        "usage_events", "profile = {:profile}", {"profile": profile_id}, limit=10
    )
    assert [(row["module"], row["billed"], row["outcome"]) for row in usage] == [
        ("verification", True, "approved")
    ]

    # A second delivery of the same job finds the profile decided and changes nothing.
    assert verification_job.run_verification(services, profile_id) is None
    assert history(services.pb, profile_id) == rows


def test_concurrent_deliveries_claim_once(client, services, partner):
    profile_id = new_profile_id(client, partner.headers)
    submit(services.pb, profile_id, document_jpeg=None, frames=[], prompts=("blink",))
    outcomes: list[str | None] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(verification_job.run_verification(services, profile_id))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [None, None, None, "resubmission_requested"]
    claims = [row for row in history(services.pb, profile_id) if row[1] == "processing"]
    assert len(claims) == 1
    assert services.pb.get("profiles", profile_id)["processing_attempts"] == 1


def test_invalid_partner_settings_send_the_profile_to_review(client, services, make_partner):
    partner = make_partner("Misconfigured partner")
    # What an operator could type in the admin UI: keys it knows, values of the wrong kind
    # (its guard checks the rules a score depends on, not every field).
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"min_age": "eighteen", "allowed_countries": "FRA"}},
    )
    profile_id = new_profile_id(client, partner.headers)
    submit(services.pb, profile_id, document_jpeg=None, frames=[], prompts=("blink",))
    assert verification_job.run_verification(services, profile_id) == "manual_review"
    stored = services.pb.get("profiles", profile_id)
    assert stored["decision"] == "" and stored["score"] == 0
    [reason] = stored["reasons"]
    assert reason.startswith("processing_failed: the partner's settings are invalid")
    assert "min_age" in reason and "allowed_countries" in reason


def test_a_passport_photographed_sideways_is_approved_by_the_real_worker(
    client, services, partner, datasets_dir
):
    # Through the stored profile, the queue and every factor, liveness included: the page
    # turned a quarter (before: INVALID_PHOTO:document, no face as given).
    capture = genuine_capture(datasets_dir)
    page = np.asarray(Image.open(io.BytesIO(capture.document_jpeg)).convert("RGB"))
    profile_id = new_profile_id(client, partner.headers, **applicant_body(capture.fields))
    submit(
        services.pb,
        profile_id,
        document_jpeg=jpeg(np.ascontiguousarray(np.rot90(page, 3))),
        frames=capture.frames,
        prompts=capture.prompts,
    )
    enqueue_verification(profile_id)
    record = services.pb.get("profiles", profile_id)
    factors = record["scores"]["factors"]
    assert record["status"] == "approved", record["reasons"]
    assert factors["face_match"]["detail"]["document_quarter_turns"] == 1
    assert {name: factors[name]["status"] for name in factors} == {
        "face_match": "pass",
        "liveness": "pass",
        "document": "pass",
        "kya": "pass",
    }


def test_document_without_a_face_asks_for_a_new_document_photo(
    client, services, partner, datasets_dir
):
    capture = genuine_capture(datasets_dir)
    # a readable passport page whose photo box holds a grey silhouette, no face
    faceless = jpeg(make_passport(np.random.default_rng(3), None).image_rgb)
    profile_id = new_profile_id(client, partner.headers)
    submit(
        services.pb,
        profile_id,
        document_jpeg=faceless,
        frames=capture.frames[:2],
        prompts=capture.prompts,
    )
    enqueue_verification(profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "resubmission_requested"
    assert record["reasons"] == ["INVALID_PHOTO:document: no face found in the document image"]
    last = history(services.pb, profile_id)[-1]
    assert last[1:] == ("resubmission_requested", "worker", "INVALID_PHOTO:document")


def test_selfie_without_a_face_asks_for_a_new_selfie(client, services, partner, datasets_dir):
    capture = genuine_capture(datasets_dir)
    blank = jpeg(np.full((360, 640, 3), 90, dtype=np.uint8))
    frames = [(f"frame_{i}.jpg", blank, "neutral", i * 100.0) for i in range(3)]
    profile_id = new_profile_id(client, partner.headers)
    submit(
        services.pb,
        profile_id,
        document_jpeg=capture.document_jpeg,
        frames=frames,
        prompts=("blink",),
    )
    enqueue_verification(profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "resubmission_requested"
    assert history(services.pb, profile_id)[-1][3] == "INVALID_PHOTO:selfie"
    assert record["processing_attempts"] == 1  # no retry for a bad photo


def test_transient_error_retries_with_backoff_then_goes_to_review(
    client, services, partner, monkeypatch, datasets_dir
):
    capture = genuine_capture(datasets_dir)
    profile_id = new_profile_id(client, partner.headers)
    submit(
        services.pb,
        profile_id,
        document_jpeg=capture.document_jpeg,
        frames=capture.frames[:2],
        prompts=capture.prompts,
    )

    def store_down(*args, **kwargs):
        raise StoreUnavailable("PocketBase file storage did not answer")

    monkeypatch.setattr(services.pb, "download_file", store_down)

    # Through Huey: the failure schedules a retry (backoff delay) and hands the profile back.
    enqueue_verification(profile_id)
    assert services.pb.get("profiles", profile_id)["status"] == "submitted"
    retries = [task for task in huey.scheduled() if task.args == (profile_id,)]
    assert len(retries) == 1
    assert retries[0].retries == tasks.RETRIES - 1
    assert retries[0].retry_delay == tasks.RETRY_DELAY_S * tasks.RETRY_BACKOFF
    huey.flush()

    # The last attempt: no retries left, so a person looks at it.
    outcome = verification_job.run_verification(services, profile_id, retries_left=0)
    assert outcome == "manual_review"
    record = services.pb.get("profiles", profile_id)
    assert record["decision"] == ""  # no scored decision was reached
    assert record["reasons"] == [
        "processing_failed: PocketBase file storage did not answer (retries exhausted)"
    ]
    assert record["processing_attempts"] == 2
    assert [row[1:3] for row in history(services.pb, profile_id)[-4:]] == [
        ("processing", "worker"),
        ("submitted", "worker"),
        ("processing", "worker"),
        ("manual_review", "worker"),
    ]
    assert history(services.pb, profile_id)[-1][3] == "processing_failed"
