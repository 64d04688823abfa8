"""The capture flow's pure rules: which return URLs are allowed, a readable branding, which step
a resubmission reopens at, what a frame upload must look like, and country codes.

No PocketBase and no Flask here: ``capture.CaptureService`` applies these rules, and they are
tested on their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.errors import ValidationFailed

NEUTRAL_PROMPT = "neutral"
MAX_SELFIE_FRAMES = 40
ACCENT_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_ACCENT = "#1f4fd1"


@dataclass(frozen=True)
class FrameUpload:
    """One selfie frame as the page sends it."""

    prompt: str
    t_ms: float
    content: bytes


def resubmission_step(reason: str) -> str:
    """The step a resubmission reopens at, from the reason the worker or reviewer gave."""
    lowered = reason.lower()
    if "document" in lowered:
        return "document"
    if any(word in lowered for word in ("selfie", "liveness", "face")):
        return "selfie"
    return "document"


def check_frames(frames: Sequence[FrameUpload], prompts: Sequence[str]) -> None:
    """Frames must answer this challenge: known prompts, in its order, with times."""
    if not frames:
        raise ValidationFailed("No frames were sent", errors={"frames": ["required"]})
    if len(frames) > MAX_SELFIE_FRAMES:
        raise ValidationFailed(
            f"At most {MAX_SELFIE_FRAMES} frames are accepted", errors={"frames": ["too many"]}
        )
    allowed = set(prompts) | {NEUTRAL_PROMPT}
    order: list[str] = []
    for index, frame in enumerate(frames):
        if frame.prompt not in allowed:
            raise ValidationFailed(
                f"frames[{index}] has a prompt that is not in this challenge",
                errors={f"frames[{index}]": ["unknown prompt"]},
            )
        if not order or order[-1] != frame.prompt:
            order.append(frame.prompt)
    answered = [prompt for prompt in order if prompt != NEUTRAL_PROMPT]
    if answered != list(prompts):
        raise ValidationFailed(
            "The frames do not follow the challenge's prompts in order",
            errors={"frames": [f"expected {list(prompts)}"]},
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


def branding(settings: dict[str, Any], partner_name: str) -> dict[str, str]:
    """Name and accent colour, with a text colour that keeps WCAG AA contrast on the accent."""
    brand = settings.get("branding") or {}
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
