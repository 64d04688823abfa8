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

from gateway.errors import JsonInvalid, JsonTooDeep

# The deepest body a route takes is 4 levels (liveness frames: {frames: [{...}]}, settings with
# nested maps); 32 leaves room for partner settings and stays far from the decoder's limit.
MAX_JSON_DEPTH = 32
# A JSON string: the unrolled form keeps the regex linear on a 50 MB base64 image.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))
_QUOTE = ord('"')
_STRUCTURAL = np.zeros(256, dtype=bool)
_STRUCTURAL[[_QUOTE, *_OPEN, *_CLOSE]] = True


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (0 for a scalar)."""
    if b"\\" in raw:
        # Escapes (a quote may be escaped): drop the strings first, brackets in them do not count.
        raw = _JSON_STRING.sub(b"", raw)
    data = np.frombuffer(raw, dtype=np.uint8)
    marks = data[np.flatnonzero(_STRUCTURAL[data])]  # quotes and brackets only: a few per KB
    is_quote = marks == _QUOTE
    # Without escapes, a bracket is inside a string exactly when an odd number of quotes precede
    # it (after the strings were dropped, there are none left).
    outside = (np.cumsum(is_quote) - is_quote) % 2 == 0
    opens = ((marks == _OPEN[0]) | (marks == _OPEN[1])) & outside
    closes = ((marks == _CLOSE[0]) | (marks == _CLOSE[1])) & outside
    if opens.size == 0:
        return 0
    return int(np.cumsum(opens.astype(np.int32) - closes.astype(np.int32)).max(initial=0))


def parse_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` decoded, or a 400 problem for a body too deep or not JSON (never a 500)."""
    # Fast path: with no more brackets than the limit, no nesting can exceed it (a body carrying
    # base64 images has a handful: counting them is ~1 ms per 10 MB, the full scan ~25 ms per MB).
    brackets = raw.count(b"[") + raw.count(b"{")
    depth = json_depth(raw) if brackets > max_depth else 0
    if depth > max_depth:
        raise JsonTooDeep(f"The body nests {depth} levels; at most {max_depth} are accepted")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8 and integers over Python's 4,300-digit limit; the depth
        # check makes RecursionError unreachable, caught here as the last line of defence.
        raise JsonInvalid("The body is not valid JSON") from exc
