"""The Huey tasks in immediate mode: an event fanned out and delivered in-process, a failed
attempt rescheduled by eta (not slept on), the periodic sweeper's wiring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import new_profile_id
from flask import Flask
from webhook_receiver import Receiver

from gateway.container import Services
from gateway.worker import periodic, webhook_tasks
from gateway.worker.queue import huey


@pytest.fixture
def immediate(
    loopback_services: Services, inline_worker: Callable[[Services], Services]
) -> Services:
    """Tasks run in-process on the services of the app that allows loopback receivers."""
    return inline_worker(loopback_services)


def test_failed_attempt_is_rescheduled_by_eta(
    loopback_app: Flask, immediate: Services, make_partner: Callable, receiver: Receiver
) -> None:
    client = loopback_app.test_client()
    partner = make_partner()
    created = client.post(
        "/api/webhooks",
        json={"url": receiver.url, "events": ["profile.created"]},
        headers=partner.headers,
    )
    assert created.status_code == 201
    receiver.statuses.extend([500])
    new_profile_id(client, partner.headers)

    before = {task.id for task in huey.scheduled()}
    sent = webhook_tasks.dispatch_webhook_events()
    assert sent.get() == 1
    assert len(receiver.requests) == 1

    scheduled = [t for t in huey.scheduled() if t.id not in before]
    [retry] = [t for t in scheduled if t.name.endswith("deliver_webhook")]
    eta = retry.eta.replace(tzinfo=UTC)
    assert timedelta(seconds=55) < eta - datetime.now(UTC) < timedelta(seconds=80)
    delivery_id = retry.args[0]

    # Running the rescheduled task early does nothing: the claim refuses an attempt not yet due.
    assert webhook_tasks.deliver_webhook(delivery_id).get() == "not_due"
    assert len(receiver.requests) == 1


def test_periodic_sweeper_fans_out_and_delivers(
    loopback_app: Flask, immediate: Services, make_partner: Callable, receiver: Receiver
) -> None:
    client = loopback_app.test_client()
    partner = make_partner()
    client.post(
        "/api/webhooks",
        json={"url": receiver.url, "events": ["profile.created"]},
        headers=partner.headers,
    )
    new_profile_id(client, partner.headers)
    counts = periodic.webhook_sweeper.call_local()
    assert counts["dispatched"] >= 1
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-id"].startswith("msg_")
