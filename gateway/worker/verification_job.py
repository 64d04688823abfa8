"""One verification job: claim a submitted profile, load its captures, verify, record the outcome.

This is the one place where the two halves of the gateway meet: it reads captures from the store
(``gateway.services``), hands bytes and dicts to the pure checks (``gateway.verification``) and
writes their result back. It knows nothing of Huey; ``gateway.worker.tasks`` wraps it in a task.

Delivery is at-least-once (a Huey retry, a reconciler re-enqueue, a duplicated message), so the
job starts by claiming the profile with the transition ``submitted -> processing`` checked in one
PocketBase transaction; a second delivery finds it no longer ``submitted`` and stops. The claim
sets a lease: a worker killed mid-job leaves a profile the reconciler can recover.

Error mapping: a photo without a usable face -> ``resubmission_requested`` with
``INVALID_PHOTO:<side>`` (no retry); a transient store error -> the profile goes back to
``submitted`` and the caller's retry policy applies; retries exhausted -> ``manual_review`` with
``processing_failed``; any other exception -> ``manual_review`` at once (a bug does not get
better by retrying).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from gateway.container import Services
from gateway.errors import IllegalTransition, NotFound, StoreUnavailable, ValidationFailed
from gateway.services import crypto
from gateway.services.partner_settings import effective_settings, validate_settings
from gateway.services.pb_time import parse_pb_time, pb_datetime
from gateway.services.pocketbase import stored_name_for
from gateway.services.profiles import APPLICANT_FIELDS
from gateway.services.sealed_scores import seal_scores
from gateway.services.usage import record_usage
from gateway.verification.captures import Captures, InvalidPhoto, SelfieFrame
from gateway.verification.pipeline import run_pipeline

log = structlog.get_logger("gateway.worker")

ACTOR = "worker"
TRANSIENT_ERRORS = (StoreUnavailable,)
NOT_DECIDED = (None, "lease_lost")


def run_verification(
    services: Services,
    profile_id: str,
    *,
    retries_left: int = 0,
    on_decided: Callable[[], None] | None = None,
) -> str | None:
    """Claim, verify and decide. Re-raises transient errors while retries are left.

    ``on_decided`` runs once the outcome is stored (the task passes "deliver its webhooks now").
    """
    pb = services.pb
    lease_until = datetime.now(UTC) + timedelta(seconds=services.settings.worker_lease_s)
    try:
        claimed = pb.transition(
            profile_id,
            "processing",
            actor=ACTOR,
            reason="claimed by a worker",
            expected_from=["submitted"],
            set_fields={"lease_until": pb_datetime(lease_until)},
            increment=["processing_attempts"],
        )
    except IllegalTransition as error:
        log.info(
            "verification_skipped",
            profile_id=profile_id,
            status=error.extra.get("current_status"),
        )
        return None
    except NotFound:
        log.warning("verification_profile_missing", profile_id=profile_id)
        return None
    profile = claimed["profile"]
    started = time.perf_counter()
    scored = False
    try:
        status = _verify_claimed(services, profile)
        scored = status != "lease_lost"
    except InvalidPhoto as error:
        status = _finish(
            services,
            profile,
            "resubmission_requested",
            error.code,
            decision="",
            reasons=[f"{error.code}: {error.detail}"],
        )
    except TRANSIENT_ERRORS as error:
        if retries_left > 0:
            _release_for_retry(services, profile_id, str(error))
            raise
        status = _processing_failed(services, profile, f"{error.detail} (retries exhausted)")
    except Exception:
        log.exception("verification_crashed", profile_id=profile_id)
        status = _processing_failed(services, profile, "an internal error stopped the verification")
    processing_ms = (time.perf_counter() - started) * 1000.0
    if status not in NOT_DECIDED and on_decided is not None:
        _run_quietly(on_decided)
    log.info(
        "verification_done",
        profile_id=profile_id,
        status=status,
        processing_ms=round(processing_ms),
    )
    try:
        record_usage(
            pb,
            profile["partner"],
            "verification",
            billed=scored,  # a verification is billed when it reached a scored decision
            processing_ms=processing_ms,
            outcome=status or "skipped",
            profile=profile_id,
        )
    except StoreUnavailable:
        log.warning("usage_not_recorded", profile_id=profile_id)
    return status


def _verify_claimed(services: Services, profile: dict[str, Any]) -> str:
    pb = services.pb
    partner = pb.get("partners", profile["partner"])
    settings = effective_settings(partner.get("settings"))
    try:
        # The API and CLI refuse invalid settings; the admin UI's guard checks only a subset, and
        # a decision under a value read wrongly (a country list given as a string, an age as
        # words) would be silently wrong. No decision, then: a person looks at it.
        validate_settings(settings)
    except ValidationFailed as error:
        problems = "; ".join(
            f"{path}: {', '.join(why)}" for path, why in (error.errors or {}).items()
        )
        log.error("partner_settings_invalid", partner_id=partner["id"], problems=problems)
        return _processing_failed(
            services, profile, f"the partner's settings are invalid ({problems})"
        )
    captures = load_captures(services, profile)
    result = run_pipeline(captures, applicant_data(services, profile), settings)
    decision = result.decision
    return _finish(
        services,
        profile,
        decision.decision,
        decision.main_reason,
        decision=decision.decision,
        score=decision.score,
        reasons=decision.reasons,
        scores=result.scores(),
        document_expires_on=result.document_expires_on,
    )


def _finish(
    services: Services,
    profile: dict[str, Any],
    to_status: str,
    main_reason: str,
    *,
    decision: str,
    reasons: list[str],
    score: float | None = None,
    scores: dict[str, Any] | None = None,
    document_expires_on: str | None = None,
) -> str:
    """Record the outcome and leave ``processing`` in one transition (lease released).

    `decision` and `score` are only set by a scored decision; an outcome without a score (a bad
    photo, a failure) clears them, so the partner never reads an old or a made-up score.
    """
    fields: dict[str, Any] = {
        "decision": decision,
        "reasons": reasons,
        "lease_until": "",
        "score": score,
        # Who decided and why; the scored decision is also kept apart, so a reviewer's later
        # decision (which the data layer records as the profile's) never hides the worker's.
        "decided_by": ACTOR if decision else "",
        "decision_reason": main_reason[:1000] if decision else "",
        "automated_decision": (
            {"decision": decision, "score": score, "reasons": reasons} if decision else None
        ),
    }
    if scores is not None:
        # What was read from the document is stored masked, the full values sealed.
        fields["scores"] = seal_scores(services.settings.data_key, scores)
    if document_expires_on:
        fields["document_expires_on"] = document_expires_on
    try:
        services.pb.transition(
            profile["id"],
            to_status,
            actor=ACTOR,
            reason=main_reason[:1000],
            expected_from=["processing"],
            set_fields=fields,
        )
    except IllegalTransition:
        # The reconciler took the profile back after our lease ran out: the next run decides.
        log.warning("verification_lease_lost", profile_id=profile["id"])
        return "lease_lost"
    return to_status


def _run_quietly(on_decided: Callable[[], None]) -> None:
    """The outcome is stored whatever this does: a failure to act on it now is only logged."""
    try:
        on_decided()
    except Exception:
        log.warning("verification_on_decided_failed", exc_info=True)


def _processing_failed(services: Services, profile: dict[str, Any], why: str) -> str:
    """No decision could be reached: a person looks at it."""
    return _finish(
        services,
        profile,
        "manual_review",
        "processing_failed",
        decision="",
        reasons=[f"processing_failed: {why}"],
    )


def _release_for_retry(services: Services, profile_id: str, why: str) -> None:
    """Hand the profile back to ``submitted`` so the retry can claim it again.

    If the store is down this fails too; the lease then runs out and the reconciler does it.
    """
    try:
        services.pb.transition(
            profile_id,
            "submitted",
            actor=ACTOR,
            reason="transient error, retrying",
            expected_from=["processing"],
            set_fields={"lease_until": ""},
        )
    except (StoreUnavailable, IllegalTransition):
        log.warning("verification_release_failed", profile_id=profile_id)
    log.info("verification_retry", profile_id=profile_id, error=why[:200])


def applicant_data(services: Services, profile: dict[str, Any]) -> dict[str, Any]:
    """What the partner told us about the applicant, document number decrypted for comparison."""
    data = {
        name: profile.get(name) or None
        for name in (*APPLICANT_FIELDS, "document_type", "document_country")
    }
    metadata = profile.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("registration_number"):
        # A professional register's number, as the partner sent it (registry connector).
        data["registration_number"] = str(metadata["registration_number"])
    if profile.get("document_number_enc"):
        data["document_number"] = crypto.decrypt_text(
            services.settings.data_key, profile["document_number_enc"]
        )
    return {name: value for name, value in data.items() if value is not None}


def _frame_entries(capture: Any) -> list[dict[str, Any]]:
    if isinstance(capture, list):
        return [entry for entry in capture if isinstance(entry, dict)]
    if isinstance(capture, dict):
        for key in ("frames", "selfie_frames"):
            if isinstance(capture.get(key), list):
                return [entry for entry in capture[key] if isinstance(entry, dict)]
    return []


def _entry_for(stored_name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The capture entry whose file PocketBase stored as ``stored_name``."""
    for entry in entries:
        if stored_name_for(str(entry.get("filename") or ""), [stored_name]) == stored_name:
            return entry
    return {}


def load_captures(services: Services, profile: dict[str, Any]) -> Captures:
    """Download the profile's capture files and pair each frame with its prompt and time."""
    pb = services.pb

    def download(name: str | None) -> bytes | None:
        return pb.download_file("profiles", profile["id"], name) if name else None

    capture = profile.get("capture")
    entries = _frame_entries(capture)
    frames = []
    for index, name in enumerate(profile.get("selfie_frames") or []):
        entry = _entry_for(name, entries)
        frames.append(
            SelfieFrame(
                image=download(name) or b"",
                prompt=str(entry.get("prompt") or ""),
                t_ms=float(entry.get("t_ms", index * 100.0)),
            )
        )
    frames.sort(key=lambda frame: frame.t_ms)
    return Captures(
        document_front=download(profile.get("document_front")),
        document_back=download(profile.get("document_back")),
        selfie_frames=frames,
        liveness_challenge=profile.get("liveness_challenge") or None,
        challenge_checked_at=_challenge_used_at(services, profile),
        mirrored=bool(isinstance(capture, dict) and capture.get("mirrored")),
    )


def _challenge_used_at(services: Services, profile: dict[str, Any]) -> float | None:
    """When the frames were uploaded (else submitted): the challenge's expiry is judged then,
    not at job time, so a queue backlog or a retry does not expire a live applicant."""
    used_at = (profile.get("liveness_challenge") or {}).get("used_at")
    if isinstance(used_at, str) and used_at:
        return parse_pb_time(used_at).timestamp()
    row = services.pb.find_first(
        "status_history",
        "profile = {:profile} && from_status = 'in_progress' && to_status = 'submitted'",
        {"profile": profile["id"]},
        sort="-@rowid",
    )
    if row is None:
        return None
    return parse_pb_time(row["created"]).timestamp()
