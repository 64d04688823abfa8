"""What partners poll: one profile (with its ETag), its history, the list, and the changes feed.

Each read is one PocketBase request served by an index, because partners' schedulers make these
calls all day (issue 18):

- A profile carries a copy of its latest status change (``last_change``) and a ``version`` that
  every update bumps (``pb_hooks/profiles.pb.js``), so ``GET /api/profiles/{id}`` is one records-API
  read and its ETag is ``version``: no other data feeds the view. ``If-None-Match`` with the
  current ETag answers 304 with no body. A repeated poll is answered from the poll cache
  (``profile_cache.py``: the view kept current by PocketBase's change stream), with no read.
- The list is newest first by ``(created, id)``, paged by a keyset cursor (the last row's key), so
  page 200 reads 50 index entries, not 10,000.
- The changes feed returns profiles whose status or decision changed after a cursor, oldest change
  first. The cursor is the profile's ``change_seq``: every creation, status change or decision
  change takes the next number of one counter inside the write transaction that saves it. SQLite
  lets one transaction write at a time and the counter is written first, so numbers are handed out
  in commit order: when a reader sees number N, every number below N has committed. A page that
  ends at N therefore never leaves behind a change that commits later with a smaller number (a
  timestamp cursor would: a row stamped earlier can commit after a later one). A profile that
  changes again moves to a new, higher number, so the feed shows each profile's current state once
  per change it has not yet shown, never the same change twice.

Every read is scoped to the calling partner: another partner's profile answers 404, like an id
that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from gateway.errors import NotFound, ValidationFailed
from gateway.services.api_keys import Principal
from gateway.services.pb_time import iso
from gateway.services.pocketbase import PocketBase
from gateway.services.profile_cache import CachedProfile, ProfileCache

# Bumped when the shape of a view changes, so cached representations stop matching.
VIEW_REVISION = "1"


@dataclass(frozen=True)
class Conditional:
    """A representation and its ETag; ``body`` is None when the caller's copy is current."""

    etag: str
    body: dict[str, Any] | list[dict[str, Any]] | None
    encoded: bytes | None = None  # ``body`` already encoded as JSON, when it was kept so


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def encode_cursor(kind: str, key: dict[str, Any]) -> str:
    """An opaque cursor: the page's last key, tagged with the listing it belongs to."""
    raw = json.dumps({"k": kind, **key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, fields: dict[str, type]) -> dict[str, Any]:
    """The key inside a cursor made by ``encode_cursor``; 422 for anything else."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not (
        isinstance(key, dict)
        and key.get("k") == kind
        and all(type(key.get(name)) is expected for name, expected in fields.items())
    ):
        raise ValidationFailed(
            "Not a cursor this listing handed out", errors={"cursor": ["invalid cursor"]}
        )
    return {name: key[name] for name in fields}


def history_view(row: dict[str, Any]) -> dict[str, Any]:
    """One status change (a status_history row or a profile's last_change) as the API shows it."""
    return {
        "from": row.get("from_status") or None,
        "to": row["to_status"],
        "actor": row["actor"],
        "reason": row.get("reason") or None,
        "created": iso(row["created"]),
    }


# The record fields profile_view reads: the poll cache's stream asks PocketBase for these only.
VIEW_FIELDS = (
    "id",
    "external_ref",
    "status",
    "decision",
    "decided_by",
    "decision_reason",
    "automated_decision",
    "score",
    "reasons",
    "last_change",
    "created",
    "updated",
)


def profile_view(profile: dict[str, Any]) -> dict[str, Any]:
    """The partner-facing shape of a profile record."""
    decided = bool(profile.get("decision"))
    latest = profile.get("last_change")
    return {
        "id": profile["id"],
        "external_ref": profile.get("external_ref") or None,
        "status": profile["status"],
        "decision": profile.get("decision") or None,
        "decided_by": (profile.get("decided_by") or None) if decided else None,
        "decision_reason": (profile.get("decision_reason") or None) if decided else None,
        "automated_decision": profile.get("automated_decision") or None,
        "score": profile.get("score") if decided else None,
        "reasons": profile.get("reasons") or [],
        "latest_history": history_view(latest) if latest else None,
        "created": iso(profile["created"]),
        "updated": iso(profile["updated"]),
    }


class ProfileReads:
    """The partner's reads of profiles, one PocketBase request each (a repeated poll of one
    profile none, with the cache)."""

    def __init__(self, pb: PocketBase, cache_size: int = 0) -> None:
        self.pb = pb
        self.cache = (
            ProfileCache(pb, cache_size, profile_view, fields=VIEW_FIELDS) if cache_size else None
        )

    def close(self) -> None:
        """Stop the cache's stream thread (the app is done); reads go to PocketBase."""
        if self.cache is not None:
            self.cache.close()

    def owned(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """The raw profile record if it belongs to the caller's partner, else ``NotFound`` (the
        same answer as for no profile, so other partners' ids are not revealed)."""
        # The whole record: PocketBase's ``fields`` filter cost it more CPU than it saved
        # (1.5 vs 1.1 ms a read, measured), for the view's columns or the version alone.
        try:
            profile = self.pb.get("profiles", profile_id)
        except NotFound:
            profile = None
        if profile is None or profile["partner"] != principal.partner_id:
            raise NotFound("No such profile")
        return profile

    def view(
        self, principal: Principal, profile_id: str, if_none_match: str | None = None
    ) -> Conditional:
        """A profile as the partner sees it, or no body when ``if_none_match`` is current."""
        profile = self._polled(principal, profile_id)
        etag = version_etag(profile.version)
        if etag_matches(if_none_match, etag):
            return Conditional(etag, None)
        return Conditional(etag, profile.view, profile.encoded)

    def _polled(self, principal: Principal, profile_id: str) -> CachedProfile:
        """The profile's view from the cache, or read from PocketBase (and kept if it may be)."""
        token = None
        if self.cache is not None:
            cached = self.cache.lookup(profile_id)
            if cached is not None:
                if cached.view is None or cached.partner != principal.partner_id:
                    raise NotFound("No such profile")
                return cached
            token = self.cache.read_token()
        record = self.owned(principal, profile_id)
        profile = CachedProfile(
            record["partner"], int(record.get("version") or 0), profile_view(record)
        )
        if self.cache is not None:
            self.cache.remember(record["id"], profile, token)
        return profile

    def history(
        self, principal: Principal, profile_id: str, if_none_match: str | None = None
    ) -> Conditional:
        """Every status change of a profile, oldest first; no body when ``if_none_match`` is
        current (history grows only with a status change, which bumps the profile's version)."""
        profile = self.owned(principal, profile_id)
        etag = f'"h{VIEW_REVISION}-{int(profile.get("version") or 0)}"'
        if etag_matches(if_none_match, etag):
            return Conditional(etag, None)
        rows = self.pb.find(
            "status_history",
            "profile = {:profile}",
            {"profile": profile["id"]},
            sort="created,@rowid",
            limit=1000,
        )
        return Conditional(etag, [history_view(row) for row in rows])

    def list(
        self,
        principal: Principal,
        *,
        external_ref: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> dict[str, Any]:
        """The partner's profiles, newest first: ``{items, has_more, next_cursor, page,
        per_page}``. Follow ``next_cursor`` (keyset); ``page`` still works but reads every row
        before it."""
        after = decode_cursor("list", cursor, {"created": str, "id": str}) if cursor else None
        rows = self.pb.profile_page(
            principal.partner_id,
            order="newest",
            after=after,
            status=status,
            external_ref=external_ref,
            limit=per_page + 1,
            offset=0 if after else (page - 1) * per_page,
        )
        items = rows[:per_page]
        has_more = len(rows) > per_page
        last = items[-1] if items else None
        return {
            "page": 1 if after else page,
            "per_page": per_page,
            "has_more": has_more,
            "next_cursor": encode_cursor("list", {"created": last["created"], "id": last["id"]})
            if has_more and last
            else None,
            "items": [profile_view(row) for row in items],
        }

    def changes(
        self, principal: Principal, *, after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Profiles whose status or decision changed after the cursor ``after`` (from the start
        when None), oldest change first: ``{items, has_more, next_cursor}``. ``next_cursor`` is
        always set: pass it back to continue, even after an empty page."""
        seq = decode_cursor("changes", after, {"seq": int})["seq"] if after else 0
        rows = self.pb.profile_page(
            principal.partner_id, order="changes", after={"seq": seq}, limit=limit + 1
        )
        items = rows[:limit]
        if items:
            seq = int(items[-1]["change_seq"])
        return {
            "items": [
                {
                    **profile_view(row),
                    "change_cursor": encode_cursor("changes", {"seq": int(row["change_seq"])}),
                }
                for row in items
            ],
            "has_more": len(rows) > limit,
            "next_cursor": encode_cursor("changes", {"seq": seq}),
        }


def profile_etag(profile: dict[str, Any]) -> str:
    """The strong ETag of a profile's view: its version (bumped by every update)."""
    return version_etag(int(profile.get("version") or 0))


def version_etag(version: int) -> str:
    """The ETag of the view of a profile at ``version``."""
    return f'"p{VIEW_REVISION}-{version}"'
