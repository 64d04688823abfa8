"""Request schemas of the operator API (``/api/operator``)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from gateway.schemas.usage import UsageQuerySchema
from gateway.services.operator import TENANT_SCOPES
from gateway.services.quotas import QUOTA_CHECKS


class TenantCreateSchema(Schema):
    """``POST /api/operator/tenants``."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(1, 200))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(TENANT_SCOPES)),
        load_default=["partner"],
        validate=validate.Length(1, len(TENANT_SCOPES)),
    )
    plan = fields.String(allow_none=True, validate=validate.Length(1, 60))
    settings = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 64)),
        metadata={"description": "Settings to start from, validated whole (as PATCH settings)"},
    )


class KeyCreateSchema(Schema):
    """``POST /api/operator/tenants/{tenant_id}/keys``."""

    class Meta:
        unknown = RAISE

    scopes = fields.List(
        fields.String(validate=validate.OneOf(TENANT_SCOPES)),
        load_default=["partner"],
        validate=validate.Length(1, len(TENANT_SCOPES)),
    )


class PlanAssignSchema(Schema):
    """``PUT /api/operator/tenants/{tenant_id}/plan``: a plan code, or null for none."""

    class Meta:
        unknown = RAISE

    plan = fields.String(required=True, allow_none=True, validate=validate.Length(1, 60))


_check_key = fields.String(validate=validate.OneOf(QUOTA_CHECKS))


class PlanSchema(Schema):
    """``PUT /api/operator/plans/{code}``: the whole plan (it replaces any earlier one)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(1, 200))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    monthly_fee = fields.Float(
        load_default=0.0, allow_nan=False, validate=validate.Range(0, 1_000_000)
    )
    included = fields.Dict(
        keys=_check_key,
        values=fields.Integer(validate=validate.Range(0, 10**9)),
        load_default=dict,
        metadata={"description": "units of each check the monthly fee includes"},
    )
    unit_prices = fields.Dict(
        keys=_check_key,
        values=fields.Float(allow_nan=False, validate=validate.Range(0, 1_000_000)),
        load_default=dict,
        metadata={"description": "price of each unit beyond the included ones (4 decimals)"},
    )


class OperatorUsageQuerySchema(UsageQuerySchema):
    """``GET /api/operator/usage``: every tenant's usage, or one tenant's."""

    tenant_id = fields.String(validate=validate.Length(1, 15))
