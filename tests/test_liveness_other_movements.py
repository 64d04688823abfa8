"""Another deliberate movement formed under a prompt refuses it (other_movements.py)."""

from __future__ import annotations

import math

from gateway.verification.liveness import other_movements, series
from gateway.verification.liveness.other_movements import TURN_UNDER_BLINK_MS


def _satisfied(prompt: str) -> series.PromptOutcome:
    return series.PromptOutcome(prompt, True, 0.5, 0.78, 4, "eyelids closed")


def test_a_smile_formed_under_another_prompt_refuses_it():
    times = [100.0 * k for k in range(14)]
    # 3 frames before the prompt at rest, then a smile forms and is held 900 ms
    widths = [1.0, 1.0, 1.0, 1.0, 1.1, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3]
    lifts = [0.0, 0.0, 0.0, 0.0, 0.01, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    for prompt in ("blink", "turn_left"):
        outcome = other_movements.refuse_formed_smile(
            _satisfied(prompt), widths, lifts, times, 1.0, 0.0, lookback=3
        )
        assert not outcome.satisfied and "formed under the" in outcome.reason
    # held 400 ms, first to last smiling frame (talking, a smile that passes), does not refuse
    short = widths[:10] + [1.0] * 4
    short_lifts = lifts[:10] + [0.0] * 4
    kept = other_movements.refuse_formed_smile(
        _satisfied("blink"), short, short_lifts, times, 1.0, 0.0, lookback=3
    )
    assert kept.satisfied and kept.measures["smile_formed_ms"] == 400.0


def test_a_mouth_pulled_to_one_side_is_not_a_smile_formed_under_another_prompt():
    # d9's slow blink: his mouth pulled to his right (one corner out, the other in) widens it
    # 1.18x with the corners lifted, for 750 ms at one phase: under the blink prompt the rule
    # takes the smile prompt's own definition, both corners drawn out
    times = [100.0 * k for k in range(14)]
    widths = [1.0, 1.0, 1.0, 1.0, 1.1, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3]
    lifts = [0.0, 0.0, 0.0, 0.0, 0.01, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    pulled = [(0.0, 0.0)] * 5 + [(-0.01, 0.09)] * 9
    kept = other_movements.refuse_formed_smile(
        _satisfied("blink"), widths, lifts, times, 1.0, 0.0, 3, pulled
    )
    assert kept.satisfied and kept.measures["smile_formed_ms"] == 0.0
    both_out = [(0.0, 0.0)] * 5 + [(0.05, 0.06)] * 9
    refused = other_movements.refuse_formed_smile(
        _satisfied("blink"), widths, lifts, times, 1.0, 0.0, 3, both_out
    )
    assert not refused.satisfied and refused.measures["smile_formed_ms"] == 800.0


def test_a_smile_still_held_from_the_previous_prompt_does_not_refuse():
    times = [100.0 * k for k in range(14)]
    # smiling already in the frames before the prompt, relaxing under it
    widths = [1.3] * 10 + [1.2, 1.1, 1.0, 1.0]
    lifts = [0.05] * 10 + [0.03, 0.01, 0.0, 0.0]
    outcome = other_movements.refuse_formed_smile(
        _satisfied("blink"), widths, lifts, times, 1.0, 0.0, lookback=3
    )
    assert outcome.satisfied
    # ...even if a turned frame (NaN) interrupts it
    widths[6] = math.nan
    lifts[6] = math.nan
    outcome = other_movements.refuse_formed_smile(
        _satisfied("turn_left"), widths, lifts, times, 1.0, 0.0, lookback=3
    )
    assert outcome.satisfied


def test_a_head_held_turned_under_a_blink_prompt_refuses_it():
    times = [100.0 * k for k in range(12)]
    # 3 frames before the prompt at rest; the head turns and stays turned 500 ms
    turned = [0, 1, 0, 2, 6, 12, 16, 18, 17, 14, 8, 2]
    outcome = other_movements.refuse_formed_turn(_satisfied("blink"), turned, times, lookback=3)
    assert not outcome.satisfied and "head turned 18 deg" in outcome.reason
    # a glance (a nod with the blink) past 12 deg for ~136 ms is kept
    glance = [0, 1, 0, 2, 6, 13, 14, 5, 2, 1, 0, 0]
    kept = other_movements.refuse_formed_turn(_satisfied("blink"), glance, times, lookback=3)
    assert kept.satisfied and math.isclose(kept.measures["head_turned_ms"], 136.5, abs_tol=0.1)
    assert math.isclose(outcome.measures["head_turned_ms"], 433.3, abs_tol=0.1)
    # four frames just over 12 deg, past it for ~309 ms: a drift (0.08 deg x s), no turn, as
    # under a turn prompt (d9's head, filmed further away, under his blink prompt)
    touching = [0, 1, 0, 2, 9, 12.2, 12.4, 12.3, 12.1, 9, 2, 0]
    drift = other_movements.refuse_formed_turn(_satisfied("blink"), touching, times, lookback=3)
    assert drift.measures["head_turned_ms"] >= TURN_UNDER_BLINK_MS
    assert drift.measures["head_turned_deg_s"] < series.TURN_MIN_PAST_DEG_S
    assert drift.satisfied


def test_a_head_coming_back_from_the_previous_turn_does_not_refuse_a_blink():
    times = [100.0 * k for k in range(12)]
    coming_back = [20, 19, 18, 16, 14, 13, 12, math.nan, 8, 4, 1, 0]
    outcome = other_movements.refuse_formed_turn(
        _satisfied("blink"), coming_back, times, lookback=3
    )
    assert outcome.satisfied
