"""The specification's request bodies are accepted where they differ from ours only in optional
fields, and what the gateway does not use is ignored, never trusted (``hints`` on liveness)."""

from __future__ import annotations

import base64

import numpy as np
from api_helpers import assert_problem
from flask.testing import FlaskClient
from worker_helpers import jpeg


def test_liveness_takes_the_specifications_hints_and_ignores_them(
    client: FlaskClient, partner
) -> None:
    image = base64.b64encode(jpeg(np.full((240, 320, 3), 128, np.uint8))).decode()

    def post(body: dict):
        return client.post("/v1/liveness/analyze", json=body, headers=partner.headers)

    plain = post({"image_live_base64": image})
    assert plain.status_code == 200, plain.get_json()
    for hints in (["blink", "turn_left"], {"device": "mobile", "lighting": "low"}, "front", None):
        with_hints = post({"image_live_base64": image, "hints": hints})
        assert with_hints.status_code == 200, with_hints.get_json()
        # Ignored: the same verdict as without them, never "live" because the client says so.
        body = with_hints.get_json()
        assert body["is_live"] is False
        assert (body["is_live"], body["spoof_type"], body["hints"]) == (
            plain.get_json()["is_live"],
            plain.get_json()["spoof_type"],
            plain.get_json()["hints"],
        )
    # Bounded, and fields the specification does not have are still refused.
    assert_problem(
        post({"image_live_base64": image, "hints": ["x" * 5000]}), 422, "validation_failed"
    )
    assert_problem(post({"image_live_base64": image, "extra": 1}), 422, "validation_failed")
