"""Request schemas of the partner and reviewer profile routes."""

from __future__ import annotations

from typing import Any

import pycountry
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from gateway.statuses import ALL_STATUSES, REVIEWER_TARGETS
from gateway.verification.documents.normalize import DOCUMENT_TYPES

# ICAO 9303 codes that are not ISO 3166 alpha-3 but appear on real documents.
ICAO_EXTRA_CODES = frozenset(
    {
        "D",
        "GBD",
        "GBN",
        "GBO",
        "GBP",
        "GBS",
        "UNO",
        "UNA",
        "UNK",
        "XXA",
        "XXB",
        "XXC",
        "XXX",
        "UTO",
        "EUE",
        "RKS",
        "XOM",
        "XPO",
        "XCC",
        "XBA",
        "XIM",
        "XCE",
        "XEC",
        "XDC",
    }
)
E164 = r"^\+[1-9]\d{6,14}$"


def _country_alpha3(value: str) -> None:
    if value.upper() in ICAO_EXTRA_CODES:
        return
    if pycountry.countries.get(alpha_3=value.upper()) is None:
        raise ValidationError("must be an ISO 3166 alpha-3 (or ICAO) country code")


class DocumentSchema(Schema):
    """The identity document the partner expects the applicant to show."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(DOCUMENT_TYPES))
    country = fields.String(required=True, validate=[validate.Length(1, 3), _country_alpha3])
    number = fields.String(
        required=True,
        validate=[
            validate.Length(1, 40),
            validate.Regexp(r"^[A-Za-z0-9 <-]+$", error="letters, digits, spaces, - or <"),
        ],
    )


class ProfileCreateSchema(Schema):
    """Body of ``POST /api/profiles``: an external_ref or a document is required."""

    class Meta:
        unknown = RAISE

    external_ref = fields.String(validate=validate.Length(1, 200))
    first_name = fields.String(validate=validate.Length(1, 200))
    last_name = fields.String(validate=validate.Length(1, 200))
    date_of_birth = fields.Date(format="%Y-%m-%d")
    email = fields.Email(validate=validate.Length(max=320))
    phone = fields.String(
        validate=validate.Regexp(E164, error="must be E.164, e.g. +6281234567890")
    )
    country = fields.String(validate=[validate.Length(1, 3), _country_alpha3])
    document = fields.Nested(DocumentSchema)
    return_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000)
    )
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)))

    @validates("metadata")
    def _metadata_size(self, value: dict[str, Any], **_: Any) -> None:
        import json

        if len(json.dumps(value)) > 8192:
            raise ValidationError("must be at most 8 KB of JSON")

    @validates_schema
    def _reference_or_document(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("external_ref") and not data.get("document"):
            raise ValidationError("external_ref or document is required", "_schema")


class ProfileListQuerySchema(Schema):
    """Query of ``GET /api/profiles``."""

    class Meta:
        unknown = RAISE

    external_ref = fields.String(validate=validate.Length(1, 200))
    status = fields.String(validate=validate.OneOf(ALL_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 10_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(
        validate=validate.Length(1, 512),
        metadata={"description": "`next_cursor` of the previous page (then `page` is ignored)"},
    )


class ProfileChangesQuerySchema(Schema):
    """Query of ``GET /api/profiles/changes``."""

    class Meta:
        unknown = RAISE

    after = fields.String(
        validate=validate.Length(1, 512),
        metadata={
            "description": "`next_cursor` of the previous page; omit it to start at the first"
        },
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class StatusChangeSchema(Schema):
    """Body of ``PATCH /api/profiles/{id}/status``."""

    class Meta:
        unknown = RAISE

    # Only the statuses a reviewer sets (gateway.statuses.REVIEWER_MOVES).
    status = fields.String(required=True, validate=validate.OneOf(sorted(REVIEWER_TARGETS)))
    reason = fields.String(validate=validate.Length(max=1000))


class NoteSchema(Schema):
    """Body of ``POST /api/profiles/{id}/notes``."""

    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(1, 10_000))


# -- Response bodies (JSON Schema, for the OpenAPI document; the services build these shapes) --

_STRING_OR_NULL = {"type": ["string", "null"]}
_STATUS = {"type": "string", "enum": sorted(ALL_STATUSES)}


def _closed(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object with exactly these properties, each always sent (null when it has no value)."""
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


LINK_RESPONSE = _closed(
    {
        "id": {"type": "string"},
        "status": _STATUS,
        "redirect_url": {"type": "string", "description": "The applicant's capture link"},
        "link_expires_at": {"type": "string"},
        "created": {"type": "string"},
    }
)
HISTORY_RESPONSE = _closed(
    {
        "from": {"type": ["string", "null"], "enum": [*sorted(ALL_STATUSES), None]},
        "to": _STATUS,
        "actor": {"type": "string", "description": "partner:<id>, applicant, worker, ..."},
        "reason": _STRING_OR_NULL,
        "created": {"type": "string"},
    }
)
_PROFILE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string"},
    "external_ref": _STRING_OR_NULL,
    "status": _STATUS,
    "decision": _STRING_OR_NULL,
    "decided_by": _STRING_OR_NULL,
    "decision_reason": _STRING_OR_NULL,
    "automated_decision": {
        "type": ["object", "null"],
        "description": "The worker's own `{decision, score, reasons}`",
    },
    "score": {"type": ["number", "null"]},
    "reasons": {"type": "array", "items": {"type": "string"}},
    "latest_history": {"oneOf": [HISTORY_RESPONSE, {"type": "null"}]},
    "created": {"type": "string"},
    "updated": {"type": "string"},
}
PROFILE_RESPONSE = _closed(_PROFILE_PROPERTIES)
HISTORY_LIST_RESPONSE = _closed({"items": {"type": "array", "items": HISTORY_RESPONSE}})
PROFILE_LIST_RESPONSE = _closed(
    {
        "items": {"type": "array", "items": PROFILE_RESPONSE},
        "has_more": {"type": "boolean"},
        "next_cursor": _STRING_OR_NULL,
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
    }
)
CHANGES_RESPONSE = _closed(
    {
        "items": {
            "type": "array",
            "items": _closed({**_PROFILE_PROPERTIES, "change_cursor": {"type": "string"}}),
        },
        "has_more": {"type": "boolean"},
        "next_cursor": {"type": "string"},
    }
)
