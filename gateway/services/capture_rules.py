"""The capture flow's pure rules: which return URLs are allowed, a readable branding, which step
a resubmission reopens at, how densely the selfie is captured and what a frame upload must look
like, country codes, and which documents the partner accepts.

No PocketBase and no Flask here: ``capture.CaptureService`` applies these rules, and they are
tested on their own.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.errors import DocumentNotAccepted, SelfieRefused, SelfieTooLarge, ValidationFailed
from gateway.verification.documents.normalize import DOCUMENT_TYPES

# The prompts the flow offers are those the liveness evaluation validated on real people
# (eval/liveness_eval.py on liveness/real, docs/liveness.md): blink, smile, turn_left and
# turn_right; ``look_up`` has no real footage in the dev set, so no figure can back it.
from gateway.verification.liveness.challenge import OFFERED_PROMPTS
from gateway.verification.liveness.frames import NEUTRAL_PROMPT
from gateway.verification.liveness.sequence import (
    MAX_FRAME_GAP_IN_PROMPT_MS,
    MIN_PROMPT_FPS,
    capture_rate,
)
from gateway.verification.liveness.sequence import MAX_FRAMES as VERIFIER_MAX_FRAMES

ACCENT_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_ACCENT = "#1f4fd1"


@dataclass(frozen=True)
class FrameUpload:
    """One selfie frame as the page sends it."""

    prompt: str
    t_ms: float
    content: bytes


@dataclass(frozen=True)
class SelfieCapture:
    """How the page captures a challenge, sent with it (``capture``) and enforced on upload.

    Dense, because a natural blink keeps the lids down for 70-170 ms and a real head turn shows
    its intermediate poses only at a few frames per 100 ms: at the old 5 frames ~350 ms apart per
    prompt, most blinks fell between frames. 12 frames a second gives 1-2 frames inside the
    shortest blink and keeps at least 10 a second when a phone drops an occasional frame. 480 px
    on the long side keeps a face at arm's length well over the 80 px the face match needs
    (~150-250 px wide) while a frame stays near 20-30 KB at JPEG quality 0.8 (measured on the
    dev clips; docs/hosted-flow.md has what headless Chromium sent). The budget, 3 MB per
    challenge, holds a three-prompt challenge (~100 frames) at ~29 KB a frame; the page lowers
    its JPEG quality when it runs over, and the server refuses anything larger.
    """

    fps: int = 12
    neutral_ms: int = 1000
    prompt_ms: int = 2500
    max_side_px: int = 480
    jpeg_quality: float = 0.8
    max_bytes: int = 3_000_000

    def duration_ms(self, prompt_count: int) -> int:
        """How long the page captures a challenge of ``prompt_count`` prompts."""
        return self.neutral_ms + self.prompt_ms * prompt_count

    def nominal_frames(self, prompt_count: int) -> float:
        """How many frames the page takes for ``prompt_count`` prompts."""
        return self.duration_ms(prompt_count) * self.fps / 1000

    def max_frames(self, prompt_count: int) -> int:
        """The most frames accepted: the nominal count with a quarter of slack for clocks and
        timers that run fast, and never more than the verifier reads (it refuses the rest)."""
        slack = math.ceil(self.nominal_frames(prompt_count) * 1.25) + 2
        return min(slack, VERIFIER_MAX_FRAMES)

    def max_prompts(self) -> int:
        """The longest challenge whose frames, with 15 % of slack (headless Chromium took at most
        1.4 % over the nominal count), stay within the verifier's frame limit: 4 prompts
        at 12 frames a second (132 frames of 160). Partner settings may ask up to 6."""
        count = 1
        while self.nominal_frames(count + 1) * 1.15 <= VERIFIER_MAX_FRAMES:
            count += 1
        return count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SELFIE_CAPTURE = SelfieCapture()


def offered_prompts(
    asked: Sequence[str] | None,
    count: int | None,
    offered: Sequence[str] = OFFERED_PROMPTS,
    max_count: int | None = None,
) -> tuple[list[str], int | None]:
    """The partner's allowed prompts that the flow offers, and the prompt count to use.

    A partner may allow a prompt the evaluation has not validated (settings predate it): it is
    left out. If nothing is left, the validated ones are used; if one prompt is left, the
    challenge has one prompt (two identical prompts in a row are indistinguishable). The count
    is at most ``max_count`` (the longest challenge the verifier reads whole). Values of a shape
    the settings' validation refuses (typed into the admin UI, which does not validate them
    whole) count as not set: the defaults, rather than a 500 at every selfie.
    """
    if not isinstance(asked, list | tuple):
        asked = None
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        count = None
    names = [prompt for prompt in asked or offered if isinstance(prompt, str)]
    kept = [prompt for prompt in dict.fromkeys(names) if prompt in offered]
    if not kept:
        kept = list(offered)
    if count and len(kept) < 2:
        count = 1
    if count and max_count:
        count = min(int(count), max_count)
    return kept, int(count) if count else None


# The stored frames' longest side: the page sends 480 px; a larger frame (another client) is
# scaled down to this rather than refused.
MAX_FRAME_SIDE_PX = 640


def resubmission_step(reason: str) -> str:
    """The step a resubmission reopens at, from the reason the worker or reviewer gave."""
    lowered = reason.lower()
    if "document" in lowered:
        return "document"
    if any(word in lowered for word in ("selfie", "liveness", "face")):
        return "selfie"
    return "document"


def check_frames(
    frames: Sequence[FrameUpload], prompts: Sequence[str], capture: SelfieCapture = SELFIE_CAPTURE
) -> None:
    """Frames must answer this challenge: known prompts, in its order, with times, within the
    capture's frame count and byte budget (``SelfieTooLarge``, 413, over the budget), and each
    prompt's frames as dense as the liveness rules need (``SelfieRefused``, issue
    ``camera_too_slow`` under their rate, ``camera_paused`` over their largest gap): frames
    the verifier would refuse are refused while the applicant can still take them again."""
    if not frames:
        raise ValidationFailed("No frames were sent", errors={"frames": ["required"]})
    most = capture.max_frames(len(prompts))
    if len(frames) > most:
        raise ValidationFailed(
            f"At most {most} frames are accepted for {len(prompts)} prompts",
            errors={"frames": ["too many"]},
        )
    total_bytes = sum(len(frame.content) for frame in frames)
    if total_bytes > capture.max_bytes:
        raise SelfieTooLarge(
            f"The frames hold {total_bytes} bytes; at most {capture.max_bytes} are accepted "
            "per challenge"
        )
    allowed = set(prompts) | {NEUTRAL_PROMPT}
    for index, frame in enumerate(frames):
        if frame.prompt not in allowed:
            raise ValidationFailed(
                f"frames[{index}] has a prompt that is not in this challenge",
                errors={f"frames[{index}]": ["unknown prompt"]},
            )
    # each stretch of one prompt with its frames' times (a prompt may be asked twice)
    answered = [
        (prompt, [frame.t_ms for frame in stretch])
        for prompt, stretch in itertools.groupby(frames, key=lambda frame: frame.prompt)
        if prompt != NEUTRAL_PROMPT
    ]
    if [prompt for prompt, _ in answered] != list(prompts):
        raise ValidationFailed(
            "The frames do not follow the challenge's prompts in order",
            errors={"frames": [f"expected {list(prompts)}"]},
        )
    for prompt, times in answered:
        gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
        if gap > MAX_FRAME_GAP_IN_PROMPT_MS:
            # A page starved of CPU (or put behind another tab) stops capturing for a moment:
            # the movement may fall in the hole, and the verifier refuses such a capture.
            raise SelfieRefused(
                f"The camera paused {gap:.0f} ms under {prompt}",
                extra={
                    "issue": {
                        "code": "camera_paused",
                        "message": f"The camera stopped for {gap / 1000:.1f} s during a move; "
                        f"at most {MAX_FRAME_GAP_IN_PROMPT_MS / 1000:.1f} s is allowed. Close "
                        "other apps, keep this page in front and start again.",
                    }
                },
            )
        rate = capture_rate(times)
        if rate < MIN_PROMPT_FPS:
            # A camera slows down in the dark; the verifier would refuse these frames later,
            # when the applicant can no longer simply move to the light and try again.
            raise SelfieRefused(
                f"The camera sent {rate:.1f} frames a second under {prompt}",
                extra={
                    "issue": {
                        "code": "camera_too_slow",
                        "message": f"The camera sent {rate:.1f} images a second; at least "
                        f"{MIN_PROMPT_FPS:g} are needed. Cameras slow down in the dark: move "
                        "to a brighter place and start again.",
                    }
                },
            )


def normalize_country(country: str) -> str:
    """ISO 3166-1 alpha-3 from an alpha-2 or alpha-3 code; ``ValidationFailed`` otherwise."""
    import pycountry

    code = (country or "").strip().upper()
    found = None
    if len(code) == 2:
        found = pycountry.countries.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.countries.get(alpha_3=code)
    if found is None:
        raise ValidationFailed("Unknown country", errors={"country": ["ISO 3166 code expected"]})
    return found.alpha_3


# The partner's ``allowed_document_types`` and ``allowed_countries``, as the flow offers them. The
# worker applies the same settings again at decision time (``verification.factors``); here they
# keep the applicant from capturing a document that can only be refused. Settings are validated
# on write; one edited into a wrong shape in the admin UI restricts nothing here (the worker sends
# the profile to manual review rather than decide under settings that fail validation).


WHAT_IS_REFUSED = {"type": "document type", "country": "issuing country"}


def accepted_document_types(settings: dict[str, Any]) -> list[str]:
    """The document types the partner accepts, in the flow's order (``DOCUMENT_TYPES``)."""
    allowed = settings.get("allowed_document_types")
    accepted = [name for name in DOCUMENT_TYPES if isinstance(allowed, list) and name in allowed]
    return accepted or list(DOCUMENT_TYPES)


def accepted_countries(settings: dict[str, Any]) -> frozenset[str] | None:
    """The issuing countries (alpha-3, upper case) the partner accepts; None: every country."""
    allowed = settings.get("allowed_countries")
    if not isinstance(allowed, list):
        return None
    codes = frozenset(code.strip().upper() for code in allowed if isinstance(code, str))
    return codes or None


def check_document_accepted(settings: dict[str, Any], document_type: str, alpha3: str) -> None:
    """``DocumentNotAccepted`` (422, ``type`` and/or ``country``) unless the partner accepts
    this document type and issuing country (alpha-3, as ``normalize_country`` returns it)."""
    errors: dict[str, list[str]] = {}
    types = accepted_document_types(settings)
    if document_type not in types:
        errors["type"] = [f"not accepted here; one of {types}"]
    countries = accepted_countries(settings)
    if countries is not None and alpha3 not in countries:
        errors["country"] = [f"not accepted here; one of {sorted(countries)}"]
    if errors:
        refused = " or ".join(WHAT_IS_REFUSED[name] for name in errors)
        raise DocumentNotAccepted(f"This partner does not accept this {refused}", errors=errors)


def branding(settings: dict[str, Any], partner_name: str) -> dict[str, str]:
    """Name and accent colour, with a text colour that keeps WCAG AA contrast on the accent."""
    brand = settings.get("branding")
    if not isinstance(brand, dict):  # another shape typed into the admin UI: the defaults
        brand = {}
    accent = str(brand.get("accent_color") or DEFAULT_ACCENT)
    if not ACCENT_COLOUR.match(accent):
        accent = DEFAULT_ACCENT
    return {
        "name": str(brand.get("name") or partner_name or ""),
        "accent_color": accent.lower(),
        "accent_text_color": readable_text_colour(accent),
    }


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio between two ``#rrggbb`` colours."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_text_colour(accent: str) -> str:
    """White or near-black, whichever contrasts more with ``accent``."""
    return max(("#ffffff", "#111111"), key=lambda colour: contrast_ratio(accent, colour))


def allowed_return_url(
    return_url: str, allowed_prefixes: Sequence[str], *, profile_id: str, status: str
) -> str | None:
    """``return_url`` with ``profile_id`` and ``status`` added, if it starts with an allowed
    prefix (an empty allow-list allows nothing: the applicant stays on the done page)."""
    if not return_url or not any(url_under_prefix(return_url, p) for p in allowed_prefixes):
        return None
    parts = urlsplit(return_url)
    if parts.scheme not in ("https", "http"):
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("profile_id", "status")]
    query += [("profile_id", profile_id), ("status", status)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def url_under_prefix(url: str, prefix: str) -> bool:
    """``url`` starts with ``prefix`` at a boundary: ``https://bank.example`` must not allow
    ``https://bank.example.evil.test``, nor ``/done`` allow ``/done-elsewhere``."""
    if not prefix or not url.startswith(prefix):
        return False
    if len(url) == len(prefix) or prefix[-1] in "/?#&=":
        return True
    return url[len(prefix)] in "/?#"
