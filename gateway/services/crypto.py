"""Field encryption and blind indexes for data we must be able to match but should not store bare.

Document numbers are encrypted with AES-GCM (so a reviewer can still see them, decrypted by the
gateway) and indexed with a keyed HMAC of their normalised form (so the partner-scoped uniqueness of
(country, number) can be enforced by a database index without storing the number in clear).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def _derive(data_key: str, purpose: str) -> bytes:
    return hmac.new(data_key.encode(), purpose.encode(), hashlib.sha256).digest()


def normalize_document_number(number: str) -> str:
    """Upper-case, no spaces, dashes or fillers: 'ab 12-34<' and 'AB1234' are one document."""
    return _NOT_ALNUM.sub("", number.upper())


def document_index(data_key: str, country: str, number: str) -> str:
    """Keyed blind index of (country, normalised number), hex; stable for a given data key."""
    message = f"{country.upper()}|{normalize_document_number(number)}".encode()
    return hmac.new(_derive(data_key, "document-index"), message, hashlib.sha256).hexdigest()


def encrypt_text(data_key: str, plaintext: str) -> str:
    """AES-256-GCM with a random nonce; base64url(nonce + ciphertext)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_derive(data_key, "field-encryption")).encrypt(nonce, plaintext.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_text(data_key: str, token: str) -> str:
    """Inverse of ``encrypt_text``; raises ``cryptography.exceptions.InvalidTag`` if tampered."""
    raw = base64.urlsafe_b64decode(token.encode())
    return AESGCM(_derive(data_key, "field-encryption")).decrypt(raw[:12], raw[12:], None).decode()
