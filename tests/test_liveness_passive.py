"""Passive-only analysis: evidence, never a live verdict, and no spoof type without evidence."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.verification.images import load_image
from gateway.verification.liveness import analyze_passive
from gateway.verification.liveness.passive import EVIDENCE_RULES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["still_real_T1.jpg", "still_print_F1.jpg", "still_screen_F2.jpg"])
def test_a_single_image_is_never_live(datasets_dir, name):
    result = analyze_passive(load_image(datasets_dir / "liveness" / name))
    body = result.to_liveness_dict()
    assert body["is_live"] is False
    assert body["confidence"] == 0.0
    assert result.face_found
    assert "passive_only_not_sufficient" in body["hint_codes"]
    assert body["hints"] and "cannot prove liveness" in body["hints"][0]
    assert set(body["passive"]["cues"]) >= {"moire_peak_ratio", "sharpness", "face_width_ratio"}
    # No rule has evidence behind it on our data, so no spoof type is named.
    if not EVIDENCE_RULES:
        assert body["spoof_type"] == "unknown"
        assert body["passive"]["evidence"] == []


@pytest.mark.slow
def test_no_face_is_said_so():
    blank = np.full((240, 320, 3), 127, dtype=np.uint8)
    body = analyze_passive(blank).to_liveness_dict()
    assert body["is_live"] is False
    assert body["hint_codes"] == ["face_not_found"]
