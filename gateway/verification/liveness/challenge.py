"""Server-issued liveness challenges: which prompts, in which order, valid until when.

The order is random per attempt so a recording made for one attempt does not fit the next; no
prompt follows itself, because two identical prompts in a row are indistinguishable in the
frames and would let a single movement satisfy both. Storage and single use belong to the
caller (the challenge is kept with the profile and consumed once); this module only makes a
challenge and says whether it has expired.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Every prompt a stored challenge may name (records issued before a prompt was withdrawn stay
# readable and are still verified).
PROMPTS = ("blink", "turn_left", "turn_right", "look_up", "smile")
# The prompts the issuer offers: only those the evaluation validated on real people
# (eval/liveness_eval.py, docs/liveness.md): blink and smile on the dev clips' labelled
# segments, turn_right on the dev turn and turn_left on that turn mirrored left-right plus the
# shared head-turn clip. `look_up` has no real example in the data, so it is not offered.
OFFERED_PROMPTS = ("blink", "smile", "turn_left", "turn_right")
TURN_PROMPTS = ("turn_left", "turn_right")
DEFAULT_PROMPT_COUNT = 3
DEFAULT_TTL_S = 600
MAX_PROMPT_COUNT = 6


class ChallengeError(ValueError):
    """A challenge cannot be made or read from what was given (a caller bug, not the applicant)."""


@dataclass(frozen=True)
class Challenge:
    """One attempt's prompts; times are Unix seconds (UTC)."""

    id: str
    prompts: tuple[str, ...]
    issued_at: float
    expires_at: float
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_expired(self, now: float | None = None) -> bool:
        """True from `expires_at` on (a challenge is valid up to, not at, its expiry)."""
        return (time.time() if now is None else now) >= self.expires_at

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored with the profile and sent to the hosted flow."""
        return {
            "id": self.id,
            "prompts": list(self.prompts),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        """Inverse of `as_dict`; refuses unknown prompts so a tampered record cannot widen them."""
        try:
            prompts = tuple(str(prompt) for prompt in data["prompts"])
            challenge = cls(
                id=str(data["id"]),
                prompts=prompts,
                issued_at=float(data["issued_at"]),
                expires_at=float(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ChallengeError(f"not a challenge record: {error}") from error
        _check_prompts(challenge.prompts)
        return challenge


def issue_challenge(
    *,
    prompts_allowed: Sequence[str] = OFFERED_PROMPTS,
    count: int = DEFAULT_PROMPT_COUNT,
    ttl_s: float = DEFAULT_TTL_S,
    rng: random.Random | None = None,
    now: float | None = None,
) -> Challenge:
    """Draw `count` prompts from `prompts_allowed` in random order, never one twice in a row.

    Only OFFERED_PROMPTS are ever drawn: an allowed prompt that the evaluation did not validate
    (a partner setting may still list `look_up`) is left out; if none is left, ChallengeError.

    Prompts may repeat (not back to back) when `count` exceeds the allowed set. The default
    generator is `secrets.SystemRandom` because the order is what makes a recording useless;
    tests pass a seeded `random.Random`.
    """
    _check_prompts(tuple(prompts_allowed))
    allowed = tuple(p for p in dict.fromkeys(prompts_allowed) if p in OFFERED_PROMPTS)
    if not allowed:
        raise ChallengeError(f"prompts_allowed holds none of the offered prompts {OFFERED_PROMPTS}")
    if not 1 <= count <= MAX_PROMPT_COUNT:
        raise ChallengeError(f"count must be between 1 and {MAX_PROMPT_COUNT}")
    if count > 1 and len(allowed) < 2:
        raise ChallengeError("more than one prompt needs at least two allowed prompt types")
    if ttl_s <= 0:
        raise ChallengeError("ttl_s must be positive")
    generator = rng or secrets.SystemRandom()
    prompts: list[str] = []
    # Prefer distinct prompts while the allowed set lasts: each distinct movement is more work
    # for an attacker than the same movement twice.
    pool = list(allowed)
    generator.shuffle(pool)
    while len(prompts) < count:
        if not pool:
            pool = list(allowed)
            generator.shuffle(pool)
        candidates = [prompt for prompt in pool if not prompts or prompt != prompts[-1]]
        choice = candidates[0]
        pool.remove(choice)
        prompts.append(choice)
    _include_a_turn(prompts, allowed, generator)
    issued_at = time.time() if now is None else float(now)
    return Challenge(
        id=secrets.token_urlsafe(12),
        prompts=tuple(prompts),
        issued_at=issued_at,
        expires_at=issued_at + float(ttl_s),
    )


def _include_a_turn(prompts: list[str], allowed: Sequence[str], generator) -> None:
    """Put a head turn in every challenge whose allowed set has one (in place).

    Measured (docs/liveness.md): two photos of the applicant shown in turn (eyes open, eyes
    closed; neutral, smiling) pass the blink and smile rules at 10 fps, while a head turn made
    from photos is refused (a jump between poses, a fade whose pixels do not move, a tilted
    picture). A challenge is live only if every prompt is, so one turn protects the whole.
    """
    turns = [prompt for prompt in allowed if prompt in TURN_PROMPTS]
    if not turns or any(prompt in TURN_PROMPTS for prompt in prompts):
        return
    position = generator.randrange(len(prompts))
    prompts[position] = generator.choice(turns)


def _check_prompts(prompts: Sequence[str]) -> None:
    unknown = sorted(set(prompts) - set(PROMPTS))
    if unknown:
        raise ChallengeError(f"unknown prompt(s) {unknown}; allowed: {list(PROMPTS)}")
