"""The outbox is pruned: delivered events and their delivery rows are kept for the retention
period, then removed; an event with a delivery still pending stays, one with a dedupe key stays
two months; expired idempotency keys go too."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import new_profile_id
from webhook_fixtures import Clock, Hooked, register
from webhook_receiver import Receiver

from gateway.container import Services
from gateway.services.webhooks.context import DeliveryContext
from gateway.services.webhooks.delivery import sweep
from gateway.services.webhooks.events import emit_event
from gateway.services.webhooks.pruning import KEYED_KEEP_DAYS, prune_outbox


def events_of(services: Services, profile_id: str) -> list[dict]:
    return services.pb.find("webhook_events", "profile = {:p}", {"p": profile_id})


def deliveries_of(services: Services, event_id: str) -> list[dict]:
    return services.pb.find("webhook_deliveries", "event = {:e}", {"e": event_id})


def test_events_are_kept_for_the_period_then_pruned_with_their_deliveries(
    hooked: Hooked,
    receiver: Receiver,
    loopback_services: Services,
    context: DeliveryContext,
    clock: Clock,
) -> None:
    pb = loopback_services.pb
    delivered = hooked.new_profile()
    sweep(context)
    receiver.default_status = 500
    pending = hooked.new_profile()
    sweep(context)
    [delivered_event] = events_of(loopback_services, delivered)
    assert deliveries_of(loopback_services, delivered_event["id"])[0]["status"] == "succeeded"
    register(hooked.client, hooked.headers, receiver.url, ["profile.erased"])
    receiver.default_status = 200
    keyed = emit_event(pb, hooked.partner_id, "profile.erased", {}, dedupe_key=hooked.partner_id)
    assert keyed is not None
    key = f"prune-{hooked.partner_id}"
    new_profile_id(hooked.client, {**hooked.headers, "Idempotency-Key": key})
    sweep(context)

    prune_outbox(pb, 30, clock.now)
    assert pb.find("idempotency_keys", "key = {:k}", {"k": key})
    report = prune_outbox(pb, 30, clock.now + timedelta(days=2))  # the key expired after a day
    assert pb.find("idempotency_keys", "key = {:k}", {"k": key}) == []
    assert report.idempotency_keys >= 1
    prune_outbox(pb, 30, clock.now + timedelta(days=29))
    assert events_of(loopback_services, delivered)

    report = prune_outbox(pb, 30, clock.now + timedelta(days=31))
    assert events_of(loopback_services, delivered) == []
    assert deliveries_of(loopback_services, delivered_event["id"]) == []
    assert report.events >= 1 and report.deliveries >= 1
    assert events_of(loopback_services, pending)  # its retries are not over
    assert pb.find("webhook_events", "id = {:id}", {"id": keyed["id"]})  # a dedupe key stays

    prune_outbox(pb, 30, clock.now + timedelta(days=KEYED_KEEP_DAYS + 1))
    assert pb.find("webhook_events", "id = {:id}", {"id": keyed["id"]}) == []
