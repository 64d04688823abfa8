"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

A secret reads ``whsec_<base64 key>``; the key is the base64-decoded part after the prefix, so any
Standard Webhooks library on the partner's side verifies our messages with the secret as shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32  # the standard asks for 24 to 64
SIGNATURE_VERSION = "v1"


def generate_secret() -> str:
    """A new signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    if len(key) < 24:
        raise ValueError("a signing secret holds at least 24 bytes")
    return key


def sign(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry for ``body`` sent as ``message_id`` at ``timestamp_s``."""
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(
    secrets_in_use: Iterable[str], message_id: str, timestamp_s: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one entry per active secret, space-separated, so a
    receiver that still holds the old secret during a rotation keeps verifying."""
    return " ".join(sign(secret, message_id, timestamp_s, body) for secret in secrets_in_use)


def webhook_headers(
    secrets_in_use: Iterable[str], message_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature_header(secrets_in_use, message_id, timestamp_s, body),
    }
