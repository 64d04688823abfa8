"""The real worker process: `run_consumer` drains the SQLite queue in EKYC_HOME, loads the face
models once at start-up, decides a profile, and stops gracefully on SIGINT."""

from __future__ import annotations

import json
import time

import pytest
from api_helpers import new_profile_id
from worker_helpers import (
    CONSUMER_ARGV,
    consumer_env,
    history,
    set_aside_leftover_jobs,
    submit,
    worker_process,
)

from gateway.worker.queue import build_huey, huey
from gateway.worker.tasks import verify_profile

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_consumer_process_verifies_a_queued_profile(client, services, partner, settings, tmp_path):
    set_aside_leftover_jobs(services.pb)
    home = tmp_path / "worker_home"
    env = consumer_env(settings, home, EKYC_LOG_JSON="true")
    queue = build_huey({"EKYC_HOME": str(home)})
    profile_id = new_profile_id(client, partner.headers)
    submit(services.pb, profile_id, document_jpeg=None, frames=[], prompts=("blink",))
    # Enqueue before the worker starts: the message waits in the SQLite file, as after a restart.
    queue.storage.enqueue(huey.serialize_task(verify_profile.s(profile_id)))
    assert queue.pending_count() == 1

    log_path = tmp_path / "worker.log"
    with worker_process(CONSUMER_ARGV, env, log_path) as worker:
        decided = wait_for(
            lambda: (
                services.pb.get("profiles", profile_id)["status"] != "submitted"
                and services.pb.get("profiles", profile_id)["status"] != "processing"
            ),
            timeout_s=90,
        )
    exit_code = worker.returncode  # after SIGINT: 0 when it stopped gracefully
    output = log_path.read_text()
    assert decided, output[-3000:]
    assert exit_code == 0, output[-3000:]
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "resubmission_requested"
    assert history(services.pb, profile_id)[-2][1:3] == ("processing", "worker")
    # Ours was consumed. The consumer also queued its periodic jobs, whose modules this test
    # must know to read them.
    from gateway.worker import periodic, reconciler  # noqa: F401

    waiting = [huey.deserialize_task(data).args for data in queue.storage.enqueued_items()]
    assert (profile_id,) not in waiting
    events = [json.loads(line).get("event") for line in output.splitlines() if line[:1] == "{"]
    assert events.count("face_models_loaded") == 1
    assert "verification_done" in events
    assert "Unhandled exception" not in output, output[-3000:]
