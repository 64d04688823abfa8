"""The one error hierarchy of the gateway.

Services raise these; `gateway.problem` renders every one of them (and every werkzeug, marshmallow
and rate-limit error) as an RFC 9457 ``application/problem+json`` body. Nothing here imports Flask,
so the worker and the CLI raise the same errors the routes do.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base class: a stable machine ``code``, an HTTP ``status`` and a human ``title``."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(GatewayError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(GatewayError):
    status, code, title = 401, "unauthorized", "Missing or unknown API key"


class Forbidden(GatewayError):
    status, code, title = 403, "forbidden", "This key may not do that"


class NotFound(GatewayError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(GatewayError):
    status, code, title = 409, "conflict", "Conflict"


class IllegalTransition(Conflict):
    code, title = "illegal_transition", "That status change is not allowed"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "Idempotency-Key reused with a different request"


class Gone(GatewayError):
    status, code, title = 410, "gone", "No longer available"


class PayloadTooLarge(GatewayError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(GatewayError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(GatewayError):
    status, code, title = 422, "validation_failed", "The request body is not valid"


class RateLimited(GatewayError):
    status, code, title = 429, "rate_limited", "Too many requests"


class StoreUnavailable(GatewayError):
    """PocketBase did not answer: the caller may retry, nothing was written by this request."""

    status, code, title = 503, "store_unavailable", "The data store is unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 5, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after_s))


class StoreError(GatewayError):
    """PocketBase answered with something we did not expect: a bug, never the caller's fault."""

    status, code, title = 500, "store_error", "The data store refused the operation"
