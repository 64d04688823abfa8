"""The OpenAPI 3.1 document of the gateway, generated from the app's own routes and schemas.

Nothing here is written by hand per route: every rule of the URL map under an API prefix is
walked; its summary is the view's docstring, its security the scope ``require_scope`` recorded,
its request body and query the marshmallow schemas the view loads (declared with ``documented``,
next to the view, so the document cannot name a schema the view does not use), and every
operation answers errors in the one problem format. A test fails if a route is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from gateway.schemas.checks import ChallengeField
from gateway.schemas.fields import Base64Image

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIXES = ("/api/", "/v1/", "/flow/api/", "/health")
# HTML pages, static assets and the exposition format are not JSON operations.
NOT_OPERATIONS = frozenset({"/metrics", "/openapi.json", "/docs", "/docs/"})
OPENAPI_VERSION = "3.1.0"
PROBLEM = {"$ref": "#/components/schemas/Problem"}
# The errors a caller can meet on any API operation; `default` covers the rest (500, 503).
COMMON_ERRORS = {
    "400": "The body is not JSON, or JSON nested or sized beyond the limits",
    "413": "The body or an image is larger than allowed",
    "415": "The body is not of the type the operation takes",
    "422": "A field is invalid; `errors` names each one",
    "429": "Too many requests; `Retry-After` says when to try again",
}
SCOPED_ERRORS = {
    "401": "Missing or unknown API key",
    "403": "The key lacks the scope this operation needs",
}
TOKEN_ERRORS = {
    "401": "The capture link is missing",
    "403": "The capture link is not valid: tampered with, or replaced by a newer link",
    "409": "The verification is complete, or an earlier step is missing",
    "410": "The capture link has expired",
}
PATH_ERRORS = {"404": "No such resource for this key (or link)"}

# Honoured for 24 h (EKYC_IDEMPOTENCY_TTL_S): the same key with another body is a 409.
IDEMPOTENCY_KEY = {
    "Idempotency-Key": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "description": "Replays of a request with this key get its first answer (400 outside "
        "1 to 255 characters; 409 with another body)",
    }
}


def documented(
    *,
    body: type[Schema] | Schema | dict[str, Any] | None = None,
    query: type[Schema] | Schema | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
    statuses: dict[int, str] | None = None,
    response: dict[str, Any] | None = None,
    errors: dict[int, str] | None = None,
    alternatives: dict[str, dict[str, Any]] | None = None,
    media_type: str = "application/json",
    security: str | None = None,
    headers: dict[str, dict[str, Any]] | None = None,
    response_headers: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare what a view takes and answers, for the OpenAPI document.

    ``body`` and ``query`` are the schemas the view loads; ``form`` a JSON Schema of a multipart
    body; ``status`` the success status (``statuses`` for several); ``response`` a JSON Schema of
    the success body where one is worth stating; ``errors`` statuses specific to this operation;
    ``alternatives`` other media types the success body may take, with their JSON Schema (e.g.
    ``{"text/csv": {"type": "string"}}`` for a report also sent as CSV); ``media_type`` the
    success body's own type when it is not JSON (an image); ``security`` the scheme of a view
    that checks its own credential (not a partner key, not a capture link); ``headers`` the
    optional request headers the view reads (name: JSON Schema with a ``description``);
    ``response_headers`` the headers its success answers carry (name: description).
    """

    def decorator(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "body": body,
            "query": query,
            "form": form,
            "statuses": statuses or {status: "Success"},
            "response": response,
            "errors": errors or {},
            "alternatives": alternatives or {},
            "media_type": media_type,
            "security": security,
            "headers": headers or {},
            "response_headers": response_headers or {},
        }
        return view

    return decorator


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``app``'s API routes."""
    marshmallow = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title="eKYC gateway",
        version="1",
        openapi_version=OPENAPI_VERSION,
        plugins=[marshmallow],
        info={
            "description": (
                "Partner, reviewer and check routes of the self-hosted eKYC gateway, and the "
                "JSON calls of its hosted capture flow. Errors are RFC 9457 problem JSON."
            )
        },
    )
    marshmallow.map_to_openapi_type(Base64Image, "string", "byte")
    marshmallow.map_to_openapi_type(ChallengeField, "array", None)
    spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "x-api-key"}
    )
    spec.components.security_scheme(
        "captureToken", {"type": "apiKey", "in": "header", "name": "X-Capture-Token"}
    )
    spec.components.security_scheme(
        "serviceToken", {"type": "apiKey", "in": "header", "name": "X-Service-Token"}
    )
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if not is_api_rule(rule.rule):
            continue
        view = app.view_functions[rule.endpoint]
        path = openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations = paths.setdefault(path, {})
            if method.lower() in operations:
                continue  # one view under two rules (e.g. /api/profiles and its alias)
            documented_operation = operation(rule.endpoint, rule.rule, view)
            if documented_operation["operationId"] in operation_ids:
                # One view under a second path (e.g. POST /api/profiles/create, kept for the
                # clients written against the first specification): same operation, own id.
                documented_operation["operationId"] += "_at_" + re.sub(r"\W+", "_", path).strip("_")
                documented_operation["deprecated"] = True
            operation_ids.add(documented_operation["operationId"])
            operations[method.lower()] = documented_operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def schema_name(schema: Any) -> str:
    """``gateway.schemas.checks.FrameSchema`` -> ``ChecksFrame``: unique across modules, which
    may each have a schema of the same name (a frame of /v1 checks, a frame of an intake)."""
    cls = schema if isinstance(schema, type) else type(schema)
    module = cls.__module__.rsplit(".", 1)[-1].title().replace("_", "")
    return module + cls.__name__.removesuffix("Schema")


def is_api_rule(rule: str) -> bool:
    """Whether ``rule`` is a JSON operation the document must describe."""
    return rule not in NOT_OPERATIONS and rule.startswith(API_PREFIXES)


def openapi_path(rule: str) -> str:
    """``/api/profiles/<profile_id>`` -> ``/api/profiles/{profile_id}``."""
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def operation(endpoint: str, rule: str, view: Any) -> dict[str, Any]:
    """One operation: summary, security, parameters, body and responses."""
    declared = getattr(view, "openapi", {})
    lines = (view.__doc__ or "").strip().splitlines()
    result: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": lines[0] if lines else endpoint,
        "tags": [endpoint.split(".", 1)[0]],
    }
    if len(lines) > 1:
        result["description"] = " ".join(line.strip() for line in lines[1:] if line.strip())
    errors: dict[str, str] = dict(COMMON_ERRORS)
    scope = getattr(view, "required_scope", None)
    if scope:
        result["security"] = [{"apiKey": []}]
        result["description"] = (result.get("description", "") + f" Scope: `{scope}`.").strip()
        errors.update(SCOPED_ERRORS)
    elif rule.startswith("/flow/api/"):
        result["security"] = [{"captureToken": []}]
        errors.update(TOKEN_ERRORS)
    elif declared.get("security"):
        result["security"] = [{declared["security"]: []}]
    else:
        result["security"] = []
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"<(?:[a-z_]+:)?([a-z_]+)>", rule)
    ]
    if parameters:
        errors.update(PATH_ERRORS)
    if declared.get("query") is not None:
        parameters.append({"in": "query", "schema": declared["query"]})
    for name, header in declared.get("headers", {}).items():
        schema = {key: value for key, value in header.items() if key != "description"}
        parameters.append(
            {
                "in": "header",
                "name": name,
                "required": False,
                "description": header["description"],
                "schema": schema,
            }
        )
    if parameters:
        result["parameters"] = parameters
    content: dict[str, Any] = {}
    if declared.get("body") is not None:
        content["application/json"] = {"schema": declared["body"]}
    if declared.get("form") is not None:
        content["multipart/form-data"] = {"schema": declared["form"]}
    if content:
        result["requestBody"] = {"required": True, "content": content}
    errors.update({str(code): why for code, why in declared.get("errors", {}).items()})
    media_type = declared.get("media_type", "application/json")
    success_body = declared.get("response") or (
        {"type": "object"} if media_type == "application/json" else {"type": "string"}
    )
    success_content = {media_type: {"schema": success_body}}
    for media_type, schema in declared.get("alternatives", {}).items():
        success_content[media_type] = {"schema": schema}
    response_headers = {
        name: {"description": why, "schema": {"type": "string"}}
        for name, why in declared.get("response_headers", {}).items()
    }
    responses: dict[str, Any] = {}
    for code, why in (declared.get("statuses") or {200: "Success"}).items():
        responses[str(code)] = (
            {"description": why}
            if code in (204, 304)
            else {"description": why, "content": success_content}
        )
        if response_headers:
            responses[str(code)]["headers"] = response_headers
    for code, why in sorted(errors.items()):
        responses[code] = {
            "description": why,
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
    responses["default"] = {
        "description": "Any other error (500, 503 with Retry-After), in the same format",
        "content": {"application/problem+json": {"schema": PROBLEM}},
    }
    result["responses"] = responses
    return result


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable, `trace_id` is the request id.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "trace_id": {"type": ["string", "null"]},
        "errors": {"description": "Per-field problems, keyed by field name"},
    },
}
