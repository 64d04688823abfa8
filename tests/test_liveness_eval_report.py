"""The liveness eval's margin table: which attack values it counts as past a rule's limit."""

from __future__ import annotations

import sys
from pathlib import Path

# a script beside the package, not an installed module
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))

import liveness_eval


def _result(prompt: str, **measures: float) -> dict:
    return {"details": [{"prompt": prompt, "measures": measures}]}


def _row(output: str, measure: str) -> str:
    return next(line for line in output.splitlines() if f"| {measure} |" in line)


def test_a_value_at_a_strict_limit_is_not_counted_past_it(capsys):
    limit = liveness_eval.SMILE_UNDER_OTHER_PROMPT_MS  # the blink prompt's "< limit" rule
    results = {
        "genuine:blink": [_result("blink", smile_formed_ms=0.0)],
        "claimed:blink": [
            _result("blink", smile_formed_ms=limit),
            _result("blink", smile_formed_ms=limit + 100),
        ],
    }
    liveness_eval.report_measures(results)
    row = _row(capsys.readouterr().out, "smile_formed_ms")
    assert "claimed:blink" in row
    assert "past it" not in row


def test_values_on_the_live_side_are_counted_past_it(capsys):
    limit = liveness_eval.series.SMILE_MIN_HOLD_MS  # the smile prompt's ">= limit" rule
    results = {
        "genuine:smile": [_result("smile", held_ms=limit * 2)],
        "claimed:smile": [
            _result("smile", held_ms=limit),
            _result("smile", held_ms=limit + 1),
            _result("smile", held_ms=limit - 1),
        ],
    }
    liveness_eval.report_measures(results)
    row = _row(capsys.readouterr().out, "held_ms")
    assert "(3, 2 past it)" in row
