"""The audit log: who did what to which record (ids and codes only, never PII).

Rows are appended through the data layer's own route (``POST /api/ekyc/audit`` in pb_hooks), the
only way one is written: PocketBase refuses a direct create of an ``audit_log`` record from
anyone, superusers included, so an entry cannot be slipped in past the field checks.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import StoreError
from gateway.services.pocketbase import PocketBase


def append_audit(pb: PocketBase, actor: str, action: str, target: str, detail: Any) -> str:
    """Append one entry; returns its id."""
    response = pb.request(
        "POST",
        "/api/ekyc/audit",
        json={"actor": actor, "action": action, "target": target, "detail": detail},
    )
    if response.status_code != 201:
        raise StoreError(f"PocketBase refused an audit entry: {response.status_code}")
    return str(response.json()["id"])
