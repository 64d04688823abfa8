"""The gateway's Flask class: Flask with its per-request ``ensure_sync`` answered from memory.

Flask asks ``ensure_sync`` about every request hook and the view on every request (nine times a
partner poll), and each answer runs ``inspect.iscoroutinefunction`` again: 6 % of a cached poll's
CPU in-process (cProfile, 3,000 polls). Whether a function is a coroutine function never changes,
so the answer is kept per function; the hooks and views are registered once, so the memory is
bounded by the app's own functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


class GatewayFlask(Flask):
    """Flask, remembering which of its functions need wrapping to run synchronously."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer for ``func``, computed on its first request."""
        try:
            return self._sync_functions[func]
        except KeyError:
            sync = super().ensure_sync(func)
            self._sync_functions[func] = sync
            return sync
        except TypeError:  # an unhashable callable: ask Flask every time
            return super().ensure_sync(func)
