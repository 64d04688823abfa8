"""What the verification pipeline takes (the applicant's captures as bytes) and the one refusal
that sends the applicant back: `InvalidPhoto`, a photo without a usable face or unreadable.

The worker builds `Captures` from what PocketBase stores; `pipeline.py` runs the factors on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class InvalidPhoto(Exception):
    """No usable face (or an undecodable image) on one side: the applicant must take it again."""

    def __init__(self, side: str, detail: str) -> None:
        super().__init__(detail)
        self.side = side
        self.detail = detail

    @property
    def code(self) -> str:
        return f"INVALID_PHOTO:{self.side}"


@dataclass(frozen=True)
class SelfieFrame:
    """One captured selfie frame as stored: image bytes, its prompt and capture time."""

    image: bytes
    prompt: str = ""
    t_ms: float = 0.0


@dataclass(frozen=True)
class Captures:
    """Everything the applicant submitted, as bytes (the worker downloads it from PocketBase).

    `challenge_checked_at` is the Unix time at which the challenge's expiry is judged: the time
    the frames were uploaded, not the time a (possibly retried) job happens to run. `mirrored`
    says the client flipped its frames left-right (turns then appear reversed).
    """

    document_front: bytes | None
    selfie_frames: Sequence[SelfieFrame]
    document_back: bytes | None = None
    liveness_challenge: Mapping[str, Any] | None = None
    challenge_checked_at: float | None = None
    mirrored: bool = False
