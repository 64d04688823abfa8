"""Score arithmetic, redistribution of checks that did not run, required checks, thresholds."""

from __future__ import annotations

import pytest

from gateway.verification.scoring import (
    APPROVED,
    FAIL,
    MANUAL_REVIEW,
    NOT_CHECKED,
    PASS,
    REJECTED,
    decide,
    factor,
    scoring_settings,
)

NOTHING_REQUIRED = scoring_settings({"required_checks": []})


def all_pass(**overrides):
    factors = {
        "liveness": factor(PASS, 1.0, ["live"]),
        "face_match": factor(PASS, 1.0, ["similarity 0.95 >= 0.75 threshold"]),
        "document": factor(PASS, 1.0, ["MRZ check digits agree"]),
        "kya": factor(PASS, 1.0, ["email and phone valid"]),
    }
    factors.update(overrides)
    return factors


def test_defaults_match_the_issue():
    settings = scoring_settings(None)
    assert settings.weights == {"liveness": 30, "face_match": 40, "document": 25, "kya": 5}
    assert (settings.approve_at, settings.review_at) == (80, 60)
    assert set(settings.required_checks) == {"liveness", "face_match", "document"}


def test_weighted_sum_of_passing_factors():
    factors = all_pass(
        liveness=factor(PASS, 0.9, []),
        face_match=factor(PASS, 0.8, []),
        document=factor(PASS, 0.6, []),
    )
    result = decide(factors, scoring_settings({}))
    # 27 + 32 + 15 + 5 = 79 of 100
    assert result.score == 79.0
    assert result.points == {"liveness": 27.0, "face_match": 32.0, "document": 15.0, "kya": 5.0}
    assert result.decision == MANUAL_REVIEW


def test_failed_factor_earns_nothing_and_says_why():
    factors = all_pass(face_match=factor(FAIL, 0.62, ["similarity 0.62 < 0.75 threshold"]))
    result = decide(factors, scoring_settings({}))
    assert result.points["face_match"] == 0.0
    assert result.score == 60.0
    assert result.decision == MANUAL_REVIEW
    assert "similarity 0.62 < 0.75 threshold" in result.main_reason
    assert any("face match failed: similarity 0.62" in reason for reason in result.reasons)


def test_two_failures_reject():
    factors = all_pass(
        face_match=factor(FAIL, 0.1, ["similarity 0.10 < 0.75 threshold"]),
        liveness=factor(FAIL, 0.0, ["static photo"]),
    )
    result = decide(factors, scoring_settings({}))
    assert result.score == 30.0
    assert result.decision == REJECTED


def test_not_checked_weight_is_redistributed():
    factors = all_pass(
        liveness=factor(PASS, 0.9, []),
        face_match=factor(PASS, 0.92, []),
        document=factor(NOT_CHECKED, None, ["document reading unavailable"]),
    )
    result = decide(factors, NOTHING_REQUIRED)
    # (27 + 36.8 + 5) / 75 = 91.7
    assert result.score == 91.7
    assert result.points["document"] is None
    assert result.decision == APPROVED
    assert any(
        "document not checked (document reading unavailable)" in reason
        and "25 points were shared" in reason
        for reason in result.reasons
    )


def test_required_check_not_run_is_never_approved():
    factors = all_pass(document=factor(NOT_CHECKED, None, ["document reading unavailable"]))
    result = decide(factors, scoring_settings({}))
    assert result.score == 100.0
    assert result.decision == MANUAL_REVIEW
    assert result.main_reason == "required check not run: document"


def test_required_check_failed_is_never_approved_even_with_a_high_score():
    settings = scoring_settings(
        {
            "weights": {"kya": 50, "liveness": 10, "face_match": 10, "document": 10},
            "required_checks": ["kya"],
        }
    )
    factors = all_pass(kya=factor(FAIL, 0.0, ["phone is not a valid number"]))
    result = decide(factors, scoring_settings({"required_checks": ["kya"]}))
    assert result.score == 95.0
    assert result.decision == MANUAL_REVIEW
    assert result.main_reason == "required check failed: applicant data (KYA)"
    result = decide(factors, settings)
    assert result.decision == REJECTED


def test_optional_failed_check_only_loses_its_points():
    factors = all_pass(kya=factor(FAIL, 0.0, ["phone is not a valid number"]))
    result = decide(factors, scoring_settings({}))
    assert result.score == 95.0
    assert result.decision == APPROVED


@pytest.mark.parametrize(
    ("face_score", "expected"),
    [(0.5, APPROVED), (0.495, MANUAL_REVIEW), (0.25, MANUAL_REVIEW), (0.2, REJECTED)],
)
def test_threshold_edges(face_score, expected):
    # Weights 30/40/30/0 make the score 60 + 40 * s; approve at >= 80, review at >= 70.
    settings = scoring_settings(
        {
            "weights": {"document": 30, "kya": 0},
            "thresholds": {"approve": 80, "review": 70},
            "required_checks": [],
        }
    )
    result = decide(all_pass(face_match=factor(PASS, face_score, [])), settings)
    assert result.score == round(60 + 40 * face_score, 1)
    assert result.decision == expected


def test_partner_thresholds_and_weights():
    settings = scoring_settings(
        {"thresholds": {"approve": 95, "review": 50}, "weights": {"face_match": 60}}
    )
    factors = all_pass(face_match=factor(PASS, 0.9, []))
    result = decide(factors, settings)
    # 30 + 54 + 25 + 5 = 114 of 120 = 95.0
    assert result.score == 95.0
    assert result.decision == APPROVED
    assert result.settings.as_dict()["thresholds"] == {"approve": 95, "review": 50}


def test_nothing_ran_goes_to_a_person():
    factors = {
        name: factor(NOT_CHECKED, None, ["unavailable"])
        for name in ("liveness", "face_match", "document", "kya")
    }
    result = decide(factors, NOTHING_REQUIRED)
    assert result.score is None
    assert result.decision == MANUAL_REVIEW


def test_bad_settings_fail_loudly():
    with pytest.raises(ValueError):
        scoring_settings({"thresholds": {"approve": 50, "review": 70}})
    with pytest.raises(ValueError):
        scoring_settings({"weights": {"liveness": -1}})


def test_not_checked_factor_never_carries_a_score():
    assert factor(NOT_CHECKED, 0.9, ["x"])["score"] is None
    with pytest.raises(ValueError):
        factor("maybe", 0.5, [])


def test_required_checks_as_stored_by_partner_settings():
    settings = scoring_settings(
        {"required_checks": {"liveness": True, "face_match": True, "document": False,
                             "kya": False, "registry": True}}
    )  # fmt: skip
    assert settings.required_checks == ("liveness", "face_match", "registry")
    factors = all_pass(registry=factor(NOT_CHECKED, None, ["no registry connector"]))
    result = decide(factors, settings)
    assert result.score == 100.0
    assert result.decision == MANUAL_REVIEW
    assert result.main_reason == "required check not run: registry check"
    assert result.points["registry"] is None


@pytest.mark.parametrize(
    ("face_score", "shown", "decision"),
    [(0.499, 80.0, APPROVED), (0.4975, 79.9, MANUAL_REVIEW)],
)
def test_the_band_is_decided_on_the_score_as_shown(face_score, shown, decision):
    """30 + 40 x face + 25 + 5: 79.96 is shown as 80.0 and approved, 79.9 is never approved."""
    result = decide(all_pass(face_match=factor(PASS, face_score, [])), NOTHING_REQUIRED)
    assert (result.score, result.decision) == (shown, decision)
