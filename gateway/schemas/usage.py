"""Query schemas of the usage and invoice reports (partner and operator routes)."""

from __future__ import annotations

from datetime import date

from marshmallow import RAISE, Schema, fields, validate

# Usage is recorded from 2026 on; the bounds keep day arithmetic away from year 1 and 9999.
DAYS = validate.Range(date(2000, 1, 1), date(2999, 12, 31))


class UsageQuerySchema(Schema):
    """``GET /api/usage`` (and the operator's cross-tenant report): UTC days, both included."""

    class Meta:
        unknown = RAISE

    from_ = fields.Date(
        data_key="from", validate=DAYS, metadata={"description": "first day (default: the 1st)"}
    )
    to = fields.Date(validate=DAYS, metadata={"description": "last day, included (default: today)"})
    group = fields.String(load_default="check", validate=validate.OneOf(("check", "day")))


class InvoiceQuerySchema(Schema):
    """An invoice statement: the month and the format."""

    class Meta:
        unknown = RAISE

    month = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"),
        metadata={"description": "YYYY-MM"},
    )
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
