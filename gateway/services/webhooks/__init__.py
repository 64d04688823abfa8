"""Signed webhooks to partners (Standard Webhooks), delivered by the worker from an outbox.

- ``signing``: secrets and ``v1`` signatures;
- ``ssrf``: which URLs the worker may call;
- ``endpoints``: partners' endpoints and secret rotation;
- ``events``: event names, the outbox writer and the message body;
- ``delivery``: fan-out, attempts, retries (the engine the worker runs);
- ``delivery_views``: deliveries as the API shows them, and replay;
- ``partner_api``: ``WebhookService``, what the partner routes call.
"""

from gateway.errors import UrlRefused
from gateway.services.webhooks.delivery import (
    AttemptOutcome,
    DeliveryContext,
    RetryPolicy,
    attempt_delivery,
    dispatch_events,
    due_deliveries,
    sweep,
)
from gateway.services.webhooks.delivery_views import list_deliveries, replay_delivery
from gateway.services.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)
from gateway.services.webhooks.events import EVENT_TYPES, emit_event
from gateway.services.webhooks.signing import generate_secret, sign
from gateway.services.webhooks.ssrf import check_url

__all__ = [
    "EVENT_TYPES",
    "AttemptOutcome",
    "DeliveryContext",
    "RetryPolicy",
    "UrlRefused",
    "attempt_delivery",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "dispatch_events",
    "due_deliveries",
    "emit_event",
    "generate_secret",
    "list_deliveries",
    "list_endpoints",
    "replay_delivery",
    "rotate_secret",
    "sign",
    "sweep",
    "update_endpoint",
]
