"""The request's JSON body, bounded in nesting depth before it is parsed.

Python's JSON decoder recurses once per nested array or object: about 990 levels raise
``RecursionError`` (a 500 on every JSON route, found by an outside fuzz run), and fewer levels in
a thread with a smaller stack. No route takes more than a handful of levels, so the depth is
counted on the raw bytes (strings removed first, so brackets inside them do not count) and a
deeper body is refused with a 400 problem before the decoder sees it. The size is bounded earlier,
by ``MAX_CONTENT_LENGTH`` (413).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from gateway.errors import BadRequest

# The deepest body a route takes is 4 levels (liveness frames: {frames: [{...}]}, settings with
# nested maps); 32 leaves room for partner settings and stays far from the decoder's limit.
MAX_JSON_DEPTH = 32
# A JSON string: the unrolled form keeps the regex linear on a 50 MB base64 image.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))


class JsonTooDeep(BadRequest):
    code, title = "json_too_deep", "The JSON body is nested too deeply"


class JsonInvalid(BadRequest):
    code, title = "json_invalid", "The body is not valid JSON"


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (0 for a scalar)."""
    structure = np.frombuffer(_JSON_STRING.sub(b"", raw), dtype=np.uint8)
    if structure.size == 0:
        return 0
    steps = np.isin(structure, _OPEN).astype(np.int64) - np.isin(structure, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def parse_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` decoded, or a 400 problem for a body too deep or not JSON (never a 500)."""
    depth = json_depth(raw)
    if depth > max_depth:
        raise JsonTooDeep(f"The body nests {depth} levels; at most {max_depth} are accepted")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8 and integers over Python's 4,300-digit limit; the depth
        # check makes RecursionError unreachable, caught here as the last line of defence.
        raise JsonInvalid("The body is not valid JSON") from exc
