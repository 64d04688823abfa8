"""The decision: factor results and a partner's settings in, a 0-100 score and a status out.

Each factor (liveness, face match, document, KYA) reports ``{status, score, reasons, detail}``
with ``status`` one of ``pass``, ``fail``, ``not_checked``. Points are ``weight * score`` for a
factor that passed and 0 for one that failed; a factor that did not run leaves the sum and its
weight is shared among the factors that did (the total is divided by the weights that ran), and
the reasons say so. Two rules sit above the arithmetic, because a weighted sum can hide a hole:
a REQUIRED check that failed or did not run can never lead to ``approved``, nor can a failed check
that carries no weight (the registry, when enabled), since its failure cannot lower the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not_checked"
FACTOR_STATUSES = (PASS, FAIL, NOT_CHECKED)
FACTORS = ("liveness", "face_match", "document", "kya")
# Checks that may be required; the registry connector carries no weight of its own.
CHECKS = (*FACTORS, "registry")
FACTOR_LABELS = {
    "liveness": "liveness",
    "face_match": "face match",
    "document": "document",
    "kya": "applicant data (KYA)",
    "registry": "registry check",
}

DEFAULT_WEIGHTS: dict[str, float] = {"liveness": 30, "face_match": 40, "document": 25, "kya": 5}
DEFAULT_THRESHOLDS: dict[str, float] = {"approve": 80, "review": 60}
# A verification without a live person, the document's face and a readable document is not one.
DEFAULT_REQUIRED_CHECKS: tuple[str, ...] = ("liveness", "face_match", "document")

APPROVED, MANUAL_REVIEW, REJECTED = "approved", "manual_review", "rejected"


@dataclass(frozen=True)
class ScoringSettings:
    """Weights, thresholds and required checks, as effectively used for one decision."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    approve_at: float = DEFAULT_THRESHOLDS["approve"]
    review_at: float = DEFAULT_THRESHOLDS["review"]
    required_checks: tuple[str, ...] = DEFAULT_REQUIRED_CHECKS

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "thresholds": {"approve": self.approve_at, "review": self.review_at},
            "required_checks": list(self.required_checks),
        }


def scoring_settings(settings: Mapping[str, Any] | None) -> ScoringSettings:
    """The scoring part of a partner's effective settings, defaults for anything not set.

    Accepts ``thresholds`` as ``{approve, review}`` (also ``approved``/``manual_review``
    spellings) and ``required_checks`` as ``{check: bool}`` or a list of names. Unknown
    factors in ``weights`` and ``required_checks`` are ignored; a negative
    weight or thresholds out of order raise ``ValueError`` (settings are validated on write, so
    this is a bug, not an applicant's problem).
    """
    settings = settings or {}
    weights = dict(DEFAULT_WEIGHTS)
    for name, value in (settings.get("weights") or {}).items():
        if name in weights and value is not None:
            weights[name] = float(value)
    if any(value < 0 for value in weights.values()):
        raise ValueError("factor weights must not be negative")
    thresholds = settings.get("thresholds") or {}
    approve_at = _first_number(thresholds, ("approve", "approved"), DEFAULT_THRESHOLDS["approve"])
    review_at = _first_number(thresholds, ("review", "manual_review"), DEFAULT_THRESHOLDS["review"])
    if not 0 <= review_at <= approve_at <= 100:
        raise ValueError("thresholds must satisfy 0 <= review <= approve <= 100")
    required = settings.get("required_checks")
    if required is None:
        required_checks = DEFAULT_REQUIRED_CHECKS
    elif isinstance(required, Mapping):  # {check: bool}, as partner_settings stores it
        required_checks = tuple(name for name, on in required.items() if on and name in CHECKS)
    else:
        required_checks = tuple(name for name in required if name in CHECKS)
    return ScoringSettings(weights, approve_at, review_at, required_checks)


def _first_number(mapping: Mapping[str, Any], keys: tuple[str, ...], default: float) -> float:
    for key in keys:
        if mapping.get(key) is not None:
            return float(mapping[key])
    return default


def factor(
    status: str, score: float | None, reasons: list[str], detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One factor's result in the shape the pipeline and the score use."""
    if status not in FACTOR_STATUSES:
        raise ValueError(f"unknown factor status {status!r}")
    if status == NOT_CHECKED:
        score = None
    elif score is not None:
        score = min(1.0, max(0.0, float(score)))
    return {"status": status, "score": score, "reasons": list(reasons), "detail": detail or {}}


@dataclass(frozen=True)
class Decision:
    """The outcome: status, score (None when nothing ran), plain-word reasons, the breakdown."""

    decision: str
    score: float | None
    reasons: list[str]
    main_reason: str
    points: dict[str, float | None]
    settings: ScoringSettings

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "score": self.score,
            "reasons": list(self.reasons),
            "main_reason": self.main_reason,
            "points": dict(self.points),
            "settings": self.settings.as_dict(),
        }


def decide(factors: Mapping[str, Mapping[str, Any]], settings: ScoringSettings) -> Decision:
    """Score the factors and choose approved, manual_review or rejected.

    Worked example with the default weights: liveness passed at 0.9 (27 of 30), face match
    passed at similarity 0.92 (36.8 of 40), document not checked (its 25 redistributed), KYA
    passed at 1.0 (5 of 5): 68.8 points of the 75 that ran = 91.7 -> approved, unless the
    document is a required check (the default), which makes it manual_review.
    """
    points: dict[str, float | None] = {}
    earned = 0.0
    weight_ran = 0.0
    reasons: list[str] = []
    failed_required: list[str] = []
    missing_required: list[str] = []
    failed_other: list[str] = []
    names = [*FACTORS, *(name for name in CHECKS if name in factors and name not in FACTORS)]
    for name in names:
        result = factors.get(name) or factor(NOT_CHECKED, None, ["this check was not run"])
        weight = settings.weights.get(name, 0.0)
        status = result.get("status", NOT_CHECKED)
        label = FACTOR_LABELS[name]
        factor_reasons = [str(reason) for reason in result.get("reasons") or []]
        said = "; ".join(factor_reasons)
        if status == NOT_CHECKED:
            points[name] = None
            if weight > 0:
                reasons.append(
                    f"{label} not checked ({said or 'no reason given'}): "
                    f"its {weight:g} points were shared among the checks that ran"
                )
            else:
                reasons.append(f"{label} not checked ({said or 'no reason given'})")
            if name in settings.required_checks:
                missing_required.append(name)
            continue
        weight_ran += weight
        if status == PASS:
            score = result.get("score")
            earned_here = weight * (1.0 if score is None else float(score))
            points[name] = round(earned_here, 2)
            earned += earned_here
            reasons.append(f"{label} passed" + (f": {said}" if said else ""))
        else:
            points[name] = 0.0
            reasons.append(f"{label} failed" + (f": {said}" if said else ""))
            (failed_required if name in settings.required_checks else failed_other).append(name)

    if weight_ran <= 0:
        return Decision(
            MANUAL_REVIEW,
            None,
            [*reasons, "no weighted check ran, so there is no score: a person must decide"],
            "no check could be run",
            points,
            settings,
        )
    # Decided on the score as shown (one decimal): a partner never sees 80.0 and a review.
    score = round(100.0 * earned / weight_ran, 1)
    if score >= settings.approve_at:
        decision = APPROVED
    elif score >= settings.review_at:
        decision = MANUAL_REVIEW
    else:
        decision = REJECTED
    reasons.append(_band_sentence(score, decision, settings))
    main_reason = _band_sentence(score, decision, settings)

    # A check with no weight of its own (the registry) cannot lower the score when it fails:
    # enabled, its failure (a register saying "deceased") must still stop an approval.
    failed_unweighted = [name for name in failed_other if name not in settings.weights]
    if decision == APPROVED and (failed_required or failed_unweighted or missing_required):
        decision = MANUAL_REVIEW
        if failed_required:
            names = ", ".join(FACTOR_LABELS[name] for name in failed_required)
            main_reason = f"required check failed: {names}"
        elif failed_unweighted:
            first = failed_unweighted[0]
            main_reason = f"{FACTOR_LABELS[first]} failed: " + "; ".join(
                str(reason) for reason in (factors.get(first) or {}).get("reasons") or []
            )
        else:
            names = ", ".join(FACTOR_LABELS[name] for name in missing_required)
            main_reason = f"required check not run: {names}"
        reasons.append(f"{main_reason}, so the profile goes to manual review, not approval")
    elif decision != APPROVED and (failed_required or failed_other):
        first = (failed_required or failed_other)[0]
        main_reason = f"{FACTOR_LABELS[first]} failed: " + "; ".join(
            str(reason) for reason in (factors.get(first) or {}).get("reasons") or []
        )
    elif decision != REJECTED and missing_required:
        names = ", ".join(FACTOR_LABELS[name] for name in missing_required)
        main_reason = f"required check not run: {names}"
    return Decision(decision, score, reasons, main_reason.rstrip(": "), points, settings)


def _band_sentence(score: float, decision: str, settings: ScoringSettings) -> str:
    if decision == APPROVED:
        return f"score {score:g} >= {settings.approve_at:g} approval threshold"
    if decision == MANUAL_REVIEW:
        return (
            f"score {score:g} is between the {settings.review_at:g} review and "
            f"{settings.approve_at:g} approval thresholds"
        )
    return f"score {score:g} < {settings.review_at:g} review threshold"
