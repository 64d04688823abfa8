"""The selfie step's server side against the real PocketBase and the real face detector: the
framing check the page polls before a challenge, the dense upload within its budget, a selfie
without a usable face refused before anything is stored, and the resubmission notice cleared
once the step it asked for is captured again."""

from __future__ import annotations

import io
import json
from typing import Any

import cv2
import numpy as np
import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from gateway.container import Services
from gateway.services.capture_rules import SELFIE_CAPTURE
from tests.conftest import PartnerHandle
from tests.e2e.flow_support import (
    Link,
    create_profile,
    document_jpeg,
    jpeg_bytes,
    set_partner_settings,
)
from tests.test_flow_api import api, start_with_consent, upload


def new_challenge(client: FlaskClient, link: Link) -> tuple[dict[str, Any], list]:
    """A fresh challenge for ``link`` and the plan of frames the page takes for it."""
    challenge = api(client, link, "POST", "/challenge").get_json()
    return challenge, dense_plan(challenge["prompts"])


@pytest.fixture
def link(client: FlaskClient, partner: PartnerHandle) -> Link:
    return create_profile(client, partner.headers, country="FRA")


def post_still(client: FlaskClient, link: Link, content: bytes) -> Any:
    boundary, body = encode_multipart(
        MultiDict({"file": FileStorage(io.BytesIO(content), "check.jpg", "image/jpeg")})
    )
    return api(
        client,
        link,
        "POST",
        "/selfie/check",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def post_frames(client: FlaskClient, link: Link, challenge_id: str, frames: list) -> Any:
    """``frames``: (jpeg, prompt, t_ms); encoded in memory, as the page's one request."""
    fields = MultiDict(
        [("challenge_id", challenge_id)]
        + [("meta", json.dumps([{"prompt": p, "t_ms": t} for _, p, t in frames]))]
        + [
            ("frames", FileStorage(io.BytesIO(data), f"frame{i}.jpg", "image/jpeg"))
            for i, (data, _, _) in enumerate(frames)
        ]
    )
    boundary, body = encode_multipart(fields)
    return api(
        client,
        link,
        "POST",
        "/selfie",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def noise_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return jpeg_bytes(rng.integers(0, 255, size=(90, 120, 3), dtype=np.uint8), 80)


def dense_plan(prompts: list[str]) -> list[tuple[str, float]]:
    """(prompt, t_ms) of every frame the page takes for ``prompts`` at the capture's rate."""
    capture = SELFIE_CAPTURE
    step_ms = 1000 / capture.fps
    plan = []
    for index in range(round(capture.duration_ms(len(prompts)) / step_ms)):
        t_ms = index * step_ms
        position = int((t_ms - capture.neutral_ms) // capture.prompt_ms)
        plan.append(("neutral" if t_ms < capture.neutral_ms else prompts[position], round(t_ms)))
    return plan


@pytest.fixture
def consented(client: FlaskClient, link: Link) -> Link:
    start_with_consent(client, link)
    return link


def test_framing_check_says_what_to_change_and_stores_nothing(
    client: FlaskClient, consented: Link, services: Services
) -> None:
    answer = post_still(client, consented, noise_jpeg(1))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["ok"] is False
    assert answer.get_json()["issue"]["code"] == "face_not_found"
    assert answer.get_json()["issue"]["message"]
    assert post_still(client, consented, b"not an image").status_code == 415
    profile = services.pb.get("profiles", consented.profile_id)
    assert not profile["selfie"] and not profile["selfie_frames"]


def test_framing_check_needs_consent_and_the_link(client: FlaskClient, link: Link) -> None:
    api(client, link, "POST", "/start")
    assert post_still(client, link, noise_jpeg(2)).status_code == 409
    forged = link.forged()
    assert post_still(client, forged, noise_jpeg(2)).status_code == 403


@pytest.mark.needs_datasets
def test_framing_check_passes_a_real_face_and_asks_a_far_one_to_come_closer(
    client: FlaskClient, consented: Link, face_frames: list[bytes]
) -> None:
    good = post_still(client, consented, face_frames[0]).get_json()
    assert good == {"ok": True, "issue": None}
    face = cv2.imdecode(np.frombuffer(face_frames[0], np.uint8), cv2.IMREAD_COLOR)
    far = np.full_like(face, 128)
    small = cv2.resize(face, (face.shape[1] // 3, face.shape[0] // 3))
    top, left = (far.shape[0] - small.shape[0]) // 2, (far.shape[1] - small.shape[1]) // 2
    far[top : top + small.shape[0], left : left + small.shape[1]] = small
    ok, encoded = cv2.imencode(".jpg", far)
    assert ok
    answer = post_still(client, consented, encoded.tobytes()).get_json()
    assert answer["ok"] is False
    assert answer["issue"]["code"] == "face_too_small"


def test_framing_checks_do_not_spend_the_upload_allowance(
    client: FlaskClient, partner: PartnerHandle, services: Services
) -> None:
    set_partner_settings(
        services.pb, partner.partner_id, {"capture_upload_rate_limit": "2 per minute"}
    )
    limited = create_profile(client, partner.headers)
    start_with_consent(client, limited)
    assert [post_still(client, limited, noise_jpeg(3)).status_code for _ in range(6)] == [200] * 6
    codes = [api(client, limited, "POST", "/challenge").status_code for _ in range(3)]
    assert codes == [201, 200, 429]  # the second hands back the unused first


def test_the_challenge_carries_the_capture_settings(client: FlaskClient, consented: Link) -> None:
    challenge = api(client, consented, "POST", "/challenge").get_json()
    assert challenge["capture"] == {
        "fps": 12,
        "neutral_ms": 1000,
        "prompt_ms": 2500,
        "max_side_px": 480,
        "jpeg_quality": 0.8,
        "max_bytes": 3_000_000,
    }


@pytest.mark.needs_datasets
def test_a_dense_capture_is_stored_with_every_frames_prompt_and_time(
    client: FlaskClient, consented: Link, services: Services, face_frames: list[bytes]
) -> None:
    challenge, plan = new_challenge(client, consented)
    assert len(plan) == 102
    frames = [(face_frames[i % len(face_frames)], p, t) for i, (p, t) in enumerate(plan)]
    assert sum(len(data) for data, _, _ in frames) < SELFIE_CAPTURE.max_bytes
    sent = post_frames(client, consented, challenge["id"], frames)
    assert sent.status_code == 201, sent.get_json()
    profile = services.pb.get("profiles", consented.profile_id)
    assert len(profile["selfie_frames"]) == 102
    assert [(f["prompt"], f["t_ms"]) for f in profile["capture"]["frames"]] == plan
    assert profile["selfie"]
    # The stored selfie is a neutral frame: the last one, which passed the framing check.
    assert profile["capture"]["selfie_frame_index"] == 11


@pytest.mark.needs_datasets
def test_a_capture_over_the_budget_is_refused_and_nothing_is_stored(
    client: FlaskClient, consented: Link, services: Services, face_frames: list[bytes]
) -> None:
    challenge, plan = new_challenge(client, consented)
    heavy = jpeg_bytes(np.random.default_rng(4).integers(0, 255, (480, 480, 3), np.uint8), 95)
    assert len(heavy) * len(plan) > SELFIE_CAPTURE.max_bytes
    frames = [(face_frames[0] if p == "neutral" else heavy, p, t) for p, t in plan]
    refused = post_frames(client, consented, challenge["id"], frames)
    assert refused.status_code == 413
    assert refused.get_json()["code"] == "selfie_too_large"
    profile = services.pb.get("profiles", consented.profile_id)
    assert not profile["selfie_frames"] and not profile["liveness_challenge"]["used_at"]


def test_a_selfie_without_a_usable_face_is_refused_before_anything_is_stored(
    client: FlaskClient, consented: Link, services: Services
) -> None:
    challenge = api(client, consented, "POST", "/challenge").get_json()
    frames = [(noise_jpeg(i), p, t) for i, (p, t) in enumerate(dense_plan(challenge["prompts"]))]
    refused = post_frames(client, consented, challenge["id"], frames)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["code"] == "selfie_refused"
    assert body["issue"]["code"] == "face_not_found"
    profile = services.pb.get("profiles", consented.profile_id)
    assert not profile["selfie"] and not profile["selfie_frames"]
    assert not profile["liveness_challenge"]["used_at"]  # the applicant may try again at once


def camera_refusal(
    client: FlaskClient,
    link: Link,
    services: Services,
    challenge: dict[str, Any],
    plan: list[tuple[str, float]],
    face_frames: list[bytes],
) -> dict[str, Any]:
    """The issue of an upload refused for how the camera delivered ``plan``'s frames, having
    checked that nothing was stored and the challenge stays unused (the page may retry)."""
    frames = [(face_frames[i % len(face_frames)], p, t) for i, (p, t) in enumerate(plan)]
    refused = post_frames(client, link, challenge["id"], frames)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["code"] == "selfie_refused"
    profile = services.pb.get("profiles", link.profile_id)
    assert not profile["selfie"] and not profile["selfie_frames"]
    assert not profile["liveness_challenge"]["used_at"]
    return body["issue"]


def test_a_camera_too_slow_for_the_liveness_rules_is_told_before_anything_is_stored(
    client: FlaskClient, consented: Link, services: Services, face_frames: list[bytes]
) -> None:
    """A camera in the dark sends 6 images a second: the page hears it at once, and may retry."""
    challenge = api(client, consented, "POST", "/challenge").get_json()
    slow = dense_plan(challenge["prompts"])[::2]  # every other frame of 12 a second
    issue = camera_refusal(client, consented, services, challenge, slow, face_frames)
    assert issue["code"] == "camera_too_slow"
    assert "6.0 images a second" in issue["message"]


def test_a_camera_that_paused_during_a_move_is_told_before_anything_is_stored(
    client: FlaskClient, consented: Link, services: Services, face_frames: list[bytes]
) -> None:
    """A page starved of CPU stopped for a third of a second under a prompt, at 11.7 images a
    second overall: the worker refused it as too sparse after the applicant had left
    (capture_too_sparse, liveness failed); now the page hears it at once, and may retry."""
    challenge = api(client, consented, "POST", "/challenge").get_json()
    plan = dense_plan(challenge["prompts"])
    second = next(i for i, (prompt, _) in enumerate(plan) if prompt == challenge["prompts"][1])
    paused = plan[: second + 10] + plan[second + 14 :]  # 4 frames missing: 417 ms apart
    issue = camera_refusal(client, consented, services, challenge, paused, face_frames)
    assert issue["code"] == "camera_paused"
    assert "stopped for 0.4 s" in issue["message"]
    # Three frames missing (333 ms) is over the verifier's 300 ms too; two (250 ms) is not.
    kept = plan[: second + 10] + plan[second + 12 :]
    frames = [(face_frames[i % len(face_frames)], p, t) for i, (p, t) in enumerate(kept)]
    assert post_frames(client, consented, challenge["id"], frames).status_code == 201


def test_a_prompt_asked_twice_is_timed_in_each_of_its_stretches(
    client: FlaskClient, partner: PartnerHandle, services: Services, face_frames: list[bytes]
) -> None:
    """turn_left, turn_right, turn_left at 12 a second: each stretch is dense, although the two
    turn_left stretches together span the whole challenge."""
    set_partner_settings(
        services.pb,
        partner.partner_id,
        {"liveness": {"prompts": ["turn_left", "turn_right"], "prompt_count": 3}},
    )
    link = create_profile(client, partner.headers, country="FRA")
    start_with_consent(client, link)
    challenge, plan = new_challenge(client, link)
    assert challenge["prompts"][0] == challenge["prompts"][2]
    frames = [(face_frames[i % len(face_frames)], p, t) for i, (p, t) in enumerate(plan)]
    sent = post_frames(client, link, challenge["id"], frames)
    assert sent.status_code == 201, sent.get_json()


def test_the_document_resubmission_notice_goes_once_the_document_is_retaken(
    client: FlaskClient, consented: Link, services: Services
) -> None:
    passport = document_jpeg("passport", seed=11)
    api(client, consented, "POST", "/document", json={"type": "passport", "country": "FRA"})
    assert upload(client, consented, "front", passport).status_code == 201
    reason = "INVALID_PHOTO:document"
    for status in ("submitted", "processing"):
        services.pb.transition(consented.profile_id, status, actor="worker")
    services.pb.transition(
        consented.profile_id, "resubmission_requested", actor="worker", reason=reason
    )
    state = api(client, consented, "POST", "/start").get_json()
    assert state["resubmission"] == {"step": "document", "reason": reason}
    retaken = upload(client, consented, "front", passport)
    assert retaken.status_code == 201
    assert retaken.get_json()["state"]["resubmission"] is None


def test_a_prompt_the_evaluation_did_not_validate_is_never_offered(
    client: FlaskClient, partner: PartnerHandle, services: Services
) -> None:
    set_partner_settings(
        services.pb, partner.partner_id, {"liveness": {"prompts": ["look_up", "blink"]}}
    )
    link = create_profile(client, partner.headers)
    start_with_consent(client, link)
    challenge = api(client, link, "POST", "/challenge").get_json()
    assert challenge["prompts"] == ["blink"]
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert stored["prompts_allowed"] == ["blink"]


def test_a_challenge_is_never_longer_than_the_verifier_reads(
    client: FlaskClient, partner: PartnerHandle, services: Services
) -> None:
    set_partner_settings(services.pb, partner.partner_id, {"liveness": {"prompt_count": 6}})
    link = create_profile(client, partner.headers)
    start_with_consent(client, link)
    challenge = api(client, link, "POST", "/challenge").get_json()
    assert len(challenge["prompts"]) == SELFIE_CAPTURE.max_prompts() == 4
