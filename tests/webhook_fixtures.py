"""Fixtures the webhook test modules share: a hand-moved clock, the worker's delivery context on
it, and a partner whose endpoint is the loopback receiver (a plugin of ``conftest.py``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import new_profile_id
from flask.testing import FlaskClient
from webhook_receiver import Receiver

from gateway.container import Services
from gateway.services.webhooks.context import DeliveryContext


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """A clock starting now."""
    return Clock()


def loopback_context(services: Services, **options: Any) -> DeliveryContext:
    """The worker's delivery context on the test PocketBase, allowed to send to the loopback
    receivers; ``options`` are DeliveryContext's other fields."""
    return DeliveryContext(
        pb=services.pb, data_key=services.settings.data_key, allow_private=True, **options
    )


@pytest.fixture
def context(loopback_services: Services, clock: Clock) -> Iterator[DeliveryContext]:
    """The worker's delivery context on the test PocketBase, with the hand-moved clock."""
    ctx = loopback_context(loopback_services, clock=clock, rng=random.Random(7))
    yield ctx
    ctx.close()


def register(client: FlaskClient, headers: dict[str, str], url: str, events: list[str]) -> dict:
    """POST /api/webhooks and return the body (with the one-time secret)."""
    response = client.post("/api/webhooks", json={"url": url, "events": events}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries(client: FlaskClient, headers: dict[str, str], **query: Any) -> list[dict]:
    """The partner's deliveries through the API."""
    response = client.get("/api/webhooks/deliveries", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@dataclass
class Hooked:
    """A partner whose endpoint (for ``profile.created`` unless ``hook`` was told other events)
    is a loopback receiver."""

    client: FlaskClient
    headers: dict[str, str]
    partner_id: str
    endpoint: dict[str, Any]
    receiver: Receiver

    def new_profile(self, **body: Any) -> str:
        """Create a profile through the API (one profile.created event); its id."""
        return new_profile_id(self.client, self.headers, **body)

    def deliveries(self, **query: Any) -> list[dict]:
        """The partner's deliveries through the API."""
        return deliveries(self.client, self.headers, **query)


def hook(
    client: FlaskClient,
    make_partner: Callable,
    receiver: Receiver,
    events: tuple[str, ...] = ("profile.created",),
    name: str = "Hooked partner",
) -> Hooked:
    """A fresh partner called ``name`` with an endpoint for ``events`` on ``receiver``."""
    partner = make_partner(name)
    endpoint = register(client, partner.headers, receiver.url, list(events))
    return Hooked(client, partner.headers, partner.partner_id, endpoint, receiver)


@pytest.fixture
def hooked(loopback_client: FlaskClient, make_partner: Callable, receiver: Receiver) -> Hooked:
    """A fresh partner with an endpoint for profile.created on the receiver."""
    return hook(loopback_client, make_partner, receiver)
