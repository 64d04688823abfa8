"""API-key authentication and per-key rate limiting for the partner and reviewer routes.

The principal is resolved once per request and kept on ``flask.g``. The limiter asks for it too
(the limit may be the partner's own), so authentication happens before the limit is counted and
an unknown key is a 401, never a 429.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import structlog
from flask import current_app, g, request
from flask_limiter import Limiter

from gateway.container import Services
from gateway.errors import Unauthorized
from gateway.services.api_keys import Principal, split_key
from gateway.services.request_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

log = structlog.get_logger("gateway.auth")
F = TypeVar("F", bound=Callable[..., Any])


def services() -> Services:
    """The app's services."""
    return current_app.extensions["ekyc"]


def current_principal() -> Principal:
    """The authenticated caller of this request (authenticating on first use)."""
    context = g._get_current_object()  # one context-local lookup: this runs thrice a request
    principal = context.get("principal")
    if principal is None:
        try:
            principal = services().keys.authenticate(request.headers.get("x-api-key"))
        except Unauthorized as error:
            log.info("authentication_failed", reason=error.detail, route=request.path)
            raise
        check_signature(principal)
        context.principal = principal
        context.partner_id = principal.partner_id
        structlog.contextvars.bind_contextvars(partner_id=principal.partner_id)
    return principal


def check_signature(principal: Principal) -> None:
    """Verify the request's signature where the partner requires one or the request carries one
    (a wrong signature is refused even when signing is optional)."""
    headers = request.headers
    signed = headers.get(SIGNATURE_HEADER) or headers.get(TIMESTAMP_HEADER)
    if not (signed or principal.settings.get("require_signed_requests")):
        return
    try:
        services().signatures.verify(
            key_id=principal.key_id,
            signing_secret_enc=principal.signing_secret_enc,
            headers=request.headers,
            method=request.method,
            path=request.full_path.rstrip("?"),
            body=request.get_data(cache=True),
        )
    except Unauthorized as error:
        log.info("signature_refused", reason=error.code, route=request.path)
        raise


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorate a view: authenticated key with ``scope`` or 401/403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current_principal().require(scope)
            return view(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]  # read by gateway.openapi
        return wrapper  # type: ignore[return-value]

    return decorator


def rate_limit_key() -> str:
    """Rate limits count per API key id (the secret never reaches the limiter's storage)."""
    parts = split_key(request.headers.get("x-api-key") or "")
    if parts:
        return rate_limit_bucket(parts[0])
    return rate_limit_bucket(current_principal().key_id)


def rate_limit_bucket(key_id: str) -> str:
    """The limiter's storage key for one API key id."""
    return f"key:{key_id}"


def partner_rate_limit() -> str:
    """The partner's own limit if set, else the gateway-wide ``EKYC_RATE_LIMIT``."""
    return current_principal().settings.get("rate_limit") or services().settings.rate_limit


limiter = Limiter(key_func=rate_limit_key, headers_enabled=True, default_limits=[])
