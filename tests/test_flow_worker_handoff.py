"""Submit hands the profile to the real worker task (Huey in immediate mode), and what the worker
sends back for a retake reopens the flow at the step it names."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.container import Services
from tests.conftest import PartnerHandle
from tests.e2e.flow_support import create_profile, real_face_frames
from tests.test_flow_api import api, complete_captures, history


@pytest.mark.slow
@pytest.mark.needs_datasets
def test_submit_runs_the_worker_and_a_retake_reopens_at_the_failed_step(
    client: FlaskClient,
    partner: PartnerHandle,
    services: Services,
    worker: Services,
    datasets_dir: Any,
) -> None:
    from tests.e2e.flow_support import document_jpeg

    link = create_profile(client, partner.headers)
    # A sharp document whose portrait is blank, and a real person's selfie (the flow stores no
    # selfie without a usable face): the worker finds no face on the document and asks again.
    complete_captures(
        client, link, document_jpeg("passport", seed=3), real_face_frames(datasets_dir, 12)
    )
    response = api(client, link, "POST", "/submit")
    assert response.status_code == 200, response.get_json()
    # The redirect reports the status at submit time; the worker ran right after, in-process.
    assert response.get_json()["status"] == "submitted"
    rows = history(services, link.profile_id)
    moves = [(row["from_status"], row["to_status"], row["actor"]) for row in rows]
    assert ("in_progress", "submitted", "applicant") in moves
    assert ("submitted", "processing", "worker") in moves
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["status"] == "resubmission_requested", moves
    reason = profile["status_reason"]
    assert reason.startswith("INVALID_PHOTO:")
    state = api(client, link, "POST", "/start").get_json()
    expected_step = "selfie" if reason.endswith("selfie") else "document"
    assert state["step"] == expected_step
    assert state["resubmission"] == {"step": expected_step, "reason": reason}
    assert services.pb.get("profiles", link.profile_id)["status"] == "in_progress"
