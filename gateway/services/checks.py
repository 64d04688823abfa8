"""``CheckService``: the synchronous /v1 checks a partner calls directly, outside any profile.

Each method takes decoded request data, passes every image through the upload gate
(``image_policy.check_image_bytes``: size, then type by content, before any decoding) and hands
the pixels to the pure checks in ``gateway.verification``. Metering is the caller's
(``UsageMeter.metered``) so that refused input is metered too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.errors import ValidationFailed
from gateway.services.image_policy import check_image_bytes
from gateway.verification.documents.service import analyze_document, validate_fields, validate_mrz
from gateway.verification.faces.match import match_faces
from gateway.verification.images import decode_image
from gateway.verification.liveness.challenge import Challenge
from gateway.verification.liveness.passive import analyze_passive
from gateway.verification.liveness.verify import verify_challenge

# An API challenge is judged at once, so its lifetime only has to cover the call itself.
API_CHALLENGE_TTL_S = 600


@dataclass
class CheckService:
    """Face match, document OCR and validation, liveness: bytes in, result dicts out."""

    max_upload_bytes: int

    def image_bytes(self, content: bytes, field: str) -> bytes:
        """``content`` if it passes the upload gate, else a 413/415/422 problem."""
        check_image_bytes(content, max_bytes=self.max_upload_bytes, field=field)
        return content

    def pixels(self, content: bytes, field: str) -> np.ndarray:
        """Gate, then decode (the decoder applies the pixel limit)."""
        return decode_image(self.image_bytes(content, field), field=field)

    def face_match(self, source: bytes, target: bytes, threshold: float) -> dict[str, Any]:
        """Is the face in one image the face in another?"""
        source_rgb = self.pixels(source, "image_source")
        target_rgb = self.pixels(target, "image_target")
        return match_faces(source_rgb, target_rgb, threshold).as_dict()

    def document_ocr(
        self,
        front: bytes,
        back: bytes | None,
        *,
        document_hint: str,
        country_hint: str,
        min_age: int,
    ) -> dict[str, Any]:
        """Read a document photo: type, fields, MRZ and its checks."""
        return analyze_document(
            self.pixels(front, "image_front_base64"),
            self.pixels(back, "image_back_base64") if back else None,
            document_hint=document_hint,
            country_hint=country_hint.upper() if country_hint != "auto" else "auto",
            min_age=min_age,
        )

    @staticmethod
    def document_validate(
        mrz: str | None, fields: dict[str, Any] | None, *, min_age: int
    ) -> dict[str, Any]:
        """Validate an MRZ or extracted fields: check digits, dates, codes."""
        if mrz is not None:
            return validate_mrz(mrz, min_age=min_age)
        return validate_fields(fields or {}, min_age=min_age)

    def passive_liveness(self, image: bytes) -> dict[str, Any]:
        """Passive evidence from one image (no challenge: never proof of liveness alone)."""
        return analyze_passive(self.pixels(image, "image_live_base64")).to_liveness_dict()

    def challenge_liveness(
        self, prompts: list[str], frames: list[dict[str, Any]], *, mirrored: bool
    ) -> dict[str, Any]:
        """Liveness from frames captured under a challenge of ``prompts``."""
        now = time.time()
        try:
            challenge = Challenge.from_dict(
                {"id": "api", "prompts": prompts, "issued_at": now,
                 "expires_at": now + API_CHALLENGE_TTL_S}
            )  # fmt: skip
        except ValueError as error:
            raise ValidationFailed(
                f"challenge: {error}", errors={"challenge": [str(error)]}
            ) from error
        checked = [
            {
                "image": self.image_bytes(frame["image_base64"], f"frames[{index}].image_base64"),
                "prompt": frame["prompt"],
                "t_ms": frame["t_ms"],
            }
            for index, frame in enumerate(frames)
        ]
        return verify_challenge(challenge, checked, now=now, mirrored=mirrored).as_dict()
