"""The one-line progress bar of the evaluation and benchmark scripts.

It writes to stderr so that stdout carries only the figures a script prints.
"""

from __future__ import annotations

import sys

WIDTH = 30


def progress(label: str, done: int, total: int) -> None:
    """Redraw ``label [####....] done/total``; ends the line when ``done`` reaches ``total``."""
    filled = round(WIDTH * done / total) if total else WIDTH
    sys.stderr.write(f"\r{label:<28} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
