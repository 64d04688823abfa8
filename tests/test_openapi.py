"""The OpenAPI document: valid 3.1, every API route in it, and its schemas the routes' own."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate

from gateway.openapi import is_api_rule, openapi_path
from gateway.routes import docs


def spec_of(app: Flask) -> dict:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(app: Flask) -> None:
    spec = spec_of(app)
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_api_route_and_method_is_documented(app: Flask) -> None:
    paths = spec_of(app)["paths"]
    missing = [
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if is_api_rule(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if method.lower() not in paths.get(openapi_path(rule.rule), {})
    ]
    assert missing == []
    # The walk covers what a partner integrates against, not only what is declared.
    for path in (
        "/api/profiles",
        "/api/profiles/{profile_id}/status",
        "/v1/face/match",
        "/api/webhooks/{endpoint_id}/rotate",
        "/flow/api/{profile_id}/submit",
    ):
        assert path in paths, path


def test_operations_carry_their_security_schemas_and_problem_errors(app: Flask) -> None:
    spec = spec_of(app)
    create = spec["paths"]["/api/profiles"]["post"]
    assert create["security"] == [{"apiKey": []}]
    assert set(create["responses"]) >= {"200", "201", "401", "422", "default"}
    body = create["requestBody"]["content"]["application/json"]["schema"]
    component = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"external_ref", "document", "return_url"} <= set(component["properties"])
    problem = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    reviewer = spec["paths"]["/api/profiles/{profile_id}/status"]["patch"]
    assert "Scope: `reviewer`" in reviewer["description"]
    flow = spec["paths"]["/flow/api/{profile_id}/state"]["get"]
    assert flow["security"] == [{"captureToken": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    # Base64 images are strings in bytes format, as the schema field loads them.
    face = spec["paths"]["/v1/face/match"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(face)


def test_an_operation_s_own_conflict_keeps_the_capture_link_s(app: Flask) -> None:
    """The challenge's 409 for the link's limit is one more reason, not the only one: before
    consent and after the submit it answers 409 like every step of the flow."""
    conflict = spec_of(app)["paths"]["/flow/api/{profile_id}/challenge"]["post"]["responses"]
    assert "challenge_limit_reached" in conflict["409"]["description"]
    assert "an earlier step is missing" in conflict["409"]["description"]


def test_the_headers_a_partner_sends_and_reads_are_in_the_document(app: Flask) -> None:
    """A client generated from the document can send Idempotency-Key and If-None-Match and read
    the ETag: the README's contract, not only the routes' code."""
    paths = spec_of(app)["paths"]

    def headers(operation: dict) -> dict[str, dict]:
        return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}

    for path in ("/api/profiles", "/api/verifications"):
        idempotency = headers(paths[path]["post"])["Idempotency-Key"]
        assert idempotency["required"] is False
        assert idempotency["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    for path in ("/api/profiles/{profile_id}", "/api/profiles/{profile_id}/history"):
        read = paths[path]["get"]
        assert set(headers(read)) == {"If-None-Match"}
        for status in ("200", "304"):
            assert set(read["responses"][status]["headers"]) == {"ETag"}, (path, status)


def test_the_docs_page_and_its_assets_are_served_by_the_gateway(app: Flask) -> None:
    if not (docs.SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file():
        pytest.skip(f"Swagger UI assets not installed in {docs.SWAGGER_UI_DIR} (scripts/install)")
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html and "://" not in html
    assert "'self'" in page.headers["Content-Security-Policy"]
    with client.get("/docs/assets/swagger-ui-bundle.js") as script:
        assert script.status_code == 200 and len(script.data) > 100_000
    assert "/openapi.json" in client.get("/docs/start.js").get_data(as_text=True)
    assert client.get("/docs/assets/index.html").status_code == 404


def test_without_its_assets_the_docs_page_says_how_to_install_them(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs, "SWAGGER_UI_DIR", tmp_path)
    page = app.test_client().get("/docs")
    assert page.status_code == 503
    assert page.get_json()["code"] == "docs_assets_missing"
    assert "scripts/install" in page.get_json()["detail"]


def test_fields_required_only_together_or_conditionally_are_stated(app: Flask) -> None:
    """JSON Schema's `required` cannot say "one of these" or "for these values": the operation's
    description must, or a client built from the document sends bodies that are always a 422."""
    paths = spec_of(app)["paths"]
    create = paths["/api/profiles"]["post"]["description"]
    assert "`external_ref` or `document` is required" in create
    status = paths["/api/profiles/{profile_id}/status"]["patch"]["description"]
    assert "`reason` is required to approve or reject" in status
