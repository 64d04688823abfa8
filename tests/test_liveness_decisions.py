"""Prompt decisions on measured series (no images): every prompt satisfied and not satisfied.

The series are numbers measured by the service on real frames (eval/liveness_eval.py and
docs/liveness.md), not invented: the clip has no blink and no labelled smile, so for those two
prompts the decision logic is tested on series shaped by what was measured (open-eye level
~0.30 on the clip, ~0.07 with the eyes covered by cheek skin).
"""

from __future__ import annotations

import math

import pytest

from gateway.verification.liveness import decisions
from gateway.verification.liveness.landmark_sources import RegionLandmarkSource

# Yaw (deg) measured on short_hamilton_clip.mp4 frames 146-160 (he turns to his left) and
# 93-112 (he turns to his right).
YAW_TURNING_LEFT = [-1, 3, 1, 3, 5, 4, 9, 11, 12, 10, 14, 18, 24, 25, 29]
YAW_TURNING_RIGHT = [4, 3, 3, -1, -11, -10, -5, -11, -10, -11, -19, -22, -23, -22, -17, -18]
YAW_STILL = [6, 5, 6, 7, 6, 5, 6, 6, 5, 6]  # frames 167-176: speaking, not turning


def test_turn_left_satisfied_by_a_real_left_turn():
    outcome = decisions.turn_outcome("turn_left", YAW_TURNING_LEFT[5:], YAW_TURNING_LEFT[0])
    assert outcome.satisfied
    assert outcome.measured == pytest.approx(30.0)
    assert outcome.decisive_position == len(YAW_TURNING_LEFT[5:]) - 1


def test_turn_left_not_satisfied_by_a_right_turn_or_a_still_head():
    assert not decisions.turn_outcome("turn_left", YAW_TURNING_RIGHT[4:], 4.0).satisfied
    assert not decisions.turn_outcome("turn_left", YAW_STILL, YAW_STILL[0]).satisfied


def test_turn_right_satisfied_and_not():
    assert decisions.turn_outcome("turn_right", YAW_TURNING_RIGHT[4:], 4.0).satisfied
    assert not decisions.turn_outcome("turn_right", YAW_TURNING_LEFT, -1.0).satisfied
    assert not decisions.turn_outcome("turn_right", YAW_STILL, YAW_STILL[0]).satisfied


def test_turn_is_relative_to_the_neutral_pose():
    # A head already turned 20 deg left at neutral that stays there has not turned.
    assert not decisions.turn_outcome("turn_left", [20, 22, 21], 20.0).satisfied


def test_turn_without_any_pose_is_not_satisfied():
    outcome = decisions.turn_outcome("turn_left", [math.nan, math.nan], 0.0)
    assert not outcome.satisfied and math.isnan(outcome.measured)


def test_look_up_satisfied_only_when_frontal():
    assert decisions.look_up_outcome([2, 9, 17, 20], [0, 1, 2, 3], 0.0).satisfied
    # the same pitch numbers while the head is turned 30 deg do not count
    assert not decisions.look_up_outcome([2, 9, 17, 20], [30, 31, 32, 33], 0.0).satisfied
    assert not decisions.look_up_outcome([1, 4, 6, 3], [0, 0, 0, 0], 0.0).satisfied


OPEN = 0.20  # region openness of open eyes on the clip (median 0.19)
COVERED = 0.03  # the same eyes, iris covered by cheek skin (median 0.13 of open)
CLOSED = RegionLandmarkSource.blink_closed_ratio


def test_blink_dip_then_recover_is_satisfied():
    outcome = decisions.blink_outcome([OPEN, COVERED, OPEN], OPEN, CLOSED, open_before=OPEN)
    assert outcome.satisfied
    assert outcome.measured == pytest.approx(COVERED / OPEN)
    assert outcome.decisive_position == 1


def test_blink_may_start_in_the_first_frame_under_the_prompt():
    assert decisions.blink_outcome([COVERED, OPEN, OPEN], OPEN, CLOSED, open_before=OPEN).satisfied


def test_blink_without_recovery_or_without_open_eyes_first_is_not_satisfied():
    # closed and never reopened (a photo with closed eyes swapped in)
    assert not decisions.blink_outcome([OPEN, COVERED, COVERED], OPEN, CLOSED).satisfied
    # closed from the start: nothing open before the dip
    assert not decisions.blink_outcome([COVERED, OPEN, OPEN], OPEN, CLOSED).satisfied


def test_blink_not_satisfied_by_open_eye_wobble():
    # open eyes wobble: p5 of a frame over its neighbours' level was 0.53 on the clip
    series = [0.21, 0.17, 0.20, 0.12, 0.22]
    assert not decisions.blink_outcome(series, 0.21, CLOSED, open_before=0.20).satisfied


def test_smile_satisfied_in_two_frames_and_not_in_one():
    assert decisions.smile_outcome([0.55, 0.80, 0.82, 0.60], 0.55, 1.35).satisfied
    assert not decisions.smile_outcome([0.55, 0.80, 0.56, 0.60], 0.55, 1.35).satisfied
    assert not decisions.smile_outcome([0.55, 0.57, 0.52], 0.55, 1.35).satisfied
    assert not decisions.smile_outcome([0.8, 0.9], math.nan, 1.35).satisfied


def test_strength_grows_with_the_margin():
    weak = decisions.turn_outcome("turn_left", [16.0], 0.0)
    strong = decisions.turn_outcome("turn_left", [40.0], 0.0)
    assert 0.0 < weak.strength < strong.strength <= 1.0
    assert decisions.turn_outcome("turn_left", [5.0], 0.0).strength == 0.0
