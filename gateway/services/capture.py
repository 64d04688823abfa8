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
chose, the selfie frames (``{prompt, t_ms, filename}``) with the challenge they answer and, after
a reviewer or the worker asked for a resubmission, which step failed and why (cleared once that
step is captured again).
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
from gateway.services.partner_settings import max_challenges, retention_days
from gateway.services.pb_time import pb_datetime
from gateway.services.pocketbase import PocketBase, stored_name_for
from gateway.services.pocketbase_transport import FileTuple
from gateway.services.profiles import queue_submitted
from gateway.services.selfie_capture import (
    SelfieCheck,
    answered_challenge,
    challenge_answer,
    challenge_arguments,
    challenge_record,
    challenge_to_submit,
    check_draw_allowed,
    check_still,
    check_usable_challenge,
    clean_frames,
    default_selfie_check,
    link_mark,
    reusable_challenge,
    usable_selfie_index,
)
from gateway.verification.documents.normalize import DOCUMENT_TYPES

log = structlog.get_logger("gateway.capture")

SIDE_FIELDS = {"front": "document_front", "back": "document_back"}
# Writes of one step tried on a fresh read when another tab wrote first (see CaptureService._save).
SAVE_ATTEMPTS = 3
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

        def change(capture: dict[str, Any]) -> dict[str, Any]:
            capture["consent"] = {
                "at": now,
                "retention_days": retention_days(session.settings),
                "lang": lang,
            }
            return {"consent_at": now, "capture": capture}

        return self._save(session, change)

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

        def change(capture: dict[str, Any]) -> dict[str, Any]:
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
            return fields

        return self._save(session, change)

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

        def change(capture: dict[str, Any]) -> dict[str, Any]:
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
            return {"capture": capture}

        self._save(session, change, files={field_name: [_file(f"{field_name}.jpg", image)]})
        return UploadResult(accepted=True, metrics=metrics)

    # -- selfie with liveness challenge --------------------------------------------------------

    def new_challenge(self, session: CaptureSession) -> tuple[dict[str, Any], bool]:
        """The challenge for this attempt and whether it was drawn now: the unused one the
        applicant was already shown, else a new random draw, which retires any earlier one and
        counts against the link's ``liveness.max_challenges``."""
        self._require_consent(session)
        arguments = challenge_arguments(
            session.settings, self.config.challenge_ttl_s, self.selfie_capture
        )
        link = link_mark(session.profile.get("link_nonce") or "")
        limit = max_challenges(session.settings)
        previous = session.profile.get("liveness_challenge") or {}
        if reusable_challenge(previous, arguments, link, self.clock()):
            return challenge_answer(previous, self.selfie_capture), False
        check_draw_allowed(previous, link, limit)
        issued = self.issue_challenge_fn(**arguments).as_dict()
        challenge: dict[str, Any] = {}

        def change(capture: dict[str, Any]) -> dict[str, Any]:
            # Read again on a retry: another tab's draw counts too, and the one it drew (the
            # same link opened on two devices at once) is handed back as a reload would be.
            current = session.profile.get("liveness_challenge") or {}
            if reusable_challenge(current, arguments, link, self.clock()):
                raise _DrawnMeanwhile(current)
            check_draw_allowed(current, link, limit)
            challenge.update(challenge_record(issued, current, arguments, link))
            return {"liveness_challenge": challenge}

        try:
            self._save(session, change)
        except _DrawnMeanwhile as drawn:
            return challenge_answer(drawn.challenge, self.selfie_capture), False
        return challenge_answer(challenge, self.selfie_capture), True

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

        def use_challenge(capture: dict[str, Any]) -> dict[str, Any]:
            # Read again on a retry: another tab may have used it, or asked for a new one.
            current = dict(session.profile.get("liveness_challenge") or {})
            check_usable_challenge(current, challenge_id, self.clock())
            current["used_at"] = pb_datetime(datetime.now(UTC))
            return {"liveness_challenge": current}

        # Replace, not append: the frames of an earlier attempt belong to an earlier challenge.
        stored = self._save(
            session,
            use_challenge,
            files={
                "selfie_frames": [
                    _file(name, image) for name, image in zip(names, cleaned, strict=True)
                ],
                "selfie": [_file("selfie.jpg", cleaned[selfie_index])],
            },
        )
        stored_frames = stored.get("selfie_frames") or []
        # The challenge as this upload used it: the one its frames answer, whatever is drawn next.
        answered = answered_challenge(stored.get("liveness_challenge") or {})

        def describe_frames(capture: dict[str, Any]) -> dict[str, Any]:
            capture["frames"] = [
                {
                    "prompt": frame.prompt,
                    "t_ms": frame.t_ms,
                    "filename": stored_name_for(name, stored_frames) or "",
                }
                for frame, name in zip(frames, names, strict=True)
            ]
            capture["challenge_id"] = challenge["id"]
            capture["challenge"] = answered
            capture["mirrored"] = False
            capture["selfie_frame_index"] = selfie_index
            # The selfie the resubmission asked for is here: the notice has nothing more to ask.
            if (capture.get("resubmission") or {}).get("step") == "selfie":
                capture.pop("resubmission")
            return {"capture": capture}

        self._save(session, describe_frames)
        return {"frames": len(frames), "challenge_id": challenge["id"]}

    def _save(
        self,
        session: CaptureSession,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        files: dict[str, list[FileTuple]] | None = None,
    ) -> dict[str, Any]:
        """Write one step of the capture: ``change(capture)`` gives the fields to write from the
        profile's ``capture`` as read (``session.profile``), which it updates.

        The link was checked when the request came in, before the image was cleaned and judged;
        another tab may have written since. The write names the version it was made on and the
        status ``in_progress``: after a submit (or the partner's erasure) a photo stored then
        would replace the evidence already queued, so the step writes nothing and is answered as
        the link would be now; after another step (the computer's document photo while the phone
        sends the selfie), the change is made again on what that step stored, or the ``capture``
        record written from the old read would drop it."""
        for attempt in range(SAVE_ATTEMPTS):
            try:
                session.profile = self.pb.update(
                    "profiles",
                    session.profile_id,
                    change(session.capture),
                    files,
                    expected_status="in_progress",
                    expected_version=session.profile.get("version"),
                )
                return session.profile
            except IllegalTransition as error:
                fresh = self.verify(session.profile_id, session.token)
                if fresh.profile["status"] != "in_progress":
                    raise LinkFinished("finished") from error
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
                session.profile = fresh.profile
        raise AssertionError("unreachable")

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
        fields: dict[str, Any] = {"capture": capture}
        # A retake drawn and left unfinished: the worker judges the frames sent against the
        # challenge they answer (selfie_capture.challenge_to_submit).
        answered = challenge_to_submit(profile.get("liveness_challenge") or {}, capture)
        if answered is not None:
            fields["liveness_challenge"] = answered
        try:
            result = self.pb.transition(
                session.profile_id,
                "submitted",
                actor=APPLICANT_ACTOR,
                reason="applicant submitted the captures",
                expected_from=["in_progress"],
                expected_version=profile.get("version"),
                set_fields=fields,
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


class _DrawnMeanwhile(Exception):
    """Another tab drew a challenge while this one drew its own: that one is handed back and
    nothing is written (``CaptureService.new_challenge``)."""

    def __init__(self, challenge: dict[str, Any]) -> None:
        super().__init__("challenge drawn meanwhile")
        self.challenge = challenge


def _default_issue_challenge(**kwargs: Any) -> Any:
    from gateway.verification.liveness.challenge import issue_challenge

    return issue_challenge(**kwargs)
