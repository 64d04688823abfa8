"""Webhook delivery end to end: profiles changed through the API write events in PocketBase's
transaction, the worker's sweeper sends them to a real HTTP receiver on loopback, and the test
verifies every signature with its own implementation of Standard Webhooks."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from api_helpers import new_profile_id
from flask.testing import FlaskClient
from webhook_fixtures import Clock, Hooked, deliveries, hook, register
from webhook_receiver import Receiver, independent_verify, start_receiver

from gateway.container import Services
from gateway.services.webhooks import delivery_views
from gateway.services.webhooks.delivery import DeliveryContext, RetryPolicy, sweep


def sweep_answered(hooked: Hooked, context: DeliveryContext, status: int) -> None:
    """A new profile's profile.created event sent in one sweep, the receiver answering
    ``status``."""
    hooked.receiver.statuses.extend([status])
    hooked.new_profile()
    sweep(context)


def test_status_changes_arrive_signed_with_thin_payloads(
    loopback_client: FlaskClient,
    make_partner: Callable,
    receiver: Receiver,
    context: DeliveryContext,
) -> None:
    hooked = hook(loopback_client, make_partner, receiver, ("*",), name="Hook partner")
    endpoint = hooked.endpoint
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    assert set(endpoint) >= {"id", "url", "events", "enabled", "secret"}
    profile_id = hooked.new_profile(
        first_name="Siti",
        document={"type": "passport", "country": "IDN", "number": "X1234567"},
    )

    sweep(context)

    assert len(receiver.requests) == 2
    types = sorted(json.loads(r.body)["type"] for r in receiver.requests)
    assert types == ["profile.created", "profile.status_changed"]
    for request in receiver.requests:
        assert independent_verify(endpoint["secret"], request.headers, request.body)
        assert request.headers["webhook-id"].startswith("msg_")
        body = json.loads(request.body)
        assert body["data"]["profile_id"] == profile_id
        assert body["data"]["status"] == "unverified"
        text = request.body.decode()
        assert "X1234567" not in text and "Siti" not in text
    # A tampered body does not verify (the checker can fail).
    first = receiver.requests[0]
    assert not independent_verify(endpoint["secret"], first.headers, first.body + b" ")
    # Nothing is sent twice.
    sweep(context)
    assert len(receiver.requests) == 2
    rows = hooked.deliveries()
    assert {row["status"] for row in rows} == {"succeeded"}
    assert all(row["attempts"] == 1 and row["last_status_code"] == 200 for row in rows)
    assert all(row["attempt_log"][0]["latency_ms"] >= 0 for row in rows)


def test_a_500_is_retried_later_with_the_same_webhook_id(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext, clock: Clock
) -> None:
    sweep_answered(hooked, context, 500)
    [row] = hooked.deliveries()
    assert row["status"] == "pending" and row["last_status_code"] == 500
    assert row["last_response"] == "status 500"
    next_at = datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=59) < next_at - clock.now < timedelta(seconds=73)

    sweep(context)
    assert len(receiver.requests) == 1  # not due yet
    clock.advance(minutes=2)
    sweep(context)

    [row] = hooked.deliveries()
    assert row["status"] == "succeeded" and row["attempts"] == 2
    assert [a["status_code"] for a in row["attempt_log"]] == [500, 200]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 2 and ids == {row["message_id"]}


def test_a_410_disables_the_endpoint_and_tells_the_partner(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext, clock: Clock
) -> None:
    gone = hooked.endpoint
    other = start_receiver()
    try:
        register(hooked.client, hooked.headers, other.url, ["webhook.endpoint_disabled"])
        sweep_answered(hooked, context, 410)  # the attempt, then the endpoint_disabled event
        [told] = other.requests
        body = json.loads(told.body)
        assert body["type"] == "webhook.endpoint_disabled"
        assert body["data"]["endpoint_id"] == gone["id"]
    finally:
        other.stop()
    view = hooked.client.get(f"/api/webhooks/{gone['id']}", headers=hooked.headers).get_json()
    assert view["enabled"] is False and "410" in view["disabled_reason"]
    [row] = hooked.deliveries(endpoint_id=gone["id"])
    assert row["status"] == "failed" and row["next_attempt_at"] is None
    # Later events are not sent to the disabled endpoint.
    hooked.new_profile()
    clock.advance(hours=1)
    sweep(context)
    assert len(receiver.requests) == 1


def test_replay_sends_the_same_message_again(
    hooked: Hooked,
    loopback_services: Services,
    make_partner: Callable,
    receiver: Receiver,
    context: DeliveryContext,
    inline_worker: Callable[[Services], Services],
) -> None:
    hooked.new_profile()
    sweep(context)
    [row] = hooked.deliveries()

    inline_worker(loopback_services)
    response = hooked.client.post(
        f"/api/webhooks/deliveries/{row['id']}/replay", headers=hooked.headers
    )
    assert response.status_code == 202, response.get_json()
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert independent_verify(hooked.endpoint["secret"], second.headers, second.body)
    [row] = hooked.deliveries()
    assert row["status"] == "succeeded" and row["attempts"] == 2

    stranger = make_partner("Someone else")
    response = hooked.client.post(
        f"/api/webhooks/deliveries/{row['id']}/replay", headers=stranger.headers
    )
    assert response.status_code == 404


def test_rotation_signs_with_both_secrets_during_the_overlap(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext, clock: Clock
) -> None:
    endpoint = hooked.endpoint
    rotated = hooked.client.post(
        f"/api/webhooks/{endpoint['id']}/rotate", json={"overlap_s": 3600}, headers=hooked.headers
    )
    assert rotated.status_code == 200
    new_secret = rotated.get_json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]

    hooked.new_profile()
    sweep(context)
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert independent_verify(endpoint["secret"], during.headers, during.body)
    assert independent_verify(new_secret, during.headers, during.body)

    clock.advance(hours=2)
    hooked.new_profile()
    sweep(context)
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert independent_verify(new_secret, after.headers, after.body)
    assert not independent_verify(endpoint["secret"], after.headers, after.body)


def test_an_endpoint_failing_for_a_day_is_disabled(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext, clock: Clock
) -> None:
    url = f"/api/webhooks/{hooked.endpoint['id']}"
    receiver.default_status = 503
    hooked.new_profile()
    sweep(context)
    clock.advance(hours=12)
    sweep(context)
    view = hooked.client.get(url, headers=hooked.headers).get_json()
    assert view["enabled"] is True and view["failing_since"]
    clock.advance(hours=13)
    sweep(context)
    view = hooked.client.get(url, headers=hooked.headers).get_json()
    assert view["enabled"] is False and "24 hours" in view["disabled_reason"]
    [row] = hooked.deliveries()
    assert row["status"] == "failed" and row["attempts"] == 3

    # Re-enabling clears the failure record and a replay then succeeds.
    receiver.default_status = 200
    patched = hooked.client.patch(url, json={"enabled": True}, headers=hooked.headers).get_json()
    assert patched["enabled"] is True and patched["failing_since"] is None
    delivery_views.replay_delivery(context.pb, hooked.partner_id, row["id"], now=clock.now)
    sweep(context)
    assert len(receiver.requests) == 4
    [row] = hooked.deliveries()
    assert row["status"] == "succeeded" and row["attempts"] == 4


def test_an_unreachable_receiver_is_recorded_as_an_error(
    loopback_client: FlaskClient, make_partner: Callable, context: DeliveryContext
) -> None:
    partner = make_partner()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    register(loopback_client, partner.headers, f"http://127.0.0.1:{port}/x", ["profile.created"])
    new_profile_id(loopback_client, partner.headers)
    sweep(context)
    [row] = deliveries(loopback_client, partner.headers)
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert row["last_error"].startswith("ConnectionError")
    assert row["attempt_log"][0]["next_attempt_at"] == row["next_attempt_at"]


def test_backoff_spans_more_than_three_days_and_jitter_only_stretches() -> None:
    policy = RetryPolicy()
    assert policy.nominal_span_s() >= 3 * 86_400
    rng = random.Random(1)
    for step in range(policy.max_retries):
        nominal = policy.nominal_delay_s(step)
        delays = [policy.delay_s(step, rng) for _ in range(50)]
        assert all(nominal <= delay <= nominal * (1 + policy.jitter) for delay in delays)
        assert len(set(delays)) > 1
    assert policy.nominal_delay_s(0) < policy.nominal_delay_s(1) < policy.nominal_delay_s(2)


def test_a_dispatch_interrupted_before_marking_the_event_sends_nothing_twice(
    hooked: Hooked, loopback_services: Services, receiver: Receiver, context: DeliveryContext
) -> None:
    profile_id = hooked.new_profile()
    sweep(context)
    [event] = loopback_services.pb.find(
        "webhook_events", "profile = {:p} && type = 'profile.created'", {"p": profile_id}
    )
    # As if the worker died after creating the deliveries but before marking the event.
    loopback_services.pb.update("webhook_events", event["id"], {"dispatched_at": ""})
    sweep(context)
    assert len(hooked.deliveries()) == 1
    assert len(receiver.requests) == 1


def test_a_disabled_endpoints_pending_delivery_fails_unsent(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext, clock: Clock
) -> None:
    sweep_answered(hooked, context, 500)
    url = f"/api/webhooks/{hooked.endpoint['id']}"
    assert (
        hooked.client.patch(url, json={"enabled": False}, headers=hooked.headers).status_code == 200
    )
    clock.advance(minutes=2)
    sweep(context)
    [row] = hooked.deliveries()
    assert (row["status"], row["last_error"], row["attempts"]) == ("failed", "endpoint disabled", 1)
    assert len(receiver.requests) == 1


def test_an_endpoint_disabled_by_several_attempts_at_once_is_announced_once(
    hooked: Hooked, receiver: Receiver, context: DeliveryContext
) -> None:
    """The engine sends up to 16 of an endpoint's deliveries at once: when they all come back
    410, the endpoint is disabled once, and the partner's other endpoint hears of it once (it
    used to get one webhook.endpoint_disabled event, each with its own id, per attempt)."""
    gone = hooked.endpoint
    other = start_receiver()
    try:
        register(hooked.client, hooked.headers, other.url, ["webhook.endpoint_disabled"])
        receiver.default_status = 410
        for _ in range(3):
            hooked.new_profile()
        sweep(context)
        assert len(receiver.requests) == 3  # claimed in one round, sent together
        told = [json.loads(request.body) for request in other.requests]
        assert [body["type"] for body in told] == ["webhook.endpoint_disabled"]
        assert told[0]["data"]["endpoint_id"] == gone["id"]
    finally:
        other.stop()
    audit = context.pb.find(
        "audit_log",
        "action = 'webhook.endpoint_disabled' && target = {:endpoint}",
        {"endpoint": gone["id"]},
    )
    assert len(audit) == 1
