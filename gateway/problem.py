"""One error format for every error: RFC 9457 ``application/problem+json``.

``{type, title, status, detail, code, trace_id, errors?}``. GatewayErrors render as themselves;
werkzeug HTTP errors, marshmallow validation errors and rate-limit refusals are mapped into the
same shape; anything unexpected becomes a generic 500 that is logged with its traceback and never
echoed to the caller. A 5xx GatewayError is logged with its detail and answered with a generic one:
its detail may quote PocketBase's own response (a StoreError), which is not the caller's business.

``Retry-After`` is sent only on 429 and 503, with the wait that answer means (the rate window's
reset, or the store's retry delay). Flask-Limiter adds one to every response when its headers are
on, and raises a 503's own delay to the rate window's: the after-request hook here sets it right.
"""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from flask import Flask, Response, g, json
from flask_limiter.errors import RateLimitExceeded
from marshmallow import ValidationError
from redis import RedisError
from werkzeug.exceptions import HTTPException

from gateway.errors import GatewayError, QueueUnavailable, RateLimited, ValidationFailed

PROBLEM_TYPE_BASE = "https://ekyc-gateway.dev/problems/"
RETRY_AFTER_STATUSES = frozenset({429, 503})
GENERIC_5XX_DETAIL = "Something went wrong on our side; quote the trace_id if you contact us."
log = structlog.get_logger("gateway.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Build the one error body the gateway ever sends."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "trace_id": g.get("request_id"),
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if "Retry-After" in response.headers:
        g.retry_after = response.headers["Retry-After"]
    return response


def render_gateway_error(error: GatewayError) -> Response:
    """A GatewayError as a problem."""
    detail = error.detail
    if error.status >= 500:
        log.warning("request_failed", code=error.code, status=error.status, detail=error.detail)
        if error.status != 503:
            detail = GENERIC_5XX_DETAIL
    return problem_response(
        error.status,
        error.code,
        error.title,
        detail,
        errors=error.errors,
        headers=error.headers,
        extra=error.extra,
    )


def register_error_handlers(app: Flask) -> None:
    """Map every error the app can meet into the problem format."""

    @app.errorhandler(GatewayError)
    def _gateway(error: GatewayError) -> Response:
        return render_gateway_error(error)

    @app.errorhandler(ValidationError)
    def _marshmallow(error: ValidationError) -> Response:
        # The detail names the fields, so a partner reading only the detail knows where to look.
        fields = sorted(error.messages) if isinstance(error.messages, dict) else []
        detail = "Invalid fields: " + ", ".join(fields) if fields else "The body is invalid"
        return render_gateway_error(ValidationFailed(detail, errors=error.messages))

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded) -> Response:
        return render_gateway_error(
            RateLimited(
                f"Rate limit of {error.description} exceeded",
                headers={"Retry-After": str(_rate_window_wait_s())},
            )
        )

    @app.after_request
    def _retry_after_only_when_meant(response: Response) -> Response:
        # Registered before the limiter's hook, so it runs after it (Flask runs them reversed).
        if response.status_code in RETRY_AFTER_STATUSES and g.get("retry_after"):
            response.headers["Retry-After"] = g.retry_after
        elif response.status_code not in RETRY_AFTER_STATUSES:
            response.headers.pop("Retry-After", None)
        return response

    @app.errorhandler(RedisError)
    def _redis_down(error: RedisError) -> Response:
        # With REDIS_URL, Redis holds the rate-limit counts every partner and capture call
        # takes and the queue: while it is down the caller may retry, as when PocketBase is.
        log.warning("redis_unavailable", error_type=type(error).__name__)
        return render_gateway_error(QueueUnavailable("Redis is not answering; try again shortly"))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        return problem_response(
            status,
            _HTTP_CODES.get(status, "http_error"),
            error.name,
            error.description or error.name,
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled_exception", error_type=type(error).__name__)
        return problem_response(
            500,
            "internal_error",
            "Internal server error",
            GENERIC_5XX_DETAIL,
        )


def _rate_window_wait_s() -> int:
    """Whole seconds until the exceeded rate window resets (at least 1)."""
    from gateway.auth import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    # window[0] is the reset time as a float; ``reset_at`` rounds it up by a whole second.
    return max(1, math.ceil(current.window[0] - time.time()))
