"""Metered usage: one ``usage_events`` row per billable check, for quotas and invoices.

A row holds the partner, the module (``face_match``, ``document_ocr``...), whether it is billed,
how long it took and its outcome code; never an image, a name or a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from gateway.errors import GatewayError
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


@dataclass
class UsageMeter:
    """Meters synchronous checks: one row per call, refused calls included (never billed)."""

    pb: PocketBase

    def metered(
        self, partner_id: str, module: str, run: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Run a check, record one usage event whatever happens, add processing_ms and usage.

        A check is billed only when it ran to a result; a refused input (bad base64, a file that
        is not an image, a schema error) is recorded with its error code so a partner's
        integration problems show up in its usage, not on its invoice.
        """
        started = time.perf_counter()
        outcome = "error"
        billed = False
        try:
            result = run()
            billed = True
            outcome = check_outcome(result)
        except GatewayError as error:
            outcome = error.code
            raise
        except ValidationError:
            outcome = "validation_failed"
            raise
        finally:
            processing_ms = (time.perf_counter() - started) * 1000.0
            record_usage(
                self.pb,
                partner_id,
                module,
                billed=billed,
                processing_ms=processing_ms,
                outcome=outcome,
            )
        return {
            **result,
            "processing_ms": round(processing_ms, 1),
            "usage": {"module": module, "billed": billed},
        }


def check_outcome(result: dict[str, Any]) -> str:
    """A short code for the usage row: never a field value."""
    if result.get("code"):
        return str(result["code"])
    if "is_live" in result:
        return "live" if result["is_live"] else "not_live"
    if "document_valid" in result:
        return "valid" if result["document_valid"] else "invalid"
    return "ok"
