"""The selfie step's rules, apart from the store: which challenge to issue, whether a challenge
can still take frames, the framing check of one still, and which frame becomes the ``selfie``.

``capture.CaptureService`` does the reading and writing around them. The framing check is the
worker's own detector and size rule (``verification/liveness/selfie_check``), asked with a
margin, so a selfie the worker would refuse as ``INVALID_PHOTO:selfie`` is retaken while the
applicant is still there, with a sentence that says what to change.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from gateway.errors import ChallengeLimitReached, ChallengeRefused, SelfieRefused
from gateway.services.capture_rules import (
    MAX_FRAME_SIDE_PX,
    NEUTRAL_PROMPT,
    FrameUpload,
    SelfieCapture,
    offered_prompts,
)
from gateway.services.image_policy import CleanImage, check_image_bytes, clean_image
from gateway.services.partner_settings import liveness_settings
from gateway.verification.faces.recognition import MIN_FACE_PX
from gateway.verification.images import decode_image

log = structlog.get_logger("gateway.capture")

# The page checks a framing still at most every ~300 ms plus the answer's ~50-150 ms: ~150 a
# minute while the applicant adjusts, each ~85-150 ms of detection on the gateway.
DEFAULT_CHECK_RATE_LIMIT = "150 per minute;1500 per hour"
# A framing still is one 480 px JPEG (~25 KB); anything near a photo's size is not one.
MAX_CHECK_STILL_BYTES = 2 * 1024 * 1024
# The framing check's minimum face width on the page's 480 px stills: the worker's 80 px rule
# (faces.recognition.MIN_FACE_PX) with a quarter of margin (a judgement, not a measurement), so
# a face that just passes before the challenge stays above 80 px if the applicant leans back a
# little during it. The dev clips' faces are 200-260 px wide at this size, far above either.
# The uploaded selfie itself is held to the worker's own 80 px: refused there means the worker
# would refuse it too, nothing stricter.
FRAMING_MIN_FACE_PX = 100
UPLOAD_MIN_FACE_PX = MIN_FACE_PX
# Neutral frames tried, last first, for the stored ``selfie`` before the upload is refused: the
# applicant passed the framing check a second earlier, so the last one nearly always passes.
SELFIE_CANDIDATES = 4

SelfieCheck = Callable[..., Any]  # (rgb, *, min_face_px) -> liveness.selfie_check.SelfieCheck

# An unused challenge is handed back (a reload, the same link on another device) while at least
# this much of its lifetime is left: the capture takes 3.5-11 s and the upload a few more, so a
# challenge closer to its end is replaced rather than refused at upload.
REUSE_MIN_LEFT_S = 60


def challenge_arguments(
    settings: Mapping[str, Any], ttl_s: int, capture: SelfieCapture
) -> dict[str, Any]:
    """``issue_challenge``'s arguments for a partner: its allowed prompts among those the flow
    offers, its prompt count (at most what ``capture`` keeps within the verifier's frame
    limit), the flow's lifetime."""
    liveness = liveness_settings(settings)
    asked = liveness.get("prompts") or settings.get("liveness_prompts")
    prompts_allowed, count = offered_prompts(
        asked, liveness.get("prompt_count"), max_count=capture.max_prompts()
    )
    if asked and set(asked) - set(prompts_allowed):
        log.info("prompts_not_offered", prompts=sorted(set(asked) - set(prompts_allowed)))
    arguments: dict[str, Any] = {"ttl_s": ttl_s, "prompts_allowed": prompts_allowed}
    if count:
        arguments["count"] = count
    return arguments


def link_mark(link_nonce: str) -> str:
    """Which link a challenge was drawn on, without storing the link's nonce a second time."""
    return hashlib.sha256(link_nonce.encode()).hexdigest()[:16]


def reusable_challenge(
    previous: Mapping[str, Any], arguments: Mapping[str, Any], link: str, now: float
) -> bool:
    """Is the stored challenge handed back instead of a new draw: unused, drawn on this link from
    the partner's current prompts, with time left for a capture.

    A new order at every reload let a recording made for one order wait for it (one in 2-24
    draws); handed back, the order the applicant saw is the one to follow until it is used or
    runs out, and each new order counts against ``max_challenges``."""
    return (
        bool(previous.get("id"))
        and not previous.get("used_at")
        and previous.get("link") == link
        and previous.get("prompts_allowed") == list(arguments["prompts_allowed"])
        and previous.get("prompt_count") == arguments.get("count")
        and float(previous.get("expires_at") or 0) - now >= REUSE_MIN_LEFT_S
    )


def drawn_on_link(previous: Mapping[str, Any], link: str) -> int:
    """Challenges drawn so far on this link (a new link from the partner starts again at 0)."""
    return int(previous.get("drawn_on_link") or 0) if previous.get("link") == link else 0


def retired_challenge(previous: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a reopening for resubmission keeps of the stored challenge: the link's count alone
    (no id, so nothing can be uploaded under it and ``attempt`` starts again). The worker asks
    for a retake on its own (a document without a face) and the same link reopens: cleared, the
    count started again and each such submit bought the link another ``max_challenges``
    orders."""
    if not previous.get("link"):
        return None
    return {"link": previous["link"], "drawn_on_link": int(previous.get("drawn_on_link") or 0)}


def check_draw_allowed(previous: Mapping[str, Any], link: str, limit: int) -> None:
    """``ChallengeLimitReached`` once this link drew ``limit`` challenges."""
    if drawn_on_link(previous, link) >= limit:
        log.info("challenge_limit_reached", limit=limit)
        raise ChallengeLimitReached(
            f"This link has drawn its {limit} liveness challenges; ask for a new link",
            extra={"max_challenges": limit},
        )


def challenge_record(
    issued: dict[str, Any],
    previous: Mapping[str, Any],
    arguments: Mapping[str, Any],
    link: str,
) -> dict[str, Any]:
    """What is stored as the profile's ``liveness_challenge``: the attempt number on the profile
    and on this link, what it was drawn from, not used yet."""
    return {
        **issued,
        "attempt": int(previous.get("attempt") or 0) + 1,
        "link": link,
        "drawn_on_link": drawn_on_link(previous, link) + 1,
        "prompts_allowed": list(arguments["prompts_allowed"]),
        "prompt_count": arguments.get("count"),
        "used_at": None,
    }


# What the worker reads of the challenge a selfie answers (``Challenge.from_dict``, ``used_at``
# for its expiry, and ``attempt``, the liveness factor's ``challenges_drawn``: the orders shown
# up to the one answered, whose reason says the last was answered), kept with the frames in
# ``capture.challenge``.
ANSWERED_KEYS = ("id", "prompts", "issued_at", "expires_at", "used_at", "attempt")


def answered_challenge(challenge: Mapping[str, Any]) -> dict[str, Any]:
    """The challenge the stored frames answer, as kept with them."""
    return {key: challenge.get(key) for key in ANSWERED_KEYS}


def challenge_to_submit(
    current: Mapping[str, Any], capture: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The stored challenge set back to the one the frames answer, or None when it is that one.

    A retake draws a new order; left unfinished (the page reloaded, or the link drew all its
    orders and the page offers to send the selfie taken), the frames sent are the earlier
    challenge's, and the worker, which judges them against the stored challenge, refused a
    genuine selfie for following the wrong order. The link's count stays as it is."""
    answered = capture.get("challenge")
    if not isinstance(answered, dict) or answered.get("id") == current.get("id"):
        return None
    return {**current, **answered}


def challenge_answer(challenge: Mapping[str, Any], capture: SelfieCapture) -> dict[str, Any]:
    """What the page gets: the prompts, and how to capture them."""
    return {
        "id": challenge["id"],
        "prompts": challenge["prompts"],
        "expires_at": challenge["expires_at"],
        "attempt": challenge["attempt"],
        "capture": capture.as_dict(),
    }


def check_usable_challenge(challenge: Mapping[str, Any], challenge_id: str, now: float) -> None:
    """``ChallengeRefused`` unless ``challenge_id`` is the current, unused, unexpired one."""
    if not challenge.get("id") or not hmac.compare_digest(
        str(challenge["id"]).encode(), challenge_id.encode()
    ):
        raise ChallengeRefused("This is not the current challenge; start the selfie again")
    if challenge.get("used_at"):
        raise ChallengeRefused("This challenge was already used; start the selfie again")
    if float(challenge.get("expires_at") or 0) <= now:
        raise ChallengeRefused("This challenge has expired; start the selfie again")


def check_still(content: bytes, selfie_check: SelfieCheck) -> dict[str, Any]:
    """The framing answer for one still: ``{ok, issue}``."""
    check_image_bytes(content, max_bytes=MAX_CHECK_STILL_BYTES, field="file")
    result = selfie_check(decode_image(content, field="file"), min_face_px=FRAMING_MIN_FACE_PX)
    return {"ok": bool(result.ok), "issue": None if result.ok else issue_of(result)}


def clean_frames(frames: Sequence[FrameUpload], max_upload_bytes: int) -> list[CleanImage]:
    """Every frame through the upload policy, at most ``MAX_FRAME_SIDE_PX``."""
    return [
        clean_image(frame.content, max_bytes=max_upload_bytes, max_side_px=MAX_FRAME_SIDE_PX)
        for frame in frames
    ]


def usable_selfie_index(
    frames: Sequence[FrameUpload], cleaned: Sequence[CleanImage], selfie_check: SelfieCheck
) -> int:
    """The frame kept as ``selfie``: the latest neutral frame that passes the selfie check at the
    worker's size rule, else ``SelfieRefused`` with the last one's issue (the caller then stores
    nothing)."""
    result = None
    for index in selfie_candidates(frames)[:SELFIE_CANDIDATES]:
        result = selfie_check(cleaned[index].rgb, min_face_px=UPLOAD_MIN_FACE_PX)
        if result.ok:
            return index
    issue = issue_of(result) if result is not None else {"code": "face_not_found"}
    raise SelfieRefused(f"The selfie cannot be used: {issue['code']}", extra={"issue": issue})


def selfie_candidates(frames: Sequence[FrameUpload]) -> list[int]:
    """Frames that may become ``selfie``, best first: the neutral ones (facing the camera), last
    first; without any, the first frame."""
    neutral = [index for index, frame in enumerate(frames) if frame.prompt == NEUTRAL_PROMPT]
    return neutral[::-1] or [0]


def issue_of(result: Any) -> dict[str, str]:
    """A selfie check's refusal as the page reads it: the code picks its own sentence."""
    return {"code": str(result.code), "message": str(result.message)}


_warm_up_started = threading.Event()


def warm_up_face_models() -> None:
    """Load the face models in the background, once per process, when an applicant opens a
    link: the first framing check otherwise waits for them (4-5 s here), and the applicant sees
    no guidance for that long. By the selfie step (after consent and the document) they are in
    memory. The worker process never calls this."""
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()

    def load() -> None:
        from gateway.verification.faces.recognition import get_face_models

        try:
            get_face_models()
        except Exception:  # the first check will load (and report) them instead
            log.warning("face_models_warm_up_failed", exc_info=True)

    threading.Thread(target=load, name="face-models-warm-up", daemon=True).start()


def default_selfie_check(rgb: Any, *, min_face_px: int) -> Any:
    """The capture-time check (loads the face models on first use)."""
    from gateway.verification.liveness.selfie_check import check_selfie

    return check_selfie(rgb, min_face_px=min_face_px)
