"""Request schemas of the webhook and partner-settings routes."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class WebhookCreateSchema(Schema):
    """Body of ``POST /api/webhooks``."""

    class Meta:
        unknown = RAISE

    url = fields.String(required=True, validate=validate.Length(1, 2000))
    events = fields.List(fields.String(validate=validate.Length(1, 80)), required=True)
    description = fields.String(validate=validate.Length(max=200))


class WebhookUpdateSchema(Schema):
    """Body of ``PATCH /api/webhooks/{id}``: any subset of the fields."""

    class Meta:
        unknown = RAISE

    url = fields.String(validate=validate.Length(1, 2000))
    events = fields.List(fields.String(validate=validate.Length(1, 80)))
    description = fields.String(validate=validate.Length(max=200))
    enabled = fields.Boolean()


class RotateSchema(Schema):
    """Body of ``POST /api/webhooks/{id}/rotate`` (optional)."""

    class Meta:
        unknown = RAISE

    overlap_s = fields.Integer(load_default=86_400, validate=validate.Range(0, 7 * 86_400))


class DeliveryListQuerySchema(Schema):
    """Query of ``GET /api/webhooks/deliveries``."""

    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    endpoint_id = fields.String(validate=validate.Length(15, 15))
    page = fields.Integer(load_default=1, validate=validate.Range(1, 10_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 200))
