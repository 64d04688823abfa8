"""The whole product path with real images: a partner creates a profile, the applicant goes
through the hosted flow's routes (consent, passport photo, a liveness challenge answered by a
real person turning their head), submits, and the real worker task decides ``approved``."""

from __future__ import annotations

import pytest
from worker_helpers import genuine_capture, history

from gateway.verification.documents.normalize import normalize_country
from tests.e2e.flow_support import read_link
from tests.test_flow_api import api, start_with_consent, upload
from tests.test_flow_selfie import post_frames

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("worker")]


@pytest.mark.parametrize("retake_left_unfinished", [False, True])
def test_hosted_flow_to_an_approved_decision(
    client, services, partner, datasets_dir, retake_left_unfinished
):
    """Two selfies, the second decided on; or one, then a retake drawn and never filmed (the
    applicant sends the selfie taken): decided on the first, and said to be one draw."""
    capture = genuine_capture(datasets_dir)
    # The partner asks for head turns only: the shared clip shows turns, not blinks or smiles.
    settings = client.patch(
        "/api/settings",
        json={"liveness": {"prompts": ["turn_left", "turn_right"], "prompt_count": 2}},
        headers=partner.headers,
    )
    assert settings.status_code == 200, settings.get_json()
    issuer = normalize_country(capture.fields["issuing_state"]).alpha3
    created = client.post(
        "/api/profiles",
        json={
            "first_name": capture.fields["given_names"].title(),
            "last_name": capture.fields["surname"].title(),
            "document": {
                "type": "passport",
                "country": issuer,
                "number": capture.fields["document_number"],
            },
        },
        headers=partner.headers,
    )
    assert created.status_code == 201, created.get_json()
    link = read_link(created.get_json()["redirect_url"])

    start_with_consent(client, link)
    chosen = api(client, link, "POST", "/document", json={"type": "passport", "country": issuer})
    assert chosen.status_code == 200, chosen.get_json()
    uploaded = upload(client, link, "front", capture.document_jpeg)
    assert uploaded.status_code == 201, uploaded.get_json()
    # The applicant retakes the selfie once: the second challenge is the one decided on.
    for _attempt in range(1 if retake_left_unfinished else 2):
        challenge = api(client, link, "POST", "/challenge").get_json()
        frames = (
            capture.frames
            if challenge["prompts"] == ["turn_right", "turn_left"]
            else list(capture.frames_left_then_right)
        )
        taken = [(data, p, t) for _, data, p, t in frames]
        sent = post_frames(client, link, challenge["id"], taken)
        assert sent.status_code == 201, sent.get_json()
    if retake_left_unfinished:
        assert api(client, link, "POST", "/challenge").status_code == 201
    submitted = api(client, link, "POST", "/submit")
    assert submitted.status_code == 200, submitted.get_json()

    view = client.get(f"/api/profiles/{link.profile_id}", headers=partner.headers).get_json()
    record = services.pb.get("profiles", link.profile_id)
    factors = record["scores"]["factors"]
    assert view["status"] == "approved", (challenge["prompts"], record["reasons"])
    assert {name: f["status"] for name, f in factors.items()} == {
        "face_match": "pass",
        "liveness": "pass",
        "document": "pass",
        "kya": "pass",
    }
    assert factors["liveness"]["detail"]["challenge"]["prompts"] == challenge["prompts"]
    # How many orders the applicant was shown is said to whoever reads the decision.
    if retake_left_unfinished:
        # The retake drawn after the selfie was never answered: not counted for this capture.
        assert factors["liveness"]["detail"]["challenges_drawn"] == 1
        assert factors["liveness"]["reasons"] == ["the challenge was followed live"]
    else:
        assert factors["liveness"]["detail"]["challenges_drawn"] == 2
        assert factors["liveness"]["reasons"] == [
            "the challenge was followed live",
            "2 challenges were drawn for this capture; the last was answered",
        ]
    moves = [row[:3] for row in history(services.pb, link.profile_id)]
    assert moves[-3:] == [
        ("in_progress", "submitted", "applicant"),
        ("submitted", "processing", "worker"),
        ("processing", "approved", "worker"),
    ]
