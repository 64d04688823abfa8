"""The liveness eval's capture conditions: --timing and the backlit and shaky cameras."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

# scripts beside the package, not installed modules
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))

import liveness_eval
from liveness_capture_timing import Timing

INTERVAL_S = 1 / 12
GRID = [k * INTERVAL_S for k in range(600)]


class NumberedClip:
    """A 30 fps clip whose frame k is grey level 2k (so a decoded frame tells its number)."""

    fps = 30.0

    def at(self, seconds: float) -> np.ndarray:
        return np.full((64, 64, 3), 2 * round(seconds * self.fps), np.uint8)


def _frame_number(jpeg_bytes: bytes) -> int:
    grey = cv2.imdecode(np.frombuffer(jpeg_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    return round(float(grey.mean()) / 2)


def test_grid_timing_sends_every_frame_at_its_grid_time():
    timing = Timing("grid")
    assert timing.taken(GRID) == list(enumerate(GRID))
    assert timing.stamp(83.3333, 0.0) == 83.3333


def test_camera30_shows_the_camera_frame_at_or_before_each_grid_time():
    taken = Timing("camera30").taken(GRID)
    assert [index for index, _ in taken] == list(range(len(GRID)))
    for index, shown in taken:
        assert GRID[index] - 1 / 30 < shown <= GRID[index] + 1e-9
        assert abs(shown * 30 - round(shown * 30)) < 1e-9


def test_jittered_timing_loses_about_one_in_25_never_two_in_a_row():
    taken = Timing("jittered", seed=3).taken(GRID)
    indices = [index for index, _ in taken]
    lost = len(GRID) - len(indices)
    assert 8 <= lost <= 40  # 24 expected
    assert max(np.diff(indices)) == 2
    shown = [s for _, s in taken]
    # each a 30 fps frame at or before its grab, the grab within 15 ms of the grid
    for index, s in taken:
        assert GRID[index] - 0.015 - 1 / 30 < s <= GRID[index] + 0.015
    gaps_ms = np.diff(shown) * 1000
    assert gaps_ms.max() < 300  # the upload's largest gap in a prompt
    assert len(set(np.round(gaps_ms))) > 3  # not the grid's one interval
    assert Timing("jittered", seed=3).taken(GRID) == taken


@pytest.mark.parametrize("name", ["camera30", "jittered"])
def test_a_camera_slower_than_the_grabs_never_sends_a_frame_twice(name):
    """A grab that lands on the frame already sent waits for the next (the page's rule)."""
    for seed in range(20):
        taken = Timing(name, seed=seed).taken([2.5 + t for t in GRID[:40]], camera_fps=12.0)
        frames = [round(shown * 12.0) for _, shown in taken]
        assert min(np.diff(frames)) >= 1
        assert max(np.diff(frames)) <= 3  # a lost grab and a frame waited for: 250 ms


def test_build_sends_the_frame_each_stamp_says(monkeypatch):
    """The image taken from the clip and the t_ms sent follow the same timing."""
    clip = NumberedClip()
    times = [1.0 + k * INTERVAL_S for k in range(40)]
    for name in ("camera30", "jittered"):
        monkeypatch.setitem(liveness_eval.capture_settings, "timing", Timing(name, seed=1))
        frames = liveness_eval.build(
            [
                ("neutral", liveness_eval.Footage(clip, times[:12])),
                ("blink", liveness_eval.Footage(clip, times[12:])),
            ],
            INTERVAL_S * 1000,
        )
        numbers = [_frame_number(frame["image"]) for frame in frames]
        stamps = [frame["t_ms"] for frame in frames]
        assert stamps[0] == 0.0
        assert all(stamp == round(stamp) for stamp in stamps)
        for number, stamp in zip(numbers, stamps, strict=True):
            # 30 frames a second: the stamp is the frame's own time from the first frame
            assert abs((number - numbers[0]) * 1000 / 30 - stamp) <= 1.0
        if name == "jittered":
            assert len(frames) <= 40
        else:
            assert len(frames) == 40


def test_build_keeps_a_list_of_images_in_order(monkeypatch):
    monkeypatch.setitem(liveness_eval.capture_settings, "timing", Timing("jittered", seed=2))
    images = [np.full((32, 32, 3), 2 * k, np.uint8) for k in range(60)]
    frames = liveness_eval.build([("neutral", images[:12]), ("smile", images[12:])], 1000 / 12)
    numbers = [_frame_number(frame["image"]) for frame in frames]
    assert numbers == sorted(numbers)
    assert max(np.diff([frame["t_ms"] for frame in frames])) < 300


def test_backlit_clips_the_window_and_underexposes_the_face():
    grey = np.full((480, 360, 3), 128, np.uint8)
    lit = liveness_eval.CAMERAS["backlit"](grey).astype(float)
    face = lit[200:260, 150:210].mean()
    assert 60 < face < 80  # 128 x 0.35 + 25, give or take the noise
    assert lit[:20, :20].mean() > 250  # the window behind, clipped white


def test_shaky_blurs_every_frame_its_own_way():
    rng = np.random.default_rng(0)
    sharp = (rng.random((120, 120, 3)) * 255).astype(np.uint8)
    first, second = (liveness_eval.CAMERAS["shaky"](sharp) for _ in range(2))
    for blurred in (first, second):
        assert blurred.std() < 0.8 * sharp.std()  # a blur averages the texture away
        assert abs(blurred.mean() - sharp.mean()) < 2  # and keeps the light
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", ["soft", "backlit", "shaky"])
def test_cameras_keep_the_frame_size_and_type(name):
    rgb = np.zeros((360, 480, 3), np.uint8)
    out = liveness_eval.CAMERAS[name](rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
