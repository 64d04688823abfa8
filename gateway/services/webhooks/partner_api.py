"""``WebhookService``: what a partner may do with its webhooks, bound to the app's store and keys.

The routes call this one object (built once in ``gateway.container``) rather than module
functions handed the PocketBase client, the data key and the SSRF setting on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks import delivery_views, endpoints


@dataclass
class WebhookService:
    """Endpoints, secrets and deliveries of one partner at a time."""

    pb: PocketBase
    data_key: str
    allow_private_urls: bool
    # Wakes the worker for a replayed delivery; the periodic sweeper sends it anyway.
    enqueue_delivery: Callable[[str], None] | None = None

    def list_endpoints(self, partner_id: str) -> list[dict[str, Any]]:
        """The partner's endpoints."""
        return endpoints.list_endpoints(self.pb, partner_id)

    def create_endpoint(
        self, partner_id: str, url: str, events: list[str], description: str = ""
    ) -> dict[str, Any]:
        """A new endpoint; the result carries its signing secret, shown this once."""
        return endpoints.create_endpoint(
            self.pb,
            self.data_key,
            partner_id,
            url,
            events,
            allow_private=self.allow_private_urls,
            description=description,
        )

    def endpoint(self, partner_id: str, endpoint_id: str) -> dict[str, Any]:
        """One endpoint as the API shows it."""
        return endpoints.endpoint_view(endpoints.load_endpoint(self.pb, partner_id, endpoint_id))

    def update_endpoint(
        self, partner_id: str, endpoint_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Change an endpoint's URL, events, description or enabled flag."""
        return endpoints.update_endpoint(
            self.pb, partner_id, endpoint_id, changes, allow_private=self.allow_private_urls
        )

    def delete_endpoint(self, partner_id: str, endpoint_id: str) -> None:
        """Remove an endpoint and its deliveries."""
        endpoints.delete_endpoint(self.pb, partner_id, endpoint_id)

    def rotate_secret(self, partner_id: str, endpoint_id: str, overlap_s: int) -> dict[str, Any]:
        """A new signing secret; the old one keeps signing for ``overlap_s``."""
        return endpoints.rotate_secret(
            self.pb, self.data_key, partner_id, endpoint_id, overlap_s=overlap_s
        )

    def list_deliveries(self, partner_id: str, **query: Any) -> dict[str, Any]:
        """The partner's deliveries, newest first."""
        return delivery_views.list_deliveries(self.pb, partner_id, **query)

    def delivery(self, partner_id: str, delivery_id: str) -> dict[str, Any]:
        """One delivery with every attempt."""
        record = delivery_views.load_delivery(self.pb, partner_id, delivery_id)
        return delivery_views.delivery_view(record)

    def replay_delivery(self, partner_id: str, delivery_id: str) -> dict[str, Any]:
        """Reset a delivery for another attempt and wake the worker to send it."""
        view = delivery_views.replay_delivery(self.pb, partner_id, delivery_id)
        if self.enqueue_delivery is not None:
            self.enqueue_delivery(view["id"])
        return view
