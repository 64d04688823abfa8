"""The worker never decodes more pixels than the upload policy allows, even for a file that did
not come through the gateway (a superuser can attach one in the admin UI): the probe's pixel
bombs were stored by a route that skipped the policy, and one pushed the worker to 618 MB. Here a
PNG claiming 8,000 x 6,000 pixels (48 megapixels: over the policy's 40, under Pillow's own bomb
limit) is stored on the profile directly; the worker refuses it from its header and asks for a
new document photo."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from api_helpers import new_profile_id
from flask.testing import FlaskClient
from test_upload_policy import png_claiming
from worker_helpers import jpeg, submit

from gateway.container import Services
from gateway.worker.tasks import enqueue_verification

pytestmark = pytest.mark.usefixtures("worker")


def test_a_stored_pixel_bomb_is_refused_by_the_worker_without_decoding(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    frame = jpeg(np.full((480, 640, 3), 120, dtype=np.uint8))
    profile_id = new_profile_id(client, partner.headers)
    submit(
        services.pb,
        profile_id,
        document_jpeg=png_claiming(8_000, 6_000),
        frames=[("frame_0.jpg", frame, "center", 0.0), ("frame_1.jpg", frame, "left", 400.0)],
        prompts=("left",),
    )
    enqueue_verification(profile_id)
    record = services.pb.get("profiles", profile_id)
    assert record["status"] == "resubmission_requested", record["reasons"]
    assert record["reasons"][0].startswith("INVALID_PHOTO:document")
    assert "pixels" in record["reasons"][0], record["reasons"]
