"""One partner's slow receiver and backlog do not hold back another partner's webhooks: the
engine keeps at most ``per_endpoint`` of an endpoint's deliveries in flight and claims round-robin
over endpoints, so a fast receiver's event leaves within the normal latency (< 1 s, as in
test_webhook_latency) while the slow one is still working through its queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from api_helpers import new_profile_id
from flask.testing import FlaskClient
from webhook_fixtures import register
from webhook_receiver import Receiver, start_receiver

from gateway.container import Services
from gateway.services.webhooks.context import DeliveryContext
from gateway.services.webhooks.engine import DeliveryEngine, EngineLimits

SLOW_S = 1.0
BACKLOG = 12


@pytest.fixture
def slow_receiver() -> Iterator[Receiver]:
    """A receiver that takes a second to answer each webhook."""
    server = start_receiver()
    server.delay_s = SLOW_S
    yield server
    server.stop()


def wait_for(receiver: Receiver, count: int, timeout_s: float) -> float:
    """Seconds until ``receiver`` holds ``count`` requests (fails after ``timeout_s``)."""
    started = time.monotonic()
    while len(receiver.requests) < count:
        assert time.monotonic() - started < timeout_s, f"{len(receiver.requests)} < {count}"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_slow_receivers_backlog_does_not_delay_another_partner(
    loopback_client: FlaskClient,
    loopback_services: Services,
    make_partner: Callable,
    receiver: Receiver,
    slow_receiver: Receiver,
) -> None:
    busy = make_partner("Busy partner")
    register(loopback_client, busy.headers, slow_receiver.url, ["profile.created"])
    other = make_partner("Other partner")
    register(loopback_client, other.headers, receiver.url, ["profile.created"])
    for _ in range(BACKLOG):
        new_profile_id(loopback_client, busy.headers)

    ctx = DeliveryContext(
        pb=loopback_services.pb, data_key=loopback_services.settings.data_key, allow_private=True
    )
    engine = DeliveryEngine(ctx, EngineLimits(concurrency=8, per_endpoint=2))
    stop = threading.Event()
    thread = threading.Thread(target=engine.run, args=(stop, 0.1), daemon=True)
    thread.start()
    try:
        wait_for(slow_receiver, 1, timeout_s=5)  # the busy partner's backlog is being worked on
        new_profile_id(loopback_client, other.headers)
        latency_s = wait_for(receiver, 1, timeout_s=5)
        waiting = BACKLOG - len(slow_receiver.requests)
    finally:
        stop.set()
        thread.join(SLOW_S * 3 + 5)
    print(f"other partner's latency {latency_s:.2f} s with {waiting} slow deliveries waiting")
    assert latency_s < 1.0
    assert waiting >= BACKLOG // 2  # the slow one was still far from done: the test could fail
