"""Which frames the identity step embeds (identity.frames_to_embed): no model, synthetic tracks."""

from __future__ import annotations

import numpy as np

from gateway.verification.liveness import identity
from gateway.verification.liveness.tracking import TrackedFrame

FRAME_MS = 83.0  # the flow's 12 frames a second


def _track(count: int, *, jumps: set[int] = frozenset(), pause_before: int | None = None):
    """`count` frames of one face, still, in a scene of ~45 grey levels' contrast (as the dev
    clips'); at each index in `jumps` the whole picture brightens by 20 levels (0.44 of its
    contrast: above 3x the median step, under the cut limit of 0.72): a jump, not a cut."""
    rng = np.random.default_rng(0)
    outline = rng.uniform(0.0, 1.0, size=(468, 3))
    scene = np.clip(rng.normal(110.0, 45.0, size=(32, 32)), 0, 255).astype(np.float32)
    frames, t_ms = [], 0.0
    for index in range(count):
        if index in jumps:
            scene = scene + 20.0
        if index == pause_before:
            t_ms += 1000.0
        noise = rng.normal(0.0, 1.0, size=(32, 32)).astype(np.float32)
        points = outline * [200.0, 200.0, 50.0] + [140.0, 120.0, 0.0]
        frames.append(
            TrackedFrame(
                index=index,
                prompt="blink",
                t_ms=t_ms,
                thumbnail=scene + noise,
                points=points + rng.normal(0.0, 0.5, size=points.shape),
                presence=1.0,
            )
        )
        t_ms += FRAME_MS
    return frames


def _chosen(frames, known=()):
    return [item.index for item in identity.frames_to_embed(frames, 300.0, known=set(known))]


def test_without_known_embeddings_the_first_frame_and_every_jump_are_embedded():
    frames = _track(40, jumps={12, 25})
    assert [item.index for item in identity.jump_frames(frames)] == [12, 25]
    assert identity.continuity(frames, 300.0).cuts == []
    assert _chosen(frames) == [0, 12, 25]


def test_a_known_frame_of_the_run_a_jump_opens_stands_for_it():
    # The worker's face match embedded frames 5, 20 and 30: each run has one, none is taken anew.
    assert _chosen(_track(40, jumps={12, 25}), known=[5, 20, 30]) == [5, 20, 30]


def test_a_run_without_a_known_frame_still_embeds_its_jump_frame():
    # Frame 5 is before the jump at 12 and frame 30 after the next jump at 25: the run 12-24 is
    # linked to them only through a jump, so its own first frame is embedded.
    assert _chosen(_track(40, jumps={12, 25}), known=[5, 30]) == [5, 12, 30]


def test_a_pause_starts_a_stretch_of_its_own():
    frames = _track(30, pause_before=15)
    assert _chosen(frames) == [0, 15]
    assert _chosen(frames, known=[3, 20]) == [3, 20]
    assert _chosen(frames, known=[3]) == [3, 15]


def test_the_mesh_face_is_built_once_per_mesh():
    item = _track(1)[0]
    assert item.as_face() is item.as_face()
    item.points = item.points + 10.0
    assert item.as_face().box[0] == int(item.points[:, 0].min())


def test_a_cut_is_told_from_a_jump_at_any_light():
    # another recording from frame 10 on (another scene of the same contrast), filmed at full and
    # at half the light: in grey levels half the light halves the change (25 levels, under the
    # old limit of 28); over the thumbnails' contrast it is the same
    rng = np.random.default_rng(1)
    other_scene = np.clip(rng.normal(110.0, 45.0, size=(32, 32)), 0, 255).astype(np.float32)
    for light in (1.0, 0.5):
        frames = _track(20, jumps={5})
        for item in frames:
            if item.index >= 10:
                item.thumbnail = other_scene + rng.normal(0.0, 1.0, size=(32, 32))
            item.thumbnail = (item.thumbnail * light).astype(np.float32)
        assert [item.index for item in identity.continuity(frames, 300.0).cuts] == [10]
        assert [item.index for item in identity.jump_frames(frames)] == [5, 10]
