"""The synchronous /v1 checks through the real app and PocketBase: results, usage rows and every
error status (401, 413, 415, 422, 503)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from api_helpers import assert_problem
from PIL import Image
from worker_helpers import genuine_capture, jpeg

from gateway import create_app
from gateway.services import partners
from gateway.synthetic.identities import corrupt_check_digit, random_identity, td3_lines

pytestmark = pytest.mark.slow


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def face_file(datasets_dir, name: str) -> str:
    return b64((datasets_dir / "faces" / name).read_bytes())


def usage_rows(services, partner) -> list[tuple[str, bool, str]]:
    rows = services.pb.find(
        "usage_events", "partner = {:partner}", {"partner": partner.partner_id}, sort="@rowid"
    )
    return [(row["module"], row["billed"], row["outcome"]) for row in rows]


# -- face match ---------------------------------------------------------------------------------


def test_face_match_same_and_different_person(client, services, partner, datasets_dir):
    same = client.post(
        "/v1/face/match",
        json={
            "image_source_base64": face_file(datasets_dir, "img1.jpg"),
            "image_target_base64": face_file(datasets_dir, "img2.jpg"),
        },
        headers=partner.headers,
    )
    assert same.status_code == 200, same.get_json()
    body = same.get_json()
    assert body["match"] is True
    assert body["similarity"] >= body["threshold"] == 0.75
    assert body["code"] == "match"
    assert body["processing_ms"] > 0
    assert body["usage"] == {"module": "face_match", "billed": True}

    other = client.post(
        "/v1/face/match",
        json={
            "image_source_base64": face_file(datasets_dir, "img1.jpg"),
            "image_target_base64": face_file(datasets_dir, "img18.jpg"),
            "threshold": 0.5,
        },
        headers=partner.headers,
    ).get_json()
    assert other["match"] is False
    assert other["threshold"] == 0.5
    assert other["similarity"] < 0.5
    assert usage_rows(services, partner) == [
        ("face_match", True, "match"),
        ("face_match", True, "no_match"),
    ]


def small_jpeg(path) -> bytes:
    """Keeps the multipart body under werkzeug's 500 KB in-memory limit: above it the test
    client spools the body to a temp file it never closes (a ResourceWarning)."""
    with Image.open(path) as image:
        image.thumbnail((640, 640))
        return jpeg(np.asarray(image.convert("RGB")))


def test_face_match_multipart(client, partner, datasets_dir):
    faces = datasets_dir / "faces"
    response = client.post(
        "/v1/face/match",
        data={
            "image_source": (io.BytesIO(small_jpeg(faces / "img1.jpg")), "a.jpg"),
            "image_target_base64": b64(small_jpeg(faces / "img2.jpg")),
            "threshold": "0.8",
        },
        headers=partner.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["threshold"] == 0.8
    missing = client.post(
        "/v1/face/match",
        data={"image_source": (io.BytesIO(small_jpeg(faces / "img1.jpg")), "a.jpg")},
        headers=partner.headers,
        content_type="multipart/form-data",
    )
    assert_problem(missing, 422, "validation_failed")


def test_face_match_without_a_face_is_a_coded_answer(client, partner, datasets_dir):
    blank = b64(jpeg(np.full((300, 300, 3), 128, dtype=np.uint8)))
    body = client.post(
        "/v1/face/match",
        json={
            "image_source_base64": blank,
            "image_target_base64": face_file(datasets_dir, "img1.jpg"),
        },
        headers=partner.headers,
    ).get_json()
    assert body["match"] is False
    assert body["similarity"] is None
    assert body["code"] == "no_face:source"


def test_face_match_input_errors(client, services, partner, datasets_dir):
    good = face_file(datasets_dir, "img1.jpg")

    def post(**body):
        return client.post("/v1/face/match", json=body, headers=partner.headers)

    bad_base64 = post(image_source_base64="not base64!!", image_target_base64=good)
    problem = assert_problem(bad_base64, 422, "validation_failed")
    assert "image_source_base64" in problem["detail"]
    not_an_image = post(image_source_base64=b64(b"GIF89a" + b"\0" * 64), image_target_base64=good)
    assert_problem(not_an_image, 415, "unsupported_media_type")
    truncated = post(image_source_base64=b64(b"\xff\xd8\xff\xe0" + b"\0" * 20),
                     image_target_base64=good)  # fmt: skip
    assert_problem(truncated, 422, "validation_failed")
    assert_problem(post(image_source_base64=good), 422, "validation_failed")
    assert_problem(
        post(image_source_base64=good, image_target_base64=good, threshold=1.5),
        422,
        "validation_failed",
    )
    assert_problem(
        post(image_source_base64=good, image_target_base64=good, extra=1),
        422,
        "validation_failed",
    )
    assert_problem(
        client.post("/v1/face/match", data="x", headers=partner.headers),
        415,
        "unsupported_media_type",
    )
    assert_problem(
        client.post("/v1/face/match", json={}, headers={"x-api-key": "ek_nope_nope"}),
        401,
        "unauthorized",
    )
    # Refused calls are metered too, never billed.
    rows = usage_rows(services, partner)
    assert len(rows) == 7
    assert all(billed is False for _, billed, _ in rows)
    assert ("face_match", False, "unsupported_media_type") in rows


def test_image_over_the_upload_limit_is_413(make_settings, datasets_dir):
    app = create_app(make_settings(max_upload_bytes=20_000))
    client = app.test_client()
    created = partners.create_partner(app.extensions["ekyc"].pb, "Small uploads")
    headers = {"x-api-key": created["api_key"]}
    big = face_file(datasets_dir, "img1.jpg")
    assert len(base64.b64decode(big)) > 20_000
    response = client.post(
        "/v1/face/match",
        json={"image_source_base64": big, "image_target_base64": big},
        headers=headers,
    )
    assert_problem(response, 413, "payload_too_large")


# -- documents ----------------------------------------------------------------------------------


def mrz_text(lines) -> str:
    return "\n".join(lines)


def test_document_validate_mrz(client, partner):
    lines = td3_lines(random_identity(np.random.default_rng(3)))
    valid = client.post(
        "/v1/document/validate", json={"mrz": mrz_text(lines)}, headers=partner.headers
    )
    assert valid.status_code == 200, valid.get_json()
    body = valid.get_json()
    assert body["document_valid"] is True
    assert body["usage"] == {"module": "document_validate", "billed": True}

    corrupted = client.post(
        "/v1/document/validate",
        json={"mrz": mrz_text(corrupt_check_digit(lines, 1, 9))},
        headers=partner.headers,
    )
    assert corrupted.status_code == 200
    body = corrupted.get_json()
    assert body["document_valid"] is False
    assert any(c["status"] == "fail" and "check_digit" in c["name"] for c in body["checks"])


def test_document_validate_errors(client, partner):
    def post(body):
        return client.post("/v1/document/validate", json=body, headers=partner.headers)

    malformed = assert_problem(post({"mrz": "THIS IS NOT AN MRZ"}), 422, "validation_failed")
    assert malformed["detail"]
    assert_problem(post({}), 422, "validation_failed")
    assert_problem(post({"mrz": "X", "fields": {"a": 1}}), 422, "validation_failed")
    assert_problem(post({"fields": {"birth_date": "31/12/1990"}}), 422, "validation_failed")
    fields = post({"fields": {"birth_date": "1990-12-31", "expiry_date": "2020-01-01"}})
    assert fields.status_code == 200
    assert fields.get_json()["document_valid"] is False


def test_document_ocr_reads_a_synthetic_passport(client, partner, datasets_dir):
    capture = genuine_capture(datasets_dir)
    response = client.post(
        "/v1/document/ocr",
        json={"image_front_base64": b64(capture.document_jpeg), "document_hint": "passport"},
        headers=partner.headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["fields"]["document_number"] == capture.fields["document_number"]
    assert body["document_valid"] is True
    assert body["usage"] == {"module": "document_ocr", "billed": True}
    bad_hint = client.post(
        "/v1/document/ocr",
        json={"image_front_base64": b64(capture.document_jpeg), "document_hint": "visa"},
        headers=partner.headers,
    )
    assert_problem(bad_hint, 422, "validation_failed")


# -- liveness -----------------------------------------------------------------------------------


def test_liveness_passive_only_is_never_live(client, partner, datasets_dir):
    still = (datasets_dir / "liveness" / "still_real_T1.jpg").read_bytes()
    body = client.post(
        "/v1/liveness/analyze", json={"image_live_base64": b64(still)}, headers=partner.headers
    ).get_json()
    assert body["is_live"] is False
    assert body["hints"]
    assert body["usage"] == {"module": "liveness", "billed": True}


def test_liveness_challenge_frames(client, partner, datasets_dir):
    capture = genuine_capture(datasets_dir)
    frames = [
        {"image_base64": b64(data), "prompt": prompt, "t_ms": t_ms}
        for _, data, prompt, t_ms in capture.frames
    ]
    live = client.post(
        "/v1/liveness/analyze",
        json={"challenge": list(capture.prompts), "frames": frames},
        headers=partner.headers,
    )
    assert live.status_code == 200, live.get_json()
    assert live.get_json()["is_live"] is True
    # The same frames under the opposite order of prompts are not live.
    reversed_order = client.post(
        "/v1/liveness/analyze",
        json={"challenge": list(reversed(capture.prompts)), "frames": frames},
        headers=partner.headers,
    ).get_json()
    assert reversed_order["is_live"] is False


def test_liveness_input_errors(client, partner, datasets_dir):
    def post(body):
        return client.post("/v1/liveness/analyze", json=body, headers=partner.headers)

    frame = {"image_base64": face_file(datasets_dir, "img1.jpg"), "prompt": "blink", "t_ms": 0}
    assert_problem(post({}), 422, "validation_failed")
    assert_problem(post({"challenge": ["blink"]}), 422, "validation_failed")
    assert_problem(post({"challenge": ["fly"], "frames": [frame]}), 422, "validation_failed")
    assert_problem(
        post({"challenge": ["blink"], "frames": [frame], "image_live_base64": "AAAA"}),
        422,
        "validation_failed",
    )
    assert_problem(
        post({"challenge": ["blink"], "frames": [{**frame, "image_base64": "@@"}]}),
        422,
        "validation_failed",
    )
    assert_problem(post({"image_live_base64": b64(b"%PDF-1.4 ...")}), 415, "unsupported_media_type")
