"""How a KYC Service result is sealed before it is written to ``kyc_verification."ocrResult"``.

AES-256-GCM under ``KYC_RESULT_KEY`` (32 bytes, given as 64 hex digits or base64), so the JSON
result (document fields, similarity) is readable only by whoever holds the key, and a value
copied onto another row does not open: the row id is bound as associated data.

Sealed bytes (the layout the receiving side decrypts, documented in docs/intake.md)::

    version (1 byte, 0x01) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)

associated data: ``b"kyc_verification:" + str(row id)``; plaintext: UTF-8 JSON.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32


def parse_key(text: str) -> bytes:
    """The 32-byte key from 64 hex digits or base64; ``ValueError`` for anything else."""
    text = text.strip()
    candidates = []
    if len(text) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(text))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    for key in candidates:
        if len(key) == KEY_BYTES:
            return key
    raise ValueError("must be 32 bytes as 64 hex digits or base64 (openssl rand -hex 32)")


def associated_data(row_id: int | str) -> bytes:
    """What binds a sealed result to its row."""
    return f"kyc_verification:{row_id}".encode()


def seal(key: bytes, row_id: int | str, result: dict[str, Any]) -> bytes:
    """The bytes written to ``ocrResult`` for ``result`` on row ``row_id``."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data(row_id))
    return bytes([VERSION]) + nonce + sealed


def open_sealed(key: bytes, row_id: int | str, sealed: bytes) -> dict[str, Any]:
    """The result back from ``seal``'s bytes (``ValueError`` on another version or a bad key)."""
    if not sealed or sealed[0] != VERSION:
        raise ValueError("unknown ocrResult format version")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    return json.loads(AESGCM(key).decrypt(nonce, body, associated_data(row_id)))
