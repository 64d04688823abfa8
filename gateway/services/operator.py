"""The operator's actions on tenants (partners), their keys and plans, each one audit-logged.

Operator keys carry the ``admin`` scope alone and belong to the ``operator`` partner, which only
the CLI gives keys to (``ekyc operator key create``): an admin key is never also a partner key, an
``admin`` scope on a tenant's key grants nothing here, and the API cannot mint, rotate or revoke
operator keys (a stolen operator key cannot make itself another). The operator partner is not a
tenant: it is absent from the lists and refused wherever a tenant is expected.

Every action, reads of usage and invoices included, appends one ``audit_log`` row through the
data layer's audit route, naming the operator key and the ids involved, never a secret or PII.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from gateway.errors import Forbidden, NotFound, ValidationFailed
from gateway.services import billing, partners
from gateway.services.audit import append_audit
from gateway.services.partner_settings import (
    effective_settings,
    merge_patch,
    redacted,
    set_partner_settings,
    validate_settings,
)
from gateway.services.pocketbase import PocketBase
from gateway.services.quotas import parse_month
from gateway.services.usage_reports import date_range, usage_report

OPERATOR_SLUG = partners.OPERATOR_SLUG
OPERATOR_SCOPE = "admin"
TENANT_SCOPES = ("partner", "reviewer")
TENANT_STATUSES = ("active", "suspended")


def ensure_operator_partner(pb: PocketBase) -> dict[str, Any]:
    """The partner record operator keys belong to, created on first use."""
    partner = pb.find_first("partners", where={"slug": OPERATOR_SLUG})
    if partner is None:
        partner = pb.create(
            "partners",
            {"name": "Operator", "slug": OPERATOR_SLUG, "status": "active", "settings": {}},
        )
    return partner


def create_operator_key(
    pb: PocketBase, *, actor: str = "operator:cli", data_key: str | None = None
) -> dict[str, Any]:
    """A new operator key (``admin`` scope only): ``{key_id, api_key}`` and, with the data key,
    its ``signing_secret`` (so the operator partner may require signed requests); shown once."""
    operator = ensure_operator_partner(pb)
    created = partners.create_key(pb, operator["id"], (OPERATOR_SCOPE,), data_key=data_key)
    append_audit(pb, actor, "operator.key_created", created["key_id"], {"scopes": ["admin"]})
    return created


def tenant_view(partner: dict[str, Any], plans_by_id: dict[str, str]) -> dict[str, Any]:
    """A tenant as the operator API lists it (no settings, no keys)."""
    return {
        "id": partner["id"],
        "slug": partner["slug"],
        "name": partner["name"],
        "status": partner["status"],
        "plan": plans_by_id.get(partner.get("plan") or ""),
        "created": partner["created"],
    }


class OperatorService:
    """What an operator key may do; ``actor`` names the key in the audit log."""

    def __init__(
        self,
        pb: PocketBase,
        data_key: str,
        forget_partner: Callable[[str], None] | None = None,
    ) -> None:
        self.pb = pb
        self.data_key = data_key
        # Drops this process's cached keys of a partner, so a suspension applies at once here.
        self._forget_partner = forget_partner or (lambda _partner_id: None)
        self._operator_id: str | None = None

    # -- who may call ------------------------------------------------------------------------

    def require_operator(self, partner_id: str, scopes: tuple[str, ...], key_id: str) -> str:
        """The audit actor of an operator key; ``Forbidden`` for any other key."""
        if OPERATOR_SCOPE not in scopes or partner_id != self._operator_partner_id():
            raise Forbidden("Operator routes need an operator key (ekyc operator key create)")
        return f"operator:{key_id}"

    def _operator_partner_id(self) -> str:
        if self._operator_id is None:
            partner = self.pb.find_first("partners", where={"slug": OPERATOR_SLUG})
            if partner is None:
                return ""
            self._operator_id = partner["id"]
        return self._operator_id

    def _tenant(self, tenant_id: str) -> dict[str, Any]:
        partner = self.pb.find_first("partners", where={"id": tenant_id})
        if partner is None or partner["slug"] == OPERATOR_SLUG:
            raise NotFound(f"No tenant {tenant_id!r}")
        return partner

    def _key(self, key_id: str) -> dict[str, Any]:
        key = self.pb.find_first("api_keys", where={"key_id": key_id})
        if key is None or key["partner"] == self._operator_partner_id():
            raise NotFound(f"No tenant key {key_id!r}")
        return key

    def _plans_by_id(self) -> dict[str, str]:
        return {row["id"]: row["code"] for row in self.pb.find("plans", limit=1000)}

    # -- tenants -----------------------------------------------------------------------------

    def list_tenants(self, actor: str) -> dict[str, Any]:
        """Every tenant with its status and plan."""
        plans = self._plans_by_id()
        rows = self.pb.find("partners", sort="created", limit=1000)
        items = [tenant_view(row, plans) for row in rows if row["slug"] != OPERATOR_SLUG]
        append_audit(self.pb, actor, "operator.tenants_listed", "", {"count": len(items)})
        return {"items": items}

    def get_tenant(self, actor: str, tenant_id: str) -> dict[str, Any]:
        """A tenant with its effective settings (credentials redacted) and its keys."""
        partner = self._tenant(tenant_id)
        append_audit(self.pb, actor, "operator.tenant_viewed", partner["id"], None)
        return {
            **tenant_view(partner, self._plans_by_id()),
            "settings": redacted(effective_settings(partner.get("settings"))),
            "keys": partners.list_keys(self.pb, partner["id"]),
        }

    def create_tenant(self, actor: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new tenant with its first key (secrets shown once), optionally its plan and
        settings (validated before anything is created)."""
        scopes = tuple(body.get("scopes") or ("partner",))
        self._check_tenant_scopes(scopes)
        plan = body.get("plan")
        if plan is not None:
            billing.find_plan(self.pb, plan)
        if body.get("settings"):
            validate_settings(effective_settings(merge_patch({}, body["settings"])))
        created = partners.create_partner(self.pb, body["name"], scopes, data_key=self.data_key)
        if body.get("settings"):
            set_partner_settings(
                self.pb, created["partner_id"], body["settings"], actor=actor, operator=True
            )
        if plan is not None:
            billing.assign_plan(self.pb, created["partner_id"], plan)
        append_audit(
            self.pb,
            actor,
            "operator.tenant_created",
            created["partner_id"],
            {"key_id": created["key_id"], "scopes": list(scopes), "plan": plan},
        )
        return {**created, "plan": plan}

    def set_status(self, actor: str, tenant_id: str, status: str) -> dict[str, Any]:
        """Suspend (every key refused with 403) or resume a tenant."""
        if status not in TENANT_STATUSES:
            raise ValidationFailed("Unknown status", errors={"status": list(TENANT_STATUSES)})
        partner = self._tenant(tenant_id)
        updated = self.pb.update("partners", partner["id"], {"status": status})
        self._forget_partner(partner["id"])
        append_audit(
            self.pb,
            actor,
            "operator.tenant_suspended" if status == "suspended" else "operator.tenant_resumed",
            partner["id"],
            {"from": partner["status"], "to": status},
        )
        return tenant_view(updated, self._plans_by_id())

    def get_settings(self, actor: str, tenant_id: str) -> dict[str, Any]:
        """A tenant's effective settings, credentials redacted."""
        partner = self._tenant(tenant_id)
        append_audit(self.pb, actor, "operator.settings_viewed", partner["id"], None)
        return redacted(effective_settings(partner.get("settings")))

    def patch_settings(self, actor: str, tenant_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of a tenant's settings with operator rights (quotas, rate limits,
        registry included); audited by the settings service as ``partner.settings_changed``."""
        partner = self._tenant(tenant_id)
        updated = set_partner_settings(self.pb, partner["id"], patch, actor=actor, operator=True)
        self._forget_partner(partner["id"])
        return updated

    def set_plan(self, actor: str, tenant_id: str, code: str | None) -> dict[str, Any]:
        """Invoice a tenant on plan ``code`` (None: no plan)."""
        partner = self._tenant(tenant_id)
        previous = self._plans_by_id().get(partner.get("plan") or "")
        result = billing.assign_plan(self.pb, partner["id"], code)
        append_audit(
            self.pb, actor, "operator.plan_assigned", partner["id"], {"from": previous, "to": code}
        )
        return result

    # -- keys --------------------------------------------------------------------------------

    @staticmethod
    def _check_tenant_scopes(scopes: tuple[str, ...]) -> None:
        if not scopes or any(scope not in TENANT_SCOPES for scope in scopes):
            raise ValidationFailed(
                "A tenant key's scopes are partner and/or reviewer (operator keys: the CLI)",
                errors={"scopes": [f"each one of {', '.join(TENANT_SCOPES)}"]},
            )

    def list_keys(self, actor: str, tenant_id: str) -> dict[str, Any]:
        """A tenant's keys: ids, scopes, use, revocation; never secrets."""
        partner = self._tenant(tenant_id)
        append_audit(self.pb, actor, "operator.keys_listed", partner["id"], None)
        return {"items": partners.list_keys(self.pb, partner["id"])}

    def create_key(self, actor: str, tenant_id: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        """A new key for a tenant; its secret and signing secret are shown once."""
        self._check_tenant_scopes(scopes)
        partner = self._tenant(tenant_id)
        created = partners.create_key(self.pb, partner["id"], scopes, data_key=self.data_key)
        append_audit(
            self.pb,
            actor,
            "operator.key_created",
            partner["id"],
            {"key_id": created["key_id"], "scopes": list(scopes)},
        )
        return {"partner_id": partner["id"], **created}

    def revoke_key(self, actor: str, key_id: str) -> dict[str, Any]:
        """Revoke a tenant's key for good."""
        key = self._key(key_id)
        result = partners.revoke_key(self.pb, key_id)
        self._forget_partner(key["partner"])
        append_audit(self.pb, actor, "operator.key_revoked", key["partner"], {"key_id": key_id})
        return result

    def rotate_key(self, actor: str, key_id: str) -> dict[str, Any]:
        """A new key with the same tenant and scopes, and the old one revoked, in that order (a
        failure between the two leaves both working, never neither)."""
        key = self._key(key_id)
        if key.get("revoked"):
            raise ValidationFailed("A revoked key cannot be rotated", errors={"key_id": [key_id]})
        scopes = tuple(scope for scope in key["scopes"] if scope in TENANT_SCOPES)
        created = partners.create_key(
            self.pb, key["partner"], scopes or ("partner",), data_key=self.data_key
        )
        partners.revoke_key(self.pb, key_id)
        self._forget_partner(key["partner"])
        append_audit(
            self.pb,
            actor,
            "operator.key_rotated",
            key["partner"],
            {"old_key_id": key_id, "new_key_id": created["key_id"]},
        )
        return {"partner_id": key["partner"], "revoked_key_id": key_id, **created}

    # -- plans, usage and invoices -----------------------------------------------------------

    def list_plans(self, actor: str) -> dict[str, Any]:
        """Every plan."""
        append_audit(self.pb, actor, "operator.plans_listed", "", None)
        return {"items": billing.list_plans(self.pb)}

    def save_plan(self, actor: str, code: str, body: dict[str, Any]) -> tuple[dict, bool]:
        """Create or replace a plan; whether it was created."""
        plan, created = billing.save_plan(self.pb, code, body)
        append_audit(
            self.pb,
            actor,
            "operator.plan_created" if created else "operator.plan_replaced",
            code,
            {"currency": plan["currency"]},
        )
        return plan, created

    def usage(
        self,
        actor: str,
        tenant_id: str | None,
        date_from: date | None,
        date_to: date | None,
        group: str,
        *,
        now: datetime,
    ) -> dict[str, Any]:
        """Usage of one tenant or of every tenant (each item naming its partner)."""
        first, last = date_range(date_from, date_to, now.astimezone(UTC).date())
        partner_id = self._tenant(tenant_id)["id"] if tenant_id else None
        report = usage_report(self.pb, partner_id, first, last, group)
        if partner_id is None:
            operator_id = self._operator_partner_id()
            report["items"] = [i for i in report["items"] if i["partner_id"] != operator_id]
        append_audit(
            self.pb,
            actor,
            "operator.usage_viewed",
            partner_id or "",
            {"from": report["from"], "to": report["to"], "group": group},
        )
        return report

    def statement(self, actor: str, tenant_id: str, month: str, *, now: datetime) -> dict:
        """One tenant's invoice statement for ``month`` (YYYY-MM)."""
        partner = self._tenant(tenant_id)
        result = billing.partner_statement(self.pb, partner, parse_month(month), now=now)
        append_audit(self.pb, actor, "operator.invoice_viewed", partner["id"], {"month": month})
        return result

    def statements(self, actor: str, month: str, *, now: datetime) -> dict[str, Any]:
        """Every tenant's statement for ``month``, and the usage of tenants on no plan."""
        result = billing.all_statements(self.pb, parse_month(month), now=now)
        operator_id = self._operator_partner_id()
        result["unpriced"] = [
            item for item in result["unpriced"] if item["partner_id"] != operator_id
        ]
        append_audit(
            self.pb,
            actor,
            "operator.invoices_viewed",
            "",
            {"month": month, "statements": len(result["statements"])},
        )
        return result
