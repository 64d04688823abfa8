"""Thin blueprints: validate with marshmallow, call one service, shape the response."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from gateway.errors import BadRequest, UnsupportedMediaType
from gateway.rate_limit import limit_blueprint
from gateway.request_json import parse_json


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 415/400 problem (depth bounded: see request_json)."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json")
    body = parse_json(request.get_data(cache=True))
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body


def partner_blueprint(name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint for partner-keyed routes: every view shares the per-key rate limit."""
    bp = Blueprint(name, f"gateway.routes.{name}", url_prefix=url_prefix)
    limit_blueprint(bp)
    return bp
