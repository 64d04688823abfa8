"""Request schemas of the synchronous ``/v1`` check endpoints.

Images arrive as base64 strings and load to bytes (``Base64Image``: strict base64, else 422);
their size and type are the upload gate's (413, 415), checked by the service.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from gateway.schemas.fields import Base64Image
from gateway.schemas.profiles import _country_alpha3
from gateway.verification.documents.normalize import DOCUMENT_HINTS
from gateway.verification.liveness.sequence import MAX_FRAMES


class FaceMatchSchema(Schema):
    """``POST /v1/face/match``."""

    class Meta:
        unknown = RAISE

    image_source_base64 = Base64Image(required=True)
    image_target_base64 = Base64Image(required=True)
    threshold = fields.Float(
        validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=False),
        allow_nan=False,
    )


class FaceMatchFormSchema(Schema):
    """``POST /v1/face/match`` as multipart: files ``image_source``/``image_target`` (read by the
    route) or their base64 in form fields, and an optional threshold. Other form fields are
    ignored, as a browser form may carry its own."""

    class Meta:
        unknown = EXCLUDE

    image_source_base64 = Base64Image()
    image_target_base64 = Base64Image()
    threshold = fields.Float(
        validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=False),
        allow_nan=False,
    )


def _country_hint(value: str) -> None:
    if value != "auto":
        _country_alpha3(value)


class DocumentOcrSchema(Schema):
    """``POST /v1/document/ocr``."""

    class Meta:
        unknown = RAISE

    image_front_base64 = Base64Image(required=True)
    image_back_base64 = Base64Image()
    document_hint = fields.String(load_default="auto", validate=validate.OneOf(DOCUMENT_HINTS))
    country_hint = fields.String(
        load_default="auto", validate=[validate.Length(1, 4), _country_hint]
    )


class DocumentValidateSchema(Schema):
    """``POST /v1/document/validate``: exactly one of ``mrz`` or ``fields``."""

    class Meta:
        unknown = RAISE

    mrz = fields.String(validate=validate.Length(1, 200))
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(validate=validate.Length(1, 64)),
        values=fields.Raw(allow_none=True),
        validate=validate.Length(min=1, max=50),
    )

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("mrz" in data) == ("fields_" in data):
            raise ValidationError("send exactly one of mrz or fields", "_schema")


class FrameSchema(Schema):
    """One frame of a liveness burst: a JPEG of the video element, its prompt, its time (ms).

    Frames come in capture order: "neutral" frames first, then >= 10 per second under each
    prompt of the challenge (docs/liveness.md).
    """

    class Meta:
        unknown = RAISE

    image_base64 = Base64Image(required=True)
    prompt = fields.String(required=True, validate=validate.Length(1, 40))
    t_ms = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0))


class ChallengeField(fields.Field):
    """A list of prompts, or a challenge object ``{prompts: [...], ...}`` as issued."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        prompts = value.get("prompts") if isinstance(value, dict) else value
        if (
            not isinstance(prompts, list)
            or not 1 <= len(prompts) <= 6
            or not all(isinstance(prompt, str) and prompt for prompt in prompts)
        ):
            raise ValidationError("must be a list of 1 to 6 prompts (or {prompts: [...]})")
        return list(prompts)


IGNORED_FIELD_MAX_CHARS = 4096


class IgnoredField(fields.Raw):
    """A field of the specification's request bodies that the gateway accepts and does not use:
    any JSON up to ``IGNORED_FIELD_MAX_CHARS`` once serialised, loaded to nothing."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> None:
        if len(json.dumps(value)) > IGNORED_FIELD_MAX_CHARS:
            raise ValidationError(f"at most {IGNORED_FIELD_MAX_CHARS} characters of JSON")


class LivenessAnalyzeSchema(Schema):
    """``POST /v1/liveness/analyze``: a challenge with frames, or one image (passive only).

    ``hints`` (in the specification's example body) is accepted and ignored: the verdict comes
    from the frames alone, never from what the client says about them.
    """

    class Meta:
        unknown = RAISE

    challenge = ChallengeField()
    # The verifier's own limit: the dense captures the hosted flow sends (12 frames a second,
    # ~100 for three prompts) are accepted, and nothing the verifier would refuse for its count.
    frames = fields.List(fields.Nested(FrameSchema), validate=validate.Length(1, MAX_FRAMES))
    mirrored = fields.Boolean(load_default=False)
    image_live_base64 = Base64Image()
    hints = IgnoredField(
        load_only=True,
        allow_none=True,
        metadata={"description": "Accepted and ignored (the specification's)"},
    )

    @validates_schema
    def _one_mode(self, data: dict[str, Any], **_: Any) -> None:
        active = "challenge" in data or "frames" in data
        if active and "image_live_base64" in data:
            raise ValidationError(
                "send either challenge and frames, or image_live_base64", "_schema"
            )
        if active and not ("challenge" in data and "frames" in data):
            raise ValidationError("challenge and frames go together", "_schema")
        if not active and "image_live_base64" not in data:
            raise ValidationError(
                "send challenge and frames, or image_live_base64 (passive only)", "_schema"
            )
