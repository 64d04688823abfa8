"""Request schema of the KYC Service intake (``POST /api/v1/process``)."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate


def _no_dot_segments(key: str) -> None:
    """Refuse "." and ".." path segments: HTTP clients fold them out of the presigned URL
    (``bucket/../other/key`` is sent as ``/other/key``), so the request would name another
    bucket than the one signed for, and the store's refusal would read as a credentials fault.
    A backslash counts as a separator too: SeaweedFS answers 400 to ``..\\`` (read as a store
    fault, 502), and a store that takes it for a slash would climb out of the bucket."""
    if any(segment in (".", "..") for segment in re.split(r"[/\\]", key)):
        raise ValidationError('must not hold "." or ".." path segments')


# An S3 object key: 1-1024 bytes (S3's own limit), no control characters, no dot segments.
OBJECT_KEY = validate.And(
    validate.Length(min=1, max=1024),
    validate.Regexp(r"^[^\x00-\x1f\x7f]+$", error="must not hold control characters"),
    _no_dot_segments,
)


class KycProcessSchema(Schema):
    """``{userId, kycId, passportKey, selfieKey, stampKey?}`` exactly as the KYC Service sends it.

    Unknown keys are ignored rather than refused: the sender is a back end we do not deploy, and
    a field it adds later must not stop verifications.
    """

    class Meta:
        unknown = EXCLUDE

    userId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    kycId = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    passportKey = fields.String(required=True, validate=OBJECT_KEY)
    selfieKey = fields.String(required=True, validate=OBJECT_KEY)
    stampKey = fields.String(load_default=None, allow_none=True, validate=OBJECT_KEY)
