"""The capture service's pure rules: return URLs, branding contrast, resubmission steps, frames,
and the documents a partner accepts."""

from __future__ import annotations

import pytest

from gateway.errors import DocumentNotAccepted, SelfieTooLarge, ValidationFailed
from gateway.services.capture_rules import (
    OFFERED_PROMPTS,
    SELFIE_CAPTURE,
    FrameUpload,
    SelfieCapture,
    accepted_countries,
    accepted_document_types,
    allowed_return_url,
    branding,
    check_document_accepted,
    check_frames,
    contrast_ratio,
    normalize_country,
    offered_prompts,
    resubmission_step,
)
from gateway.services.partner_settings import (
    effective_settings,
    link_ttl_s,
    max_challenges,
    retention_days,
)

ALLOWED = ["https://bank.example/kyc", "https://shop.example/"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bank.example/kyc", "https://bank.example/kyc?profile_id=p1&status=submitted"),
        (
            "https://bank.example/kyc/done?x=1&status=forged",
            "https://bank.example/kyc/done?x=1&profile_id=p1&status=submitted",
        ),
        ("https://shop.example/back#top", "https://shop.example/back?profile_id=p1&status=submitted#top"),
        ("https://bank.example/kyc.evil.test/x", None),
        ("https://bank.example/kycx", None),
        ("https://bank.example.evil.test/kyc", None),
        ("javascript:alert(1)//https://bank.example/kyc", None),
        ("", None),
    ],
)  # fmt: skip
def test_return_url_only_under_an_allowed_prefix(url: str, expected: str | None) -> None:
    assert allowed_return_url(url, ALLOWED, profile_id="p1", status="submitted") == expected


def test_an_empty_allow_list_allows_nothing() -> None:
    assert allowed_return_url("https://x.example/", [], profile_id="p", status="s") is None


@pytest.mark.parametrize("accent", ["#ffd700", "#1f4fd1", "#0b6e4f", "#ffffff", "#000000"])
def test_branding_text_keeps_aa_contrast_on_any_accent(accent: str) -> None:
    brand = branding({"branding": {"accent_color": accent, "name": "Bank"}}, "Partner")
    assert brand["name"] == "Bank"
    assert contrast_ratio(brand["accent_color"], brand["accent_text_color"]) >= 4.5


def test_branding_refuses_anything_but_a_hex_colour() -> None:
    brand = branding({"branding": {"accent_color": "red;background:url(x)"}}, "Partner")
    assert brand["accent_color"] == "#1f4fd1"
    assert brand["name"] == "Partner"


@pytest.mark.parametrize(
    ("reason", "step"),
    [
        ("INVALID_PHOTO:document", "document"),
        ("INVALID_PHOTO:selfie", "selfie"),
        ("liveness failed: turn_left not seen", "selfie"),
        ("No face found on the document", "document"),
        ("please try again", "document"),
    ],
)
def test_resubmission_step_from_the_reason(reason: str, step: str) -> None:
    assert resubmission_step(reason) == step


def frames(*prompts: str) -> list[FrameUpload]:
    return [FrameUpload(prompt, 100.0 * i, b"") for i, prompt in enumerate(prompts)]


def test_frames_must_follow_the_challenge() -> None:
    check_frames(
        frames("neutral", "blink", "blink", "turn_left", "turn_left"), ["blink", "turn_left"]
    )
    for bad in (
        frames("turn_left", "blink"),
        frames("blink"),
        frames("blink", "smile", "turn_left"),
        frames(),
    ):
        with pytest.raises(ValidationFailed):
            check_frames(bad, ["blink", "turn_left"])


def dense(prompts: list[str], capture: SelfieCapture, rate_factor: float = 1.0, size: int = 0):
    """The frames the page sends for ``prompts`` at ``capture.fps`` x ``rate_factor``."""
    fps = capture.fps * rate_factor
    neutral = round(capture.neutral_ms / 1000 * fps)
    per_prompt = round(capture.prompt_ms / 1000 * fps)
    tags = ["neutral"] * neutral + [p for p in prompts for _ in range(per_prompt)]
    return [FrameUpload(tag, 1000 / fps * i, b"x" * size) for i, tag in enumerate(tags)]


def test_a_dense_capture_fits_with_slack_for_fast_timers() -> None:
    prompts = ["blink", "turn_left", "smile"]
    assert len(dense(prompts, SELFIE_CAPTURE)) == 102  # 8.5 s at 12 frames a second
    check_frames(dense(prompts, SELFIE_CAPTURE, rate_factor=1.2), prompts)
    with pytest.raises(ValidationFailed):
        check_frames(dense(prompts, SELFIE_CAPTURE, rate_factor=1.5), prompts)


def test_the_byte_budget_is_per_challenge() -> None:
    prompts = ["blink", "turn_left", "smile"]
    capture = SelfieCapture(max_bytes=102 * 1000)
    check_frames(dense(prompts, capture, size=1000), prompts, capture)
    with pytest.raises(SelfieTooLarge) as refused:
        check_frames(dense(prompts, capture, size=1001), prompts, capture)
    assert refused.value.status == 413 and refused.value.code == "selfie_too_large"


def test_the_longest_challenge_fits_the_stored_field_and_the_verifier() -> None:
    """pb_migrations/1763900400_dense_selfie_frames.js lets the field hold 250 files; the
    verifier reads at most its MAX_FRAMES, so the flow issues no challenge longer than that."""
    from gateway.verification.liveness.challenge import MAX_PROMPT_COUNT
    from gateway.verification.liveness.sequence import MAX_FRAMES

    assert SELFIE_CAPTURE.max_frames(MAX_PROMPT_COUNT) <= min(250, MAX_FRAMES)
    longest = SELFIE_CAPTURE.max_prompts()
    assert longest >= 3  # the default challenge is never shortened
    assert SELFIE_CAPTURE.nominal_frames(longest) * 1.15 <= MAX_FRAMES
    assert offered_prompts(None, 6, max_count=longest) == (list(OFFERED_PROMPTS), longest)


def test_countries_normalize_to_alpha_3() -> None:
    assert normalize_country("fr") == "FRA"
    assert normalize_country(" idn ") == "IDN"
    with pytest.raises(ValidationFailed):
        normalize_country("Utopia")


EVERY_TYPE = ["passport", "id_card", "driver_license", "residence_permit"]


@pytest.mark.parametrize(
    ("stored", "types", "countries"),
    [
        ({}, EVERY_TYPE, None),
        (
            {
                "allowed_document_types": ["driver_license", "passport"],
                "allowed_countries": ["fra"],
            },
            ["passport", "driver_license"],
            frozenset({"FRA"}),
        ),
        ({"allowed_document_types": EVERY_TYPE, "allowed_countries": []}, EVERY_TYPE, None),
        # Edited into a wrong shape past the settings API: restricts nothing here.
        ({"allowed_document_types": "passport", "allowed_countries": "FRA"}, EVERY_TYPE, None),
        ({"allowed_document_types": ["library_card"]}, EVERY_TYPE, None),
    ],
)
def test_the_documents_a_partner_accepts(
    stored: dict, types: list[str], countries: frozenset[str] | None
) -> None:
    assert accepted_document_types(stored) == types
    assert accepted_countries(stored) == countries


def test_a_document_the_partner_does_not_accept_is_refused_by_field() -> None:
    settings = {"allowed_document_types": ["id_card"], "allowed_countries": ["IDN", "MYS"]}
    check_document_accepted(settings, "id_card", "MYS")
    check_document_accepted({}, "driver_license", "NZL")
    with pytest.raises(DocumentNotAccepted) as refused:
        check_document_accepted(settings, "passport", "FRA")
    assert refused.value.status == 422
    assert set(refused.value.errors) == {"type", "country"}
    with pytest.raises(DocumentNotAccepted) as refused:
        check_document_accepted(settings, "id_card", "FRA")
    assert set(refused.value.errors) == {"country"}


def test_only_validated_prompts_are_offered() -> None:
    assert offered_prompts(None, None) == (list(OFFERED_PROMPTS), None)
    assert "look_up" not in OFFERED_PROMPTS
    everything = ["blink", "turn_left", "turn_right", "look_up", "smile"]
    assert offered_prompts(everything, 3) == (["blink", "turn_left", "turn_right", "smile"], 3)
    assert offered_prompts(["turn_left", "turn_right"], 2) == (["turn_left", "turn_right"], 2)
    # One validated prompt left: a one-prompt challenge; none left: the validated ones.
    assert offered_prompts(["look_up", "blink"], 3) == (["blink"], 1)
    assert offered_prompts(["look_up"], 1) == (list(OFFERED_PROMPTS), 1)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"liveness": {"max_challenges": 3}}, 3),
        ({"liveness": {"max_challenges": 20}}, 20),
        ({}, 5),
        # Typed into the admin UI, whose edits are not validated whole: the default, not a 500.
        ({"liveness": {"max_challenges": "lots"}}, 5),
        ({"liveness": {"max_challenges": 0}}, 5),
        ({"liveness": {"max_challenges": 1000}}, 5),
        ({"liveness": {"max_challenges": True}}, 5),
        ({"liveness": None}, 5),
        ({"liveness": "blink"}, 5),
    ],
)
def test_max_challenges_reads_the_partner_setting_or_its_default(
    stored: dict, expected: int
) -> None:
    assert max_challenges(effective_settings(stored)) == expected


@pytest.mark.parametrize(
    ("asked", "count"),
    [("blink", "3"), ({"blink": 1}, True), ([["blink"], {"x": 1}], 0), (5, -2)],
)
def test_prompt_settings_of_another_shape_give_the_defaults(asked: object, count: object) -> None:
    """Typed into the admin UI (not validated whole there): the defaults, not a 500."""
    assert offered_prompts(asked, count) == (list(OFFERED_PROMPTS), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "stored",
    [
        {"branding": "acme", "retention_days": "ninety", "link_ttl_s": "a day"},
        {"branding": None, "retention_days": 0, "link_ttl_s": 10},
        {"branding": ["x"], "retention_days": True, "link_ttl_s": 10**9},
    ],
)
def test_settings_of_another_shape_stored_before_the_data_layer_checked_them_read_as_defaults(
    stored: dict,
) -> None:
    """The admin UI's guard checks these shapes since it was found that each gave a 500 (every
    applicant's first step, every profile created); values stored before are read as their
    defaults."""
    settings = effective_settings(stored)
    assert branding(settings, "Acme")["accent_color"] == "#1f4fd1"
    assert branding(settings, "Acme")["name"] == "Acme"
    assert retention_days(settings) == 90
    assert link_ttl_s(settings) is None
