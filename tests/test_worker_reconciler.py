"""The reconciler on the real PocketBase: a killed worker's profile is recovered and verified, a
lost enqueue is re-enqueued, and a profile that keeps killing workers goes to a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import new_profile_id
from worker_helpers import history, submit

from gateway.services.pb_time import pb_datetime
from gateway.worker import reconciler
from gateway.worker.queue import huey

# Every test runs tasks in-process (Huey immediate mode) on the test PocketBase.
pytestmark = pytest.mark.usefixtures("worker")


def submitted_profile(client, services, partner) -> str:
    """A submitted profile without captures: its verification ends fast in resubmission."""
    profile_id = new_profile_id(client, partner.headers)
    submit(services.pb, profile_id, document_jpeg=None, frames=[], prompts=("blink",))
    return profile_id


def killed_worker_claim(services, profile_id: str, lease_left_s: float) -> None:
    """What a worker that died mid-job leaves behind: a claim whose lease runs out."""
    lease_until = datetime.now(UTC) + timedelta(seconds=lease_left_s)
    services.pb.transition(
        profile_id,
        "processing",
        actor="worker",
        reason="claimed by a worker",
        expected_from=["submitted"],
        set_fields={"lease_until": pb_datetime(lease_until)},
        increment=["processing_attempts"],
    )


def test_expired_lease_is_taken_back_and_verified(client, services, partner):
    profile_id = submitted_profile(client, services, partner)
    killed_worker_claim(services, profile_id, lease_left_s=-5)
    still_running = submitted_profile(client, services, partner)
    killed_worker_claim(services, still_running, lease_left_s=300)

    outcome = reconciler.reconcile_once(services, partner_id=partner.partner_id)

    assert outcome["released"] == [profile_id]
    assert outcome["timed_out"] == []
    rows = history(services.pb, profile_id)
    assert rows[-4:-1] == [
        ("submitted", "processing", "worker", "claimed by a worker"),
        ("processing", "submitted", "system", "lease expired"),
        ("submitted", "processing", "worker", "claimed by a worker"),
    ]
    # Re-enqueued and run: the missing captures end in a resubmission request.
    assert rows[-1][1:] == ("resubmission_requested", "worker", "INVALID_PHOTO:document")
    assert services.pb.get("profiles", profile_id)["processing_attempts"] == 2
    # A lease that has not run out is left alone.
    assert services.pb.get("profiles", still_running)["status"] == "processing"


def test_profile_that_keeps_timing_out_goes_to_manual_review(client, services, partner):
    profile_id = submitted_profile(client, services, partner)
    killed_worker_claim(services, profile_id, lease_left_s=-5)
    # Its earlier claims ran out too: this was the last allowed attempt.
    services.pb.update(
        "profiles", profile_id, {"processing_attempts": services.settings.max_processing_attempts}
    )

    outcome = reconciler.reconcile_once(services, partner_id=partner.partner_id)

    assert outcome == {"reenqueued": [], "released": [], "timed_out": [profile_id]}
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "manual_review"
    assert record["decision"] == ""  # no scored decision was reached
    assert record["lease_until"] == ""
    assert record["reasons"] == ["processing_timeout: no worker finished in 3 attempts"]
    last = history(services.pb, profile_id)[-1]
    assert last[1:] == ("manual_review", "system", "processing_timeout")


def test_lost_enqueue_is_reenqueued_after_the_grace_period(client, services, partner):
    profile_id = submitted_profile(client, services, partner)

    fresh = reconciler.reconcile_once(services, partner_id=partner.partner_id)
    assert fresh == {"reenqueued": [], "released": [], "timed_out": []}
    assert services.pb.get("profiles", profile_id)["status"] == "submitted"

    later = datetime.now(UTC) + timedelta(seconds=reconciler.SUBMITTED_GRACE_S + 5)
    outcome = reconciler.reconcile_once(services, now=later, partner_id=partner.partner_id)
    assert outcome["reenqueued"] == [profile_id]
    assert services.pb.get("profiles", profile_id)["status"] == "resubmission_requested"


def test_profile_already_waiting_in_the_queue_is_not_enqueued_twice(client, services, partner):
    from gateway.worker.tasks import verify_profile

    profile_id = submitted_profile(client, services, partner)
    # A message for it already sits in the queue, not yet consumed (a backlog).
    huey.storage.enqueue(huey.serialize_task(verify_profile.s(profile_id)))
    try:
        assert profile_id in reconciler.queued_profile_ids()
        later = datetime.now(UTC) + timedelta(seconds=reconciler.SUBMITTED_GRACE_S + 5)
        outcome = reconciler.reconcile_once(services, now=later, partner_id=partner.partner_id)
        assert outcome["reenqueued"] == []
        assert services.pb.get("profiles", profile_id)["status"] == "submitted"
    finally:
        huey.flush()
