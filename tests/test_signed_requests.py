"""Signed requests: the documented snippets work against the real gateway, and each refusal says
which part failed (missing, stale, replayed, wrong) without the expected value."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from gateway import create_app
from gateway.container import Services
from gateway.services import partners
from gateway.services.partner_settings import set_partner_settings
from gateway.services.request_signing import sign_request
from gateway.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "signed-requests.md"


def code_block(language: str) -> str:
    """The documented snippet in ``language``."""
    [block] = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)
    return block


@pytest.fixture
def signer(services: Services) -> dict[str, str]:
    """A partner that requires signed requests, with its key and signing secret."""
    created = partners.create_partner(
        services.pb, "Signing bank", data_key=services.settings.data_key
    )
    set_partner_settings(
        services.pb, created["partner_id"], {"require_signed_requests": True}, actor="operator"
    )
    return created


def post_profile(client, headers: dict[str, str], body: bytes):
    return client.post(
        "/api/profiles", data=body, headers={**headers, "Content-Type": "application/json"}
    )


def test_the_python_snippet_signs_and_a_replay_is_refused(
    app: Flask, signer: dict[str, str]
) -> None:
    client = app.test_client()
    unsigned = client.get("/api/profiles", headers={"x-api-key": signer["api_key"]})
    assert unsigned.status_code == 401
    assert unsigned.get_json()["code"] == "signature_missing"

    scope = {"API_KEY": signer["api_key"], "SIGNING_SECRET": signer["signing_secret"]}
    exec(code_block("python"), scope)  # noqa: S102 - our own documentation
    headers, body = scope["headers"], scope["body"]
    created = client.post("/api/profiles", data=body, headers=headers)
    assert created.status_code == 201, created.get_json()

    replayed = client.post("/api/profiles", data=body, headers=headers)
    assert replayed.status_code == 401
    assert replayed.get_json()["code"] == "signature_replayed"


def test_each_refusal_names_the_failing_part_only(app: Flask, signer: dict[str, str]) -> None:
    client = app.test_client()
    body = json.dumps({"external_ref": "ref-1"}).encode()
    now = str(int(time.time()))
    good = sign_request(signer["signing_secret"], now, "POST", "/api/profiles", body)
    key = {"x-api-key": signer["api_key"]}

    stale_time = str(int(time.time()) - 3600)
    stale_sign = sign_request(signer["signing_secret"], stale_time, "POST", "/api/profiles", body)
    stale = post_profile(
        client, {**key, "X-API-TIMESTAMP": stale_time, "X-API-SIGN": stale_sign}, body
    )
    assert stale.status_code == 401 and stale.get_json()["code"] == "signature_stale"

    tampered_body = json.dumps({"external_ref": "ref-2"}).encode()
    tampered = post_profile(
        client, {**key, "X-API-TIMESTAMP": now, "X-API-SIGN": good}, tampered_body
    )
    problem = tampered.get_json()
    assert tampered.status_code == 401 and problem["code"] == "signature_invalid"
    expected = sign_request(signer["signing_secret"], now, "POST", "/api/profiles", tampered_body)
    assert expected not in json.dumps(problem) and signer["signing_secret"] not in json.dumps(
        problem
    )

    wrong_path = sign_request(signer["signing_secret"], now, "POST", "/api/profiles/create", body)
    moved = post_profile(client, {**key, "X-API-TIMESTAMP": now, "X-API-SIGN": wrong_path}, body)
    assert moved.get_json()["code"] == "signature_invalid"

    accepted = post_profile(client, {**key, "X-API-TIMESTAMP": now, "X-API-SIGN": good}, body)
    assert accepted.status_code == 201


def test_a_replay_is_refused_by_another_gateway_process(
    make_settings: Callable[..., Settings], signer: dict[str, str]
) -> None:
    """Two apps with their own caches, one store: what one accepted, the other refuses."""
    first, second = (create_app(make_settings()).test_client() for _ in range(2))
    body = json.dumps({"external_ref": "shared-ref"}).encode()
    now = str(int(time.time()))
    headers = {
        "x-api-key": signer["api_key"],
        "X-API-TIMESTAMP": now,
        "X-API-SIGN": sign_request(signer["signing_secret"], now, "POST", "/api/profiles", body),
    }
    assert post_profile(first, headers, body).status_code == 201
    assert post_profile(second, headers, body).get_json()["code"] == "signature_replayed"


def test_optional_signing_still_refuses_a_wrong_signature(app: Flask, services: Services) -> None:
    created = partners.create_partner(services.pb, "Optional", data_key=services.settings.data_key)
    client = app.test_client()
    key = {"x-api-key": created["api_key"]}
    assert client.get("/api/profiles", headers=key).status_code == 200
    wrong = client.get(
        "/api/profiles",
        headers={**key, "X-API-TIMESTAMP": str(int(time.time())), "X-API-SIGN": "0" * 64},
    )
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "signature_invalid"


@pytest.mark.parametrize(
    ("timestamp", "signature", "code"),
    [
        # Header values are Latin-1: hmac.compare_digest refuses non-ASCII text (TypeError).
        (None, "\u00e9" * 64, "signature_invalid"),
        # "\u00b2".isdigit() is true, int("\u00b2") a ValueError.
        ("\u00b2", "0" * 64, "signature_stale"),
        # int() refuses more than 4,300 digits (ValueError); a header holds 8 KB.
        ("9" * 5000, "0" * 64, "signature_stale"),
    ],
    ids=["non_ascii_signature", "superscript_timestamp", "5000_digit_timestamp"],
)
def test_odd_signature_headers_are_refused_not_a_500(
    app: Flask, signer: dict[str, str], timestamp: str | None, signature: str, code: str
) -> None:
    headers = {
        "x-api-key": signer["api_key"],
        "X-API-TIMESTAMP": timestamp or str(int(time.time())),
        "X-API-SIGN": signature,
    }
    response = app.test_client().get("/api/profiles", headers=headers)
    assert response.status_code == 401 and response.get_json()["code"] == code


def test_a_new_signing_secret_replaces_the_old_one(app: Flask, services: Services, signer) -> None:
    client = app.test_client()
    rotated = partners.new_key_signing_secret(
        services.pb, services.settings.data_key, signer["key_id"]
    )
    services.keys.forget_partner(signer["partner_id"])

    def get_with(secret: str) -> int:
        now = str(int(time.time()))
        headers = {
            "x-api-key": signer["api_key"],
            "X-API-TIMESTAMP": now,
            "X-API-SIGN": sign_request(secret, now, "GET", "/api/profiles?per_page=5", b""),
        }
        return client.get("/api/profiles?per_page=5", headers=headers).status_code

    assert get_with(signer["signing_secret"]) == 401
    assert get_with(rotated["signing_secret"]) == 200


@pytest.fixture
def served_app(app: Flask) -> Iterator[str]:
    """The app on a loopback port, for a real HTTP client (curl)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_curl_snippet_is_accepted(served_app: str, signer: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code_block("sh")],
        env={
            "PATH": "/usr/bin:/bin",
            "GATEWAY": served_app,
            "API_KEY": signer["api_key"],
            "SIGNING_SECRET": signer["signing_secret"],
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["status"] == "unverified", answer
