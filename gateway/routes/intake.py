"""The KYC Service intake: hand over a verification by object keys, then read its status.

Authenticated by ``X-Service-Token`` (a shared secret, not a partner key); results also reach
the KYC Service's PostgreSQL when the worker has ``POSTGRES_URL`` (docs/intake.md).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from gateway.auth import services
from gateway.openapi import documented
from gateway.routes import json_body
from gateway.schemas.intake import KycProcessSchema

bp = Blueprint("intake", __name__, url_prefix="/api/v1/process")

_process_schema = KycProcessSchema()


@bp.post("")
@documented(
    body=KycProcessSchema,
    status=202,
    security="serviceToken",
    errors={
        401: "Missing or wrong X-Service-Token",
        502: "The object store refused the gateway's credentials",
        503: "The object store did not answer",
    },
)
def process() -> tuple[dict[str, Any], int]:
    """Queue a verification from object keys; a duplicate kycId gets the same job, once."""
    intake = services().kyc_intake
    intake.authenticate(request.headers.get("X-Service-Token"))
    accepted = intake.submit(_process_schema.load(json_body()))
    return {"jobId": accepted["jobId"], "status": accepted["status"]}, 202


@bp.get("/<int:kyc_id>")
@documented(security="serviceToken", errors={401: "Missing or wrong X-Service-Token"})
def process_status(kyc_id: int) -> dict[str, Any]:
    """A job's status and, once decided, its result."""
    intake = services().kyc_intake
    intake.authenticate(request.headers.get("X-Service-Token"))
    return intake.status(kyc_id)
