"""``GET /api/usage``: a partner's own usage, per check or per day, and its quotas this month;
``GET /api/usage/statement``: its invoice statement for a month, priced from its plan."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, request

from gateway.auth import current_principal, require_scope, services
from gateway.openapi import documented
from gateway.routes import partner_blueprint
from gateway.schemas.usage import InvoiceQuerySchema, UsageQuerySchema
from gateway.services import billing

bp = partner_blueprint("usage", "/api/usage")

_query_schema = UsageQuerySchema()
_statement_schema = InvoiceQuerySchema()


@bp.get("")
@require_scope("partner")
@documented(query=UsageQuerySchema)
def get_usage() -> dict[str, Any]:
    """The partner's metered checks from `from` to `to`, and its quotas this month.

    `calls` counts every call, `billed` those that ran to a result, `refused` the rest.
    """
    query = _query_schema.load(request.args.to_dict())
    principal = current_principal()
    return services().usage_reports.partner_usage(
        principal.partner_id,
        principal.settings,
        query.get("from_"),
        query.get("to"),
        query["group"],
        now=datetime.now(UTC),
    )


@bp.get("/statement")
@require_scope("partner")
@documented(
    query=InvoiceQuerySchema,
    alternatives={"text/csv": {"type": "string"}},
    errors={409: "The partner is on no plan"},
)
def get_statement() -> Any:
    """The partner's invoice statement for a month (JSON, or CSV with format=csv).

    Provisional (`final: false`) until the month is over.
    """
    query = _statement_schema.load(request.args.to_dict())
    statement = billing.own_statement(
        services().pb, current_principal().partner_id, query["month"], now=datetime.now(UTC)
    )
    if query["format"] == "csv":
        return Response(billing.statement_csv([statement]), mimetype="text/csv")
    return statement
