"""Prompt decisions on dense series (series.py): dips that reopen, held smiles, gradual turns."""

from __future__ import annotations

import math

import numpy as np

from gateway.verification.liveness import series

OPEN = 0.32


def test_a_blink_dips_and_reopens():
    openness = [OPEN, OPEN, 0.30, 0.19, 0.24, OPEN, OPEN]
    outcome = series.blink_outcome(openness, OPEN)
    assert outcome.satisfied and outcome.decisive_position == 3
    assert math.isclose(outcome.measured, 0.19 / OPEN)


def test_a_blink_may_start_in_the_first_frame_under_the_prompt():
    outcome = series.blink_outcome([0.2, OPEN, OPEN], OPEN, lookback=[OPEN, OPEN])
    assert outcome.satisfied and outcome.decisive_position == 0


def test_eyes_that_never_close_or_never_reopen_are_not_a_blink():
    assert not series.blink_outcome([OPEN, 0.29, 0.28, OPEN, 0.3], OPEN).satisfied
    closed_for_good = series.blink_outcome([OPEN, OPEN, 0.2, 0.2, 0.19], OPEN)
    assert not closed_for_good.satisfied
    assert "not seen open" in closed_for_good.reason
    assert not series.blink_outcome([OPEN, 0.2, OPEN], math.nan).satisfied


def test_a_smile_is_wider_lifted_and_held():
    widths = [1.0, 1.05, 1.2, 1.3, 1.3, 1.1]
    lifts = [0.0, 0.0, 0.03, 0.05, 0.05, 0.0]
    outcome = series.smile_outcome(widths, lifts, 1.0, 0.0)
    assert outcome.satisfied and outcome.decisive_position == 3
    # wider without the corners lifting (an "ee" sound) is not a smile
    assert not series.smile_outcome(widths, [0.0] * 6, 1.0, 0.0).satisfied
    # one frame is a passing mouth shape, not a smile held
    assert not series.smile_outcome([1.0, 1.3, 1.0], [0.0, 0.05, 0.0], 1.0, 0.0).satisfied


def test_a_turn_passes_through_intermediate_poses():
    times = [100.0 * k for k in range(8)]
    gradual = [0, 2, 6, 11, 16, 19, 20, 19]
    outcome = series.turn_outcome("turn_left", gradual, times, 0.0)
    assert outcome.satisfied and outcome.decisive_position == 6
    # the movement's path (what head_motion tracks the pixels along) starts at the last frame
    # within a quarter of the turn (2 deg of 20), not at the prompt's first frame
    assert outcome.path_start_position == 1
    late = series.turn_outcome(
        "turn_left", [0, 1, 0, 1, *gradual], [*times, *range(800, 1200, 100)], 0.0
    )
    assert late.satisfied and late.path_start_position == 5
    # it may start in the frames before the prompt (the lookback)
    early = series.turn_outcome(
        "turn_left", gradual[2:], times[2:], 0.0, lookback_deg=gradual[:2], lookback_ms=times[:2]
    )
    assert early.satisfied and early.path_start_position == -1


def test_a_jump_between_two_poses_is_refused():
    times = [100.0 * k for k in range(8)]
    jump = [0, 0, 1, 0, 20, 20, 21, 20]
    outcome = series.turn_outcome("turn_left", jump, times, 0.0)
    assert not outcome.satisfied and "jumped" in outcome.reason


def test_a_hole_in_the_path_is_refused():
    outcome = series.turn_outcome("turn_left", [0, 7, 14, 20], [0.0, 100.0, 600.0, 700.0], 0.0)
    assert not outcome.satisfied


def test_a_small_or_opposite_turn_is_not_enough():
    times = [100.0 * k for k in range(6)]
    assert not series.turn_outcome("turn_left", [0, 3, 6, 9, 10, 9], times, 0.0).satisfied
    assert not series.turn_outcome("turn_left", [0, -5, -12, -20, -20, -20], times, 0.0).satisfied


def test_a_smile_must_be_held_not_spoken():
    times = [100.0 * k for k in range(10)]
    widths = [1.0, 1.0, 1.3, 1.3, 1.3, 1.0, 1.0, 1.0, 1.0, 1.0]
    lifts = [0.0, 0.0, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0]
    # a sound's mouth shape: wide and lifted for 200 ms
    spoken = series.smile_outcome(widths, lifts, 1.0, 0.0, times)
    assert not spoken.satisfied and "200 ms only" in spoken.reason
    # the same shape built up and held 500 ms is a smile
    held_widths = [1.0, 1.1, 1.2, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.1]
    held_lifts = [0.0, 0.01, 0.03, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.01]
    assert series.smile_outcome(held_widths, held_lifts, 1.0, 0.0, times).satisfied


def test_a_smile_draws_both_corners_out():
    times = [100.0 * k for k in range(10)]
    widths = [1.0, 1.1, 1.2, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.1]
    lifts = [0.0, 0.01, 0.03, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.01]
    both_out = [(0.0, 0.0), *[(0.04, 0.05)] * 8, (0.01, 0.01)]
    assert series.smile_outcome(widths, lifts, 1.0, 0.0, times, both_out).satisfied
    # the same widening with one corner drawn out and the other in: a mouth pulled to one side
    # (d9's during his slow blink), not a smile
    one_side = [(0.0, 0.0), *[(-0.005, 0.09)] * 8, (0.0, 0.02)]
    pulled = series.smile_outcome(widths, lifts, 1.0, 0.0, times, one_side)
    assert not pulled.satisfied and "pulled to one side" in pulled.reason
    # one corner lagging far behind the other is still one-sided; a fifth of it is a smile
    assert not series.smile_outcome(widths, lifts, 1.0, 0.0, times, [(0.01, 0.09)] * 10).satisfied
    assert series.smile_outcome(widths, lifts, 1.0, 0.0, times, [(0.02, 0.09)] * 10).satisfied


def test_a_pulled_mouth_does_not_hide_a_smile_held_after_it():
    times = [100.0 * k for k in range(16)]
    widths = [1.0, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.0, 1.0, 1.1, 1.3, 1.3, 1.3, 1.3, 1.3, 1.0]
    lifts = [0.05 if w >= 1.3 else 0.0 for w in widths]
    moves = [(-0.01, 0.09)] * 7 + [(0.0, 0.0)] * 3 + [(0.05, 0.05)] * 6
    outcome = series.smile_outcome(widths, lifts, 1.0, 0.0, times, moves)
    # the lopsided stretch is the longest (600 ms); the balanced one (400 ms) is the smile
    assert outcome.satisfied and outcome.decisive_position >= 10


def test_lip_closures_count_falls_that_reopen_and_ignore_jitter():
    assert series.lip_closures([0.13, 0.04, 0.13, 0.03, 0.15, 0.15]) == 2
    # jitter of the mesh (0.01-0.03) never counts, nor a mouth that closes and stays closed
    assert series.lip_closures([0.15, 0.13, 0.16, 0.14, 0.17, 0.15]) == 0
    assert series.lip_closures([0.03, 0.01, 0.04, 0.02, 0.03, 0.0]) == 0
    assert series.lip_closures([0.18, 0.10, 0.02, 0.02, 0.02]) == 0
    # a laugh's open mouth wavering by the depth is not a closure: the lips never meet
    assert series.lip_closures([0.14, 0.14, 0.09, 0.11, 0.14, 0.16, 0.11, 0.16]) == 0
    assert series.lip_closures([0.14, 0.14, 0.05, 0.11, 0.14]) == 1
    # frames without a measure are passed over
    assert series.lip_closures([0.13, math.nan, 0.04, math.nan, 0.13]) == 1
    assert series.lip_closures([0.13, math.nan, 0.13, math.nan, 0.13]) == 0


def test_speech_around_a_held_wide_mouth_is_not_a_smile():
    # 12 fps; d13's talking: syllables before and after a spread vowel held ~667 ms with the
    # corners lifted (1.3x) - the widening, the hold and both corners pass the smile's rules
    widths = [1.0, 1.1, 1.0, 1.05, 1.0, 1.1, 1.2, *[1.3] * 8, 1.2, 1.0, 1.1, 1.0, 1.0, *[1.0] * 4]

    def smile(openings, widths=widths):
        times = [83.3 * k for k in range(len(widths))]
        lifts = [0.05 if w >= 1.2 else 0.0 for w in widths]
        moves = [(0.03, 0.04) if w >= 1.2 else (0.0, 0.0) for w in widths]
        return series.smile_outcome(widths, lifts, 1.0, 0.0, times, moves, openings)

    talking = [0.12, 0.04, 0.13, 0.03, 0.12, 0.05, *[0.12] * 10, 0.04, 0.12, 0.03, 0.12, 0.04]
    talking += [0.12] * (len(widths) - len(talking))
    spoken = smile(talking)
    assert not spoken.satisfied and "speech" in spoken.reason
    assert spoken.measures["lip_closures"] >= series.SMILE_SPEECH_CLOSURES
    assert smile(None).satisfied  # every other rule passes it
    # the same held mouth with the lips still (a smile with teeth) passes, and so does one that
    # closes once as it forms or fades (d12's laugh, d8 opening his mouth after his smile)
    still = [0.02, 0.02, 0.02, 0.02, 0.02, 0.08, *[0.15] * 10, 0.1, *[0.03] * 7]
    held = smile(still)
    assert held.satisfied and held.measures["lip_closures"] == 0
    assert smile([*still[:17], 0.02, 0.15, 0.15, *still[20:]]).satisfied
    # talking under the prompt that ends SMILE_SPEECH_LEAD_MS before the smile forms is not
    # counted (d13 talks, then smiles 0.8 s later: the prompt may appear mid-sentence)...
    assert smile(talking[:12] + still, [1.0] * 12 + widths).satisfied
    assert not smile(talking[:8] + still[4:], [1.0] * 4 + widths).satisfied
    # ...but talking after it is, however late: the prompt asks to keep smiling
    released = [*widths, *[1.0] * 12]
    assert not smile([*still, *[0.12] * 4, *talking[:8]], released).satisfied
    assert smile([*still, *[0.12] * 12], released).satisfied


def test_two_closures_are_speech_and_the_smile_is_any_held_run_that_is_not():
    times = [83.3 * k for k in range(30)]

    def outcome(widths, openings, moves=None):
        lifts = [0.05 if w >= 1.2 else 0.0 for w in widths]
        moves = moves or [(0.03, 0.04) if w >= 1.2 else (0.0, 0.0) for w in widths]
        return series.smile_outcome(widths, lifts, 1.0, 0.0, times, moves, openings)

    smile = [1.0, 1.1, 1.2, *[1.3] * 10, 1.1, *[1.0] * 16]
    # exactly two closures (d13's talk claimed as a smile: 2 in each of the 6) is speech
    two = [0.12, 0.03, 0.12, 0.03, *[0.12] * 26]
    assert outcome(smile, two).measures["lip_closures"] == 2 and not outcome(smile, two).satisfied
    assert outcome(smile, [0.12, 0.03, *[0.12] * 28]).satisfied
    # talk holding a spoken vowel (the longer held run, 667 ms) and then a real smile more than
    # SMILE_SPEECH_LEAD_MS later, the lips still (417 ms): the smile is judged on its own
    vowel_then_smile = [1.0, 1.0, 1.1, *[1.3] * 9, 1.1, *[1.0] * 8, 1.1, 1.2, *[1.3] * 5, 1.1, 1.0]
    talk_then_still = [0.12, 0.03, 0.12, *[0.12] * 9, 0.03, *[0.12] * 17]
    judged = outcome(vowel_then_smile, talk_then_still)
    assert judged.satisfied and judged.decisive_position >= 23
    assert judged.measures["lip_closures"] == 0
    # the lead is counted before the run the corner rule chose, not before a lopsided one:
    # talk, then a mouth pulled to one side (longer), then a balanced smile 1 s later
    pulled_then_smile = [1.0, 1.0, *[1.3] * 10, *[1.0] * 10, 1.2, *[1.3] * 5, 1.1, 1.0]
    moves = [(-0.01, 0.09)] * 12 + [(0.0, 0.0)] * 10 + [(0.04, 0.05)] * 8
    talk_first = [0.12, 0.03, 0.12, 0.03, 0.12, *[0.12] * 25]
    assert outcome(pulled_then_smile, talk_first, moves).satisfied


def test_each_held_run_is_judged_on_its_own_measures():
    times = [83.3 * k for k in range(30)]

    def lifted(widths):
        return [0.05 if w >= 1.2 else 0.0 for w in widths]

    def both_out(widths):
        return [(0.03, 0.04) if w >= 1.2 else (0.0, 0.0) for w in widths]

    # the longest run jumps in one frame (a photo's switch), a later one forms gradually: the
    # later one is the smile
    jump_then_smile = [1.0, 1.0, *[1.3] * 10, *[1.0] * 8, 1.1, 1.2, *[1.3] * 6, 1.1, 1.0]
    still = [0.02] * 30
    judged = series.smile_outcome(
        jump_then_smile, lifted(jump_then_smile), 1.0, 0.0, times, both_out(jump_then_smile), still
    )
    assert judged.satisfied and judged.decisive_position >= 22
    assert judged.measures["held_frames"] == 7
    # none passes: the refusal is the longest run's, with that run's measures only (the later
    # run's speech count does not leak into the jump's refusal)
    talk_late = [0.02] * 18 + [0.12, 0.03, 0.12, 0.03, 0.12, 0.03, 0.12, *[0.12] * 5]
    refused = series.smile_outcome(
        jump_then_smile,
        lifted(jump_then_smile),
        1.0,
        0.0,
        times,
        both_out(jump_then_smile),
        talk_late,
    )
    assert not refused.satisfied and "jumped" in refused.reason
    assert refused.measures["held_frames"] == 10 and "lip_closures" not in refused.measures
    # without the corners' movements (the rule's callers before it), each run is judged too
    vowel_then_smile = [1.0, 1.0, 1.1, *[1.3] * 9, 1.1, *[1.0] * 8, 1.1, 1.2, *[1.3] * 5, 1.1, 1.0]
    talk_then_still = [0.12, 0.03, 0.12, *[0.12] * 9, 0.03, *[0.12] * 17]
    assert series.smile_outcome(
        vowel_then_smile, lifted(vowel_then_smile), 1.0, 0.0, times, None, talk_then_still
    ).satisfied


def test_a_turn_is_held_not_a_jerk():
    # 12 fps: a head jerk seen in one frame (xp's, as he squeezes his eyes: 17 deg, past 12 for
    # ~112 ms) passes the angle but is not a turn held 160 ms
    times = [83.3 * k for k in range(10)]
    jerk = [0, 1, 3, 6, 10, 17, 9, 4, 1, 0]
    outcome = series.turn_outcome("turn_left", jerk, times, 0.0)
    assert not outcome.satisfied and "held it 112 ms only" in outcome.reason
    assert math.isclose(
        series.past_threshold(np.array(jerk, float), np.array(times), 12.0)[0], 111.6, abs_tol=0.1
    )
    # d9's movement in his slow blink: three frames just past 12 deg are ~186 ms past it (not 3
    # frame intervals, 250 ms), long enough, but never far past: ~0.13 deg x s
    touching = [0, 2, 5, 9, 12.5, 13, 12.5, 7, 4, 2]
    held, past = series.past_threshold(np.array(touching, float), np.array(times), 12.0)
    assert math.isclose(held, 186.1, abs_tol=0.5) and math.isclose(past, 0.1298, abs_tol=1e-3)
    drift = series.turn_outcome("turn_left", touching, times, 0.0)
    assert not drift.satisfied and "only just past 12" in drift.reason
    # the clip's left glance (14 deg, three frames past 12) is held ~238 ms, 0.31 deg x s: a turn
    glance = [0, 2, 5, 9, 12.6, 13.3, 14.4, 10.9, 4, 2]
    assert series.turn_outcome("turn_left", glance, times, 0.0).satisfied
    # the same time past 12 deg, held a little lower, is the drift again
    assert not series.turn_outcome(
        "turn_left", [0, 2, 5, 9, 12.3, 12.6, 12.8, 10.9, 4, 2], times, 0.0
    ).satisfied
    # a frame lost in the middle of a held turn costs nothing (frames without a pose are passed
    # over); a frame misread low costs the time it reads under the threshold
    lost = [0, 3, 7, 11, 15, math.nan, math.nan, 18, 17, 9]
    assert series.turn_outcome("turn_left", lost, times, 0.0).satisfied
    glitch = [0, 3, 7, 11, 15, 18, 4, 18, 17, 9]
    assert series.turn_outcome("turn_left", glitch, times, 0.0).satisfied
    # a 12 fps capture of a 30 fps camera alternates 67 and 100 ms steps: the frames' own times
    uneven = [0.0, 66.7, 166.8, 233.5, 333.6, 400.3, 500.4, 567.1, 667.2, 733.9]
    assert series.turn_outcome("turn_left", glance, uneven, 0.0).satisfied


def test_each_rule_reports_the_measure_it_compared():
    # a reviewer (and eval/liveness_eval.py) reads how near each rule came, not only the verdict
    times = [83.3 * k for k in range(10)]
    drift = series.turn_outcome("turn_left", [0, 2, 5, 9, 12.5, 13, 12.5, 7, 4, 2], times, 0.0)
    assert not drift.satisfied
    assert drift.measures["peak_deg"] == 13.0
    assert math.isclose(drift.measures["held_ms"], 186.1, abs_tol=0.5)
    assert math.isclose(drift.measures["past_deg_s"], 0.1298, abs_tol=1e-3)
    assert drift.measures["largest_step_fraction"] < series.TURN_MAX_STEP_FRACTION
    spoken_times = [100.0 * k for k in range(10)]
    widths = [1.0, 1.0, 1.3, 1.3, 1.3, 1.0, 1.0, 1.0, 1.0, 1.0]
    lifts = [0.05 if w > 1 else 0.0 for w in widths]
    spoken = series.smile_outcome(widths, lifts, 1.0, 0.0, spoken_times)
    assert spoken.measures["held_ms"] == 200.0 and spoken.measures["held_frames"] == 3
    assert "corner_balance" not in spoken.measures  # the rule after the hold never ran
    held_widths = [1.0, 1.1, 1.2, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.1]
    held_lifts = [0.0, 0.01, 0.03, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.01]
    moves = [(0.0, 0.0), *[(0.02, 0.05)] * 8, (0.01, 0.01)]
    smile = series.smile_outcome(held_widths, held_lifts, 1.0, 0.0, spoken_times, moves)
    assert smile.satisfied and math.isclose(smile.measures["corner_balance"], 0.4)
    assert smile.measures["held_ms"] == 600.0  # 1.2x and lifted from the third frame
    body = series.blink_outcome([OPEN, math.nan, OPEN], OPEN).as_dict()
    # a measure that could not be taken is left out of the body, never sent as NaN
    assert body["measures"] == {"lowest_eyelid_ratio": 1.0}
    assert series.blink_outcome([math.nan, math.nan], OPEN).as_dict()["measures"] == {}
