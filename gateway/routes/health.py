"""Liveness, readiness and metrics for the operator."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from gateway.auth import services
from gateway.errors import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> dict[str, str]:
    """The process can serve: PocketBase answers."""
    if not services().pb.healthy():
        raise StoreUnavailable("PocketBase is not answering")
    return {"status": "ok", "pocketbase": "ok"}


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of request counts and latencies."""
    body, content_type = current_app.extensions["ekyc_metrics"].render()
    return Response(body, content_type=content_type)
