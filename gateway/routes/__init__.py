"""Thin blueprints: validate with marshmallow, call one service, shape the response."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.errors import BadRequest, UnsupportedMediaType


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 415/400 problem."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body
