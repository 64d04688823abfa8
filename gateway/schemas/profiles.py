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
