"""When the browser takes its frames: the `--timing` option of eval/liveness_eval.py.

The eval samples each clip on an exact grid (12 fps) and stamps the grid's times. A real phone
does not: what it sends is a frame of a ~30 fps camera (its time quantized to ~33 ms; the page
takes the first new camera frame once the grid's time has come, a client on a timer the latest
one), a little early or late, and now and then a frame is lost (a busy main thread). The upload
refuses a prompt with a gap over 300 ms or under 8.5 frames a second (docs/hosted-flow.md), so
a lost frame may leave a gap of two intervals, never more.

- `grid`: the eval's sampling as it was (each frame the clip's frame nearest the grid time,
  stamped with the grid time);
- `camera30`: each frame the 30 fps camera's frame at or before the grid time, stamped with
  that frame's time (whole milliseconds, as the page stamps them);
- `jittered`: `camera30` with the grab time moved by up to +-15 ms (uniform, seeded) and one
  frame in 25 (at random, seeded) not sent, never two in a row (a gap stays under
  2 x 83 + 30 + 33 ms = 230 ms at 12 fps; 250 ms where a 12 fps clip is the camera).

A grab that lands on the camera frame already sent takes the camera's next one, as the page
does (hosted_flow/js/camera.js takes a frame only when the camera delivers a new one). At
30 fps with 12 grabs a second that never happens; it does where a clip filmed slower is the
camera (liveness_eval: xp's 12 fps clip, whose frames a faster camera would repeat).

The same timing gives the image taken from the clip and the `t_ms` sent, for genuine
sequences and attacks alike.
"""

from __future__ import annotations

import math

import numpy as np

CAMERA_FPS = 30.0
JITTER_MS = 15.0
DROP_ONE_IN = 25
TIMINGS = ("grid", "camera30", "jittered")


class Timing:
    """Which of a capture's nominal frames are sent, and the time each one shows."""

    def __init__(self, name: str = "grid", seed: int = 25) -> None:
        if name not in TIMINGS:
            raise ValueError(f"unknown timing {name!r}")
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.dropped_last = False

    @property
    def exact(self) -> bool:
        return self.name == "grid"

    def taken(
        self, nominal_s: list[float], camera_fps: float = CAMERA_FPS
    ) -> list[tuple[int, float]]:
        """(index into `nominal_s`, the time in seconds of the camera frame it shows) per frame
        sent. `nominal_s` is on the camera's clock: its frame k is at k / camera_fps."""
        if self.exact:
            return [(index, t) for index, t in enumerate(nominal_s)]
        sent: list[tuple[int, float]] = []
        for index, t in enumerate(nominal_s):
            grab_s = t
            if self.name == "jittered":
                grab_s += self.rng.uniform(-JITTER_MS, JITTER_MS) / 1000.0
                drop = not self.dropped_last and self.rng.random() < 1.0 / DROP_ONE_IN
                self.dropped_last = drop
                if drop:
                    continue
            # the frame at or before the grab (a hair of tolerance for float grid times), or the
            # next one when that was sent already
            frame = math.floor(grab_s * camera_fps + 1e-6)
            if sent and frame <= round(sent[-1][1] * camera_fps):
                frame = round(sent[-1][1] * camera_fps) + 1
            sent.append((index, frame / camera_fps))
        return sent

    def stamp(self, nominal_ms: float, shift_s: float) -> float:
        """The `t_ms` sent for a frame nominally at `nominal_ms` that shows a camera frame
        `shift_s` from its nominal time (whole ms, as hosted_flow/js/camera.js rounds)."""
        return nominal_ms if self.exact else float(round(nominal_ms + shift_s * 1000.0))
