"""The KYC Service intake: ``POST /api/v1/process`` hands over a verification by object keys.

One profile per ``kycId`` (``external_ref = kyc-{kycId}``) under the ``kyc-service`` partner, so
the verification gets what any profile gets: status history, the audit log, webhooks, the same
queue, worker and pipeline. Intake reads the images before it answers, so a missing object or
refused credentials are a 4xx/5xx now rather than a failed job later, and the profile reaches
``submitted`` (where the reconciler guards it) before the 202 is sent.

Duplicates: the profile is created or found in one PocketBase transaction (unique per partner and
``external_ref``), and only the request that wins ``unverified -> in_progress`` (checked in one
transaction too) stores the images and queues the job; every other submission of the same
``kycId`` gets 202 with the same job id and queues nothing. A claim left ``in_progress`` for
``ABANDONED_AFTER_S`` (the gateway died between claim and queue) is finished by the next
submission of that ``kycId``; until then the KYC Service's watchdog bounds the wait.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from gateway.errors import IllegalTransition, NotFound, StoreError, Unauthorized
from gateway.services import links
from gateway.services.image_policy import clean_image
from gateway.services.intake.kyc_result import build_result, job_id_for, kyc_status
from gateway.services.object_store import ObjectStore
from gateway.services.partner_settings import effective_settings, retention_days
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.profiles import queue_submitted

log = structlog.get_logger("gateway.intake")

PARTNER_SLUG = "kyc-service"
# The KYC Service sends a passport and one selfie, no liveness frames: liveness cannot be
# required (it would never approve), the face match and the document decide.
PARTNER_SETTINGS = {"required_checks": {"liveness": False, "face_match": True, "document": True}}
IMAGE_KEYS = (
    ("passportKey", "document_front", "passport.jpg"),
    ("selfieKey", "selfie_frames", "selfie.jpg"),
    ("stampKey", "other_documents", "stamp.jpg"),
)
LINK_TTL_S = 86_400  # the profile has no applicant link in use; the field is required
ABANDONED_AFTER_S = 120


@dataclass(frozen=True)
class IntakeConfig:
    """The service tokens and the largest image accepted."""

    service_secrets: tuple[str, ...]
    max_upload_bytes: int
    # Reveals the document values the store keeps sealed, for the result the service receives.
    data_key: str = ""


class KycIntakeService:
    """Accept, deduplicate and queue KYC Service verifications; report their status."""

    def __init__(
        self,
        pb: PocketBase,
        store: ObjectStore,
        config: IntakeConfig,
        enqueue: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pb = pb
        self.store = store
        self.config = config
        self.enqueue = enqueue
        self.clock = clock
        self._partner_id: str | None = None

    # -- authentication ------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> None:
        """Accept any configured ``KYC_SERVICE_SECRET`` (several during a rotation), compared in
        constant time against every one, so timing tells neither which nor how much matched."""
        if not self.config.service_secrets:
            raise Unauthorized("The KYC Service intake is not configured (KYC_SERVICE_SECRET)")
        given = (token or "").encode()
        matched = False
        for secret in self.config.service_secrets:
            matched |= hmac.compare_digest(given, secret.encode())
        if not token or not matched:
            raise Unauthorized("Missing or wrong X-Service-Token")

    # -- intake --------------------------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue the verification of ``body`` (validated) once; ``{jobId, status, queued}``."""
        kyc_id = body["kycId"]
        job_id = job_id_for(kyc_id)
        partner_id = self.partner_id()
        existing = self._find(kyc_id)
        if existing is not None and not self._resumable(existing):
            return self._accepted(existing, queued=False)
        images = self._read_images(body)
        if existing is not None and existing["status"] == "in_progress":
            # An intake cut short after its claim (the gateway died): this submission finishes it.
            profile = existing
            log.warning("kyc_intake_resumed", profile_id=profile["id"])
        else:
            fields = self._profile_fields(body, job_id)
            profile = self.pb.upsert_profile(partner_id, fields)["profile"]
            try:
                self.pb.transition(
                    profile["id"],
                    "in_progress",
                    actor=self.actor,
                    reason="images received from the KYC Service",
                    expected_from=["unverified"],
                )
            except IllegalTransition:
                # A concurrent submission of the same kycId won: it stores and queues, not us.
                return self._accepted(profile, queued=False)
        self.pb.update("profiles", profile["id"], {}, files=images)
        try:
            submitted = self.pb.transition(
                profile["id"],
                "submitted",
                actor=self.actor,
                reason="queued by the KYC Service intake",
                expected_from=["in_progress"],
            )["profile"]
        except IllegalTransition:
            # Two submissions resumed the same abandoned intake: the other one queued it.
            return self._accepted(self.pb.get("profiles", profile["id"]), queued=False)
        self._audit("intake.accepted", profile["id"], {"job_id": job_id})
        queue_submitted(self.enqueue, profile["id"])
        log.info("kyc_intake_queued", profile_id=profile["id"], job_id=job_id)
        return self._accepted(submitted, queued=True)

    def status(self, kyc_id: int) -> dict[str, Any]:
        """The job's status and, once decided, its result (``NotFound`` for an unknown kycId)."""
        profile = self._find(kyc_id)
        if profile is None:
            raise NotFound("No verification for that kycId")
        return {
            "jobId": job_id_for(kyc_id),
            "kycId": kyc_id,
            "status": kyc_status(profile),
            "profileStatus": profile["status"],
            "result": build_result(profile, data_key=self.config.data_key)
            if kyc_status(profile) != "pending"
            else None,
        }

    # -- helpers -------------------------------------------------------------------------------

    @property
    def actor(self) -> str:
        return f"partner:{self.partner_id()}"

    def partner_id(self) -> str:
        """The ``kyc-service`` partner, created on first use with settings for passport+selfie."""
        if self._partner_id is None:
            partner = self.pb.find_first("partners", "slug = {:slug}", {"slug": PARTNER_SLUG})
            if partner is None:
                try:
                    partner = self.pb.create(
                        "partners",
                        {
                            "name": "KYC Service",
                            "slug": PARTNER_SLUG,
                            "status": "active",
                            "settings": PARTNER_SETTINGS,
                        },
                    )
                except StoreError:
                    # Another process created it between our lookup and create (unique slug).
                    partner = self.pb.find_first(
                        "partners", "slug = {:slug}", {"slug": PARTNER_SLUG}
                    )
                    if partner is None:
                        raise
            self._partner_id = str(partner["id"])
        return self._partner_id

    def owns(self, profile: dict[str, Any]) -> bool:
        """Whether this intake made ``profile``: the ``kyc-service`` partner's, for its kycId.

        Its metadata alone proves nothing: any partner may put ``{"kyc_service": {"kycId": N}}``
        in its own profiles' metadata, and must not have its decision written into row N.
        Looks the partner up without creating it (a worker that finds none owns nothing).
        """
        intake = (profile.get("metadata") or {}).get("kyc_service") or {}
        if not intake.get("kycId"):
            return False
        if self._partner_id is None:
            partner = self.pb.find_first("partners", "slug = {:slug}", {"slug": PARTNER_SLUG})
            if partner is None:
                return False
            self._partner_id = str(partner["id"])
        return profile.get("partner") == self._partner_id and profile.get(
            "external_ref"
        ) == job_id_for(intake["kycId"])

    def _resumable(self, profile: dict[str, Any]) -> bool:
        """Not yet stored and queued: new, or claimed by an intake that never finished (an
        intake takes seconds after its claim; ``ABANDONED_AFTER_S`` without progress is a
        crash, not a slow request)."""
        if profile["status"] == "unverified":
            return True
        if profile["status"] != "in_progress":
            return False
        idle_s = (self.clock() - parse_pb_time(profile["updated"])).total_seconds()
        return idle_s > ABANDONED_AFTER_S

    def _find(self, kyc_id: int) -> dict[str, Any] | None:
        return self.pb.find_first(
            "profiles",
            "partner = {:partner} && external_ref = {:ref}",
            {"partner": self.partner_id(), "ref": job_id_for(kyc_id)},
        )

    def _read_images(self, body: dict[str, Any]) -> dict[str, list[tuple[str, bytes, str]]]:
        """Each named object read from the store and passed through the upload policy."""
        files: dict[str, list[tuple[str, bytes, str]]] = {}
        for body_key, field, filename in IMAGE_KEYS:
            if not body.get(body_key):
                continue
            raw = self.store.fetch(
                body[body_key], max_bytes=self.config.max_upload_bytes, field=body_key
            )
            clean = clean_image(raw, max_bytes=self.config.max_upload_bytes)
            files[field] = [(filename, clean.content, clean.mime_type)]
        return files

    def _profile_fields(self, body: dict[str, Any], job_id: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "external_ref": job_id,
            "metadata": {
                "kyc_service": {
                    "kycId": body["kycId"],
                    "userId": body["userId"],
                    "passportKey": body["passportKey"],
                    "selfieKey": body["selfieKey"],
                    "stampKey": body.get("stampKey"),
                }
            },
            "status_actor": self.actor,
            "status_reason": "created by the KYC Service intake",
            "link_nonce": links.new_nonce(),
            "link_expires_at": pb_datetime(now + timedelta(seconds=LINK_TTL_S)),
            # The partner's retention_days (90 by default), as for any partner's profile: the
            # operator sets it with `ekyc settings set kyc-service`.
            "retention_until": pb_datetime(now + timedelta(days=self._retention_days())),
        }

    def _retention_days(self) -> int:
        partner = self.pb.get("partners", self.partner_id())
        return retention_days(effective_settings(partner.get("settings")))

    def _accepted(self, profile: dict[str, Any], *, queued: bool) -> dict[str, Any]:
        intake = (profile.get("metadata") or {}).get("kyc_service") or {}
        return {
            "jobId": profile.get("external_ref") or job_id_for(intake.get("kycId")),
            "status": kyc_status(profile),
            "profileId": profile["id"],
            "queued": queued,
        }

    def _audit(self, action: str, profile_id: str, detail: dict[str, Any]) -> None:
        """One audit row (ids only); a failure is logged, the intake has already succeeded."""
        response = self.pb.request(
            "POST",
            "/api/ekyc/audit",
            json={"actor": self.actor, "action": action, "target": profile_id, "detail": detail},
        )
        if response.status_code != 201:
            log.warning("kyc_intake_audit_failed", status=response.status_code)
