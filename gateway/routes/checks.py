"""Synchronous partner checks: face match, document OCR and validation, liveness.

Each call is authenticated with a partner key, rate-limited per key, metered as one usage event
(billed only when the check ran) and answers with ``processing_ms`` and ``usage``. Images come
as strict base64 in JSON (multipart files are accepted for face match): bad base64 is a 422, more
than the upload limit a 413, anything but JPEG/PNG/WebP by its bytes a 415.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from marshmallow import ValidationError

from gateway.auth import current_principal, limiter, partner_rate_limit, require_scope, services
from gateway.errors import (
    GatewayError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from gateway.routes import json_body
from gateway.schemas.checks import (
    DocumentOcrSchema,
    DocumentValidateSchema,
    FaceMatchSchema,
    LivenessAnalyzeSchema,
)
from gateway.services.uploads import sniff_image_type
from gateway.services.usage import record_usage
from gateway.verification.documents.service import analyze_document, validate_fields, validate_mrz
from gateway.verification.faces.match import match_faces
from gateway.verification.faces.recognition import DEFAULT_THRESHOLD
from gateway.verification.images import decode_image
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.passive import analyze_passive
from gateway.verification.liveness.verify import verify_challenge

bp = Blueprint("checks", __name__, url_prefix="/v1")
limiter.limit(partner_rate_limit)(bp)

_face_schema = FaceMatchSchema()
_ocr_schema = DocumentOcrSchema()
_validate_schema = DocumentValidateSchema()
_liveness_schema = LivenessAnalyzeSchema()


def _image_bytes(value: str, field: str) -> bytes:
    """Strict base64 (a ``data:image/...;base64,`` prefix is allowed) -> bytes of a real image."""
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if not header.endswith(";base64"):
            raise ValidationFailed(f"{field}: a data URL must be base64", errors={field: "base64"})
    limit = services().settings.max_upload_bytes
    if len(value) * 3 // 4 > limit + 2:
        raise PayloadTooLarge(f"{field}: the image is larger than {limit} bytes")
    try:
        content = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed(
            f"{field}: not valid base64", errors={field: "invalid base64"}
        ) from error
    return _checked(content, field)


def _checked(content: bytes, field: str) -> bytes:
    limit = services().settings.max_upload_bytes
    if not content:
        raise ValidationFailed(f"{field}: the image is empty", errors={field: "empty"})
    if len(content) > limit:
        raise PayloadTooLarge(f"{field}: the image is larger than {limit} bytes")
    if sniff_image_type(content) is None:
        raise UnsupportedMediaType(f"{field}: the content is not a JPEG, PNG or WebP image")
    return content


def _rgb(value: str, field: str):
    return decode_image(_image_bytes(value, field), field=field)


def _metered(module: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a check, record one usage event whatever happens, add processing_ms and usage."""
    principal = current_principal()
    started = time.perf_counter()
    outcome = "error"
    billed = False
    try:
        result = run()
        billed = True
        outcome = _outcome(result)
    except GatewayError as error:
        outcome = error.code
        raise
    except ValidationError:
        outcome = "validation_failed"
        raise
    finally:
        processing_ms = (time.perf_counter() - started) * 1000.0
        record_usage(
            services().pb,
            principal.partner_id,
            module,
            billed=billed,
            processing_ms=processing_ms,
            outcome=outcome,
        )
    return {
        **result,
        "processing_ms": round(processing_ms, 1),
        "usage": {"module": module, "billed": billed},
    }


def _outcome(result: dict[str, Any]) -> str:
    """A short code for the usage row: never a field value."""
    if result.get("code"):
        return str(result["code"])
    if "is_live" in result:
        return "live" if result["is_live"] else "not_live"
    if "document_valid" in result:
        return "valid" if result["document_valid"] else "invalid"
    return "ok"


def _face_match_input() -> dict[str, Any]:
    if request.mimetype == "multipart/form-data":
        data: dict[str, Any] = {}
        for side in ("source", "target"):
            upload = request.files.get(f"image_{side}")
            if upload is not None:
                data[f"image_{side}"] = _checked(upload.read(), f"image_{side}")
            elif request.form.get(f"image_{side}_base64"):
                data[f"image_{side}"] = _image_bytes(
                    request.form[f"image_{side}_base64"], f"image_{side}_base64"
                )
            else:
                raise ValidationFailed(
                    f"image_{side} is required (file or image_{side}_base64)",
                    errors={f"image_{side}": ["required"]},
                )
        if request.form.get("threshold") not in (None, ""):
            loaded = _face_schema.load(
                {"image_source_base64": "-", "image_target_base64": "-",
                 "threshold": request.form["threshold"]}
            )  # fmt: skip
            data["threshold"] = loaded["threshold"]
        return data
    body = _face_schema.load(json_body())
    return {
        "image_source": _image_bytes(body["image_source_base64"], "image_source_base64"),
        "image_target": _image_bytes(body["image_target_base64"], "image_target_base64"),
        **({"threshold": body["threshold"]} if "threshold" in body else {}),
    }


@bp.post("/face/match")
@require_scope("partner")
def face_match() -> dict[str, Any]:
    """Is the face in one image the face in another?"""

    def run() -> dict[str, Any]:
        data = _face_match_input()
        threshold = data.get(
            "threshold",
            float(current_principal().settings.get("face_match_threshold", DEFAULT_THRESHOLD)),
        )
        source = decode_image(data["image_source"], field="image_source")
        target = decode_image(data["image_target"], field="image_target")
        return match_faces(source, target, threshold).as_dict()

    return _metered("face_match", run)


@bp.post("/document/ocr")
@require_scope("partner")
def document_ocr() -> dict[str, Any]:
    """Read a document photo: type, fields, MRZ and its checks."""

    def run() -> dict[str, Any]:
        body = _ocr_schema.load(json_body())
        front = _rgb(body["image_front_base64"], "image_front_base64")
        back = (
            _rgb(body["image_back_base64"], "image_back_base64")
            if body.get("image_back_base64")
            else None
        )
        return analyze_document(
            front,
            back,
            document_hint=body["document_hint"],
            country_hint=body["country_hint"].upper() if body["country_hint"] != "auto" else "auto",
            min_age=int(current_principal().settings.get("min_age", 18)),
        )

    return _metered("document_ocr", run)


@bp.post("/document/validate")
@require_scope("partner")
def document_validate() -> dict[str, Any]:
    """Validate an MRZ or extracted fields: check digits, dates, codes."""

    def run() -> dict[str, Any]:
        body = _validate_schema.load(json_body())
        min_age = int(current_principal().settings.get("min_age", 18))
        if "mrz" in body:
            return validate_mrz(body["mrz"], min_age=min_age)
        return validate_fields(body["fields_"], min_age=min_age)

    return _metered("document_validate", run)


@bp.post("/liveness/analyze")
@require_scope("partner")
def liveness_analyze() -> dict[str, Any]:
    """Liveness from frames captured under a challenge, or passive evidence from one image."""

    def run() -> dict[str, Any]:
        body = _liveness_schema.load(json_body())
        if "image_live_base64" in body:
            rgb = _rgb(body["image_live_base64"], "image_live_base64")
            return analyze_passive(rgb).to_liveness_dict()
        now = time.time()
        try:
            challenge = Challenge.from_dict(
                {"id": "api", "prompts": body["challenge"], "issued_at": now,
                 "expires_at": now + 600}
            )  # fmt: skip
        except ValueError as error:
            raise ValidationFailed(
                f"challenge: {error}", errors={"challenge": [str(error)]}
            ) from error
        frames = [
            {
                "image": _image_bytes(frame["image_base64"], f"frames[{index}].image_base64"),
                "prompt": frame["prompt"],
                "t_ms": frame["t_ms"],
            }
            for index, frame in enumerate(body["frames"])
        ]
        return verify_challenge(challenge, frames, now=now, mirrored=body["mirrored"]).to_dict()

    return _metered("liveness", run)
