"""The Huey tasks in immediate mode: a fan-out that only fans out (the engine sends), one attempt
on request that leaves its retry to the engine, the periodic safety-net fan-out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from webhook_fixtures import Hooked
from webhook_receiver import Receiver

from gateway.container import Services
from gateway.services.pb_time import parse_pb_time
from gateway.worker import periodic, webhook_tasks


@pytest.fixture
def immediate(
    loopback_services: Services, inline_worker: Callable[[Services], Services]
) -> Services:
    """Tasks run in-process on the services of the app that allows loopback receivers."""
    return inline_worker(loopback_services)


def test_fan_out_then_one_attempt_whose_retry_waits_for_its_time(
    hooked: Hooked, immediate: Services, receiver: Receiver
) -> None:
    receiver.statuses.extend([500])
    hooked.new_profile()

    assert webhook_tasks.dispatch_webhook_events().get() >= 1  # the outbox is shared by tests
    assert receiver.requests == []  # fanned out only: sending is the engine's
    [delivery] = immediate.pb.find("webhook_deliveries", "partner = {:p}", {"p": hooked.partner_id})
    assert webhook_tasks.deliver_webhook(delivery["id"]).get() == "pending"
    assert len(receiver.requests) == 1
    row = immediate.pb.get("webhook_deliveries", delivery["id"])
    next_at = parse_pb_time(row["next_attempt_at"])
    assert timedelta(seconds=55) < next_at - datetime.now(UTC) < timedelta(seconds=80)

    # Running the task again early does nothing: the claim refuses an attempt not yet due.
    assert webhook_tasks.deliver_webhook(delivery["id"]).get() == "not_due"
    assert len(receiver.requests) == 1


def test_periodic_sweeper_fans_out_and_the_engine_delivers(
    hooked: Hooked, immediate: Services, receiver: Receiver
) -> None:
    hooked.new_profile()
    assert periodic.webhook_sweeper.call_local()["dispatched"] >= 1

    stop = webhook_tasks.start_delivery_engine(immediate)
    try:
        deadline = time.monotonic() + 5
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-id"].startswith("msg_")
