"""Per-partner settings: defaults, merge and validation.

Stored as JSON on the partner record; everything a partner does not set falls back to these
defaults, so a decision can always be explained from the effective settings recorded with it.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_SETTINGS: dict[str, Any] = {
    "link_ttl_s": 86_400,
    "rate_limit": None,  # None: the gateway-wide EKYC_RATE_LIMIT
    "retention_days": 90,
    "allowed_return_urls": [],
    "branding": {"name": None, "accent_color": "#1f4fd1"},
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The partner's stored settings laid over the defaults."""
    return _merge(DEFAULT_SETTINGS, stored or {})
