"""Partners' server-side verification: images sent by the partner's back end, not a browser.

``POST /api/verifications`` makes (or reuses) the partner's profile exactly as
``POST /api/profiles`` does, stores the images sent (multipart files, base64, or object keys in
the bucket the operator configured for that partner) through the one upload policy, and queues
the same verification job; the partner then polls ``GET /api/profiles/{id}`` and receives the
same webhooks as for a hosted-flow verification.

Liveness needs frames captured under a challenge the server issued first
(``POST /v1/liveness/challenge``): the challenge comes back as a signed token bound to the
partner, valid once and until its expiry, so a partner cannot pick easy prompts or replay an
old recording under a new challenge. Without frames, liveness is ``not_checked`` and the
partner's required checks decide (by default liveness is required, so such a verification is
never approved automatically).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.errors import ChallengeTokenRefused, Conflict, IllegalTransition, ValidationFailed
from gateway.services.api_keys import Principal
from gateway.services.capture_rules import offered_prompts
from gateway.services.image_policy import clean_image

# A request stores its captures within seconds of opening the profile (in_progress); one left
# there this long was cut short (the store went away, the gateway died), not slow: the KYC
# Service intake's rule, one constant for both.
from gateway.services.intake.kyc_service import ABANDONED_AFTER_S
from gateway.services.object_store import ObjectStore
from gateway.services.partner_settings import liveness_settings
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.profiles import APPLICANT_FIELDS, ProfileService, queue_submitted
from gateway.services.request_signing import SEEN_KEPT_S

log = structlog.get_logger("gateway.intake")

CHALLENGE_TTL_S = 600
# A used challenge is remembered in the seen-signatures table (pb_hooks/signatures.pb.js), whose
# rows every caller prunes once they are older than request_signing.SEEN_KEPT_S. A row is written
# when the challenge is used, after it was issued, so it outlives the challenge as long as the
# challenge lives no longer than that.
assert CHALLENGE_TTL_S <= SEEN_KEPT_S
IMAGE_FIELDS = ("document_front", "document_back", "selfie")
OPEN_FOR_CAPTURE = ["unverified", "resubmission_requested"]
SERVER_CAPTURE_REASON = "captures sent by the partner's server"
# What POST /api/profiles takes: the applicant part of a verification request.
APPLICANT_KEYS = frozenset(
    {"external_ref", *APPLICANT_FIELDS, "document", "return_url", "metadata"}
)


@dataclass
class SubmittedImages:
    """The raw bytes the partner sent, by field, and the liveness frames in capture order."""

    images: dict[str, bytes]
    frames: list[tuple[bytes, str, float]]  # (image, prompt, t_ms)


class PartnerVerificationService:
    """Create-and-submit in one call; liveness challenges for server-side capture."""

    def __init__(
        self,
        pb: PocketBase,
        profiles: ProfileService,
        store: ObjectStore,
        *,
        signing_secret: str,
        max_upload_bytes: int,
        partner_buckets: dict[str, str] | None = None,
        enqueue: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pb = pb
        self.profiles = profiles
        self.store = store
        self._key = hmac.new(signing_secret.encode(), b"partner-challenge", hashlib.sha256).digest()
        self.max_upload_bytes = max_upload_bytes
        self.partner_buckets = dict(partner_buckets or {})
        self.enqueue = enqueue
        self.clock = clock

    # -- challenges ----------------------------------------------------------------------------

    def issue_challenge(self, principal: Principal) -> dict[str, Any]:
        """A random challenge from the partner's liveness prompts, as a signed one-use token."""
        from gateway.verification.liveness.challenge import issue_challenge

        # Read as the hosted flow reads them (selfie_capture.challenge_arguments), so a group or
        # count of another shape gives the defaults, not a 500.
        liveness = liveness_settings(principal.settings)
        prompts, count = offered_prompts(liveness.get("prompts"), liveness.get("prompt_count"))
        options: dict[str, Any] = {
            "ttl_s": CHALLENGE_TTL_S,
            "now": self.clock(),
            "prompts_allowed": prompts,
        }
        if count:
            options["count"] = count
        challenge = issue_challenge(**options).as_dict()
        payload = {**challenge, "partner": principal.partner_id}
        return {**challenge, "challenge_token": self._sign(payload)}

    def _sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _open_token(self, principal: Principal, token: str) -> dict[str, Any]:
        body, _, mac = token.partition(".")
        expected = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        # As bytes: compare_digest raises TypeError for text outside ASCII.
        if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise ChallengeTokenRefused("challenge_token is not one this gateway issued")
        payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        if payload.get("partner") != principal.partner_id:
            raise ChallengeTokenRefused("challenge_token was issued to another partner")
        if float(payload["expires_at"]) <= self.clock():
            raise ChallengeTokenRefused("challenge_token has expired; ask for a new challenge")
        used = self.pb.find_first(
            "profiles",
            "partner = {:partner} && liveness_challenge.id = {:id}",
            {"partner": principal.partner_id, "id": str(payload["id"])},
        )
        if used is not None:
            raise ChallengeTokenRefused("challenge_token was already used")
        payload.pop("partner")
        return payload

    def _use_challenge(self, principal: Principal, challenge_id: str) -> None:
        """Use the challenge up, once across every gateway process: the unique index of the
        seen-signatures table decides in one INSERT. The lookup in ``_open_token`` alone let
        concurrent requests with one token all pass before any of them had stored it."""
        prune_before = datetime.fromtimestamp(self.clock() - SEEN_KEPT_S, UTC)
        fresh = self.pb.record_signature(
            f"challenge_{principal.partner_id}",
            hashlib.sha256(challenge_id.encode()).hexdigest(),
            pb_datetime(prune_before),
        )
        if not fresh:
            raise ChallengeTokenRefused("challenge_token was already used")

    def _abandoned(self, profile_id: str) -> bool:
        """Left in ``in_progress`` by a server-side request that was cut short before it stored
        its captures: opened by this path (not by an applicant in the hosted flow) and untouched
        for ``ABANDONED_AFTER_S``. Without this, every retry of the partner got 409 for good."""
        profile = self.pb.get("profiles", profile_id)
        if profile["status"] != "in_progress":
            return False
        if (profile.get("last_change") or {}).get("reason") != SERVER_CAPTURE_REASON:
            return False
        idle_s = self.clock() - parse_pb_time(profile["updated"]).timestamp()
        return idle_s > ABANDONED_AFTER_S

    # -- verification --------------------------------------------------------------------------

    def read_keys(self, principal: Principal, keys: dict[str, str]) -> dict[str, bytes]:
        """Objects named by key, from the bucket the operator configured for this partner."""
        if not keys:
            return {}
        bucket = self.partner_buckets.get(principal.partner_id)
        if not bucket or not self.store.configured:
            raise ValidationFailed(
                "Object keys need an S3 bucket configured for this partner by the operator "
                "(EKYC_PARTNER_S3_BUCKETS)",
                errors={field: ["no_bucket_configured"] for field in keys},
            )
        return {
            field: self.store.fetch(
                key, max_bytes=self.max_upload_bytes, field=field, bucket=bucket
            )
            for field, key in keys.items()
        }

    def submit_request(
        self,
        principal: Principal,
        data: dict[str, Any],
        uploads: dict[str, bytes],
        frame_uploads: list[bytes],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """The validated body plus multipart files: each image from a file, base64 or a key."""
        images: dict[str, bytes] = {}
        keys: dict[str, str] = {}
        for field in IMAGE_FIELDS:
            sources = [
                name
                for name, present in (
                    (field, field in uploads),
                    (f"{field}_base64", f"{field}_base64" in data),
                    (f"{field}_key", f"{field}_key" in data),
                )
                if present
            ]
            if len(sources) > 1:
                raise ValidationFailed(
                    f"{field}: send one of a file, base64 or a key", errors={field: sources}
                )
            if field in uploads:
                images[field] = uploads[field]
            elif f"{field}_base64" in data:
                images[field] = data[f"{field}_base64"]
            elif f"{field}_key" in data:
                keys[field] = data[f"{field}_key"]
        frames_meta = data.get("frames") or []
        frame_keys = {
            f"frames[{index}]": frame["key"]
            for index, frame in enumerate(frames_meta)
            if "key" in frame
        }
        images.update(self.read_keys(principal, {**keys, **frame_keys}))
        frames: list[tuple[bytes, str, float]] = []
        if frame_uploads and any("image_base64" in f or "key" in f for f in frames_meta):
            raise ValidationFailed(
                "frames: send the images as selfie_frames files or inside frames, not both",
                errors={"frames": ["mixed_sources"]},
            )
        if frame_uploads and len(frame_uploads) != len(frames_meta):
            raise ValidationFailed(
                "frames: one entry (prompt, t_ms) per selfie_frames file, in the same order",
                errors={"frames": ["count_mismatch"]},
            )
        for index, frame in enumerate(frames_meta):
            if frame_uploads:
                content = frame_uploads[index]
            elif "image_base64" in frame:
                content = frame["image_base64"]
            elif "key" in frame:
                content = images.pop(f"frames[{index}]")
            else:
                raise ValidationFailed(
                    f"frames[{index}]: no image", errors={f"frames.{index}": ["no_image"]}
                )
            frames.append((content, frame.get("prompt") or "", float(frame.get("t_ms") or 0.0)))
        applicant = {name: value for name, value in data.items() if name in APPLICANT_KEYS}
        if applicant.get("date_of_birth") and not isinstance(applicant["date_of_birth"], str):
            applicant["date_of_birth"] = applicant["date_of_birth"].isoformat()
        return self.submit(
            principal,
            applicant,
            SubmittedImages(images, frames),
            challenge_token=data.get("challenge_token"),
            mirrored=bool(data.get("mirrored")),
            idempotency_key=idempotency_key,
        )

    def submit(
        self,
        principal: Principal,
        applicant: dict[str, Any],
        submitted: SubmittedImages,
        *,
        challenge_token: str | None = None,
        mirrored: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create or reuse the profile, store the captures, queue the verification."""
        images = submitted.images
        if not images.get("document_front"):
            raise ValidationFailed(
                "document_front is required", errors={"document_front": ["required"]}
            )
        if not images.get("selfie") and not submitted.frames:
            raise ValidationFailed(
                "a selfie or liveness frames are required", errors={"selfie": ["required"]}
            )
        challenge = None
        if submitted.frames:
            if not challenge_token:
                raise ChallengeTokenRefused(
                    "liveness frames need the challenge_token from POST /v1/liveness/challenge",
                    errors={"challenge_token": ["required"]},
                )
            challenge = self._open_token(principal, challenge_token)
            challenge["used_at"] = pb_datetime(datetime.now(UTC))
        cleaned = {
            field: clean_image(content, max_bytes=self.max_upload_bytes)
            for field, content in images.items()
            if content
        }
        frame_images = [
            clean_image(content, max_bytes=self.max_upload_bytes)
            for content, _, _ in submitted.frames
        ]
        if challenge is not None:
            # Last, once every image passed, and before any write: a refused upload leaves the
            # challenge unused, a reused challenge leaves no profile behind.
            self._use_challenge(principal, str(challenge["id"]))
        view, _ = self.profiles.create_or_reuse(principal, applicant, idempotency_key)
        profile_id = view["id"]
        try:
            self.pb.transition(
                profile_id,
                "in_progress",
                actor=principal.actor,
                reason=SERVER_CAPTURE_REASON,
                expected_from=OPEN_FOR_CAPTURE,
            )
        except IllegalTransition as error:
            if not self._abandoned(profile_id):
                raise Conflict(
                    "This profile is not open for new captures",
                    extra={"current_status": error.extra.get("current_status")},
                ) from error
            # An earlier request opened it and never stored its captures: this one finishes.
            log.warning("partner_verification_resumed", profile_id=profile_id)
        files: dict[str, list[tuple[str, bytes, str]]] = {}
        for field in ("document_front", "document_back", "selfie"):
            if field in cleaned:
                files[field] = [(f"{field}.jpg", cleaned[field].content, "image/jpeg")]
        frames_meta = []
        if frame_images:
            names = [f"frame{index:03d}.jpg" for index in range(len(frame_images))]
            files["selfie_frames"] = [
                (name, clean.content, "image/jpeg")
                for name, clean in zip(names, frame_images, strict=True)
            ]
            frames_meta = [
                {"filename": name, "prompt": prompt, "t_ms": t_ms}
                for name, (_, prompt, t_ms) in zip(names, submitted.frames, strict=True)
            ]
        elif "selfie" in cleaned:
            # One still selfie: the face match's one frontal frame, liveness not checked.
            files["selfie_frames"] = [("selfie.jpg", cleaned["selfie"].content, "image/jpeg")]
        # Earlier attempts' frames and challenge go first: the frames belong to this challenge
        # only. (The multipart update below cannot clear a field: it leaves out None values.)
        self.pb.update(
            "profiles",
            profile_id,
            {"selfie_frames": [], "document_back": "", "liveness_challenge": None},
        )
        self.pb.update(
            "profiles",
            profile_id,
            {
                "capture": {"frames": frames_meta, "mirrored": mirrored, "source": "server"},
                "liveness_challenge": challenge,
            },
            files=files,
        )
        try:
            submitted_profile = self.pb.transition(
                profile_id,
                "submitted",
                actor=principal.actor,
                reason="captures complete (server-side)",
                expected_from=["in_progress"],
            )["profile"]
        except IllegalTransition as error:
            # Two retries resumed the same abandoned request: the other one submitted it.
            raise Conflict(
                "This profile is not open for new captures",
                extra={"current_status": error.extra.get("current_status")},
            ) from error
        queue_submitted(self.enqueue, profile_id)
        log.info("partner_verification_queued", profile_id=profile_id, frames=len(frame_images))
        return {
            "id": profile_id,
            "status": submitted_profile["status"],
            "external_ref": submitted_profile.get("external_ref") or None,
            "liveness": "challenge" if challenge else "not_checked",
        }
