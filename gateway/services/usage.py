"""Metered usage: one ``usage_events`` row per billable check, for quotas and invoices.

A row holds the partner, the module (``face_match``, ``document_ocr``...), whether it is billed,
how long it took and its outcome code; never an image, a name or a number.
"""

from __future__ import annotations

from typing import Any

from gateway.services.pocketbase import PocketBase

MODULES = (
    "face_match",
    "document_ocr",
    "document_validate",
    "liveness",
    "verification",
)


def record_usage(
    pb: PocketBase,
    partner_id: str,
    module: str,
    *,
    billed: bool,
    processing_ms: float,
    outcome: str,
    profile: str | None = None,
) -> dict[str, Any]:
    """Append one usage event and return it."""
    if module not in MODULES:
        raise ValueError(f"unknown usage module {module!r}")
    return pb.create(
        "usage_events",
        {
            "partner": partner_id,
            "module": module,
            "billed": bool(billed),
            "processing_ms": max(0.0, round(float(processing_ms), 1)),
            "outcome": outcome[:60],
            "profile": profile or "",
        },
    )
