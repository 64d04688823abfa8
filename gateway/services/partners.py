"""Partners and their keys, as the operator's CLI manages them."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.services import crypto
from gateway.services.api_keys import SCOPES, mint_key
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.request_signing import new_signing_secret

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
MAX_NAME_LENGTH = 200  # partners.name in pb_migrations, and the operator API's schema
# The partner operator keys belong to (gateway/services/operator.py): the only one whose keys
# may carry the ``admin`` scope, which the operator routes alone read.
OPERATOR_SLUG = "operator"


def slugify(name: str) -> str:
    """A URL-safe slug; a random suffix keeps two partners of the same name apart."""
    base = _SLUG_CHARS.sub("-", name.lower()).strip("-")[:60] or "partner"
    return f"{base}-{secrets.token_hex(3)}"


def create_partner(
    pb: PocketBase,
    name: str,
    scopes: tuple[str, ...] = ("partner",),
    *,
    data_key: str | None = None,
) -> dict[str, Any]:
    """Create a partner and its first key: ``{partner_id, slug, key_id, api_key}`` and, with the
    data key, ``signing_secret`` (secrets shown once)."""
    check_scopes(scopes, operator=False)  # before the partner exists: a refusal leaves nothing
    if not name.strip():
        raise ValidationFailed("A partner needs a name", errors={"name": ["must not be empty"]})
    if len(name.strip()) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            f"A partner's name has at most {MAX_NAME_LENGTH} characters",
            errors={"name": [f"at most {MAX_NAME_LENGTH} characters"]},
        )
    partner = pb.create(
        "partners",
        {"name": name.strip(), "slug": slugify(name), "status": "active", "settings": {}},
    )
    key = create_key(pb, partner["id"], scopes, data_key=data_key)
    return {"partner_id": partner["id"], "slug": partner["slug"], **key}


def check_scopes(scopes: tuple[str, ...], *, operator: bool) -> None:
    """Refuse scopes a key of this partner cannot use. ``admin`` is read by the operator routes
    only, which also require the operator partner: on a partner's key it granted nothing while
    looking like full access, so it is refused with what to do instead."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValidationFailed(
            f"Scopes must be among {', '.join(SCOPES)}", errors={"scopes": unknown or ["empty"]}
        )
    if "admin" in scopes and not operator:
        raise ValidationFailed(
            "The admin scope belongs to operator keys and grants nothing on a partner's key: "
            "make an operator key with 'ekyc operator key create'; a partner's keys take "
            "partner and reviewer",
            errors={"scopes": ["admin: operator keys only"]},
        )


def create_key(
    pb: PocketBase, partner_ref: str, scopes: tuple[str, ...], *, data_key: str | None = None
) -> dict[str, Any]:
    """A new key for a partner (by id, slug or name): ``{key_id, api_key}`` and, with the data
    key, the key's ``signing_secret`` for signed requests (both shown once, never stored bare)."""
    partner = find_partner(pb, partner_ref)
    check_scopes(scopes, operator=partner["slug"] == OPERATOR_SLUG)
    key_id, api_key, secret_sha256 = mint_key()
    record: dict[str, Any] = {
        "partner": partner["id"],
        "key_id": key_id,
        "secret_sha256": secret_sha256,
        "scopes": list(scopes),
    }
    created = {"key_id": key_id, "api_key": api_key}
    if data_key:
        signing_secret = new_signing_secret()
        record["signing_secret_enc"] = crypto.encrypt_text(data_key, signing_secret)
        created["signing_secret"] = signing_secret
    pb.create("api_keys", record)
    return created


def new_key_signing_secret(pb: PocketBase, data_key: str, key_id: str) -> dict[str, Any]:
    """Replace a key's signing secret (shown once); requests signed with the old one then fail.

    Other gateway processes accept the old secret until their key cache expires (10 s).
    """
    key = pb.find_first("api_keys", "key_id = {:key_id}", {"key_id": key_id})
    if key is None:
        raise NotFound(f"No key {key_id!r}")
    signing_secret = new_signing_secret()
    pb.update(
        "api_keys", key["id"], {"signing_secret_enc": crypto.encrypt_text(data_key, signing_secret)}
    )
    return {"key_id": key_id, "signing_secret": signing_secret}


def find_partner(pb: PocketBase, partner_ref: str) -> dict[str, Any]:
    """A partner by id, slug or name (any case); a name two partners share is refused.

    Operators think of partners by name ("Acme Bank"); the slug carries a random suffix so two
    partners of one name can exist, and then only the id or the slug tells them apart.
    """
    partner = pb.find_first("partners", "id = {:ref} || slug = {:ref}", {"ref": partner_ref})
    if partner is not None:
        return partner
    named = pb.find("partners", "name ~ {:name}", {"name": partner_ref.strip()}, limit=1000)
    same_name = [row for row in named if row["name"].casefold() == partner_ref.strip().casefold()]
    if len(same_name) == 1:
        return same_name[0]
    if same_name:
        choices = ", ".join(f"{row['slug']} ({row['id']})" for row in same_name)
        raise Conflict(
            f"{len(same_name)} partners are named {partner_ref!r}; use one of: {choices}"
        )
    raise NotFound(f"No partner {partner_ref!r} (give its id, slug or name; see 'partner list')")


def list_partners(pb: PocketBase) -> list[dict[str, Any]]:
    """Every partner: id, slug, name, status and when it was created (no settings, no keys)."""
    rows = pb.find("partners", sort="created", limit=1000)
    return [
        {
            "id": row["id"],
            "slug": row["slug"],
            "name": row["name"],
            "status": row["status"],
            "created": row["created"],
        }
        for row in rows
    ]


def list_keys(pb: PocketBase, partner_ref: str) -> list[dict[str, Any]]:
    """A partner's keys, without their hashes."""
    partner = find_partner(pb, partner_ref)
    keys = pb.find("api_keys", "partner = {:partner}", {"partner": partner["id"]}, sort="created")
    return [
        {
            "key_id": key["key_id"],
            "scopes": key["scopes"],
            "created": key["created"],
            "last_used": key["last_used"] or None,
            "revoked": key["revoked"] or None,
        }
        for key in keys
    ]


def revoke_key(pb: PocketBase, key_id: str) -> dict[str, Any]:
    """Revoke a key for good (other processes stop accepting it within their cache TTL)."""
    key = pb.find_first("api_keys", "key_id = {:key_id}", {"key_id": key_id})
    if key is None:
        raise NotFound(f"No key {key_id!r}")
    if not key["revoked"]:
        pb.update("api_keys", key["id"], {"revoked": pb_datetime(datetime.now(UTC))})
    return {"key_id": key_id, "revoked": True}
