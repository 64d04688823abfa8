"""The applicant's side of a profile: what a capture link may see and do, step by step.

A capture token (``gateway.services.links``) is the applicant's only credential. It is checked on
every call against the profile named in the URL, the profile's current ``link_nonce`` and its
status, so a token never reaches another profile, and issuing a new link retires the old one at
once. Nothing is written for a refused link. Images pass ``image_policy.clean_image`` before they
are stored; document photos are also checked for quality at once so the applicant can retake
while still holding the document.

The selfie is checked at capture time too: before a challenge the page sends stills to
``check_selfie_still`` until the face is found, large enough, in frame, frontal and lit (the
worker's own detector and size rule), and ``upload_selfie`` refuses frames whose neutral stills
all fail that check, so a selfie the worker would refuse as ``INVALID_PHOTO:selfie`` is retaken
while the applicant is still there, with a message that says what to change.

The ``capture`` json on the profile records what the applicant did: consent, the document they
chose, the selfie frames (``{prompt, t_ms, filename}``) and, after a reviewer or the worker asked
for a resubmission, which step failed and why (cleared once that step is captured again).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.errors import (
    IllegalTransition,
    LinkExpired,
    LinkFinished,
    LinkMissing,
    LinkRefused,
    NotFound,
    StepNotReady,
    ValidationFailed,
)
from gateway.services import links
from gateway.services.capture_rules import (
    SELFIE_CAPTURE,
    FrameUpload,
    SelfieCapture,
    allowed_return_url,
    branding,
    check_frames,
    normalize_country,
    resubmission_step,
)
from gateway.services.image_policy import (
    MAX_IMAGE_BYTES,
    CleanImage,
    clean_image,
)
from gateway.services.partner_settings import effective_settings
from gateway.services.pb_time import iso, pb_datetime
from gateway.services.pocketbase import FileTuple, PocketBase, stored_name_for
from gateway.services.selfie_capture import (
    DEFAULT_CHECK_RATE_LIMIT,
    SelfieCheck,
    challenge_answer,
    challenge_arguments,
    challenge_record,
    check_still,
    check_usable_challenge,
    clean_frames,
    default_selfie_check,
    usable_selfie_index,
    warm_up_face_models,
)
from gateway.verification.documents.normalize import DOCUMENT_TYPES

log = structlog.get_logger("gateway.capture")

APPLICANT_ACTOR = "applicant"
TWO_SIDED_TYPES = frozenset({"id_card", "driver_license", "residence_permit"})
FINISHED_STATUSES = frozenset(
    {"submitted", "processing", "approved", "rejected", "manual_review", "document_expired"}
)
DEFAULT_UPLOAD_RATE_LIMIT = "30 per minute;300 per hour"
DEFAULT_API_RATE_LIMIT = "120 per minute;2000 per hour"
SIDE_FIELDS = {"front": "document_front", "back": "document_back"}
IMAGE_FIELDS = ("document_front", "document_back", "selfie")


# -- errors ------------------------------------------------------------------------------------


# -- data --------------------------------------------------------------------------------------


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


@dataclass
class UploadResult:
    """A document photo's verdict: stored when ``accepted``, else the issues to show."""

    accepted: bool
    issues: list[dict[str, str]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


# -- the service -------------------------------------------------------------------------------


class CaptureService:
    """Applicant operations on one profile; no Flask, explicit arguments."""

    def __init__(
        self,
        pb: PocketBase,
        config: CaptureConfig,
        *,
        enqueue: Callable[[str], None] | None = None,
        quality_check: Callable[[Any], Any] | None = None,
        issue_challenge: Callable[..., Any] | None = None,
        selfie_check: SelfieCheck | None = None,
        selfie_capture: SelfieCapture = SELFIE_CAPTURE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pb = pb
        self.config = config
        self.enqueue = enqueue
        self.quality_check = quality_check or _default_quality_check
        self.issue_challenge_fn = issue_challenge or _default_issue_challenge
        self.selfie_check = selfie_check or default_selfie_check
        self.selfie_capture = selfie_capture
        self.clock = clock

    # -- link ----------------------------------------------------------------------------------

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
        cleared.update(selfie="", selfie_frames=[], liveness_challenge=None)
        capture.pop("frames", None)
        # One transaction: the status change and the clearing of the failed step's captures, so
        # a second tab opening at the same moment cannot clear what the first one re-captured.
        return self._move_to_in_progress(
            session,
            "resubmission_requested",
            "applicant reopened the link for resubmission",
            **cleared,
        )

    # -- state ---------------------------------------------------------------------------------

    def state(self, session: CaptureSession, *, lang: str = "en") -> dict[str, Any]:
        """What the page needs to draw itself and resume at the right step."""
        profile = session.profile
        capture = session.capture
        document = capture.get("document") or {}
        document_type = _document_type(session)
        frames = capture.get("frames") or []
        resubmission = capture.get("resubmission")
        return {
            "profile_id": profile["id"],
            "status": profile["status"],
            "lang": lang,
            "step": self._next_step(profile, capture, document_type),
            "branding": branding(session.settings, session.partner_name),
            "retention_days": int(session.settings.get("retention_days") or 90),
            "consent_at": iso(profile.get("consent_at")),
            "document": {
                "type": document_type,
                "country": (
                    document.get("country")
                    or profile.get("document_country")
                    or profile.get("country")
                    or ""
                ).upper(),
                "needs_back": document_type in TWO_SIDED_TYPES,
                "types": list(DOCUMENT_TYPES),
            },
            "captured": {
                "document_front": bool(profile.get("document_front")),
                "document_back": bool(profile.get("document_back")),
                "selfie": bool(profile.get("selfie")),
                "selfie_frames": len(frames),
            },
            "resubmission": (
                {"step": resubmission["step"], "reason": resubmission["reason"]}
                if resubmission
                else None
            ),
            "max_upload_bytes": self.config.max_upload_bytes,
        }

    @staticmethod
    def _next_step(profile: dict[str, Any], capture: dict[str, Any], document_type: str) -> str:
        if not profile.get("consent_at"):
            return "consent"
        if not document_type or not profile.get("document_front"):
            return "document"
        if document_type in TWO_SIDED_TYPES and not profile.get("document_back"):
            return "document"
        if not profile.get("selfie") or not capture.get("frames"):
            return "selfie"
        return "review"

    # -- consent and document choice -------------------------------------------------------------

    def consent(self, session: CaptureSession, *, accepted: bool, lang: str) -> dict[str, Any]:
        """Record the applicant's consent (time, retention shown, language of the text)."""
        self._require_in_progress(session)
        if accepted is not True:
            raise ValidationFailed(
                "Consent is needed to continue", errors={"accepted": ["must be true"]}
            )
        now = pb_datetime(datetime.now(UTC))
        capture = session.capture
        capture["consent"] = {
            "at": now,
            "retention_days": int(session.settings.get("retention_days") or 90),
            "lang": lang,
        }
        session.profile = self.pb.update(
            "profiles", session.profile_id, {"consent_at": now, "capture": capture}
        )
        return session.profile

    def choose_document(
        self, session: CaptureSession, *, document_type: str, country: str
    ) -> dict[str, Any]:
        """Store the applicant's document type and issuing country (ISO 3166 alpha-3)."""
        self._require_consent(session)
        if document_type not in DOCUMENT_TYPES:
            raise ValidationFailed(
                "Unknown document type", errors={"type": [f"one of {list(DOCUMENT_TYPES)}"]}
            )
        alpha3 = normalize_country(country)
        capture = session.capture
        previous = (capture.get("document") or {}).get("type")
        capture["document"] = {"type": document_type, "country": alpha3}
        fields: dict[str, Any] = {"capture": capture}
        # The partner's own document data wins; the applicant's choice fills what is missing.
        if not session.profile.get("document_type"):
            fields["document_type"] = document_type
        if not session.profile.get("document_country"):
            fields["document_country"] = alpha3
        if previous and previous != document_type:
            fields.update(document_front=None, document_back=None)
        if document_type not in TWO_SIDED_TYPES and session.profile.get("document_back"):
            fields["document_back"] = None
        session.profile = self.pb.update("profiles", session.profile_id, fields)
        return session.profile

    # -- document photos -----------------------------------------------------------------------

    def upload_document(self, session: CaptureSession, side: str, content: bytes) -> UploadResult:
        """Check one document photo; store it only if it passes policy and quality."""
        self._require_consent(session)
        document_type = _document_type(session)
        if not document_type:
            raise StepNotReady("Choose the document type first")
        if side not in SIDE_FIELDS:
            raise NotFound("No such document side")
        if side == "back" and document_type not in TWO_SIDED_TYPES:
            raise ValidationFailed(
                "This document type has no back to photograph", errors={"side": ["front only"]}
            )
        image = clean_image(content, max_bytes=self.config.max_upload_bytes)
        report = self.quality_check(image.rgb)
        issues = [issue.as_dict() for issue in report.issues]
        metrics = {k: v for k, v in report.metrics.items() if k != "elapsed_ms"}
        if issues:
            log.info("document_photo_refused", side=side, codes=[i["code"] for i in issues])
            return UploadResult(accepted=False, issues=issues, metrics=metrics)
        field_name = SIDE_FIELDS[side]
        capture = session.capture
        capture.setdefault("documents", {})[side] = {
            "width_px": image.width_px,
            "height_px": image.height_px,
            "source_type": image.source_type,
            "quality": metrics,
        }
        # The document photos the resubmission asked for are all here: its notice goes.
        complete = side == "back" or document_type not in TWO_SIDED_TYPES
        if complete and (capture.get("resubmission") or {}).get("step") == "document":
            capture.pop("resubmission")
        session.profile = self.pb.update(
            "profiles",
            session.profile_id,
            {"capture": capture},
            files={field_name: [_file(f"{field_name}.jpg", image)]},
        )
        return UploadResult(accepted=True, metrics=metrics)

    # -- selfie with liveness challenge --------------------------------------------------------

    def new_challenge(self, session: CaptureSession) -> dict[str, Any]:
        """A fresh random challenge for this attempt; any earlier one can no longer be used."""
        self._require_consent(session)
        arguments = challenge_arguments(
            session.settings, self.config.challenge_ttl_s, self.selfie_capture
        )
        challenge = challenge_record(
            self.issue_challenge_fn(**arguments).as_dict(),
            session.profile.get("liveness_challenge") or {},
            arguments["prompts_allowed"],
        )
        session.profile = self.pb.update(
            "profiles", session.profile_id, {"liveness_challenge": challenge}
        )
        return challenge_answer(challenge, self.selfie_capture)

    def check_selfie_still(self, session: CaptureSession, content: bytes) -> dict[str, Any]:
        """Is this camera still a usable selfie? ``{ok, issue}``; nothing is stored.

        The page calls it before asking for a challenge and shows ``issue.code``'s sentence
        ("come closer", "look straight at the camera") until the face passes.
        """
        self._require_consent(session)
        return check_still(content, self.selfie_check)

    def upload_selfie(
        self, session: CaptureSession, challenge_id: str, frames: Sequence[FrameUpload]
    ) -> dict[str, Any]:
        """Store the frames captured under the current challenge, which is then used up.

        Every frame is checked (policy, budget, a usable neutral selfie) before anything is
        stored, so a bad upload stores none of them and leaves the challenge unused.
        """
        self._require_consent(session)
        challenge = session.profile.get("liveness_challenge") or {}
        check_usable_challenge(challenge, challenge_id, self.clock())
        check_frames(frames, challenge["prompts"], self.selfie_capture)
        cleaned = clean_frames(frames, self.config.max_upload_bytes)
        selfie_index = usable_selfie_index(frames, cleaned, self.selfie_check)
        names = [f"frame{index:03d}.jpg" for index in range(len(frames))]
        challenge["used_at"] = pb_datetime(datetime.now(UTC))
        # Replace, not append: the frames of an earlier attempt belong to an earlier challenge.
        stored = self.pb.update(
            "profiles",
            session.profile_id,
            {"liveness_challenge": challenge},
            files={
                "selfie_frames": [
                    _file(name, image) for name, image in zip(names, cleaned, strict=True)
                ],
                "selfie": [_file("selfie.jpg", cleaned[selfie_index])],
            },
        )
        stored_frames = stored.get("selfie_frames") or []
        capture = session.capture
        capture["frames"] = [
            {
                "prompt": frame.prompt,
                "t_ms": frame.t_ms,
                "filename": stored_name_for(name, stored_frames) or "",
            }
            for frame, name in zip(frames, names, strict=True)
        ]
        capture["challenge_id"] = challenge["id"]
        capture["mirrored"] = False
        capture["selfie_frame_index"] = selfie_index
        # The selfie the resubmission asked for is here: the notice has nothing more to ask.
        if (capture.get("resubmission") or {}).get("step") == "selfie":
            capture.pop("resubmission")
        session.profile = self.pb.update("profiles", session.profile_id, {"capture": capture})
        return {"frames": len(frames), "challenge_id": challenge["id"]}

    # -- files ---------------------------------------------------------------------------------

    def image(self, session: CaptureSession, field_name: str) -> bytes:
        """The stored (clean) bytes of one of the applicant's own images, for the review page."""
        if field_name not in IMAGE_FIELDS:
            raise NotFound("No such image")
        filename = session.profile.get(field_name)
        if not filename:
            raise NotFound("Nothing captured yet")
        return self.pb.download_file("profiles", session.profile_id, filename)

    def link_url(self, session: CaptureSession) -> str:
        """The same capture link, to continue on another device."""
        return f"{self.config.frontend_url}/{session.profile_id}?t={session.token}"

    # -- submit --------------------------------------------------------------------------------

    def submit(self, session: CaptureSession) -> dict[str, Any]:
        """``in_progress -> submitted`` (actor applicant), then queue the verification."""
        self._require_in_progress(session)
        profile = session.profile
        capture = session.capture
        missing = []
        document_type = _document_type(session)
        if not profile.get("consent_at"):
            missing.append("consent")
        if not document_type or not profile.get("document_front"):
            missing.append("document_front")
        if document_type in TWO_SIDED_TYPES and not profile.get("document_back"):
            missing.append("document_back")
        if not profile.get("selfie") or not capture.get("frames"):
            missing.append("selfie")
        if missing:
            raise StepNotReady(
                "Some captures are missing", errors={name: ["missing"] for name in missing}
            )
        capture["submitted_at"] = pb_datetime(datetime.now(UTC))
        capture.pop("resubmission", None)
        try:
            result = self.pb.transition(
                session.profile_id,
                "submitted",
                actor=APPLICANT_ACTOR,
                reason="applicant submitted the captures",
                expected_from=["in_progress"],
                set_fields={"capture": capture},
            )
        except IllegalTransition as error:
            raise LinkFinished("finished") from error
        session.profile = result["profile"]
        if self.enqueue is not None:
            try:
                self.enqueue(session.profile_id)
            except Exception:  # the reconciler re-enqueues anything left in submitted
                log.exception("enqueue_failed", profile_id=session.profile_id)
        return {
            "status": session.profile["status"],
            "redirect_url": self.return_url(session, status=session.profile["status"]),
        }

    # -- return --------------------------------------------------------------------------------

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

    # -- guards --------------------------------------------------------------------------------

    @staticmethod
    def _require_in_progress(session: CaptureSession) -> None:
        if session.profile["status"] != "in_progress":
            raise StepNotReady("Open the link first")

    def _require_consent(self, session: CaptureSession) -> None:
        self._require_in_progress(session)
        if not session.profile.get("consent_at"):
            raise StepNotReady("Consent is needed first")


# -- helpers -----------------------------------------------------------------------------------


def _document_type(session: CaptureSession) -> str:
    """The applicant's choice, else the type the partner sent with the profile (the page then
    skips the choice and goes straight to the photo), else ""."""
    chosen = (session.capture.get("document") or {}).get("type")
    document_type = chosen or session.profile.get("document_type") or ""
    return document_type if document_type in DOCUMENT_TYPES else ""


def _file(name: str, image: CleanImage) -> FileTuple:
    return (name, image.content, image.mime_type)


def _default_quality_check(rgb: Any) -> Any:
    from gateway.verification.documents.quality import assess_quality

    return assess_quality(rgb)


def _default_issue_challenge(**kwargs: Any) -> Any:
    from gateway.verification.liveness.challenge import issue_challenge

    return issue_challenge(**kwargs)
