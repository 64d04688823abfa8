"""The operator API (``/api/operator``): tenants, their keys, settings and plans; usage and
invoices across tenants. Operator keys only (the ``admin`` scope on the operator partner, made by
``ekyc operator key create``); every call is audit-logged by ``OperatorService``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, request

from gateway.auth import current_principal, require_scope, services
from gateway.openapi import documented
from gateway.routes import json_body, partner_blueprint
from gateway.schemas.operator import (
    KeyCreateSchema,
    OperatorUsageQuerySchema,
    PlanAssignSchema,
    PlanSchema,
    TenantCreateSchema,
)
from gateway.schemas.usage import InvoiceQuerySchema
from gateway.services.billing import statement_csv

bp = partner_blueprint("operator", "/api/operator")

SETTINGS_PATCH = {
    "type": "object",
    "description": "A JSON merge patch (RFC 7396) of the tenant's settings, operator keys allowed",
}
CSV = {"text/csv": {"type": "string"}}
NOT_A_TENANT = {404: "No such tenant (or key) for the operator"}

_tenant_schema = TenantCreateSchema()
_key_schema = KeyCreateSchema()
_plan_assign_schema = PlanAssignSchema()
_plan_schema = PlanSchema()
_usage_schema = OperatorUsageQuerySchema()
_invoice_schema = InvoiceQuerySchema()


def _actor() -> str:
    """The audit actor of the calling operator key (403 for any other key)."""
    principal = current_principal()
    return services().operator.require_operator(
        principal.partner_id, principal.scopes, principal.key_id
    )


def _statements(result: dict[str, Any], statements: list[dict[str, Any]], fmt: str) -> Any:
    if fmt == "csv":
        return Response(statement_csv(statements), mimetype="text/csv")
    return result


@bp.get("/tenants")
@require_scope("admin")
def list_tenants() -> dict[str, Any]:
    """Every tenant with its status and plan."""
    return services().operator.list_tenants(_actor())


@bp.post("/tenants")
@require_scope("admin")
@documented(body=TenantCreateSchema, status=201, errors={404: "No such plan"})
def create_tenant() -> tuple[dict[str, Any], int]:
    """Create a tenant and its first key (the secrets are shown once)."""
    actor = _actor()
    return services().operator.create_tenant(actor, _tenant_schema.load(json_body())), 201


@bp.get("/tenants/<tenant_id>")
@require_scope("admin")
def get_tenant(tenant_id: str) -> dict[str, Any]:
    """A tenant with its settings (credentials redacted) and keys."""
    return services().operator.get_tenant(_actor(), tenant_id)


@bp.post("/tenants/<tenant_id>/suspend")
@require_scope("admin")
def suspend_tenant(tenant_id: str) -> dict[str, Any]:
    """Suspend a tenant: its keys are refused (403) until it is resumed."""
    return services().operator.set_status(_actor(), tenant_id, "suspended")


@bp.post("/tenants/<tenant_id>/resume")
@require_scope("admin")
def resume_tenant(tenant_id: str) -> dict[str, Any]:
    """Resume a suspended tenant."""
    return services().operator.set_status(_actor(), tenant_id, "active")


@bp.get("/tenants/<tenant_id>/settings")
@require_scope("admin")
def get_tenant_settings(tenant_id: str) -> dict[str, Any]:
    """A tenant's effective settings (credentials redacted)."""
    return services().operator.get_settings(_actor(), tenant_id)


@bp.patch("/tenants/<tenant_id>/settings")
@require_scope("admin")
@documented(body=SETTINGS_PATCH)
def patch_tenant_settings(tenant_id: str) -> dict[str, Any]:
    """Change a tenant's settings (quotas, rate limits and registry included), validated whole."""
    actor = _actor()
    return services().operator.patch_settings(actor, tenant_id, json_body())


@bp.put("/tenants/<tenant_id>/plan")
@require_scope("admin")
@documented(body=PlanAssignSchema, errors=NOT_A_TENANT)
def set_tenant_plan(tenant_id: str) -> dict[str, Any]:
    """Invoice a tenant on a plan (null: on none)."""
    actor = _actor()
    return services().operator.set_plan(
        actor, tenant_id, _plan_assign_schema.load(json_body())["plan"]
    )


@bp.get("/tenants/<tenant_id>/keys")
@require_scope("admin")
def list_tenant_keys(tenant_id: str) -> dict[str, Any]:
    """A tenant's keys: ids, scopes, use and revocation, never secrets."""
    return services().operator.list_keys(_actor(), tenant_id)


@bp.post("/tenants/<tenant_id>/keys")
@require_scope("admin")
@documented(body=KeyCreateSchema, status=201)
def create_tenant_key(tenant_id: str) -> tuple[dict[str, Any], int]:
    """A new key for a tenant (its secret and signing secret are shown once)."""
    actor = _actor()
    scopes = tuple(_key_schema.load(json_body())["scopes"])
    return services().operator.create_key(actor, tenant_id, scopes), 201


@bp.post("/keys/<key_id>/revoke")
@require_scope("admin")
def revoke_key(key_id: str) -> dict[str, Any]:
    """Revoke a tenant's key for good."""
    return services().operator.revoke_key(_actor(), key_id)


@bp.post("/keys/<key_id>/rotate")
@require_scope("admin")
@documented(status=201, errors={422: "The key is already revoked"})
def rotate_key(key_id: str) -> tuple[dict[str, Any], int]:
    """Replace a tenant's key: a new one with the same scopes, the old one revoked."""
    return services().operator.rotate_key(_actor(), key_id), 201


@bp.get("/plans")
@require_scope("admin")
def list_plans() -> dict[str, Any]:
    """Every plan: fee, included units and unit prices per check."""
    return services().operator.list_plans(_actor())


@bp.put("/plans/<code>")
@require_scope("admin")
@documented(body=PlanSchema, statuses={200: "Replaced", 201: "Created"})
def save_plan(code: str) -> tuple[dict[str, Any], int]:
    """Create or replace a plan."""
    actor = _actor()
    plan, created = services().operator.save_plan(actor, code, _plan_schema.load(json_body()))
    return plan, 201 if created else 200


@bp.get("/usage")
@require_scope("admin")
@documented(query=OperatorUsageQuerySchema, errors=NOT_A_TENANT)
def usage() -> dict[str, Any]:
    """Usage of every tenant (or one), per check or per day."""
    query = _usage_schema.load(request.args.to_dict())
    return services().operator.usage(
        _actor(),
        query.get("tenant_id"),
        query.get("from_"),
        query.get("to"),
        query["group"],
        now=datetime.now(UTC),
    )


@bp.get("/invoices")
@require_scope("admin")
@documented(query=InvoiceQuerySchema, alternatives=CSV)
def invoices() -> Any:
    """Every tenant's invoice statement for a month (JSON, or CSV with format=csv)."""
    query = _invoice_schema.load(request.args.to_dict())
    result = services().operator.statements(_actor(), query["month"], now=datetime.now(UTC))
    return _statements(result, result["statements"], query["format"])


@bp.get("/tenants/<tenant_id>/invoice")
@require_scope("admin")
@documented(query=InvoiceQuerySchema, alternatives=CSV, errors={409: "The tenant is on no plan"})
def tenant_invoice(tenant_id: str) -> Any:
    """One tenant's invoice statement for a month (JSON, or CSV with format=csv)."""
    query = _invoice_schema.load(request.args.to_dict())
    result = services().operator.statement(
        _actor(), tenant_id, query["month"], now=datetime.now(UTC)
    )
    return _statements(result, [result], query["format"])
