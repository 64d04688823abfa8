"""Every status and media type the routes really answer is one the OpenAPI document states, and
every success body the document gives a schema for has exactly the fields that schema names.

The contract fuzz (``test_api_contract.py``) cannot see an undocumented status: every operation
has a ``default`` response, which schemathesis accepts for any code. Here a hook records each
response the app sends while the spec is walked, operation by operation, without a credential,
with a wrong one, with a good one and a bad body, and while the capture flow and the reviewer and
intake routes are driven along their success paths; each (status, media type) must be one the
operation lists by code, not one only ``default`` covers (that is for 5xx); and a JSON success
body must validate against the operation's response schema (closed: no field it does not name,
none it names missing).
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np
from api_helpers import new_profile_id
from flask import Flask, request
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from worker_helpers import jpeg

from gateway.container import Services
from gateway.openapi import build_spec, openapi_path
from gateway.services.operator import create_operator_key
from tests.conftest import PartnerHandle

# Values for path parameters that are not an id of the walked profile.
PATH_VALUES = {"kyc_id": "1", "side": "front", "field_name": "document_front", "code": "start"}


Seen = list[tuple[str, str, int, str, Any]]


def record_responses(app: Flask) -> Seen:
    """(method, rule, status, media type, JSON body or None) of every response ``app`` sends."""
    seen: Seen = []

    def hook(response: Any) -> Any:
        if request.url_rule is not None:
            body = response.get_json(silent=True) if response.is_json else None
            seen.append(
                (
                    request.method,
                    request.url_rule.rule,
                    response.status_code,
                    response.mimetype,
                    body,
                )
            )
        return response

    app.after_request_funcs.setdefault(None, []).append(hook)
    return seen


def undocumented(spec: dict, seen: Seen) -> list[str]:
    """Each recorded response whose status or media type its operation does not state, or whose
    body is off the response schema the operation gives."""
    found = set()
    for method, rule, status, mimetype, body in seen:
        operation = spec["paths"].get(openapi_path(rule), {}).get(method.lower())
        if operation is None or status >= 500:
            continue  # not an API operation; 5xx is what `default` is for
        documented = operation["responses"].get(str(status))
        if documented is None:
            code = body.get("code", "") if isinstance(body, dict) else ""
            found.add(f"{method} {rule}: status {status} {code}".rstrip())
            continue
        content = documented.get("content", {})
        if status not in (204, 304) and mimetype not in content:
            found.add(f"{method} {rule}: {status} as {mimetype}")
        schema = content.get("application/json", {}).get("schema", {})
        if status < 300 and body is not None and schema.get("properties"):
            for error in Draft202012Validator(schema).iter_errors(body):
                where = "/".join(str(part) for part in error.absolute_path)
                found.add(f"{method} {rule}: {status} body at '{where}': {error.message}")
    return sorted(found)


def fill(path: str, profile_id: str) -> str:
    """A concrete URL for ``path``: the profile's id, or a fitting value, for each parameter."""
    return re.sub(r"\{([a-z_]+)\}", lambda match: PATH_VALUES.get(match.group(1), profile_id), path)


def test_every_status_the_routes_answer_is_documented(
    app: Flask, client: FlaskClient, make_partner, services: Services
) -> None:
    partner: PartnerHandle = make_partner("Spec walker", scopes=("partner", "reviewer"))
    seen = record_responses(app)
    spec = build_spec(app)
    created = client.post(
        "/api/profiles", json={"external_ref": "spec-walk"}, headers=partner.headers
    )
    profile_id = created.get_json()["id"]
    token = created.get_json()["redirect_url"].split("?t=", 1)[1]
    good = {**partner.headers, "X-Capture-Token": token}
    forged = {"x-api-key": "ek_nokey_nosecret", "X-Capture-Token": token[:-4] + "AAAA"}
    attempts: list[tuple[str, dict[str, Any]]] = [
        (profile_id, {}),
        (profile_id, {"headers": forged, "json": {}}),
        (profile_id, {"headers": good, "json": {}}),
        (profile_id, {"headers": good, "json": {"unknown": 1}}),
        (profile_id, {"headers": good, "data": "x", "content_type": "text/plain"}),
        ("aaaaaaaaaaaaaaa", {"headers": good, "json": {}}),
    ]
    unsecured = []  # refused without a credential, yet documented as taking none
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for path_id, request_args in attempts:
                answer = client.open(fill(path, path_id), method=method.upper(), **request_args)
                if not request_args and answer.status_code == 401 and not operation["security"]:
                    unsecured.append(f"{method.upper()} {path}")
    assert unsecured == []

    # The success paths, on a fresh profile (the walk above issued a new link and erased):
    # the applicant's steps, a reviewer's writes, a server-side verification of a profile that
    # is not open for captures (409).
    created = client.post(
        "/api/profiles", json={"external_ref": "spec-flow"}, headers=partner.headers
    )
    flow = f"/flow/api/{created.get_json()['id']}"
    capture = {"X-Capture-Token": created.get_json()["redirect_url"].split("?t=", 1)[1]}
    photo = jpeg(np.full((480, 640, 3), 128, np.uint8))
    encoded = base64.b64encode(photo).decode()
    client.post(f"{flow}/start", headers=capture)
    client.post(f"{flow}/consent", json={"accepted": True}, headers=capture)
    client.post(f"{flow}/document", json={"type": "passport", "country": "FRA"}, headers=capture)
    client.post(
        f"{flow}/document/front", data={"file": (io.BytesIO(photo), "f.jpg")}, headers=capture
    )
    client.post(f"{flow}/challenge", headers=capture)
    client.post(
        f"{flow}/selfie/check", data={"file": (io.BytesIO(photo), "s.jpg")}, headers=capture
    )
    client.get(f"{flow}/qr.svg", headers=capture)
    client.get(f"{flow}/countries", headers=capture)
    reviewed = new_profile_id(client, partner.headers)
    client.post(
        f"/api/profiles/{reviewed}/documents",
        data={"other": (io.BytesIO(photo), "o.jpg")},
        headers=partner.headers,
    )
    client.post(f"/api/profiles/{reviewed}/notes", json={"body": "seen"}, headers=partner.headers)
    client.post(f"/api/profiles/{reviewed}/link", headers=partner.headers)  # the walk's was erased
    client.post(
        "/api/verifications",
        json={
            "external_ref": "spec-flow",
            "document_front_base64": encoded,
            "selfie_base64": encoded,
        },
        headers=partner.headers,
    )

    # The operator routes with an operator key, on a real tenant and key, then after a revoke.
    operator = {"x-api-key": create_operator_key(services.pb, actor="spec-walk")["api_key"]}
    client.put(
        "/api/operator/plans/start",
        json={"name": "Start", "currency": "EUR", "monthly_fee": 10},
        headers=operator,
    )
    tenant = client.post(
        "/api/operator/tenants", json={"name": "Spec tenant"}, headers=operator
    ).get_json()
    ids = {"tenant_id": tenant["partner_id"], "key_id": tenant["key_id"]}
    for _round in range(2):
        for path, operations in spec["paths"].items():
            if path.startswith("/api/operator/"):
                url = re.sub(r"\{([a-z_]+)\}", lambda m: ids.get(m.group(1), "start"), path)
                for method in operations:
                    client.open(url, method=method.upper(), json={}, headers=operator)
                    client.open(url + "?month=2026-11", method=method.upper(), headers=operator)

    answered = {(method, rule) for method, rule, status, _type, _body in seen if status < 300}
    assert {
        ("POST", "/api/profiles"),
        ("GET", "/api/profiles"),
        ("GET", "/api/profiles/changes"),
        ("GET", "/api/profiles/<profile_id>"),
        ("GET", "/api/profiles/<profile_id>/history"),
        ("POST", "/api/profiles/<profile_id>/link"),
    } <= answered
    statuses = {status for _method, _rule, status, _type, _body in seen}
    assert {200, 201, 401, 403, 404, 409, 415, 422} <= statuses, statuses
    problems = undocumented(spec, seen)
    assert problems == [], "\n".join(problems)
