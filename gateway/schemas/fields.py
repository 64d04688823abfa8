"""Fields shared by several request schemas."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import ValidationError, fields

# Above the largest upload setting anyone would choose; the real limit (EKYC_MAX_UPLOAD_BYTES) is
# applied to the decoded bytes by the upload gate, with its own status (413).
BASE64_HARD_LIMIT_CHARS = 64 * 1024 * 1024


class Base64Image(fields.Field):
    """An image sent as strict base64 text (a ``data:image/...;base64,`` prefix is allowed).

    Loads to ``bytes``; what the bytes are (size, type by content, pixels) is the upload gate's
    question, not the schema's.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or not value:
            raise ValidationError("Send the image as a non-empty base64 string")
        if value.startswith("data:"):
            header, _, value = value.partition(",")
            if not header.endswith(";base64"):
                raise ValidationError("A data URL must be base64-encoded")
        if len(value) > BASE64_HARD_LIMIT_CHARS:
            raise ValidationError("The image is far larger than any upload limit")
        try:
            content = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationError("Not valid base64") from error
        if not content:
            raise ValidationError("The image is empty")
        return content
