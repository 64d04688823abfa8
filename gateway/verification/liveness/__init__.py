"""Liveness: a server-issued challenge verified from the frames captured under it.

Public API (no Flask here; the route and the worker call these):

- `issue_challenge(...) -> Challenge` (only OFFERED_PROMPTS, the validated ones) and
  `Challenge.as_dict` / `Challenge.from_dict`;
- `verify_challenge(challenge, frames, ...) -> LivenessResult` (`.as_dict()` for the body);
- `analyze_passive(rgb) -> PassiveResult` (`.to_liveness_dict()`), never live on its own;
- `check_selfie(image) -> SelfieCheck`: the capture-time check (face found, large, frontal).

Design, thresholds, licences and measured figures: docs/liveness.md.
"""

from gateway.verification.liveness.challenge import (
    OFFERED_PROMPTS,
    PROMPTS,
    Challenge,
    ChallengeError,
    issue_challenge,
)
from gateway.verification.liveness.passive import PassiveResult, analyze_passive
from gateway.verification.liveness.selfie_check import SelfieCheck, check_selfie
from gateway.verification.liveness.verify import SPOOF_TYPES, LivenessResult, verify_challenge

__all__ = [
    "OFFERED_PROMPTS",
    "PROMPTS",
    "SPOOF_TYPES",
    "Challenge",
    "ChallengeError",
    "LivenessResult",
    "PassiveResult",
    "SelfieCheck",
    "analyze_passive",
    "check_selfie",
    "issue_challenge",
    "verify_challenge",
]
