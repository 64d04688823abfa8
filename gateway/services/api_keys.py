"""API keys: minted once, stored as a public id plus the SHA-256 of the secret, checked in constant
time. SHA-256 rather than bcrypt because keys are 256-bit random secrets (nothing to brute-force)
and a slow hash would cost every request (PocketBase's bcrypt: ~67 ms a login).

A key reads ``ek_<key_id>_<secret>``. The keys in ``VALID_API_KEYS`` (the seed system's bootstrap
keys) keep working and act for the ``bootstrap`` partner.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.errors import Forbidden, Unauthorized
from gateway.services.partner_settings import effective_settings
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase

KEY_PREFIX = "ek"
SCOPES = ("partner", "reviewer", "admin")
BOOTSTRAP_SLUG = "bootstrap"
CACHE_TTL_S = 10.0  # how long a revoked key may still work in another process
LAST_USED_EVERY_S = 60.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the partner, the key and what it may do."""

    partner_id: str
    partner_name: str
    key_id: str
    scopes: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    # The key's signing secret, encrypted with the data key ("" when it has none).
    signing_secret_enc: str = field(default="", repr=False)

    @property
    def actor(self) -> str:
        """How this caller is named in status history."""
        if "reviewer" in self.scopes:
            return f"reviewer:{self.key_id}"
        return f"partner:{self.partner_id}"

    def require(self, scope: str) -> None:
        """Raise 403 unless the key carries ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"This API key lacks the '{scope}' scope")


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_key() -> tuple[str, str, str]:
    """A new ``(key_id, api_key, secret_sha256)``; the api_key is shown once and never stored."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}", hash_secret(secret)


def split_key(api_key: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyAuthenticator:
    """Resolves an ``x-api-key`` header to a ``Principal``, with a short per-process cache."""

    def __init__(self, pb: PocketBase, bootstrap_keys: tuple[str, ...] = ()) -> None:
        self.pb = pb
        self._bootstrap_hashes = tuple(hash_secret(key) for key in bootstrap_keys)
        self._cache: dict[str, tuple[float, dict[str, Any], dict[str, Any], Principal]] = {}
        self._last_used_written: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, api_key: str | None) -> Principal:
        """The caller behind ``api_key``; ``Unauthorized`` for a missing, unknown or revoked key."""
        if not api_key:
            raise Unauthorized("Send your API key in the x-api-key header")
        parts = split_key(api_key)
        if parts is None:
            return self._bootstrap(api_key)
        key_id, secret = parts
        key, partner, principal = self._lookup(key_id)
        if key is None or not hmac.compare_digest(key["secret_sha256"], hash_secret(secret)):
            raise Unauthorized("Unknown API key")
        if key.get("revoked"):
            raise Unauthorized("This API key was revoked")
        require_active(partner)
        self._touch(key)
        return principal

    def forget_partner(self, partner_id: str) -> None:
        """Drop this process's cached keys of a partner, so changed settings apply at once here
        (other processes pick them up within ``CACHE_TTL_S``)."""
        with self._lock:
            stale = [key for key, entry in self._cache.items() if entry[2]["id"] == partner_id]
            for key_id in stale:
                del self._cache[key_id]

    def _bootstrap(self, api_key: str) -> Principal:
        digest = hash_secret(api_key)
        if not any(hmac.compare_digest(digest, known) for known in self._bootstrap_hashes):
            raise Unauthorized("Unknown API key")
        partner = ensure_bootstrap_partner(self.pb)
        require_active(partner)  # the operator suspends it like any tenant
        return Principal(
            partner_id=partner["id"],
            partner_name=partner["name"],
            key_id=f"bootstrap-{digest[:8]}",
            scopes=("partner", "reviewer"),
            settings=effective_settings(partner.get("settings")),
        )

    def _lookup(
        self, key_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any], Principal | None]:
        """The key, its partner and the principal they make, cached for ``CACHE_TTL_S``.

        The principal is cached too: building it deep-copies the partner's settings, which
        cost more CPU per request than the rest of authentication (profiled). So one principal
        (and its ``settings`` dict) serves every request of that key for the TTL: read it, never
        mutate it.
        """
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached and now - cached[0] < CACHE_TTL_S:
            return cached[1], cached[2], cached[3]
        key = self.pb.find_first("api_keys", "key_id = {:key_id}", {"key_id": key_id})
        if key is None:
            return None, {}, None
        partner = self.pb.get("partners", key["partner"])
        principal = Principal(
            partner_id=partner["id"],
            partner_name=partner["name"],
            key_id=key_id,
            scopes=tuple(key.get("scopes") or ()),
            settings=effective_settings(partner.get("settings")),
            signing_secret_enc=key.get("signing_secret_enc") or "",
        )
        with self._lock:
            self._cache[key_id] = (now, key, partner, principal)
        return key, partner, principal

    def _touch(self, key: dict[str, Any]) -> None:
        """Record last use at most once a minute per key: a write per request halves throughput."""
        now = time.monotonic()
        if now - self._last_used_written.get(key["id"], -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
            return
        self._last_used_written[key["id"]] = now
        self.pb.update("api_keys", key["id"], {"last_used": pb_datetime(datetime.now(UTC))})


def require_active(partner: dict[str, Any]) -> None:
    """Raise 403 unless the partner is active (a suspended partner's keys are all refused)."""
    if partner.get("status") != "active":
        raise Forbidden("This partner is suspended")


def ensure_bootstrap_partner(pb: PocketBase) -> dict[str, Any]:
    """The partner that ``VALID_API_KEYS`` act for, created on first use."""
    partner = pb.find_first("partners", "slug = {:slug}", {"slug": BOOTSTRAP_SLUG})
    if partner is None:
        partner = pb.create(
            "partners", {"name": "Bootstrap partner", "slug": BOOTSTRAP_SLUG, "status": "active"}
        )
    return partner
