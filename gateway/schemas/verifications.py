"""Request schema of partners' server-side verification (``POST /api/verifications``)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from gateway.schemas.fields import Base64Image
from gateway.schemas.intake import OBJECT_KEY
from gateway.schemas.profiles import ProfileCreateSchema

MAX_FRAMES = 250  # the profile's selfie_frames field holds at most this many


class FrameSchema(Schema):
    """One liveness frame: its image (base64 or key; or the matching multipart file), the prompt
    it was captured under, and its capture time."""

    class Meta:
        unknown = RAISE

    image_base64 = Base64Image()
    key = fields.String(validate=OBJECT_KEY)
    prompt = fields.String(load_default="", validate=validate.Length(max=32))
    t_ms = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0))

    @validates_schema
    def _one_source(self, data: dict[str, Any], **_: Any) -> None:
        if "image_base64" in data and "key" in data:
            raise ValidationError("send image_base64 or key, not both", "_schema")


class VerificationCreateSchema(ProfileCreateSchema):
    """``POST /api/verifications``: the profile fields of ``POST /api/profiles`` plus images.

    Each of ``document_front`` (required), ``document_back`` and ``selfie`` comes as a multipart
    file, as ``<name>_base64`` or as ``<name>_key`` (an object in the partner's bucket). Liveness
    frames need ``challenge_token`` from ``POST /v1/liveness/challenge``.
    """

    document_front_base64 = Base64Image()
    document_back_base64 = Base64Image()
    selfie_base64 = Base64Image()
    document_front_key = fields.String(validate=OBJECT_KEY)
    document_back_key = fields.String(validate=OBJECT_KEY)
    selfie_key = fields.String(validate=OBJECT_KEY)
    frames = fields.List(fields.Nested(FrameSchema), validate=validate.Length(max=MAX_FRAMES))
    challenge_token = fields.String(validate=validate.Length(1, 4096))
    mirrored = fields.Boolean(load_default=False)
