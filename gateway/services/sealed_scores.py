"""A verification's scores as stored: what was read from the document masked, the full values
sealed with the data key.

The worker used to write the document reader's output into ``profiles.scores`` as it came: the
document number, both MRZ lines, names and birth date in clear, in the database and in every
backup, although the number the partner sent is encrypted. ``seal_scores`` runs once, on the
scores the worker is about to store:

- inside every ``fields`` and ``visual_zone`` mapping (what the reader read, MRZ or visual zone,
  KTP included) each value is masked unless its key is on a short list of values a reviewer
  needs and that identify nobody (document type, issuing state, expiry, ...). A list of allowed
  keys, not of forbidden ones: a field a new reader adds is masked until someone decides;
- MRZ lines (``lines``, ``read_lines``) and the identifying keys (document number, names, birth
  date, NIK, ...) are masked wherever they appear;
- a masked string keeps its last ``KEEP_LAST`` characters (``*****034``), enough for a reviewer
  to tell two documents apart, not to rebuild the number;
- the full values go into ``scores["sealed"]`` encrypted with the data key (AES-GCM, as the
  partner's document number), for the few readers entitled to them (``reveal_scores``).

Erasure replaces the scores with each factor's status and score only, so the sealed values go
with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.services import crypto

SEALED_KEY = "sealed"
KEEP_LAST = 3
# Mappings holding what a reader read from the document.
READ_MAPPINGS = frozenset({"fields", "visual_zone"})
# Values inside those mappings that identify nobody and that a reviewer needs as they are.
CLEAR_READ_KEYS = frozenset(
    {
        "mrz_layout",
        "document_code",
        "document_type",
        "issuing_state",
        "issuing_state_code",
        "nationality",
        "nationality_code",
        "expiry_date",
        "valid_until",
        "sex",
        "names_truncated",
    }
)
# Masked wherever they appear in the scores.
SENSITIVE_KEYS = frozenset(
    {
        "document_number",
        "personal_number",
        "optional_data",
        "nik",
        "surname",
        "given_names",
        "full_name",
        "birth_date",
        "date_of_birth",
        "birth",
        "birth_place",
        "address",
        "lines",
        "read_lines",
        "mrz_lines",
    }
)

Path = tuple[str | int, ...]


def mask(value: Any) -> Any:
    """``value`` with all but the last ``KEEP_LAST`` characters of each string starred."""
    if isinstance(value, str):
        hidden = max(len(value) - KEEP_LAST, 0) if len(value) > KEEP_LAST else len(value)
        return "*" * hidden + value[hidden:]
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if value is None or isinstance(value, bool):
        return value
    return "*" * len(str(value))


def seal_scores(data_key: str, scores: Mapping[str, Any]) -> dict[str, Any]:
    """The scores to store: read values masked, the full values sealed in ``scores["sealed"]``."""
    originals: list[tuple[Path, Any]] = []
    masked = _walk(scores, (), inside_read=False, originals=originals)
    masked.pop(SEALED_KEY, None)
    if originals:
        payload = json.dumps([[list(path), value] for path, value in originals])
        masked[SEALED_KEY] = crypto.encrypt_text(data_key, payload)
    return masked


def reveal_scores(data_key: str, scores: Mapping[str, Any]) -> dict[str, Any]:
    """The scores with the sealed values put back (for readers entitled to the full values)."""
    revealed = json.loads(json.dumps(dict(scores)))
    sealed = revealed.pop(SEALED_KEY, None)
    if not sealed:
        return revealed
    for path, value in json.loads(crypto.decrypt_text(data_key, sealed)):
        holder: Any = revealed
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = value
    return revealed


def _walk(value: Any, path: Path, *, inside_read: bool, originals: list[tuple[Path, Any]]) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            here = (*path, key)
            if _must_mask(str(key), inside_read) and _has_text(item):
                originals.append((here, item))
                out[key] = mask(item)
            else:
                out[key] = _walk(
                    item, here, inside_read=str(key) in READ_MAPPINGS, originals=originals
                )
        return out
    if isinstance(value, list):
        return [
            _walk(item, (*path, index), inside_read=False, originals=originals)
            for index, item in enumerate(value)
        ]
    return value


def _must_mask(key: str, inside_read: bool) -> bool:
    if key in SENSITIVE_KEYS:
        return True
    return inside_read and key not in CLEAR_READ_KEYS


def _has_text(value: Any) -> bool:
    """Whether masking changes anything (empty values and flags stay as they are)."""
    return not (value is None or isinstance(value, bool) or value == "" or value == [])
