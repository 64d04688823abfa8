"""Liveness, readiness and metrics for the operator."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from gateway.auth import services
from gateway.errors import QueueUnavailable, StoreUnavailable
from gateway.handoff import redis_answers

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> dict[str, str]:
    """The process can serve: PocketBase answers and accepts the gateway's superuser, and Redis
    answers when ``REDIS_URL`` is set (the queue and the rate-limit counts every partner route
    takes)."""
    if not services().pb.healthy():
        raise StoreUnavailable("PocketBase is not answering")
    if not services().pb.accepts_gateway():
        raise StoreUnavailable("PocketBase answers but refuses the gateway's superuser")
    body = {"status": "ok", "pocketbase": "ok"}
    redis_url = services().settings.redis_url
    if redis_url:  # the default queue is a SQLite file on this machine: nothing to ask
        if not redis_answers(redis_url):
            raise QueueUnavailable("Redis (REDIS_URL) is not answering")
        body["redis"] = "ok"
    return body


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of request counts and latencies."""
    body, content_type = current_app.extensions["ekyc_metrics"].render()
    return Response(body, content_type=content_type)
