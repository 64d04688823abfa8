"""Webhooks leave within 2 s of the change that caused them, whoever made it, through the real
worker process (not the minute's sweep): profile creations by the partner's API here, as the
change the worker itself does not make."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_helpers import new_profile_id
from flask import Flask
from webhook_receiver import Receiver
from worker_helpers import CONSUMER_ARGV, consumer_env, set_aside_leftover_jobs, worker_process

from gateway import create_app
from gateway.container import Services
from gateway.settings import Settings

pytestmark = pytest.mark.slow
DEADLINE_S = 2.0


@pytest.fixture
def app_with_worker(
    make_settings: Callable[..., Settings], services: Services, tmp_path: Path
) -> Iterator[Flask]:
    """The app and a real consumer process sharing one queue, loopback receivers allowed."""
    set_aside_leftover_jobs(services.pb)
    settings = make_settings(webhook_allow_private=True)
    home = tmp_path / "worker_home"
    env = consumer_env(settings, home, EKYC_WEBHOOK_ALLOW_PRIVATE="true")
    with worker_process(CONSUMER_ARGV, env, tmp_path / "worker.log"):
        yield create_app(settings)


def wait_for_requests(receiver: Receiver, count: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(receiver.requests) >= count:
            return True
        time.sleep(0.02)
    return False


def test_a_partners_change_reaches_its_webhook_within_two_seconds(
    app_with_worker: Flask, make_partner: Callable, receiver: Receiver
) -> None:
    client = app_with_worker.test_client()
    partner = make_partner("Latency partner")
    created = client.post(
        "/api/webhooks",
        json={"url": receiver.url, "events": ["profile.created"]},
        headers=partner.headers,
    )
    assert created.status_code == 201, created.get_json()
    # The first event waits for the worker process to start (models load first).
    new_profile_id(client, partner.headers)
    assert wait_for_requests(receiver, 1, timeout_s=90), "the worker never delivered"

    latencies = []
    for index in range(5):
        started = time.monotonic()
        new_profile_id(client, partner.headers)
        assert wait_for_requests(receiver, index + 2, timeout_s=30)
        latencies.append(time.monotonic() - started)
    print(f"webhook latency after commit: {[round(s, 2) for s in latencies]} s")
    assert max(latencies) < DEADLINE_S, latencies
    assert statistics.median(latencies) < DEADLINE_S / 2, latencies
