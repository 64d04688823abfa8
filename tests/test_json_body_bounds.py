"""JSON bodies are bounded in depth and size: deeply nested JSON was a 500 (RecursionError in the
decoder from about 990 levels) on every JSON route; now it is a 400 problem, and a body over the
size limit a 413 problem, before any route logic runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import assert_problem, new_profile_id
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import JsonTooDeep
from gateway.request_json import MAX_JSON_DEPTH, json_depth, parse_json

JSON_ROUTES = [
    ("post", "/api/profiles"),
    ("patch", "/api/settings"),
    ("post", "/api/webhooks"),
    ("post", "/v1/document/validate"),
    ("post", "/v1/face/match"),
    ("post", "/v1/liveness/analyze"),
]


def nested(levels: int) -> bytes:
    """An object holding ``levels`` nested arrays."""
    return b'{"a":' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_deep_json_is_a_400_problem_on_every_json_route(
    client: FlaskClient, reviewer: Any, method: str, path: str, levels: int
) -> None:
    response = getattr(client, method)(
        path, data=nested(levels), content_type="application/json", headers=reviewer.headers
    )
    assert_problem(response, 400, "json_too_deep")


def test_deep_json_on_reviewer_routes(client: FlaskClient, reviewer: Any) -> None:
    profile_id = new_profile_id(client, reviewer.headers)
    for method, path in [
        ("patch", f"/api/profiles/{profile_id}/status"),
        ("post", f"/api/profiles/{profile_id}/notes"),
    ]:
        response = getattr(client, method)(
            path, data=nested(5_000), content_type="application/json", headers=reviewer.headers
        )
        assert_problem(response, 400, "json_too_deep")


def test_depth_is_counted_outside_strings_only() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == 1
    assert json_depth(b'["\\"[[[[", {"b": [1]}]') == 3
    assert json_depth(b"42") == 0
    assert json_depth(nested(MAX_JSON_DEPTH - 1)) == MAX_JSON_DEPTH
    assert isinstance(parse_json(nested(MAX_JSON_DEPTH - 1)), dict)
    with pytest.raises(JsonTooDeep):
        parse_json(nested(MAX_JSON_DEPTH))


def test_a_body_at_the_depth_limit_is_still_read(client: FlaskClient, partner: Any) -> None:
    body = b'{"external_ref": "deep-ok", "extra": ' + b"[" * 20 + b"]" * 20 + b"}"
    response = client.post(
        "/api/profiles", data=body, content_type="application/json", headers=partner.headers
    )
    # Read and validated (the unknown field is a validation error), not refused for depth.
    assert response.status_code in (201, 422), response.get_json()
    assert response.get_json()["code"] != "json_too_deep"


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"a": 1e999999}x', b"\xff\xfe", b'{"n": ' + b"9" * 5_000 + b"}", b"[" * 40],
)
def test_broken_json_is_a_400_problem(client: FlaskClient, partner: Any, raw: bytes) -> None:
    response = client.post(
        "/api/profiles", data=raw, content_type="application/json", headers=partner.headers
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_a_body_over_the_size_limit_is_a_413_problem(
    app: Flask, client: FlaskClient, partner: Any
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"external_ref": "' + b"a" * limit + b'"}'
    response = client.post(
        "/api/profiles", data=body, content_type="application/json", headers=partner.headers
    )
    assert_problem(response, 413, "payload_too_large")


def reference_depth(value: Any) -> int:
    """The nesting depth counted on the decoded value."""
    if isinstance(value, list):
        return 1 + max((reference_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(item) for item in value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\ aé', max_size=8)
json_documents = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(document=json_documents, ascii_only=st.booleans())
def test_the_byte_count_agrees_with_the_decoded_depth(document: Any, ascii_only: bool) -> None:
    raw = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert json_depth(raw) == reference_depth(document)
