"""Capture links: signed, bound to one profile and one link nonce, expiring.

A token is ``base64url(profile_id.expires_ts.nonce).base64url(HMAC-SHA256)``. Issuing a fresh link
rotates the profile's nonce, so older links stop working at once rather than at their expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass


class InvalidLink(Exception):
    """The token is missing, malformed, tampered, for another profile, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    """What a verified token says."""

    profile_id: str
    expires_ts: int
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_nonce() -> str:
    """A fresh link nonce, stored on the profile."""
    return secrets.token_urlsafe(12)


def sign_link(secret: str, profile_id: str, expires_ts: int, nonce: str) -> str:
    """The token for a profile's capture link."""
    payload = f"{profile_id}.{expires_ts}.{nonce}".encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_link(secret: str, token: str, *, now_ts: float) -> LinkClaims:
    """Verify a token's signature and expiry; the caller still checks the profile's nonce."""
    try:
        payload_part, signature_part = token.split(".")
        payload = _unb64(payload_part)
    except (ValueError, TypeError) as exc:
        raise InvalidLink("malformed") from exc
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    # Compared as the canonical text, not as decoded bytes: base64 ignores the unused low bits
    # of a last character, so several strings decode to one signature (or payload), and only
    # the one this gateway issued may verify.
    if not (
        hmac.compare_digest(_b64(expected).encode(), signature_part.encode())
        and _b64(payload) == payload_part
    ):
        raise InvalidLink("tampered")
    try:
        profile_id, expires_text, nonce = payload.decode().split(".", 2)
        expires_ts = int(expires_text)
    except ValueError as exc:
        raise InvalidLink("malformed") from exc
    if expires_ts <= now_ts:
        raise InvalidLink("expired")
    return LinkClaims(profile_id=profile_id, expires_ts=expires_ts, nonce=nonce)
