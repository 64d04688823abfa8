"""The store operations that must be atomic: each is one ``pb_hooks`` route, one transaction.

Profile upsert, status transitions, replay-proof signatures and the index-backed profile pages
run inside PocketBase (``pb_hooks/*.pb.js``), so the change and what must go with it (a history
row, an outbox event, a uniqueness check) commit together for every gateway process at once.
``PocketBase`` (``pocketbase.py``) inherits these; the transport is ``pocketbase_transport.py``.
"""

from __future__ import annotations

import json

from gateway.errors import IdempotencyConflict, IllegalTransition, NotFound, StoreError
from gateway.services.pocketbase_transport import JsonDict, PocketBaseTransport, is_record_id

# The JSON columns among those ``profile_page`` returns.
PAGE_JSON_COLUMNS = ("automated_decision", "reasons", "last_change")


class HookOperations(PocketBaseTransport):
    """Calls to the gateway's own PocketBase routes (``/api/ekyc/...``), each a transaction."""

    def record_signature(self, key_id: str, signature: str, prune_before: str) -> bool:
        """Record a signed request's signature; False when the key used it before (a replay).

        One hook route (``pb_hooks/signatures.pb.js``): the unique index answers, for every
        gateway process at once, and rows from before ``prune_before`` go in the same call.
        """
        response = self.request(
            "POST",
            "/api/ekyc/signatures",
            json={"key_id": key_id, "signature": signature, "prune_before": prune_before},
        )
        return bool(self._json(response, "request signature")["fresh"])

    def transitions(self) -> JsonDict:
        """The state machine as the data layer enforces it."""
        return self._json(self.request("GET", "/api/ekyc/transitions"), "transitions")

    def profile_page(
        self,
        partner_id: str,
        *,
        order: str,
        after: JsonDict | None = None,
        status: str | None = None,
        external_ref: str | None = None,
        limit: int = 50,
        offset: int = 0,
        explain: bool = False,
    ) -> list[JsonDict] | list[str]:
        """A page of a partner's profiles read off an index (``pb_hooks/profile_lists.pb.js``).

        ``order`` "newest" (``after={created, id}``) or "changes" (``after={seq}``); the columns a
        profile view needs (not whole records), or with ``explain`` SQLite's plan of the query.
        """
        payload: JsonDict = {"partner": partner_id, "order": order, "limit": limit}
        for name, value in (
            ("after", after),
            ("status", status),
            ("external_ref", external_ref),
            ("offset", offset),
            ("explain", explain),
        ):
            if value:
                payload[name] = value
        body = self._json(self.request("POST", "/api/ekyc/profiles/page", json=payload), "profiles")
        if explain:
            return body["plan"]
        for row in body["items"]:  # plain rows: JSON columns arrive as text ("" for none)
            for name in PAGE_JSON_COLUMNS:
                row[name] = json.loads(row[name]) if row[name] else None
        return body["items"]

    def upsert_profile(
        self, partner_id: str, fields: JsonDict, idempotency: JsonDict | None = None
    ) -> JsonDict:
        """Create or reuse a profile in one transaction: ``{created, replayed, profile}``."""
        response = self.request(
            "POST",
            "/api/ekyc/profiles/upsert",
            json={"partner": partner_id, "fields": fields, "idempotency": idempotency},
        )
        if response.status_code == 409:
            raise IdempotencyConflict(
                "This Idempotency-Key was used with a different request in the last 24 hours"
            )
        if response.status_code == 400:
            raise StoreError(f"PocketBase refused the profile: {response.text[:300]}")
        return self._json(response, "profile")

    def transition(
        self,
        profile_id: str,
        to_status: str,
        *,
        actor: str,
        reason: str = "",
        expected_from: list[str] | None = None,
        set_fields: JsonDict | None = None,
        increment: list[str] | None = None,
        expected_version: int | None = None,
    ) -> JsonDict:
        """Change a profile's status atomically; returns ``{profile, from}``.

        Raises ``IllegalTransition`` (with the allowed next states) when the table forbids it,
        the profile is not in ``expected_from``, or (with ``expected_version``) it was written
        since it was read at that version.
        """
        payload: JsonDict = {
            "to": to_status,
            "actor": actor,
            "reason": reason,
            "expected_from": expected_from,
            "set": set_fields or {},
            "increment": increment or [],
        }
        if expected_version is not None:
            payload["expected_version"] = expected_version
        return self._change_profile(
            profile_id,
            "transition",
            payload,
            refused=f"Cannot move a profile from {{current}} to {to_status}",
        )

    def erase_profile(
        self,
        profile_id: str,
        wipe: JsonDict,
        *,
        expected_from: list[str],
        to_status: str | None = None,
        actor: str,
        reason: str,
    ) -> JsonDict:
        """Erase a profile's personal data in one transaction; returns ``{profile, erased}``.

        ``wipe`` (which sets ``erased_at``) is saved, with ``to_status`` the end of an open
        capture, and the reasons reviewers typed are redacted wherever they were copied (history,
        last change, webhook events: ``pb_hooks/lib/erasure.js``), the notes deleted and the
        ``profile.erased`` audit row appended (by ``actor``). An erased profile comes back
        as it is (``erased`` false). Raises ``IllegalTransition`` when the profile is no longer
        in ``expected_from``.
        """
        return self._change_profile(
            profile_id,
            "erase",
            {
                "set": wipe,
                "expected_from": expected_from,
                "to": to_status or "",
                "actor": actor,
                "reason": reason,
            },
            refused="Cannot erase a profile that is now {current}",
        )

    def _change_profile(
        self, profile_id: str, action: str, payload: JsonDict, *, refused: str
    ) -> JsonDict:
        """POST ``/api/ekyc/profiles/{id}/<action>``: its 409 (the profile's status is not the
        one read, or the table forbids the move) raises ``IllegalTransition`` with ``refused``
        (``{current}`` filled in), its 400 ``StoreError``."""
        if not is_record_id(profile_id):
            raise NotFound("profile not found")
        response = self.request("POST", f"/api/ekyc/profiles/{profile_id}/{action}", json=payload)
        if response.status_code == 409:
            body = response.json()
            raise IllegalTransition(
                refused.format(current=body["current"]),
                extra={"current_status": body["current"], "allowed": body["allowed"]},
            )
        if response.status_code == 400:
            raise StoreError(f"PocketBase refused the {action}: {response.text[:300]}")
        return self._json(response, "profile")
