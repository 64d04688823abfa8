"""The KYC Service intake end to end: images in a real S3 (SeaweedFS), the real PocketBase, the
real worker code in-process, and the result in a real PostgreSQL, decrypted with the snippet the
docs give the receiving side."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_helpers import assert_problem
from flask import Flask
from flask.testing import FlaskClient
from intake_fixtures import (
    RESULT_KEY_HEX,
    SERVICE_TOKENS,
    insert_row,
    intake_settings,
    new_kyc_id,
    put_images,
    read_row,
    shared_postgres,
    shared_s3,
)
from PIL import Image
from worker_helpers import genuine_capture

from gateway import create_app
from gateway.container import Services
from gateway.services.intake.kyc_service import PARTNER_SLUG
from gateway.services.result_seal import open_sealed, parse_key

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def s3(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    return shared_s3(request.config, tmp_path_factory)


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    return shared_postgres(request.config, tmp_path_factory)


@pytest.fixture
def kyc_app(make_app: Callable[..., Flask], s3, postgres) -> Flask:
    return make_app(**intake_settings(s3, postgres))


@pytest.fixture
def kyc_client(kyc_app: Flask) -> FlaskClient:
    return kyc_app.test_client()


@pytest.fixture
def kyc_worker(kyc_app: Flask, inline_worker: Callable[[Services], Services]) -> Services:
    """Queued verifications run in-process on the intake app's services (with the sink)."""
    return inline_worker(kyc_app.extensions["ekyc"])


@pytest.fixture(scope="module")
def person(datasets_dir: Path) -> dict[str, bytes]:
    """A synthetic passport of the shared clip's person, a selfie of them, another person."""
    capture = genuine_capture(datasets_dir)
    selfie = next(data for _, data, prompt, _ in capture.frames if prompt == "neutral")
    return {
        "passport": capture.document_jpeg,
        "selfie": selfie,
        "other": (datasets_dir / "faces" / "img1.jpg").read_bytes(),
    }


def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((480, 640, 3), 200, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def headers(token: str = SERVICE_TOKENS[0]) -> dict[str, str]:
    return {"X-Service-Token": token}


def submit(client: FlaskClient, body: dict[str, Any], token: str = SERVICE_TOKENS[0]):
    return client.post("/api/v1/process", json=body, headers=headers(token))


def decrypt_with_doc_snippet() -> Callable[[str, int, bytes], dict]:
    """The decrypt function exactly as docs/intake.md prints it."""
    text = (REPO_ROOT / "docs" / "intake.md").read_text()
    after = text.split("<!-- decrypt-snippet -->", 1)[1]
    code = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/intake.md", "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace["decrypt_ocr_result"]


def intake_profile(kyc_worker, kyc_id: int) -> dict | None:
    """The profile the intake made for ``kyc_id``, if any (a refused request makes none)."""
    return kyc_worker.pb.find_first("profiles", "external_ref = {:ref}", {"ref": f"kyc-{kyc_id}"})


def test_service_token_is_required_and_rotation_accepts_either(kyc_client, s3):
    body = {"userId": 1, "kycId": new_kyc_id(), "passportKey": "a", "selfieKey": "b"}
    assert_problem(kyc_client.post("/api/v1/process", json=body), 401, "unauthorized")
    assert_problem(submit(kyc_client, body, token="wrong"), 401, "unauthorized")
    assert_problem(
        kyc_client.get(f"/api/v1/process/{body['kycId']}", headers=headers("wrong")),
        401,
        "unauthorized",
    )
    # Both configured tokens get past authentication (then the keys are not in the store).
    for token in SERVICE_TOKENS:
        assert_problem(submit(kyc_client, body, token=token), 422, "object_missing")
    assert kyc_client.get("/health").get_json() == {"status": "ok"}


def test_body_is_validated(kyc_client):
    response = submit(kyc_client, {"userId": "x", "kycId": 5, "selfieKey": ""})
    body = assert_problem(response, 422, "validation_failed")
    assert {"userId", "passportKey", "selfieKey"} <= set(body["errors"])


def test_verification_reaches_postgres_sealed_and_duplicates_are_not_requeued(
    kyc_client, kyc_worker, s3, postgres, person
):
    kyc_id = new_kyc_id()
    keys = put_images(
        s3,
        kyc_id,
        {"passport": person["passport"], "selfie": person["selfie"], "stamp": blank_jpeg()},
    )
    insert_row(postgres, kyc_id, user_id=123)
    response = submit(kyc_client, {"userId": 123, "kycId": kyc_id, **keys})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["jobId"] == f"kyc-{kyc_id}"

    row = read_row(postgres, kyc_id)
    assert row["status"] == "ocr_complete"
    assert row["reviewedAt"] is not None
    result = decrypt_with_doc_snippet()(RESULT_KEY_HEX, kyc_id, row["ocrResult"])
    assert result["status"] == "ocr_complete" and result["error"] is None
    assert result["kycId"] == kyc_id and result["userId"] == 123
    assert result["faceMatch"]["status"] == "pass"
    assert result["faceMatch"]["similarity"] >= result["faceMatch"]["threshold"] == 0.75
    # The store keeps the read values masked; the KYC Service gets the OCR result itself.
    assert result["document"]["fields"]["document_number"]
    assert "*" not in result["document"]["fields"]["document_number"]
    # Bound to its row: the same bytes do not open as another row's result.
    with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
        open_sealed(parse_key(RESULT_KEY_HEX), kyc_id + 1, row["ocrResult"])

    services = kyc_worker
    profile = services.pb.find_first("profiles", "external_ref = {:ref}", {"ref": f"kyc-{kyc_id}"})
    assert profile["document_front"] and len(profile["selfie_frames"]) == 1
    assert len(profile["other_documents"]) == 1  # the stamp, kept with the profile
    partner = services.pb.get("partners", profile["partner"])
    assert partner["slug"] == PARTNER_SLUG
    history = services.pb.find(
        "status_history", "profile = {:p}", {"p": profile["id"]}, sort="@rowid"
    )
    assert [row["to_status"] for row in history][:4] == [
        "unverified",
        "in_progress",
        "submitted",
        "processing",
    ]
    audit = services.pb.find("audit_log", "target = {:t}", {"t": profile["id"]})
    assert [row["action"] for row in audit] == ["intake.accepted"]

    status = kyc_client.get(f"/api/v1/process/{kyc_id}", headers=headers(SERVICE_TOKENS[1]))
    assert status.status_code == 200
    assert status.get_json()["status"] == "ocr_complete"
    assert status.get_json()["result"]["faceMatch"]["status"] == "pass"

    # A duplicate: same job id, nothing queued again (no new history, no second claim).
    again = submit(kyc_client, {"userId": 123, "kycId": kyc_id, **keys})
    assert again.status_code == 202
    assert again.get_json()["jobId"] == f"kyc-{kyc_id}"
    assert again.get_json()["status"] == "ocr_complete"
    after = services.pb.find("status_history", "profile = {:p}", {"p": profile["id"]})
    assert len(after) == len(history)


@pytest.mark.parametrize(
    ("passport", "selfie", "expected"),
    [
        ("blank", "selfie", r"INVALID_PHOTO:passport:.+"),
        ("passport", "blank", r"INVALID_PHOTO:selfie:.+"),
        ("passport", "other", r"FACE_MISMATCH:0\.\d{3}:.+"),
    ],
)
def test_failures_use_the_kyc_service_codes(
    kyc_client, kyc_worker, s3, postgres, person, passport, selfie, expected
):
    images = {**person, "blank": blank_jpeg()}
    kyc_id = new_kyc_id()
    keys = put_images(s3, kyc_id, {"passport": images[passport], "selfie": images[selfie]})
    insert_row(postgres, kyc_id)
    assert submit(kyc_client, {"userId": 9, "kycId": kyc_id, **keys}).status_code == 202
    row = read_row(postgres, kyc_id)
    assert row["status"] == "ocr_failed"
    result = decrypt_with_doc_snippet()(RESULT_KEY_HEX, kyc_id, row["ocrResult"])
    assert re.fullmatch(expected, result["error"]), result["error"]
    if expected.startswith("FACE_MISMATCH"):
        similarity = float(result["error"].split(":")[1])
        assert similarity < 0.75
    # Not retried: the profile was claimed once.
    profile = intake_profile(kyc_worker, kyc_id)
    assert profile["processing_attempts"] == 1


def test_object_store_failures_are_answered_at_intake(
    make_settings, kyc_client, kyc_worker, s3, postgres, person
):
    kyc_id = new_kyc_id()
    keys = put_images(s3, kyc_id, {"passport": person["passport"]})
    missing = {"userId": 1, "kycId": kyc_id, **keys, "selfieKey": f"kyc/{kyc_id}/nothing.jpg"}
    body = assert_problem(submit(kyc_client, missing), 422, "object_missing")
    assert "selfieKey" in body["errors"]
    assert intake_profile(kyc_worker, kyc_id) is None

    full = {**missing, "selfieKey": keys["passportKey"]}
    wrong_key = create_app(
        make_settings(**{**intake_settings(s3, postgres), "s3_secret_key": "not-the-secret"})
    ).test_client()
    assert_problem(submit(wrong_key, full), 502, "object_store_denied")

    from gateway.pb_server import free_port

    unreachable = create_app(
        make_settings(
            **{**intake_settings(s3, postgres), "s3_endpoint": f"http://127.0.0.1:{free_port()}"}
        )
    ).test_client()
    response = submit(unreachable, full)
    assert_problem(response, 503, "object_store_unavailable")
    assert response.headers["Retry-After"]


def test_watchdog_fails_rows_stuck_in_review(kyc_worker, postgres):
    stuck, fresh = new_kyc_id(), new_kyc_id()
    insert_row(postgres, stuck, age_min=31)
    insert_row(postgres, fresh, age_min=5)
    from gateway.worker.periodic import kyc_watchdog

    failed = kyc_watchdog.call_local()
    assert stuck in failed and fresh not in failed
    assert read_row(postgres, stuck)["status"] == "ocr_failed"
    assert read_row(postgres, stuck)["failureCode"] == "processing_timeout"
    assert read_row(postgres, fresh)["status"] == "in_review"


def test_an_unreachable_database_is_a_retryable_error(postgres):
    from gateway.pb_server import free_port
    from gateway.services.result_sink import ResultSink, ResultSinkConfig, ResultSinkUnavailable

    sink = ResultSink(
        ResultSinkConfig(f"postgresql://ekyc@127.0.0.1:{free_port()}/kyc", RESULT_KEY_HEX)
    )
    decided = {"id": "x", "status": "approved", "metadata": {"kyc_service": {"kycId": 1}}}
    with pytest.raises(ResultSinkUnavailable):
        sink.write(decided)


def test_a_result_postgres_did_not_take_is_retried_until_it_does(
    make_settings, inline_worker, s3, postgres
):
    """PostgreSQL down when the verification ends: the decision stands in PocketBase, the write
    is queued for a retry with backoff, and the retry writes the row once PostgreSQL answers."""
    from gateway.pb_server import free_port
    from gateway.worker.intake_tasks import write_kyc_result
    from gateway.worker.queue import huey

    down = intake_settings(s3, postgres)
    down["postgres_url"] = f"postgresql://ekyc@127.0.0.1:{free_port()}/kyc"
    app = create_app(make_settings(**down))
    inline_worker(app.extensions["ekyc"])
    kyc_id = new_kyc_id()
    keys = put_images(s3, kyc_id, {"passport": blank_jpeg(), "selfie": blank_jpeg()})
    insert_row(postgres, kyc_id)
    response = submit(app.test_client(), {"userId": 3, "kycId": kyc_id, **keys})
    assert response.status_code == 202
    assert read_row(postgres, kyc_id)["status"] == "in_review"
    retries = [task for task in huey.scheduled() if task.name.endswith("write_kyc_result")]
    profile_id = app.extensions["ekyc"].kyc_intake.status(kyc_id)["result"]["profileId"]
    assert [task.args for task in retries] == [(profile_id,)]

    # PostgreSQL is back (the worker's services point at it): the retried task writes the row.
    up = create_app(make_settings(**intake_settings(s3, postgres)))
    inline_worker(up.extensions["ekyc"])
    assert write_kyc_result.call_local(profile_id) is True
    row = read_row(postgres, kyc_id)
    assert row["status"] == "ocr_failed"
    result = decrypt_with_doc_snippet()(RESULT_KEY_HEX, kyc_id, row["ocrResult"])
    assert result["error"].startswith("INVALID_PHOTO:passport:")
    huey.flush()  # the in-memory schedule of immediate mode, for the tests after this one


def test_an_intake_cut_short_after_its_claim_is_finished_by_the_next_submission(
    kyc_app, kyc_client, kyc_worker, s3, postgres
):
    from datetime import UTC, datetime, timedelta

    intake = kyc_worker.kyc_intake
    kyc_id = new_kyc_id()
    keys = put_images(s3, kyc_id, {"passport": blank_jpeg(), "selfie": blank_jpeg()})
    insert_row(postgres, kyc_id)
    body = {"userId": 4, "kycId": kyc_id, **keys}
    # What a gateway that died right after its claim leaves behind: a claimed, empty profile.
    profile = kyc_worker.pb.upsert_profile(
        intake.partner_id(), intake._profile_fields(body, f"kyc-{kyc_id}")
    )["profile"]
    kyc_worker.pb.transition(profile["id"], "in_progress", actor=intake.actor)

    # A duplicate soon after is a duplicate: the claim may still be working.
    assert submit(kyc_client, body).status_code == 202
    assert kyc_worker.pb.get("profiles", profile["id"])["status"] == "in_progress"
    # Past ABANDONED_AFTER_S the next submission stores the images and queues the job.
    intake.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)
    assert submit(kyc_client, body).status_code == 202
    assert kyc_worker.pb.get("profiles", profile["id"])["status"] == "resubmission_requested"
    assert read_row(postgres, kyc_id)["status"] == "ocr_failed"


@pytest.mark.parametrize(
    "prefix",
    ["../other-tenant/", "kyc/../../other-tenant/", "./../other-tenant/", "..\\other-tenant\\"],
)
def test_a_key_climbing_out_of_the_bucket_is_refused_as_bad_input(
    kyc_client, kyc_worker, s3, person, prefix
):
    """A key with "." or ".." segments: HTTP clients fold them out of the URL, so the request
    that reaches the store names another bucket than the one signed for. It is the sender's
    mistake (422 naming the field), not a credentials problem (502), and nothing is read or
    created."""
    from intake_fixtures import s3_client

    client = s3_client(s3)
    if "other-tenant" not in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="other-tenant")
    kyc_id = new_kyc_id()
    client.put_object(Bucket="other-tenant", Key=f"kyc/{kyc_id}/passport.jpg", Body=b"x")
    keys = put_images(s3, kyc_id, {"selfie": person["selfie"]})
    body = {
        "userId": 1,
        "kycId": kyc_id,
        **keys,
        "passportKey": f"{prefix}kyc/{kyc_id}/passport.jpg",
    }
    problem = assert_problem(submit(kyc_client, body), 422, "validation_failed")
    assert "passportKey" in problem["errors"]
    assert intake_profile(kyc_worker, kyc_id) is None


def test_another_partners_profile_naming_a_kyc_id_never_writes_that_row(
    kyc_client, kyc_worker, make_partner, postgres
):
    """Profile metadata is the partner's own free-form data: a partner that puts
    ``{"kyc_service": {"kycId": N}}`` there must not get its decision written into the KYC
    Service's row N (only the ``kyc-service`` partner's profiles are the KYC Service's)."""
    from api_helpers import approve, new_profile_id

    from gateway.worker.intake_tasks import after_decision

    kyc_id = new_kyc_id()
    insert_row(postgres, kyc_id)
    partner = make_partner("Forger")
    profile_id = new_profile_id(
        kyc_client,
        partner.headers,
        external_ref=f"forged-{kyc_id}",
        metadata={"kyc_service": {"kycId": kyc_id, "userId": 1}},
    )
    approve(kyc_worker.pb, profile_id, 95, reasons=["score 95 >= 80"])
    after_decision(profile_id)  # what the worker runs once any verification is decided
    row = read_row(postgres, kyc_id)
    assert row["status"] == "in_review" and row["ocrResult"] is None


def test_an_object_over_the_upload_limit_is_refused_and_nothing_is_created(
    kyc_client, kyc_worker, s3, person
):
    kyc_id = new_kyc_id()
    huge = person["passport"] + b"\0" * (kyc_worker.settings.max_upload_bytes + 1)
    keys = put_images(s3, kyc_id, {"passport": huge, "selfie": person["selfie"]})
    problem = assert_problem(
        submit(kyc_client, {"userId": 1, "kycId": kyc_id, **keys}), 413, "payload_too_large"
    )
    assert "passportKey" in problem["detail"]
    assert intake_profile(kyc_worker, kyc_id) is None


def test_the_kyc_service_partners_retention_days_set_the_retention_date(
    kyc_client, kyc_worker, s3, person
):
    """docs/intake.md: the kyc-service partner's settings are managed like any partner's; its
    ``retention_days`` must date its profiles' erasure (the retention job), not a fixed 90."""
    from datetime import UTC, datetime, timedelta

    from gateway.services.partner_settings import set_partner_settings
    from gateway.services.pb_time import parse_pb_time

    intake = kyc_worker.kyc_intake
    set_partner_settings(kyc_worker.pb, intake.partner_id(), {"retention_days": 7}, actor="test")
    try:
        kyc_id = new_kyc_id()
        keys = put_images(s3, kyc_id, {"passport": blank_jpeg(), "selfie": blank_jpeg()})
        assert submit(kyc_client, {"userId": 1, "kycId": kyc_id, **keys}).status_code == 202
        profile = intake_profile(kyc_worker, kyc_id)
        until = parse_pb_time(profile["retention_until"])
        assert abs(until - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)
    finally:
        set_partner_settings(
            kyc_worker.pb, intake.partner_id(), {"retention_days": 90}, actor="test"
        )


def test_a_queue_that_refuses_the_job_does_not_fail_a_stored_intake(kyc_app, kyc_worker, s3):
    """Once the profile is submitted the job is safe (the reconciler re-enqueues it): a queue
    that is down must not turn the hand-over into a 500 the KYC Service reads as a failure."""

    def queue_down(profile_id: str) -> None:
        raise ConnectionError("queue unavailable")

    intake = kyc_app.extensions["ekyc"].kyc_intake
    intake.enqueue = queue_down
    kyc_id = new_kyc_id()
    keys = put_images(s3, kyc_id, {"passport": blank_jpeg(), "selfie": blank_jpeg()})
    response = submit(kyc_app.test_client(), {"userId": 1, "kycId": kyc_id, **keys})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"jobId": f"kyc-{kyc_id}", "status": "pending"}
    profile = intake_profile(kyc_worker, kyc_id)
    assert profile["status"] == "submitted"


def test_a_decided_job_stays_decided_when_its_passport_later_expires(kyc_client, kyc_worker):
    """The expiry job moves an approved profile to document_expired; the KYC Service's job was
    decided (ocr_complete) and must not read as pending again, nor lose its result."""
    from api_helpers import approve

    intake = kyc_worker.kyc_intake
    kyc_id = new_kyc_id()
    body = {"userId": 5, "kycId": kyc_id, "passportKey": "p", "selfieKey": "s"}
    profile = kyc_worker.pb.upsert_profile(
        intake.partner_id(), intake._profile_fields(body, f"kyc-{kyc_id}")
    )["profile"]
    approve(kyc_worker.pb, profile["id"], 92, reasons=["score 92 >= 80"])
    before = kyc_client.get(f"/api/v1/process/{kyc_id}", headers=headers()).get_json()
    assert before["status"] == "ocr_complete"
    kyc_worker.pb.transition(profile["id"], "document_expired", actor="system")
    after = kyc_client.get(f"/api/v1/process/{kyc_id}", headers=headers()).get_json()
    assert after["status"] == "ocr_complete" and after["profileStatus"] == "document_expired"
    assert after["result"]["decision"] == "approved"
