"""The capture link: who may open a profile's capture, what page a refused link shows, where
the applicant goes back to, and the per-link rate limits.

A capture token (``gateway.services.links``) is the applicant's only credential. It is checked on
every call against the profile named in the URL, the profile's current ``link_nonce`` and its
status, so a token never reaches another profile, and issuing a new link retires the old one at
once. Nothing is written for a refused link. ``CaptureService`` (the steps) builds on this.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.errors import (
    IllegalTransition,
    LinkExpired,
    LinkFinished,
    LinkMissing,
    LinkRefused,
    NotFound,
    StepNotReady,
)
from gateway.services import links
from gateway.services.capture_rules import allowed_return_url, branding, resubmission_step
from gateway.services.image_policy import MAX_IMAGE_BYTES
from gateway.services.partner_settings import effective_settings
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.selfie_capture import (
    DEFAULT_CHECK_RATE_LIMIT,
    retired_challenge,
    warm_up_face_models,
)

APPLICANT_ACTOR = "applicant"
FINISHED_STATUSES = frozenset(
    {"submitted", "processing", "approved", "rejected", "manual_review", "document_expired"}
)
DEFAULT_UPLOAD_RATE_LIMIT = "30 per minute;300 per hour"
DEFAULT_API_RATE_LIMIT = "120 per minute;2000 per hour"


@dataclass(frozen=True)
class CaptureConfig:
    """What the applicant side needs from the gateway's settings."""

    frontend_url: str
    link_secret: str
    max_upload_bytes: int = MAX_IMAGE_BYTES
    challenge_ttl_s: int = 600
    api_rate_limit: str = DEFAULT_API_RATE_LIMIT


@dataclass
class CaptureSession:
    """A verified link: the profile it opens and the partner's effective settings."""

    profile: dict[str, Any]
    settings: dict[str, Any]
    partner_name: str
    token: str

    @property
    def profile_id(self) -> str:
        return self.profile["id"]

    @property
    def capture(self) -> dict[str, Any]:
        return dict(self.profile.get("capture") or {})


class CaptureLink:
    """The link half of ``CaptureService``: verify a token, open the capture, refuse or send
    back. Reads only, except opening (``unverified``/``resubmission_requested`` move on)."""

    pb: PocketBase
    config: CaptureConfig
    clock: Callable[[], float]

    def verify(self, profile_id: str, token: str | None) -> CaptureSession:
        """The session for a token that opens ``profile_id`` now, else a ``LinkRefused``.

        Reads only: a refused link writes nothing.
        """
        if not token:
            raise LinkMissing("missing")
        try:
            claims = links.read_link(self.config.link_secret, token, now_ts=self.clock())
        except links.InvalidLink as error:
            if error.reason == "expired":
                raise LinkExpired("expired") from error
            raise LinkRefused(error.reason) from error
        # A token for another profile is refused before that profile is even read.
        if not hmac.compare_digest(claims.profile_id.encode(), profile_id.encode()):
            raise LinkRefused("other_profile")
        try:
            profile = self.pb.get("profiles", profile_id)
        except NotFound as error:
            raise LinkRefused("not_found") from error
        if not hmac.compare_digest(
            (profile.get("link_nonce") or "").encode(), claims.nonce.encode()
        ):
            raise LinkRefused("superseded", "A newer link was issued for this verification")
        partner = self.pb.get("partners", profile["partner"])
        session = CaptureSession(
            profile=profile,
            settings=effective_settings(partner.get("settings")),
            partner_name=partner.get("name") or "",
            token=token,
        )
        status = profile["status"]
        if status == "expired":
            raise LinkExpired("expired")
        if status in FINISHED_STATUSES:
            raise LinkFinished(
                "finished", extra={"return_url": self.return_url(session, status=status)}
            )
        if partner.get("status") == "suspended":
            raise LinkRefused("partner_suspended")
        return session

    def link_branding(self, profile_id: str | None) -> dict[str, str] | None:
        """The branding of the partner whose profile ``profile_id`` names, for the page of a link
        that cannot be used (incomplete, tampered, expired...); None when no such profile exists,
        and the page is neutral. The id alone tells only whose link it is: the name and colours
        the applicant was sent to see, nothing about the applicant."""
        if not profile_id:
            return None
        try:
            profile = self.pb.get("profiles", profile_id)
            partner = self.pb.get("partners", profile["partner"])
        except NotFound:
            return None
        return branding(effective_settings(partner.get("settings")), partner.get("name") or "")

    def open(self, profile_id: str, token: str | None) -> CaptureSession:
        """Verify the link and start (or resume) the capture: ``unverified`` and
        ``resubmission_requested`` move to ``in_progress`` with actor ``applicant``."""
        session = self.verify(profile_id, token)
        warm_up_face_models()
        status = session.profile["status"]
        if status == "unverified":
            session.profile = self._move_to_in_progress(session, "unverified", "applicant opened")
        elif status == "resubmission_requested":
            session.profile = self._reopen_for_resubmission(session)
        return session

    def _move_to_in_progress(
        self, session: CaptureSession, from_status: str, reason: str, **set_fields: Any
    ) -> dict[str, Any]:
        try:
            return self.pb.transition(
                session.profile_id,
                "in_progress",
                actor=APPLICANT_ACTOR,
                reason=reason,
                expected_from=[from_status],
                set_fields=set_fields or None,
            )["profile"]
        except IllegalTransition:
            # Opened twice at once (two tabs): the other request moved it; use what it made.
            profile = self.pb.get("profiles", session.profile_id)
            if profile["status"] != "in_progress":
                raise
            return profile

    def _reopen_for_resubmission(self, session: CaptureSession) -> dict[str, Any]:
        reason = session.profile.get("status_reason") or ""
        step = resubmission_step(reason)
        capture = session.capture
        capture["resubmission"] = {
            "reason": reason[:500],
            "step": step,
            "at": pb_datetime(datetime.now(UTC)),
        }
        capture.pop("submitted_at", None)
        cleared: dict[str, Any] = {"capture": capture}
        if step == "document":
            cleared.update(document_front="", document_back="")
        # The link's challenge count is kept (selfie_capture.retired_challenge): a retake the
        # worker asked for on its own must not buy the same link more prompt orders.
        cleared.update(
            selfie="",
            selfie_frames=[],
            liveness_challenge=retired_challenge(session.profile.get("liveness_challenge") or {}),
        )
        capture.pop("frames", None)
        # One transaction: the status change and the clearing of the failed step's captures, so
        # a second tab opening at the same moment cannot clear what the first one re-captured.
        return self._move_to_in_progress(
            session,
            "resubmission_requested",
            "applicant reopened the link for resubmission",
            **cleared,
        )

    def link_url(self, session: CaptureSession) -> str:
        """The same capture link, to continue on another device."""
        return f"{self.config.frontend_url}/{session.profile_id}?t={session.token}"

    @staticmethod
    def return_url(session: CaptureSession, *, status: str) -> str | None:
        """The partner's return URL with ``profile_id`` and ``status``, only if it is allowed."""
        return allowed_return_url(
            session.profile.get("return_url") or "",
            session.settings.get("allowed_return_urls") or [],
            profile_id=session.profile_id,
            status=status,
        )

    def upload_rate_limit(self, session: CaptureSession) -> str:
        """The per-link upload limit: the partner's ``capture_upload_rate_limit`` or ours."""
        return str(session.settings.get("capture_upload_rate_limit") or DEFAULT_UPLOAD_RATE_LIMIT)

    def api_rate_limit(self, session: CaptureSession) -> str:
        """The per-link limit on every other call (the same for every partner)."""
        return self.config.api_rate_limit

    def check_rate_limit(self, session: CaptureSession) -> str:
        """The per-link limit on framing checks (the same for every partner)."""
        return DEFAULT_CHECK_RATE_LIMIT

    @staticmethod
    def _require_in_progress(session: CaptureSession) -> None:
        if session.profile["status"] != "in_progress":
            raise StepNotReady("Open the link first")

    def _require_consent(self, session: CaptureSession) -> None:
        self._require_in_progress(session)
        if not session.profile.get("consent_at"):
            raise StepNotReady("Consent is needed first")
