"""A bounded fuzz run of the partner, reviewer, webhook and check routes against the real app and
the real PocketBase: whatever arrives, the answer is never a server error, and every refusal is
problem JSON. This is the kind of run that found deeply nested JSON (a 500 from ~990 levels) and
the 18th secret rotation (a 500 once PocketBase's field overflowed).

Bounded for CI: a fixed number of examples per route family (``FUZZ_EXAMPLES``, 120 by default;
about 20-40 s on 2 cores), derandomized so a failure reproduces, and no example database.
``EKYC_FUZZ_EXAMPLES`` raises the count for a longer local run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import new_profile_id
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("EKYC_FUZZ_EXAMPLES", "120"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Leaves: the JSON scalars, with the awkward ones a decoder or a schema meets.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "\x00", "\u202e", "' OR 1=1 --", "{:p}", "a" * 5000, "../.."])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Keys the routes actually read, so values reach the schemas and services, not just "unknown".
ROUTE_KEYS = [
    "external_ref",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "country",
    "document",
    "return_url",
    "status",
    "reason",
    "body",
    "url",
    "events",
    "description",
    "enabled",
    "overlap_s",
    "thresholds",
    "weights",
    "mrz",
    "fields",
    "challenge",
    "frames",
    "image_source_base64",
    "image_target_base64",
    "threshold",
    "image_front_base64",
    "document_hint",
]
webhook_urls = st.sampled_from(
    [
        "http://127.0.0.1:9/h",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[::ffff:10.0.0.1]/",
        "https://93.184.215.14/h",
        "ftp://x/",
        "http://u:p@1.1.1.1/",
        "http://[::1",
        "http://" + "a" * 300 + ".example/",
    ]
) | st.text(max_size=30)
route_bodies = st.fixed_dictionaries(
    {},
    optional={key: json_values for key in ROUTE_KEYS} | {"url": webhook_urls},
)
deep_bodies = st.integers(min_value=30, max_value=20_000).map(
    lambda depth: b'{"a":' + b"[" * depth + b"]" * depth + b"}"
)
raw_bodies = (
    route_bodies.map(lambda body: json.dumps(body).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | deep_bodies
    | st.binary(max_size=300)
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "text/plain",
        "",
        "multipart/form-data",
    ]
)


def assert_not_a_server_error(response: Any, what: str) -> None:
    """The fuzz oracle: never 5xx, and every error is problem JSON."""
    assert response.status_code < 500, (
        f"{what}: {response.status_code} {response.get_data()[:300]!r}"
    )
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", what


@pytest.fixture
def targets(loopback_client: FlaskClient, make_partner: Callable[..., Any]) -> dict[str, Any]:
    """A reviewer partner with a profile and a webhook endpoint to aim at."""
    partner = make_partner("Fuzzed partner", ("partner", "reviewer"))
    profile_id = new_profile_id(loopback_client, partner.headers)
    created = loopback_client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"]},
        headers=partner.headers,
    )
    assert created.status_code == 201, created.get_json()
    return {"headers": partner.headers, "profile": profile_id, "webhook": created.get_json()["id"]}


def json_routes(profile_id: str, webhook_id: str) -> list[tuple[str, str]]:
    return [
        ("post", "/api/profiles"),
        ("post", f"/api/profiles/{profile_id}/link"),
        ("patch", f"/api/profiles/{profile_id}/status"),
        ("post", f"/api/profiles/{profile_id}/notes"),
        ("patch", "/api/settings"),
        ("post", "/api/webhooks"),
        ("patch", f"/api/webhooks/{webhook_id}"),
        ("post", f"/api/webhooks/{webhook_id}/rotate"),
        ("post", "/v1/document/validate"),
        ("post", "/v1/document/ocr"),
        ("post", "/v1/face/match"),
        ("post", "/v1/liveness/analyze"),
    ]


@pytest.mark.slow
def test_json_routes_never_answer_a_server_error(
    loopback_client: FlaskClient, targets: dict[str, Any]
) -> None:
    routes = json_routes(targets["profile"], targets["webhook"])

    @FUZZ_SETTINGS
    @given(
        route=st.sampled_from(routes),
        body=raw_bodies,
        content_type=content_types,
    )
    def run(route: tuple[str, str], body: bytes, content_type: str) -> None:
        method, path = route
        response = getattr(loopback_client, method)(
            path, data=body, content_type=content_type, headers=targets["headers"]
        )
        assert_not_a_server_error(response, f"{method.upper()} {path}")

    run()


@pytest.mark.slow
def test_query_strings_and_ids_never_answer_a_server_error(
    loopback_client: FlaskClient, targets: dict[str, Any]
) -> None:
    path_ids = st.text(max_size=20).filter(lambda text: "/" not in text and "?" not in text)
    query_values = st.text(max_size=30) | st.sampled_from(["-1", "0", "99999999999", "1e9", ""])

    @FUZZ_SETTINGS
    @given(
        template=st.sampled_from(
            [
                "/api/profiles/{id}",
                "/api/profiles/{id}/history",
                "/api/profiles/{id}/notes",
                "/api/webhooks/{id}",
                "/api/webhooks/deliveries/{id}/replay",
                "/flow/api/{id}/state",
            ]
        ),
        path_id=path_ids,
        query=st.dictionaries(
            st.sampled_from(["external_ref", "status", "page", "per_page", "t", "lang", "x"]),
            query_values,
            max_size=4,
        ),
    )
    def run(template: str, path_id: str, query: dict[str, str]) -> None:
        path = template.format(id=path_id or targets["profile"])
        response = loopback_client.get(path, query_string=query, headers=targets["headers"])
        assert_not_a_server_error(response, f"GET {path}")
        listed = loopback_client.get(
            "/api/profiles", query_string=query, headers=targets["headers"]
        )
        assert_not_a_server_error(listed, "GET /api/profiles")

    run()


@pytest.mark.slow
def test_capture_flow_json_routes_never_answer_a_server_error(
    loopback_client: FlaskClient, targets: dict[str, Any]
) -> None:
    profile_id = new_profile_id(loopback_client, targets["headers"])
    link = loopback_client.post(f"/api/profiles/{profile_id}/link", headers=targets["headers"])
    assert link.status_code in (200, 201), link.get_json()
    token = link.get_json()["redirect_url"].split("t=", 1)[1]
    flow_bodies = (
        st.fixed_dictionaries(
            {},
            optional={
                "accepted": json_values,
                "type": json_values,
                "country": json_values,
                "prompts": json_values,
            },
        ).map(lambda body: json.dumps(body).encode())
        | deep_bodies
        | st.binary(max_size=200)
    )

    @FUZZ_SETTINGS
    @given(
        action=st.sampled_from(["start", "consent", "document", "challenge", "submit"]),
        body=flow_bodies,
        content_type=content_types,
    )
    def run(action: str, body: bytes, content_type: str) -> None:
        path = f"/flow/api/{profile_id}/{action}"
        response = loopback_client.post(
            path, data=body, content_type=content_type, headers={"X-Capture-Token": token}
        )
        assert_not_a_server_error(response, f"POST {path}")

    run()


def test_rotation_can_be_repeated_without_limit(
    loopback_client: FlaskClient, targets: dict[str, Any]
) -> None:
    for _ in range(30):
        response = loopback_client.post(
            f"/api/webhooks/{targets['webhook']}/rotate", headers=targets["headers"]
        )
        assert_not_a_server_error(response, "rotate")
        assert response.status_code == 200
