"""Signed partner requests: ``X-API-KEY``, ``X-API-TIMESTAMP`` and ``X-API-SIGN``.

``X-API-SIGN = hex(hmac_sha256(signing_secret, timestamp + "\\n" + METHOD + "\\n" + path + "\\n" +
sha256_hex(body)))``, where ``timestamp`` is the Unix time in seconds as sent, ``path`` the request
path with its query string (``/api/profiles?status=approved``), and the body the exact bytes sent
(empty for a GET). The signing secret is the key's own, shown once when the key is made.

A partner that sets ``require_signed_requests`` has every request of its keys checked; a request
that carries signature headers is checked whatever the setting, so a wrong one is never ignored.
Each refusal names the part that failed (missing, stale, replayed, wrong) and never the expected
value. A signature is accepted once: the store records it (``/api/ekyc/signatures``) and a second
use inside the window, through any gateway process, is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import (
    SignatureMissing,
    SignatureRefused,
    SignatureReplayed,
    SignatureStale,
)
from gateway.services import crypto
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase

TIMESTAMP_HEADER = "X-API-TIMESTAMP"
SIGNATURE_HEADER = "X-API-SIGN"
# How far a request's timestamp may be from the gateway's clock, either way.
TIMESTAMP_WINDOW_S = 300
# Signatures are kept twice the window: long enough that a replay inside the window is always
# seen, short enough that the table holds minutes of traffic.
SEEN_KEPT_S = 2 * TIMESTAMP_WINDOW_S


def new_signing_secret() -> str:
    """A fresh 256-bit signing secret, as the partner receives it."""
    return secrets.token_urlsafe(32)


def string_to_sign(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """The exact bytes a partner signs."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{timestamp}\n{method.upper()}\n{path}\n{digest}".encode()


def sign_request(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The ``X-API-SIGN`` value for a request."""
    message = string_to_sign(timestamp, method, path, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class RequestVerifier:
    """Checks signed requests against each key's secret and the store's record of signatures."""

    def __init__(
        self, pb: PocketBase, data_key: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.pb = pb
        self.data_key = data_key
        self.clock = clock

    def verify(
        self,
        *,
        key_id: str,
        signing_secret_enc: str,
        headers: Any,
        method: str,
        path: str,
        body: bytes,
    ) -> None:
        """Return if the request is signed right and new; else raise the refusal that says why."""
        timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
        signature = (headers.get(SIGNATURE_HEADER) or "").strip().lower()
        if not timestamp or not signature:
            raise SignatureMissing(
                f"Send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} with every request of this key"
            )
        # At most 12 ASCII digits: str.isdigit() also takes "\u00b2", and int() refuses more
        # than 4,300 digits; both would be a 500.
        if (
            not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
            or abs(int(timestamp) - self.clock()) > TIMESTAMP_WINDOW_S
        ):
            raise SignatureStale(
                f"{TIMESTAMP_HEADER} must be the Unix time in seconds, within "
                f"{TIMESTAMP_WINDOW_S} s of the gateway's clock"
            )
        if not signing_secret_enc:
            raise SignatureRefused(
                "This key has no signing secret; have the operator issue one "
                "('ekyc key signing-secret KEY_ID')"
            )
        secret = crypto.decrypt_text(self.data_key, signing_secret_enc)
        expected = sign_request(secret, timestamp, method, path, body)
        # As bytes: compare_digest raises TypeError for text outside ASCII (a Latin-1 header).
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureRefused(
                f"{SIGNATURE_HEADER} does not match this request (timestamp, method, path and "
                "body as sent, signed with the key's signing secret)"
            )
        prune_before = datetime.fromtimestamp(self.clock(), UTC) - timedelta(seconds=SEEN_KEPT_S)
        if not self.pb.record_signature(key_id, signature, pb_datetime(prune_before)):
            raise SignatureReplayed("This signature was already used; sign each request anew")
