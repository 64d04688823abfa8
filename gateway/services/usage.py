"""Metered usage: one ``usage_events`` row per billable check, for quotas and invoices.

A row holds the partner, the module (``face_match``, ``document_ocr``...), whether it is billed,
whether it holds a unit of the partner's monthly quota (``counted``), how long it took and its
outcome code; never an image, a name or a number. Every row is written through the quota's
count-and-take (``gateway.services.quotas.take_unit``), the one place usage is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from marshmallow import ValidationError

from gateway.errors import GatewayError, StoreUnavailable
from gateway.services.partner_settings import effective_settings
from gateway.services.pocketbase import PocketBase
from gateway.services.quotas import (
    QUOTA_CHECKS,
    monthly_quota,
    quota_exceeded,
    settle_unit,
    take_unit,
)
from gateway.services.usage_reports import month_used

log = structlog.get_logger("gateway.usage")
MODULES = QUOTA_CHECKS


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
    """Append one usage event for work already done (the worker's verifications).

    A billed event counts against the partner's quota even past it (the verification ran, so it
    is recorded and invoiced); it still announces the 80 % and 100 % thresholds.
    """
    if module not in MODULES:
        raise ValueError(f"unknown usage module {module!r}")
    partner = pb.get("partners", partner_id)
    return take_unit(
        pb,
        partner_id,
        module,
        monthly_quota(effective_settings(partner.get("settings")), module),
        _row(billed, processing_ms, outcome, profile),
        now=datetime.now(UTC),
        force=True,
    )


def _row(billed: bool, processing_ms: float, outcome: str, profile: str | None) -> dict[str, Any]:
    return {
        "billed": bool(billed),
        "counted": bool(billed),
        "processing_ms": max(0.0, round(float(processing_ms), 1)),
        "outcome": outcome[:60],
        "profile": profile or "",
    }


@dataclass
class UsageMeter:
    """Meters synchronous checks: one row per call, refused calls included (never billed)."""

    pb: PocketBase
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def metered(
        self,
        partner_id: str,
        module: str,
        run: Callable[[], dict[str, Any]],
        *,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a check, record one usage event whatever happens, add processing_ms and usage.

        A check is billed only when it ran to a result; a refused input (bad base64, a file that
        is not an image, a schema error) is recorded with its error code so a partner's
        integration problems show up in its usage, not on its invoice. With a monthly quota in
        the partner's effective ``settings``, the check first takes a unit (``QuotaExceeded``,
        429, when none is left) and gives it back if it was refused.
        """
        quota = monthly_quota(settings or {}, module)
        hold = None
        taken_at = self.clock()
        if quota is not None:
            pending = _row(False, 0.0, "pending", None)
            pending["counted"] = True
            hold = take_unit(self.pb, partner_id, module, quota, pending, now=taken_at)
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
            row = _row(billed, processing_ms, outcome, None)
            if hold is None:
                take_unit(self.pb, partner_id, module, None, row, now=self.clock())
            else:
                self._settle(hold["id"], quota, row, taken_at)
        usage: dict[str, Any] = {"module": module, "billed": billed}
        if hold is not None:
            used = hold["used"] if billed else hold["used"] - 1
            usage["quota"] = {"monthly": quota, "used": used, "remaining": max(0, quota - used)}
        return {**result, "processing_ms": round(processing_ms, 1), "usage": usage}

    def require_available(self, partner_id: str, module: str, settings: dict[str, Any]) -> None:
        """Raise ``QuotaExceeded`` when the month's quota of ``module`` is used up.

        For work that is started here and metered later (a verification is counted when the
        worker has decided it): no unit is taken, so verifications started before the quota ran
        out are still completed and counted.
        """
        quota = monthly_quota(settings, module)
        if quota is None:
            return
        now = self.clock()
        used = month_used(self.pb, partner_id, now).get(module, 0)
        if used >= quota:
            raise quota_exceeded(module, quota, used, now)

    def _settle(self, usage_id: str, quota: int, row: dict[str, Any], taken_at: datetime) -> None:
        """Write a held unit's outcome; a refused check gives its unit back (counted = billed),
        one that ran to a result announces the quota thresholds it reaches.

        If the store is down now, the row keeps its unit as ``pending`` (an over-count of one,
        never an under-count) and the caller gets the check's own answer or error.
        """
        fields = {key: row[key] for key in ("billed", "counted", "processing_ms", "outcome")}
        try:
            settle_unit(self.pb, usage_id, quota, fields, taken_at=taken_at)
        except StoreUnavailable:
            log.warning("usage_not_settled", usage_id=usage_id)


def check_outcome(result: dict[str, Any]) -> str:
    """A short code for the usage row: never a field value."""
    if result.get("code"):
        return str(result["code"])
    if "is_live" in result:
        return "live" if result["is_live"] else "not_live"
    if "document_valid" in result:
        return "valid" if result["document_valid"] else "invalid"
    return "ok"
