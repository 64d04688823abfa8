"""The applicant's side of a profile: what a capture link may see and do, step by step.

The link itself (who may open the capture, what a refused link shows, the per-link limits) is
``capture_link.CaptureLink``, which this service extends. Images pass
``image_policy.clean_image`` before they are stored; document photos are also checked for quality
at once so the applicant can retake while still holding the document.

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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.errors import (
    IllegalTransition,
    LinkFinished,
    NotFound,
    StepNotReady,
    ValidationFailed,
)
from gateway.services.capture_link import (
    APPLICANT_ACTOR,
    CaptureConfig,
    CaptureLink,
    CaptureSession,
)
from gateway.services.capture_rules import (
    SELFIE_CAPTURE,
    FrameUpload,
    SelfieCapture,
    accepted_countries,
    check_document_accepted,
    check_frames,
    normalize_country,
)
from gateway.services.capture_state import TWO_SIDED_TYPES, document_type_of, page_state
from gateway.services.countries import country_choices
from gateway.services.image_policy import (
    CleanImage,
    clean_image,
)
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase, stored_name_for
from gateway.services.pocketbase_transport import FileTuple
from gateway.services.profiles import queue_submitted
from gateway.services.selfie_capture import (
    SelfieCheck,
    challenge_answer,
    challenge_arguments,
    challenge_record,
    check_still,
    check_usable_challenge,
    clean_frames,
    default_selfie_check,
    usable_selfie_index,
)
from gateway.verification.documents.normalize import DOCUMENT_TYPES

log = structlog.get_logger("gateway.capture")

SIDE_FIELDS = {"front": "document_front", "back": "document_back"}
IMAGE_FIELDS = ("document_front", "document_back", "selfie")


# -- data --------------------------------------------------------------------------------------


@dataclass
class UploadResult:
    """A document photo's verdict: stored when ``accepted``, else the issues to show."""

    accepted: bool
    issues: list[dict[str, str]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


# -- the service -------------------------------------------------------------------------------


class CaptureService(CaptureLink):
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

    def state(self, session: CaptureSession, *, lang: str = "en") -> dict[str, Any]:
        """What the page needs to draw itself and resume at the right step."""
        return page_state(session, lang=lang, max_upload_bytes=self.config.max_upload_bytes)

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
        session.profile = self._save(session, {"consent_at": now, "capture": capture})
        return session.profile

    def countries(self, session: CaptureSession, *, lang: str) -> list[dict[str, str]]:
        """The issuing countries the partner accepts (every one unless it restricts them), named
        in ``lang`` and sorted by name: ``[{code, alpha_2, name}]``."""
        accepted = accepted_countries(session.settings)
        return [
            choice
            for choice in country_choices(lang)
            if accepted is None or choice["code"] in accepted
        ]

    def choose_document(
        self, session: CaptureSession, *, document_type: str, country: str
    ) -> dict[str, Any]:
        """Store the applicant's document type and issuing country (ISO 3166 alpha-3), if the
        partner accepts both (else 422 ``document_not_accepted`` and nothing is written)."""
        self._require_consent(session)
        if document_type not in DOCUMENT_TYPES:
            raise ValidationFailed(
                "Unknown document type", errors={"type": [f"one of {list(DOCUMENT_TYPES)}"]}
            )
        alpha3 = normalize_country(country)
        # Refused before anything is written: a document the partner would refuse at decision
        # time is not captured at all.
        check_document_accepted(session.settings, document_type, alpha3)
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
        session.profile = self._save(session, fields)
        return session.profile

    # -- document photos -----------------------------------------------------------------------

    def upload_document(self, session: CaptureSession, side: str, content: bytes) -> UploadResult:
        """Check one document photo; store it only if it passes policy and quality."""
        self._require_consent(session)
        document_type = document_type_of(session)
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
        session.profile = self._save(
            session, {"capture": capture}, files={field_name: [_file(f"{field_name}.jpg", image)]}
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
        session.profile = self._save(session, {"liveness_challenge": challenge})
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
        stored = self._save(
            session,
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
        session.profile = self._save(session, {"capture": capture})
        return {"frames": len(frames), "challenge_id": challenge["id"]}

    def _save(
        self,
        session: CaptureSession,
        fields: dict[str, Any],
        files: dict[str, list[FileTuple]] | None = None,
    ) -> dict[str, Any]:
        """Write one step of the capture, only while the profile is still ``in_progress``.

        The link was checked when the request came in, before the image was cleaned and judged;
        another tab may have submitted since (or the partner erased the profile), and a photo
        stored then would replace the evidence already queued for verification. Such a step
        writes nothing and is answered as the link would be now."""
        try:
            return self.pb.update(
                "profiles", session.profile_id, fields, files, expected_status="in_progress"
            )
        except IllegalTransition as error:
            self.verify(session.profile_id, session.token)
            raise LinkFinished("finished") from error

    # -- files ---------------------------------------------------------------------------------

    def image(self, session: CaptureSession, field_name: str) -> bytes:
        """The stored (clean) bytes of one of the applicant's own images, for the review page."""
        if field_name not in IMAGE_FIELDS:
            raise NotFound("No such image")
        filename = session.profile.get(field_name)
        if not filename:
            raise NotFound("Nothing captured yet")
        return self.pb.download_file("profiles", session.profile_id, filename)

    # -- submit --------------------------------------------------------------------------------

    def submit(self, session: CaptureSession) -> dict[str, Any]:
        """``in_progress -> submitted`` (actor applicant), then queue the verification.

        The move is made only on the profile the captures were checked on (its ``version``): if
        another tab wrote meanwhile (a new document type drops the photos of the old one), the
        captures are checked again on what is there now."""
        try:
            return self._submit(session)
        except IllegalTransition:
            session = self.verify(session.profile_id, session.token)
            return self._submit(session)

    def _submit(self, session: CaptureSession) -> dict[str, Any]:
        self._require_in_progress(session)
        profile = session.profile
        capture = session.capture
        missing = []
        document_type = document_type_of(session)
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
                expected_version=profile.get("version"),
                set_fields={"capture": capture},
            )
        except IllegalTransition as error:
            if error.extra.get("current_status") == "in_progress":
                raise  # written since it was read: checked again by submit()
            raise LinkFinished("finished") from error
        session.profile = result["profile"]
        queue_submitted(self.enqueue, session.profile_id)
        return {
            "status": session.profile["status"],
            "redirect_url": self.return_url(session, status=session.profile["status"]),
        }


# -- helpers -----------------------------------------------------------------------------------


def _file(name: str, image: CleanImage) -> FileTuple:
    return (name, image.content, image.mime_type)


def _default_quality_check(rgb: Any) -> Any:
    from gateway.verification.documents.quality import assess_quality

    return assess_quality(rgb)


def _default_issue_challenge(**kwargs: Any) -> Any:
    from gateway.verification.liveness.challenge import issue_challenge

    return issue_challenge(**kwargs)
