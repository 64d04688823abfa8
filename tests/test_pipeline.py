"""The pipeline on real images: factors that cannot run say so (never pass), the partner's document
policy, the KYA switches, and which bad photos become INVALID_PHOTO."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image
from worker_helpers import (
    DOCUMENT_PORTRAIT_FRAME,
    genuine_capture,
    jpeg,
    portrait_crop,
    read_clip_frames,
)

from gateway.verification import pipeline
from gateway.verification.captures import Captures, InvalidPhoto, SelfieFrame
from gateway.verification.documents.normalize import normalize_country
from gateway.verification.faces.recognition import detect_faces
from gateway.verification.factors import document_portrait
from gateway.verification.pipeline import pipeline_settings, run_pipeline
from gateway.verification.scoring import NOT_CHECKED, factor

pytestmark = pytest.mark.slow


@pytest.fixture
def no_liveness(monkeypatch):
    """Skip the liveness factor (the slowest) in tests about the other factors; it reports
    itself not_checked, as any factor that did not run does."""
    monkeypatch.setattr(
        pipeline,
        "liveness_factor",
        lambda captures, reference, *decoded: factor(NOT_CHECKED, None, ["skipped by this test"]),
    )


def captures_of(capture, **overrides) -> Captures:
    now = time.time()
    values = {
        "document_front": capture.document_jpeg,
        "selfie_frames": [
            SelfieFrame(data, prompt, t_ms) for _, data, prompt, t_ms in capture.frames
        ],
        "liveness_challenge": {
            "id": "t",
            "prompts": list(capture.prompts),
            "issued_at": now,
            "expires_at": now + 600,
        },
        "challenge_checked_at": now,
    }
    values.update(overrides)
    return Captures(**values)


def applicant_of(capture) -> dict:
    return {
        "first_name": capture.fields["given_names"],
        "last_name": capture.fields["surname"],
        "document_number": capture.fields["document_number"],
        "document_country": capture.fields["issuing_state"],
    }


def test_a_required_check_that_did_not_run_blocks_approval(datasets_dir):
    """No liveness challenge was issued for this capture: liveness is not_checked, and since it
    is required by default the profile goes to a person even though the rest scores >= 80."""
    capture = genuine_capture(datasets_dir)
    result = run_pipeline(captures_of(capture, liveness_challenge=None), applicant_of(capture), {})
    assert result.factors["liveness"] == {
        "status": "not_checked",
        "score": None,
        "reasons": ["no liveness challenge was issued for this capture"],
        "detail": {},
    }
    assert result.factors["face_match"]["status"] == "pass"
    assert result.factors["document"]["status"] == "pass"
    assert result.decision.score >= 80
    assert result.decision.decision == "manual_review"
    assert result.decision.main_reason == "required check not run: liveness"


def test_partner_policy_refuses_a_document_country(datasets_dir, no_liveness):
    capture = genuine_capture(datasets_dir)
    # As the reader normalises it: ICAO codes such as GBD become their ISO 3166 country.
    issuer = normalize_country(capture.fields["issuing_state"]).alpha3
    other = "FRA" if issuer != "FRA" else "DEU"
    settings = {"allowed_countries": [other], "required_checks": {"liveness": False}}
    result = run_pipeline(captures_of(capture), applicant_of(capture), settings)
    document = result.factors["document"]
    assert document["status"] == "fail"
    assert document["reasons"] == [f"documents issued by {issuer} are not accepted by this partner"]
    assert result.decision.decision != "approved"
    accepted = run_pipeline(
        captures_of(capture), applicant_of(capture), {**settings, "allowed_countries": [issuer]}
    )
    assert accepted.factors["document"]["status"] == "pass"
    assert accepted.decision.decision == "approved"
    assert accepted.scores()["settings"]["allowed_countries"] == [issuer]


def test_kya_switches_and_name_mismatch(datasets_dir, no_liveness):
    capture = genuine_capture(datasets_dir)
    applicant = {**applicant_of(capture), "last_name": "Someone-Else", "phone": "12345"}
    result = run_pipeline(captures_of(capture), applicant, {})
    checks = {c["name"]: c["status"] for c in result.factors["kya"]["detail"]["checks"]}
    assert checks["name_coherence"] == "fail"
    assert checks["phone_e164"] == "fail"
    quiet = run_pipeline(
        captures_of(capture),
        applicant,
        {"kya": {"phone": False, "name_coherence": False}},
    )
    checks = {c["name"]: c["status"] for c in quiet.factors["kya"]["detail"]["checks"]}
    assert "phone_e164" not in checks and "name_coherence" not in checks


def test_bad_photos_raise_invalid_photo(datasets_dir, no_liveness):
    capture = genuine_capture(datasets_dir)
    blank = jpeg(np.full((400, 600, 3), 160, dtype=np.uint8))
    with pytest.raises(InvalidPhoto) as document_error:
        run_pipeline(captures_of(capture, document_front=blank), {}, {})
    assert document_error.value.code == "INVALID_PHOTO:document"
    with pytest.raises(InvalidPhoto) as corrupt_error:
        run_pipeline(captures_of(capture, document_front=b"\xff\xd8\xff" + b"\0" * 50), {}, {})
    assert corrupt_error.value.code == "INVALID_PHOTO:document"
    faceless = [SelfieFrame(blank, "neutral", float(i * 100)) for i in range(3)]
    with pytest.raises(InvalidPhoto) as selfie_error:
        run_pipeline(captures_of(capture, selfie_frames=faceless), {}, {})
    assert selfie_error.value.code == "INVALID_PHOTO:selfie"
    with pytest.raises(InvalidPhoto) as no_frames:
        run_pipeline(captures_of(capture, selfie_frames=[]), {}, {})
    assert no_frames.value.code == "INVALID_PHOTO:selfie"


@pytest.mark.parametrize("quarter_turns", [1, 2])
def test_a_passport_photographed_sideways_or_upside_down_is_matched_as_upright(
    datasets_dir, no_liveness, quarter_turns
):
    capture = genuine_capture(datasets_dir)
    upright = run_pipeline(captures_of(capture), applicant_of(capture), {})
    page = np.asarray(Image.open(io.BytesIO(capture.document_jpeg)).convert("RGB"))
    turned_jpeg = jpeg(np.ascontiguousarray(np.rot90(page, quarter_turns)))
    turned = run_pipeline(
        captures_of(capture, document_front=turned_jpeg), applicant_of(capture), {}
    )
    match = turned.factors["face_match"]
    assert match["detail"]["document_quarter_turns"] == (4 - quarter_turns) % 4
    assert upright.factors["face_match"]["detail"]["document_quarter_turns"] == 0
    assert match["status"] == upright.factors["face_match"]["status"] == "pass"
    assert match["score"] == pytest.approx(upright.factors["face_match"]["score"], abs=0.02)
    assert turned.factors["document"]["status"] == "pass"
    assert turned.decision.decision == upright.decision.decision


def test_effective_settings_defaults_and_partner_shape():
    assert pipeline_settings(None) == {
        "weights": {"liveness": 30, "face_match": 40, "document": 25, "kya": 5},
        "thresholds": {"approve": 80, "review": 60},
        "required_checks": ["liveness", "face_match", "document"],
        "face_match_threshold": 0.75,
        "min_age": 18,
        "allowed_document_types": [],
        "allowed_countries": [],
        "kya": {
            "email_mx": False,
            "phone": True,
            "country_coherence": True,
            "name_coherence": True,
        },
        "registry_enabled": False,
    }
    from gateway.services.partner_settings import effective_settings

    effective = pipeline_settings(effective_settings({"face_match_threshold": 0.8}))
    assert effective["face_match_threshold"] == 0.8
    assert effective["required_checks"] == ["liveness", "face_match", "document"]


def test_face_match_takes_each_frontal_prompts_first_frame_then_fills_evenly():
    """The face match's frames include the capture's and each frontal prompt's first frame
    (where liveness's tracking detects afresh, so one detection serves both), never a turn."""
    from gateway.verification.factors import face_match_frames

    prompts = ["neutral"] * 12 + ["blink"] * 30 + ["turn_left"] * 30 + ["smile"] * 30
    frames = [SelfieFrame(image=b"", prompt=prompt) for prompt in prompts]
    chosen = face_match_frames(frames)
    assert len(chosen) == 5
    assert {0, 12, 72} <= set(chosen)
    assert not any(prompts[index].startswith("turn") for index in chosen)
    assert chosen == sorted(set(chosen))
    # Many prompt starts: at most five, spread over them.
    many = [SelfieFrame(image=b"", prompt=p) for p in ["blink", "smile"] * 6 for _ in range(3)]
    assert face_match_frames(many) == [0, 9, 18, 24, 33]


def _passport_with_birth_date(yymmdd: str, today):
    """A passport photo whose MRZ prints `yymmdd` as the birth date, every check digit right."""
    from gateway.synthetic.documents import make_passport, td3_lines
    from gateway.synthetic.identities import random_identity
    from gateway.verification.documents.mrz_layout import check_digit

    rng = np.random.default_rng(11)
    identity = random_identity(rng, today)
    names_line, data_line = td3_lines(identity)
    data = data_line[:13] + yymmdd + str(check_digit(yymmdd)) + data_line[20:43]
    data += str(check_digit(data[0:10] + data[13:20] + data[21:43]))
    document = make_passport(rng, identity=identity, mrz_lines=(names_line, data), today=today)
    return document.image_rgb, identity


def test_a_document_whose_age_was_not_checked_does_not_pass():
    """Month 13, day 40: the check digits agree but the birth date is no date, so neither the
    partner's minimum age nor the partner's date of birth could be checked. The document may look
    genuine; it is not passed (a person decides), and the reasons name what did not run."""
    import datetime as dt

    from gateway.verification.factors import document_factor

    today = dt.date(2026, 11, 23)
    image, identity = _passport_with_birth_date("741340", today)
    applicant = {
        "first_name": identity.given_names,
        "last_name": identity.surname,
        "date_of_birth": identity.birth_date.isoformat(),
    }
    document, _ = document_factor(image, None, applicant, min_age=18, today=today)
    statuses = {c["name"]: c["status"] for c in document["detail"]["checks"]}
    assert statuses["mrz_check_digit:composite"] == "pass"
    assert statuses["minimum_age"] == "not_checked"
    assert document["status"] == "not_checked"
    assert document["score"] is None
    assert "minimum_age: date of birth not read" in document["reasons"]
    assert "applicant_birth_date: date of birth not read" in document["reasons"]


def test_partner_country_policy_applies_to_a_ktp():
    """A KTP has no MRZ; the reader knows it is Indonesian, and a partner that accepts only
    other countries' documents must not accept it (it used to: no issuing state was read)."""
    import datetime as dt

    from gateway.synthetic.ktp import make_ktp
    from gateway.verification.factors import apply_document_policy, document_factor

    today = dt.date(2026, 11, 23)
    card = make_ktp(np.random.default_rng(3), today=today)
    document, fields = document_factor(card.image_rgb, None, {}, min_age=18, today=today)
    assert document["status"] == "pass"
    assert fields["issuing_state"] == "IDN"
    apply_document_policy(document, fields, pipeline_settings({"allowed_countries": ["DEU"]}))
    assert document["status"] == "fail"
    assert document["reasons"] == ["documents issued by IDN are not accepted by this partner"]


def test_kya_compares_the_announced_document_country_with_the_issuer(datasets_dir, no_liveness):
    """The partner said the document is French; the applicant showed another country's passport.
    The check must run on the reader's own fields (it read a key the reader never writes, so it
    was always not_checked)."""
    capture = genuine_capture(datasets_dir)
    issuer = normalize_country(capture.fields["issuing_state"]).alpha3
    announced = "FRA" if issuer != "FRA" else "DEU"
    applicant = {**applicant_of(capture), "document_country": announced}
    result = run_pipeline(captures_of(capture), applicant, {"required_checks": {"liveness": False}})
    checks = {c["name"]: c["status"] for c in result.factors["kya"]["detail"]["checks"]}
    assert checks["document_country_coherence"] == "fail"
    assert result.factors["kya"]["status"] == "fail"
    assert "document issued by another country than announced" in result.factors["kya"]["reasons"]
    same = run_pipeline(
        captures_of(capture),
        {**applicant_of(capture), "document_country": issuer, "country": issuer},
        {"required_checks": {"liveness": False}},
    )
    checks = {c["name"]: c["status"] for c in same.factors["kya"]["detail"]["checks"]}
    assert checks["document_country_coherence"] == "pass"
    assert checks["country_coherence"] == "pass"


def test_a_document_without_a_machine_readable_zone_is_not_checked_never_failed(
    datasets_dir, no_liveness
):
    """A sharp photo of a card the reader cannot read (a driving licence: no MRZ; any document
    type the partner accepts can be declared): the check could not run, so it is not_checked and
    a person decides. As a failed check it earned 0 of its 25 points and rejected applicants whose
    other checks passed (score 56 for a 0.80 face match at liveness 0.71)."""
    from gateway.synthetic.ktp import make_ktp

    capture = genuine_capture(datasets_dir)
    clip = read_clip_frames(
        datasets_dir / "liveness" / "short_hamilton_clip.mp4", {DOCUMENT_PORTRAIT_FRAME}
    )
    card = make_ktp(np.random.default_rng(5), portrait_crop(clip[DOCUMENT_PORTRAIT_FRAME]))
    applicant = {"document_type": "driver_license", "document_country": "IDN"}
    result = run_pipeline(captures_of(capture, document_front=jpeg(card.image_rgb)), applicant, {})
    document = result.factors["document"]
    assert document["status"] == "not_checked"
    assert document["reasons"] == ["the document could not be read: no machine-readable zone found"]
    assert result.decision.decision == "manual_review"
    assert any(
        reason.startswith("document not checked (the document could not be read")
        for reason in result.decision.reasons
    )


def _card_with_second_portrait(card: np.ndarray, head: np.ndarray) -> np.ndarray:
    """`head` pasted, grey and faint, at 80 % size on the right of the card, as a ghost image."""
    from PIL import Image

    board = Image.fromarray(card.copy())
    ghost = Image.fromarray(head)
    ghost = ghost.resize((round(ghost.width * 0.8), round(ghost.height * 0.8)))
    ghost = ghost.convert("L").convert("RGB")
    x, y = round(card.shape[1] * 0.72), round(card.shape[0] * 0.33)
    behind = board.crop((x, y, x + ghost.width, y + ghost.height))
    board.paste(Image.blend(behind, ghost, 0.7), (x, y))
    return np.asarray(board)


def _head(card: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    [face] = detect_faces(card)
    left, top, right, bottom = face.box
    pad = face.width_px // 2
    return card[top - pad : bottom + pad, left - pad : right + pad], face.box


def test_a_ghost_image_of_the_holder_is_no_second_person(datasets_dir):
    """Many cards print the holder's portrait twice (a smaller, faint ghost image): the main,
    largest portrait is the one matched. Two different people on a card are still refused."""
    from gateway.synthetic.documents import make_passport

    faces_dir = datasets_dir / "faces"
    card = make_passport(np.random.default_rng(3), faces_dir / "img20.jpg").image_rgb
    head, main_box = _head(card)
    with_ghost = _card_with_second_portrait(card, head)
    assert len(detect_faces(with_ghost)) == 2  # the ghost is found, as on such cards
    found = document_portrait(with_ghost)
    assert found.card.problem is None
    assert found.card.faces[0].box == main_box
    assert found.portrait is not None and found.portrait.problem is None
    stranger, _ = _head(make_passport(np.random.default_rng(4), faces_dir / "img16.jpg").image_rgb)
    two_people = document_portrait(_card_with_second_portrait(card, stranger))
    assert two_people.card.problem == "multiple_faces"
    assert len(two_people.card.faces) == 2
