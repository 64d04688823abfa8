"""Partners' server-side verification end to end: a server-issued challenge, images as base64,
multipart files or keys in the partner's bucket on a real S3, the real worker code in-process,
and the decision read back the way a partner polls it."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_helpers import assert_problem, subscribe, unique_ref
from flask import Flask
from intake_fixtures import intake_settings, s3_client, shared_s3
from PIL import Image
from worker_helpers import genuine_capture

from gateway import create_app
from gateway.container import Services
from gateway.services.api_keys import Principal
from gateway.services.partner_settings import effective_settings
from gateway.verification.documents.normalize import normalize_country
from gateway.verification.liveness.challenge import OFFERED_PROMPTS

pytestmark = pytest.mark.slow
PARTNER_BUCKET = "partner-acme"


@pytest.fixture(scope="session")
def s3(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    server = shared_s3(request.config, tmp_path_factory)
    client = s3_client(server)
    if PARTNER_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=PARTNER_BUCKET)
    return server


@pytest.fixture
def turning_partner(services: Services, partner):
    """A partner whose challenges are two head turns (what the shared clip can answer)."""
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"liveness": {"prompts": ["turn_right", "turn_left"], "prompt_count": 2}}},
    )
    services.keys.forget_partner(partner.partner_id)
    subscribe(services, partner.partner_id)  # its profiles' events are read from the outbox
    return partner


@pytest.fixture
def s3_app(make_settings: Callable, s3, turning_partner) -> Flask:
    """The app with the partner's bucket configured (EKYC_PARTNER_S3_BUCKETS)."""
    application = create_app(
        make_settings(
            **intake_settings(s3, None),
            partner_s3_buckets=((turning_partner.partner_id, PARTNER_BUCKET),),
        )
    )
    application.config["TESTING"] = True
    return application


@pytest.fixture
def s3_worker(s3_app: Flask, inline_worker: Callable[[Services], Services]) -> Services:
    return inline_worker(s3_app.extensions["ekyc"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def applicant(capture) -> dict[str, Any]:
    return {
        "external_ref": unique_ref("server"),
        "first_name": capture.fields["given_names"].title(),
        "last_name": capture.fields["surname"].title(),
        "document": {
            "type": "passport",
            "country": normalize_country(capture.fields["issuing_state"]).alpha3,
            "number": capture.fields["document_number"],
        },
    }


def test_challenge_frames_as_base64_go_through_the_same_pipeline(
    s3_app, s3_worker, turning_partner, datasets_dir: Path
):
    client = s3_app.test_client()
    capture = genuine_capture(datasets_dir)
    challenge = client.post("/v1/liveness/challenge", headers=turning_partner.headers)
    assert challenge.status_code == 200, challenge.get_json()
    issued = challenge.get_json()
    assert set(issued["prompts"]) == {"turn_right", "turn_left"}
    frames = (
        capture.frames
        if issued["prompts"] == ["turn_right", "turn_left"]
        else list(capture.frames_left_then_right)
    )
    body = {
        **applicant(capture),
        "document_front_base64": b64(capture.document_jpeg),
        "challenge_token": issued["challenge_token"],
        "frames": [
            {"image_base64": b64(data), "prompt": prompt, "t_ms": t_ms}
            for _, data, prompt, t_ms in frames
        ],
    }
    response = client.post("/api/verifications", json=body, headers=turning_partner.headers)
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["liveness"] == "challenge"

    polled = client.get(f"/api/profiles/{accepted['id']}", headers=turning_partner.headers)
    view = polled.get_json()
    profile = s3_worker.pb.get("profiles", accepted["id"])
    # Liveness ran on the frames under the server's challenge (its verdict is the liveness
    # module's: the shared clip has 5 frames per turn, sparser than the hosted flow's capture).
    assert profile["liveness_challenge"]["id"] == issued["id"]
    assert profile["scores"]["factors"]["liveness"]["status"] in {"pass", "fail"}
    assert profile["scores"]["factors"]["face_match"]["status"] == "pass"
    assert profile["scores"]["factors"]["document"]["status"] == "pass"
    assert view["status"] == profile["status"] in {"approved", "manual_review", "rejected"}
    assert view["score"] == profile["score"] is not None
    # The events a hosted-flow verification emits, from the same outbox.
    events = s3_worker.pb.find(
        "webhook_events", "profile = {:p}", {"p": accepted["id"]}, sort="@rowid"
    )
    assert f"profile.{profile['status']}" in [event["type"] for event in events]

    # The token is single-use.
    again = client.post(
        "/api/verifications",
        json={**body, "external_ref": unique_ref("server")},
        headers=turning_partner.headers,
    )
    assert_problem(again, 422, "challenge_refused")


def test_multipart_and_bucket_keys_without_frames_leave_liveness_not_checked(
    s3_app, s3_worker, turning_partner, datasets_dir: Path
):
    client = s3_app.test_client()
    capture = genuine_capture(datasets_dir)
    key = f"acme/{unique_ref('doc')}.jpg"
    s3_client(s3_worker_store(s3_app)).put_object(
        Bucket=PARTNER_BUCKET, Key=key, Body=capture.document_jpeg
    )
    selfie = next(data for _, data, prompt, _ in capture.frames if prompt == "neutral")
    response = client.post(
        "/api/verifications",
        data={
            "data": json.dumps({**applicant(capture), "document_front_key": key}),
            "selfie": (_file(selfie), "selfie.jpg"),
        },
        headers=turning_partner.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["liveness"] == "not_checked"
    profile = s3_worker.pb.get("profiles", response.get_json()["id"])
    assert profile["scores"]["factors"]["liveness"]["status"] == "not_checked"
    assert profile["scores"]["factors"]["face_match"]["status"] == "pass"
    # Liveness is required by default: without it the profile is never approved automatically.
    assert profile["status"] in {"manual_review", "rejected"}


def test_refusals(s3_app, turning_partner, make_partner, datasets_dir: Path):
    client = s3_app.test_client()
    capture = genuine_capture(datasets_dir)
    other = make_partner("Other partner")
    # Keys need the operator to have configured a bucket for the caller.
    no_bucket = client.post(
        "/api/verifications",
        json={**applicant(capture), "document_front_key": "x.jpg", "selfie_key": "y.jpg"},
        headers=other.headers,
    )
    assert_problem(no_bucket, 422, "validation_failed")
    # A key that is not in the partner's bucket.
    missing = client.post(
        "/api/verifications",
        json={**applicant(capture), "document_front_key": "nothing.jpg", "selfie_key": "n.jpg"},
        headers=turning_partner.headers,
    )
    assert_problem(missing, 422, "object_missing")
    # Frames need a challenge issued to this partner.
    frame = {"image_base64": b64(capture.document_jpeg), "prompt": "turn_left", "t_ms": 0}
    body = {**applicant(capture), "document_front_base64": b64(capture.document_jpeg)}
    no_token = client.post(
        "/api/verifications", json={**body, "frames": [frame]}, headers=turning_partner.headers
    )
    assert_problem(no_token, 422, "challenge_refused")
    foreign = client.post("/v1/liveness/challenge", headers=other.headers).get_json()
    stolen = client.post(
        "/api/verifications",
        json={**body, "frames": [frame], "challenge_token": foreign["challenge_token"]},
        headers=turning_partner.headers,
    )
    assert_problem(stolen, 422, "challenge_refused")
    forged = foreign["challenge_token"][:-4] + "0000"
    assert_problem(
        client.post(
            "/api/verifications",
            json={**body, "frames": [frame], "challenge_token": forged},
            headers=other.headers,
        ),
        422,
        "challenge_refused",
    )
    assert_problem(
        client.post("/api/verifications", json=body, headers={"x-api-key": "ek_nope_nope"}),
        401,
        "unauthorized",
    )


def _file(data: bytes):
    import io

    return io.BytesIO(data)


def s3_worker_store(app: Flask):
    """The SeaweedFS server behind the app (for the test's own puts)."""
    from intake_fixtures import _servers

    return _servers["s3"]


def plain_jpeg(shade: int) -> bytes:
    """A small JPEG the upload policy accepts (the worker is not run on it)."""
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (shade, 90, 60)).save(out, "JPEG")
    return out.getvalue()


def stills_body(ref: str, document: bytes | None = None) -> dict[str, str]:
    """A verification request with a document photo and one still selfie (no challenge)."""
    return {
        "external_ref": ref,
        "document_front_base64": b64(plain_jpeg(200) if document is None else document),
        "selfie_base64": b64(plain_jpeg(10)),
    }


def test_one_challenge_token_sent_concurrently_is_used_once(app, partner, services):
    client = app.test_client()
    issued = client.post("/v1/liveness/challenge", headers=partner.headers).get_json()
    frames = [
        {"image_base64": b64(plain_jpeg(40 * index)), "prompt": prompt, "t_ms": 100 * index}
        for index, prompt in enumerate(issued["prompts"])
    ]
    refs = [unique_ref("race") for _ in range(3)]
    answers: dict[str, Any] = {}
    start = threading.Barrier(len(refs))

    def send(ref: str) -> None:
        body = {
            "external_ref": ref,
            "document_front_base64": b64(plain_jpeg(200)),
            "challenge_token": issued["challenge_token"],
            "frames": frames,
        }
        sender = app.test_client()
        start.wait()
        answers[ref] = sender.post("/api/verifications", json=body, headers=partner.headers)

    threads = [threading.Thread(target=send, args=(ref,)) for ref in refs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [ref for ref in refs if answers[ref].status_code == 202]
    assert len(accepted) == 1, {ref: answers[ref].get_json() for ref in refs}
    for ref in set(refs) - set(accepted):
        assert_problem(answers[ref], 422, "challenge_refused")
        # The refused request wrote nothing: no profile under its reference.
        assert services.pb.find("profiles", where={"external_ref": ref}) == []


def test_a_resubmission_without_frames_drops_the_earlier_challenge(app, partner, services):
    client = app.test_client()
    issued = client.post("/v1/liveness/challenge", headers=partner.headers).get_json()
    ref = unique_ref("again")
    first = client.post(
        "/api/verifications",
        json={
            "external_ref": ref,
            "document_front_base64": b64(plain_jpeg(200)),
            "challenge_token": issued["challenge_token"],
            "frames": [
                {"image_base64": b64(plain_jpeg(40 * index)), "prompt": prompt, "t_ms": 100 * index}
                for index, prompt in enumerate(issued["prompts"])
            ],
        },
        headers=partner.headers,
    )
    assert first.status_code == 202, first.get_json()
    profile_id = first.get_json()["id"]
    for status in ("processing", "resubmission_requested"):
        services.pb.transition(profile_id, status, actor="worker", reason="INVALID_PHOTO:selfie")

    second = client.post(
        "/api/verifications",
        json=stills_body(ref),
        headers=partner.headers,
    )
    assert second.status_code == 202, second.get_json()
    assert second.get_json()["liveness"] == "not_checked"
    profile = services.pb.get("profiles", profile_id)
    # The selfie was not taken under the first attempt's challenge: the worker must not judge it
    # against that one (it reported "the selfie frames are malformed" instead of "no challenge").
    assert profile["liveness_challenge"] is None
    assert len(profile["selfie_frames"]) == 1


def test_a_grainy_document_photo_is_stored_not_refused_by_the_store(app, partner, services):
    """A 5.8 MB JPEG passes the upload policy but its clean copy at quality 92 was 13.7 MB,
    over PocketBase's 10 MB file limit: the answer was a 500 after the profile had been created
    and moved to in_progress, and every retry then got 409 (not open for new captures)."""
    noise = np.random.default_rng(0).integers(0, 256, (4096, 4096, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG", quality=40)
    ref = unique_ref("grainy")
    response = app.test_client().post(
        "/api/verifications",
        json=stills_body(ref, out.getvalue()),
        headers=partner.headers,
    )
    assert response.status_code == 202, response.get_json()
    profile = services.pb.get("profiles", response.get_json()["id"])
    assert profile["status"] == "submitted"
    assert profile["document_front"]


def test_a_queue_that_refuses_the_job_does_not_fail_a_stored_verification(app, partner, services):
    """The profile is submitted when the job is queued: the reconciler re-enqueues it if the
    queue is down. Answering 500 there told the partner to retry, and the retry got 409."""

    def queue_down(profile_id: str) -> None:
        raise ConnectionError("queue unavailable")

    services.verifications.enqueue = queue_down
    response = app.test_client().post(
        "/api/verifications",
        json=stills_body(unique_ref("queue")),
        headers=partner.headers,
    )
    assert response.status_code == 202, response.get_json()
    assert services.pb.get("profiles", response.get_json()["id"])["status"] == "submitted"


def test_a_request_cut_short_after_opening_the_profile_is_finished_by_a_retry(
    app, partner, services
):
    """A request that opened the profile (in_progress) and died before storing its captures (the
    store went away, the gateway was killed) left it in_progress: every retry got 409 until the
    link expired. A retry once the request is clearly dead finishes it; before that it waits."""
    ref = unique_ref("cut")
    body = stills_body(ref)
    created = app.test_client().post(
        "/api/profiles", json={"external_ref": ref}, headers=partner.headers
    )
    profile_id = created.get_json()["id"]
    # What the cut-short request left behind: the profile opened by the server-side path.
    services.pb.transition(
        profile_id,
        "in_progress",
        actor=f"partner:{partner.partner_id}",
        reason="captures sent by the partner's server",
        expected_from=["unverified"],
    )
    client = app.test_client()
    # Moments later the first request may still be storing: no second writer.
    early = client.post("/api/verifications", json=body, headers=partner.headers)
    assert_problem(early, 409, "conflict")

    now = time.time()
    services.verifications.clock = lambda: now + 121
    retry = client.post("/api/verifications", json=body, headers=partner.headers)
    assert retry.status_code == 202, retry.get_json()
    assert retry.get_json()["id"] == profile_id
    profile = services.pb.get("profiles", profile_id)
    assert profile["status"] == "submitted"
    assert profile["document_front"] and profile["selfie_frames"]


def test_an_applicant_capturing_in_the_hosted_flow_is_never_taken_over(app, partner, services):
    ref = unique_ref("applicant")
    created = app.test_client().post(
        "/api/profiles", json={"external_ref": ref}, headers=partner.headers
    )
    profile_id = created.get_json()["id"]
    services.pb.transition(profile_id, "in_progress", actor="applicant", reason="link opened")
    now = time.time()
    services.verifications.clock = lambda: now + 3600
    response = app.test_client().post(
        "/api/verifications",
        json=stills_body(ref),
        headers=partner.headers,
    )
    assert_problem(response, 409, "conflict")
    assert services.pb.get("profiles", profile_id)["status"] == "in_progress"


def test_a_challenge_token_outside_ascii_is_refused_not_a_500(client, partner) -> None:
    """hmac.compare_digest raises TypeError for non-ASCII text: the token's MAC is compared as
    bytes."""
    image = base64.b64encode(b"\xff\xd8 not read before the token").decode()
    body = {
        "external_ref": unique_ref(),
        "document_front_base64": image,
        "challenge_token": "e30.\u00e9\u00e9",
        "frames": [{"image_base64": image, "prompt": "turn_left", "t_ms": 0}],
    }
    response = client.post("/api/verifications", json=body, headers=partner.headers)
    assert_problem(response, 422, "challenge_refused")


@pytest.mark.parametrize(
    "liveness", ["blink", {"prompts": "blink", "prompt_count": "three"}, {"prompt_count": True}]
)
def test_a_partner_challenge_reads_liveness_settings_of_another_shape_as_the_defaults(
    services: Services, liveness: Any
) -> None:
    """Stored before the data layer checked their shape: read as the hosted flow reads them,
    the defaults (three of the offered prompts), not a 500."""
    principal = Principal(
        partner_id="p", partner_name="P", key_id="k", scopes=("partner",),
        settings=effective_settings({"liveness": liveness}),
    )  # fmt: skip
    issued = services.verifications.issue_challenge(principal)
    assert len(issued["prompts"]) == 3
    assert set(issued["prompts"]) <= set(OFFERED_PROMPTS)
