"""verify_challenge end to end: real clip frames for turns, sequence checks, identity.

Turns use real frames of ../shared/datasets/liveness/short_hamilton_clip.mp4 (frames 146-160:
he turns to his left; 184-210: to his right; one camera shot, one person). The clip has no
blink, so the blink test covers his eyes with his own cheek skin copied from below each eye: a
stand-in for a closed lid that hides the iris as a lid does (no lash line or crease), which is
what the region measure looks at. Sequence checks (expiry, order, gaps, duplicates, counts) run
before any model and use noise images.
"""

from __future__ import annotations

import json
import math
import time

import cv2
import numpy as np
import pytest

from gateway.errors import ValidationFailed
from gateway.synthetic.eyes import cover_iris_with_skin
from gateway.verification.liveness import Challenge, verify_challenge

NOW = 1_700_000_000.0


def challenge_of(*prompts: str, expires_at: float = NOW + 600) -> Challenge:
    return Challenge(id="test", prompts=prompts, issued_at=NOW, expires_at=expires_at)


def noise_frames(tags: list[str], step_ms: float = 150.0, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "rgb": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
            "prompt": tag,
            "t_ms": i * step_ms,
        }
        for i, tag in enumerate(tags)
    ]


TWO_TURNS = ["neutral", "turn_left", "turn_left", "turn_right", "turn_right"]


# --- sequence checks (no model runs) --------------------------------------------------------


def test_expired_challenge_is_refused_before_anything_else():
    result = verify_challenge(
        challenge_of("turn_left", "turn_right", expires_at=NOW - 1),
        noise_frames(TWO_TURNS),
        now=NOW,
    )
    assert not result.is_live
    assert result.hint_codes == ["challenge_expired"]
    assert result.challenge["satisfied"] == [False, False]


def test_prompts_out_of_the_challenged_order_are_refused():
    tags = ["neutral", "turn_right", "turn_right", "turn_left", "turn_left"]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), noise_frames(tags), now=NOW)
    assert not result.is_live and result.hint_codes == ["prompt_order"]


def test_a_missing_prompt_or_a_foreign_prompt_is_refused():
    result = verify_challenge(
        challenge_of("turn_left", "turn_right"),
        noise_frames(["neutral", "turn_left", "turn_left"]),
        now=NOW,
    )
    assert result.hint_codes == ["prompt_order"]
    tags = ["neutral", "turn_left", "smile", "turn_right", "turn_right"]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), noise_frames(tags), now=NOW)
    assert result.hint_codes == ["unexpected_prompt"]


def test_too_few_frames_per_prompt():
    tags = ["neutral", "turn_left", "turn_right", "turn_right"]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), noise_frames(tags), now=NOW)
    assert result.hint_codes == ["too_few_frames"]
    blink = verify_challenge(challenge_of("blink"), noise_frames(["blink", "blink"]), now=NOW)
    assert blink.hint_codes == ["too_few_frames"]


def test_time_gap_between_frames_is_refused():
    frames = noise_frames(TWO_TURNS)
    frames[3]["t_ms"] = frames[2]["t_ms"] + 6_000
    frames[4]["t_ms"] = frames[3]["t_ms"] + 100
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert result.hint_codes == ["frames_time_gap"]


def test_capture_times_must_increase():
    frames = noise_frames(TWO_TURNS)
    frames[2]["t_ms"] = frames[1]["t_ms"]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert result.hint_codes == ["frames_out_of_order"]


def test_repeated_image_is_refused_as_duplicates():
    frames = noise_frames(TWO_TURNS)
    for frame in frames[1:]:
        frame["rgb"] = frames[0]["rgb"].copy()
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert not result.is_live and result.hint_codes == ["frames_duplicated"]
    assert result.frames["duplicates"] == 4


def test_byte_identical_uploads_are_duplicates():
    ok, encoded = cv2.imencode(".png", noise_frames(["neutral"])[0]["rgb"])
    assert ok
    frames = [
        {"image": encoded.tobytes(), "prompt": tag, "t_ms": 100.0 * i}
        for i, tag in enumerate(TWO_TURNS)
    ]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert result.hint_codes == ["frames_duplicated"]


def test_malformed_frames_raise_validation_errors():
    with pytest.raises(ValidationFailed):
        verify_challenge(challenge_of("blink"), [{"prompt": "blink", "t_ms": 0}], now=NOW)
    with pytest.raises(ValidationFailed):
        verify_challenge(
            challenge_of("blink"),
            [{"image": b"not an image", "prompt": "blink", "t_ms": 0}],
            now=NOW,
        )
    frame = noise_frames(["blink"])[0]
    with pytest.raises(ValidationFailed):
        verify_challenge(challenge_of("blink"), [{**frame, "t_ms": "soon"}], now=NOW)


# --- real frames (models run) --------------------------------------------------------------

CLIP_FPS = 29.97


@pytest.fixture(scope="module")
def clip(datasets_dir) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(datasets_dir / "liveness" / "short_hamilton_clip.mp4"))
    frames, index = {}, 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if 140 <= index <= 215:
            frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return frames


def clip_frames(clip, parts: list[tuple[str, list[int]]]) -> list[dict]:
    return [
        {"rgb": clip[i], "prompt": prompt, "t_ms": i * 1000.0 / CLIP_FPS}
        for prompt, indices in parts
        for i in indices
    ]


GENUINE_PARTS = [
    ("neutral", [147]),
    ("turn_left", [152, 156, 160]),
    ("turn_right", [190, 200, 208]),
]


@pytest.mark.slow
def test_real_turns_in_the_challenged_order_are_live(clip):
    started = time.perf_counter()
    result = verify_challenge(
        challenge_of("turn_left", "turn_right"), clip_frames(clip, GENUINE_PARTS), now=NOW
    )
    assert result.is_live, result.hints
    assert result.spoof_type == "none"
    assert result.challenge["satisfied"] == [True, True]
    assert 0.6 <= result.confidence <= 1.0
    assert result.identity["max_distance_to_medoid"] <= 0.6
    assert all(detail["planar_fit"] < 0.9 for detail in result.challenge["details"])
    assert json.loads(json.dumps(result.to_dict()))["is_live"] is True
    assert time.perf_counter() - started < 10


@pytest.mark.slow
def test_turns_in_the_wrong_direction_are_not_satisfied(clip):
    # The same real frames, submitted for the opposite challenge.
    parts = [("neutral", [147]), ("turn_right", [152, 156, 160]), ("turn_left", [190, 200, 208])]
    result = verify_challenge(
        challenge_of("turn_right", "turn_left"), clip_frames(clip, parts), now=NOW
    )
    assert not result.is_live
    assert result.challenge["satisfied"] == [False, False]
    assert "challenge_not_completed" in result.hint_codes
    assert result.spoof_type == "unknown"


@pytest.mark.slow
def test_a_still_head_does_not_satisfy_a_turn(clip):
    parts = [("neutral", [167]), ("turn_left", [169, 171, 173]), ("turn_right", [174, 175, 176])]
    result = verify_challenge(
        challenge_of("turn_left", "turn_right"), clip_frames(clip, parts), now=NOW
    )
    assert result.challenge["satisfied"] == [False, False]


@pytest.mark.slow
def test_identity_switch_is_caught(clip, datasets_dir):
    from gateway.verification.images import load_image

    other = load_image(datasets_dir / "faces" / "img1.jpg")
    scale = 640 / max(other.shape[:2])
    other = np.ascontiguousarray(
        cv2.resize(other, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    frames = clip_frames(clip, GENUINE_PARTS)
    frames[2] = {**frames[2], "rgb": other}  # a non-deciding frame inside turn_left
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert not result.is_live
    assert "identity_changed" in result.hint_codes


@pytest.mark.slow
def test_document_reference_must_match(clip, datasets_dir):
    from gateway.verification.faces.recognition import detect_faces, embed_face
    from gateway.verification.images import load_image

    stranger = load_image(datasets_dir / "faces" / "img1.jpg")
    stranger_embedding = embed_face(stranger, detect_faces(stranger)[0])
    own_embedding = embed_face(clip[175], detect_faces(clip[175])[0])
    frames = clip_frames(clip, GENUINE_PARTS)
    challenge = challenge_of("turn_left", "turn_right")
    refused = verify_challenge(challenge, frames, now=NOW, reference_embedding=stranger_embedding)
    assert not refused.is_live and "not_document_holder" in refused.hint_codes
    accepted = verify_challenge(challenge, frames, now=NOW, reference_embedding=own_embedding)
    assert accepted.is_live, accepted.hints
    assert accepted.identity["document_distance"] < 0.6


@pytest.mark.slow
def test_a_photo_tilted_in_front_of_the_camera_does_not_turn(datasets_dir):
    """A face photo rendered as a flat card rotated +-35 deg: yaw moves, the plane fit refuses."""
    from gateway.verification.images import load_image

    photo = load_image(datasets_dir / "faces" / "img5.jpg")
    scale = 480 / max(photo.shape[:2])
    photo = np.ascontiguousarray(
        cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )

    def tilted(yaw_deg: float) -> np.ndarray:
        height, width = photo.shape[:2]
        focal, angle = 1.2 * width, math.radians(yaw_deg)
        corners = []
        for x, y in (
            (-width / 2, -height / 2),
            (width / 2, -height / 2),
            (width / 2, height / 2),
            (-width / 2, height / 2),
        ):
            depth = focal + x * math.sin(angle)
            corners.append(
                (width / 2 + focal * x * math.cos(angle) / depth, height / 2 + focal * y / depth)
            )
        source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        matrix = cv2.getPerspectiveTransform(source, np.float32(corners))
        return cv2.warpPerspective(photo, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)

    plan = [
        ("neutral", 0),
        ("turn_left", 20),
        ("turn_left", 35),
        ("turn_right", -20),
        ("turn_right", -35),
    ]
    frames = [
        {"rgb": tilted(yaw), "prompt": tag, "t_ms": 200.0 * i} for i, (tag, yaw) in enumerate(plan)
    ]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert not result.is_live
    assert "planar_motion" in result.hint_codes
    fits = [d["planar_fit"] for d in result.challenge["details"] if d["planar_fit"] is not None]
    assert fits and min(fits) >= 0.9


@pytest.mark.slow
def test_blink_satisfied_with_covered_eyes_and_not_without(clip):
    from gateway.verification.faces.recognition import detect_faces

    closed = cover_iris_with_skin(clip[171], detect_faces(clip[171])[0].landmarks)
    parts = [("neutral", [167]), ("blink", [169, 171, 173])]
    frames = clip_frames(clip, parts)
    open_result = verify_challenge(challenge_of("blink"), frames, now=NOW)
    assert not open_result.is_live
    assert open_result.challenge["satisfied"] == [False]
    frames[2] = {**frames[2], "rgb": closed}
    blink_result = verify_challenge(challenge_of("blink"), frames, now=NOW)
    assert blink_result.is_live, blink_result.hints
    # eyes that close and never reopen are not a blink
    frames[3] = {
        **frames[3],
        "rgb": cover_iris_with_skin(clip[173], detect_faces(clip[173])[0].landmarks),
    }
    assert not verify_challenge(challenge_of("blink"), frames, now=NOW).is_live


@pytest.mark.slow
def test_look_up_and_smile_not_satisfied_by_a_still_speaking_head(clip):
    """No real look-up or smile exists in the data; only the refusal side is tested on frames."""
    parts = [("neutral", [167]), ("look_up", [169, 171, 173]), ("smile", [174, 175, 176])]
    result = verify_challenge(challenge_of("look_up", "smile"), clip_frames(clip, parts), now=NOW)
    assert result.challenge["satisfied"] == [False, False]
    assert not result.is_live


@pytest.mark.slow
def test_mirrored_client_frames_swap_the_directions(clip):
    frames = [
        {**frame, "rgb": np.ascontiguousarray(frame["rgb"][:, ::-1])}
        for frame in clip_frames(clip, GENUINE_PARTS)
    ]
    result = verify_challenge(
        challenge_of("turn_left", "turn_right"), frames, now=NOW, mirrored=True
    )
    assert result.is_live, result.hints


def _photo(datasets_dir, name: str, max_side_px: int = 480) -> np.ndarray:
    from gateway.verification.images import load_image

    photo = load_image(datasets_dir / "faces" / name)
    scale = max_side_px / max(photo.shape[:2])
    return np.ascontiguousarray(
        cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )


TURN_TAGS = ["neutral", "turn_left", "turn_left", "turn_left", "turn_right", "turn_right"]


@pytest.mark.slow
def test_a_photo_jittered_frame_to_frame_is_refused(datasets_dir):
    """Small random affine + perspective changes per frame: not duplicates, but no turn."""
    photo = _photo(datasets_dir, "img2.jpg")
    rng = np.random.default_rng(5)
    height, width = photo.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    frames = []
    for i, tag in enumerate(TURN_TAGS):
        moved = (corners + rng.uniform(-0.02, 0.02, (4, 2)) * (width, height)).astype(np.float32)
        matrix = cv2.getPerspectiveTransform(corners, moved)
        warped = cv2.warpPerspective(
            photo, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE
        )
        frames.append({"rgb": warped, "prompt": tag, "t_ms": 150.0 * i})
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert not result.is_live
    assert result.frames["duplicates"] == 0
    assert "challenge_not_completed" in result.hint_codes


@pytest.mark.slow
@pytest.mark.parametrize("segment", [(34, 60), (62, 87)], ids=["screen", "print"])
def test_screen_and_print_segments_are_refused(datasets_dir, segment):
    """The demo GIF's screen-replay and printed-photo segments, enlarged 2.5x so the face-size
    rule is not what refuses them."""
    from PIL import Image, ImageSequence

    with Image.open(datasets_dir / "liveness" / "silentface_demo.gif") as image:
        gif = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    start, end = segment
    picks = list(range(start + 1, end + 1, 4))[: len(TURN_TAGS)]
    frames = [
        {
            "rgb": cv2.resize(gif[i], None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC),
            "prompt": tag,
            "t_ms": 100.0 * i,
        }
        for i, tag in zip(picks, TURN_TAGS, strict=True)
    ]
    result = verify_challenge(challenge_of("turn_left", "turn_right"), frames, now=NOW)
    assert not result.is_live
    assert result.spoof_type == "unknown"
