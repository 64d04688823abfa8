"""Challenges: random order, no immediate repeats, JSON round trip, expiry."""

from __future__ import annotations

import json
import random

import pytest

from gateway.verification.liveness import (
    OFFERED_PROMPTS,
    Challenge,
    ChallengeError,
    issue_challenge,
)


def test_prompts_come_from_the_allowed_set_without_immediate_repeats():
    for seed in range(200):
        challenge = issue_challenge(
            prompts_allowed=("blink", "turn_left", "turn_right"), count=5, rng=random.Random(seed)
        )
        assert len(challenge.prompts) == 5
        assert set(challenge.prompts) <= {"blink", "turn_left", "turn_right"}
        assert all(a != b for a, b in zip(challenge.prompts, challenge.prompts[1:], strict=False))


def test_distinct_prompts_while_the_allowed_set_lasts():
    challenge = issue_challenge(count=4, rng=random.Random(3))
    assert sorted(challenge.prompts) == sorted(OFFERED_PROMPTS)


def test_only_validated_prompts_are_offered():
    assert "look_up" not in OFFERED_PROMPTS
    for seed in range(50):
        challenge = issue_challenge(
            prompts_allowed=("look_up", "blink", "smile"), count=3, rng=random.Random(seed)
        )
        assert "look_up" not in challenge.prompts
    with pytest.raises(ChallengeError, match="offered"):
        issue_challenge(prompts_allowed=("look_up",), count=1)
    # a stored challenge that names look_up stays readable
    record = {"id": "x", "prompts": ["look_up"], "issued_at": 1.0, "expires_at": 2.0}
    assert Challenge.from_dict(record).prompts == ("look_up",)


def test_order_is_random_across_attempts():
    orders = {issue_challenge(count=3, rng=random.Random(seed)).prompts for seed in range(50)}
    assert len(orders) > 10


def test_default_generator_is_not_seeded_and_ids_are_unique():
    challenges = [issue_challenge() for _ in range(20)]
    assert len({c.id for c in challenges}) == 20
    assert len({c.prompts for c in challenges}) > 1


def test_expiry_window():
    challenge = issue_challenge(ttl_s=600, now=1_000.0)
    assert (challenge.issued_at, challenge.expires_at) == (1_000.0, 1_600.0)
    assert not challenge.is_expired(1_599.9)
    assert challenge.is_expired(1_600.0)


def test_json_round_trip():
    challenge = issue_challenge(count=4, rng=random.Random(1), now=5.0)
    restored = Challenge.from_dict(json.loads(json.dumps(challenge.as_dict())))
    assert restored == challenge


def test_from_dict_refuses_unknown_prompts_and_missing_fields():
    record = issue_challenge(now=1.0).as_dict()
    with pytest.raises(ChallengeError):
        Challenge.from_dict({**record, "prompts": ["blink", "say_hello"]})
    with pytest.raises(ChallengeError):
        Challenge.from_dict({key: value for key, value in record.items() if key != "expires_at"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": 0},
        {"count": 99},
        {"prompts_allowed": ()},
        {"prompts_allowed": ("blink", "dance")},
        {"prompts_allowed": ("blink",), "count": 2},
        {"ttl_s": 0},
    ],
)
def test_invalid_requests_fail(kwargs):
    with pytest.raises(ChallengeError):
        issue_challenge(**kwargs)


def test_single_allowed_prompt_single_count_is_fine():
    assert issue_challenge(prompts_allowed=("blink",), count=1).prompts == ("blink",)


def test_every_challenge_holds_a_head_turn_when_one_is_allowed():
    for seed in range(200):
        challenge = issue_challenge(count=2, rng=random.Random(seed))
        assert {"turn_left", "turn_right"} & set(challenge.prompts)
        assert all(a != b for a, b in zip(challenge.prompts, challenge.prompts[1:], strict=False))
    assert issue_challenge(prompts_allowed=("blink", "smile"), count=2).prompts  # no turn allowed
