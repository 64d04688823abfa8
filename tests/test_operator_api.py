"""The operator API on the real app and PocketBase: only operator keys get in, tenants and keys
are managed end to end (a suspended tenant's key is refused, a rotated key stops working), plans
and invoices across tenants, every action in the audit log; and its operations fuzzed with an
operator key (no server error, no answer off the document)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
import schemathesis
from api_helpers import assert_problem
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from test_cli_admin import cli_env, run  # noqa: F401  (the operator's shell environment)

from gateway.container import Services
from gateway.services.api_keys import mint_key
from gateway.services.operator import create_operator_key
from gateway.services.quotas import month_period
from gateway.synthetic.identities import random_identity, td3_lines

VALID_MRZ = "\n".join(td3_lines(random_identity(np.random.default_rng(7))))
PLAN = {
    "name": "Scale",
    "currency": "EUR",
    "monthly_fee": 10,
    "included": {"document_validate": 1},
    "unit_prices": {"document_validate": 0.25},
}


@pytest.fixture
def operator(services: Services) -> dict[str, str]:
    """Headers of a fresh operator key (made as the CLI makes it)."""
    return {"x-api-key": create_operator_key(services.pb, actor="test")["api_key"]}


def actions_of(services: Services, headers: dict[str, str]) -> Counter[str]:
    key_id = headers["x-api-key"].split("_")[1]
    rows = services.pb.find(
        "audit_log", "actor = {:a}", {"a": f"operator:{key_id}"}, sort="created", limit=1000
    )
    return Counter(row["action"] for row in rows)


def test_only_operator_keys_get_in(
    client: FlaskClient, services: Services, make_partner, operator
) -> None:
    assert_problem(client.get("/api/operator/tenants"), 401, "unauthorized")
    tenant = make_partner("Plain tenant", scopes=("partner", "reviewer"))
    assert_problem(client.get("/api/operator/tenants", headers=tenant.headers), 403, "forbidden")
    # The admin scope on a tenant's own key grants nothing: operator keys are the CLI's. Such a
    # key is no longer made (partners.check_scopes); one stored before, or typed in the admin
    # UI, is refused here.
    admin_tenant = make_partner("Admin-scoped tenant")
    key_id, api_key, secret_sha256 = mint_key()
    services.pb.create(
        "api_keys",
        {
            "partner": admin_tenant.partner_id,
            "key_id": key_id,
            "secret_sha256": secret_sha256,
            "scopes": ["admin"],
        },
    )
    refused = client.get("/api/operator/tenants", headers={"x-api-key": api_key})
    assert "operator key" in assert_problem(refused, 403, "forbidden")["detail"]
    # An operator key is not a partner key either.
    assert_problem(client.get("/api/profiles", headers=operator), 403, "forbidden")
    assert client.get("/api/operator/tenants", headers=operator).status_code == 200


def test_tenant_lifecycle_through_the_operator_api(
    client: FlaskClient, services: Services, operator
) -> None:
    plan = client.put("/api/operator/plans/scale-test", json=PLAN, headers=operator)
    assert plan.status_code in (200, 201) and plan.get_json()["monthly_fee"] == "10.00"
    created = client.post(
        "/api/operator/tenants",
        json={
            "name": "Operated Bank",
            "plan": "scale-test",
            "settings": {"quotas": {"document_validate": {"monthly": 2}}},
        },
        headers=operator,
    )
    assert created.status_code == 201, created.get_json()
    tenant = created.get_json()
    tenant_id = tenant["partner_id"]
    assert tenant["plan"] == "scale-test" and tenant["signing_secret"]
    headers = {"x-api-key": tenant["api_key"]}
    assert client.get("/api/profiles", headers=headers).status_code == 200

    listed = client.get("/api/operator/tenants", headers=operator).get_json()["items"]
    assert {"operator"} & {item["slug"] for item in listed} == set()
    [mine] = [item for item in listed if item["id"] == tenant_id]
    assert mine["plan"] == "scale-test" and mine["status"] == "active"
    shown = client.get(f"/api/operator/tenants/{tenant_id}", headers=operator).get_json()
    assert shown["settings"]["quotas"] == {"document_validate": {"monthly": 2}}
    assert [key["key_id"] for key in shown["keys"]] == [tenant["key_id"]]
    assert "api_key" not in str(shown["keys"])

    # Suspended: every key of the tenant is refused at once; resumed: accepted again.
    suspended = client.post(f"/api/operator/tenants/{tenant_id}/suspend", headers=operator)
    assert suspended.get_json()["status"] == "suspended"
    assert_problem(client.get("/api/profiles", headers=headers), 403, "forbidden")
    client.post(f"/api/operator/tenants/{tenant_id}/resume", headers=operator)
    assert client.get("/api/profiles", headers=headers).status_code == 200

    # Settings with operator rights: the quota set on creation is enforced, then raised.
    for _ in range(2):
        ok = client.post("/v1/document/validate", json={"mrz": VALID_MRZ}, headers=headers)
        assert ok.status_code == 200
    over = client.post("/v1/document/validate", json={"mrz": VALID_MRZ}, headers=headers)
    assert_problem(over, 429, "quota_exceeded")
    patched = client.patch(
        f"/api/operator/tenants/{tenant_id}/settings",
        json={"quotas": {"document_validate": {"monthly": 3}}, "rate_limit": "500/minute"},
        headers=operator,
    )
    assert patched.status_code == 200 and patched.get_json()["rate_limit"] == "500/minute"
    assert (
        client.post("/v1/document/validate", json={"mrz": VALID_MRZ}, headers=headers).status_code
        == 200
    )
    bad = client.patch(
        f"/api/operator/tenants/{tenant_id}/settings",
        json={"quotas": {"document_validate": {"monthly": -5}}},
        headers=operator,
    )
    assert (
        "quotas.document_validate.monthly"
        in assert_problem(bad, 422, "validation_failed")["errors"]
    )

    # Usage and the invoice: 3 billed, 1 included, 2 x 0.25 on top of the 10.00 fee.
    month = month_period(datetime.now(UTC)).label
    usage = client.get(f"/api/operator/usage?tenant_id={tenant_id}", headers=operator).get_json()
    assert [(i["check"], i["billed"]) for i in usage["items"]] == [("document_validate", 3)]
    everyone = client.get("/api/operator/usage", headers=operator).get_json()
    assert any(item["partner_id"] == tenant_id for item in everyone["items"])
    invoice = client.get(
        f"/api/operator/tenants/{tenant_id}/invoice?month={month}", headers=operator
    ).get_json()
    assert invoice["total"] == "10.50" and invoice["currency"] == "EUR"
    as_csv = client.get(
        f"/api/operator/tenants/{tenant_id}/invoice?month={month}&format=csv", headers=operator
    )
    assert as_csv.mimetype == "text/csv"
    assert list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))[-1]["amount"] == (
        "10.50"
    )
    statements = client.get(f"/api/operator/invoices?month={month}", headers=operator).get_json()
    assert [s["total"] for s in statements["statements"] if s["partner"]["id"] == tenant_id] == [
        "10.50"
    ]
    client.put(f"/api/operator/tenants/{tenant_id}/plan", json={"plan": None}, headers=operator)
    no_plan = client.get(
        f"/api/operator/tenants/{tenant_id}/invoice?month={month}", headers=operator
    )
    assert_problem(no_plan, 409, "conflict")

    # Keys: add, rotate (old refused at once, new works), revoke.
    added = client.post(
        f"/api/operator/tenants/{tenant_id}/keys", json={"scopes": ["reviewer"]}, headers=operator
    )
    assert added.status_code == 201 and added.get_json()["api_key"]
    admin = client.post(
        f"/api/operator/tenants/{tenant_id}/keys", json={"scopes": ["admin"]}, headers=operator
    )
    assert_problem(admin, 422, "validation_failed")
    rotated = client.post(f"/api/operator/keys/{tenant['key_id']}/rotate", headers=operator)
    assert rotated.status_code == 201
    new_headers = {"x-api-key": rotated.get_json()["api_key"]}
    assert_problem(client.get("/api/profiles", headers=headers), 401, "unauthorized")
    assert client.get("/api/profiles", headers=new_headers).status_code == 200
    again = client.post(f"/api/operator/keys/{tenant['key_id']}/rotate", headers=operator)
    assert_problem(again, 422, "validation_failed")
    revoked = client.post(
        f"/api/operator/keys/{rotated.get_json()['key_id']}/revoke", headers=operator
    )
    assert revoked.status_code == 200
    assert_problem(client.get("/api/profiles", headers=new_headers), 401, "unauthorized")
    listed_keys = client.get(f"/api/operator/tenants/{tenant_id}/keys", headers=operator)
    assert len(listed_keys.get_json()["items"]) == 3

    # Every action above, and only those, is in the audit log under this operator key.
    assert actions_of(services, operator) == Counter(
        {
            "operator.plan_created": 1,
            "operator.tenant_created": 1,
            "operator.tenants_listed": 1,
            "operator.tenant_viewed": 1,
            "operator.tenant_suspended": 1,
            "operator.tenant_resumed": 1,
            "partner.settings_changed": 2,  # at creation and by the PATCH (not the refused one)
            "operator.usage_viewed": 2,
            "operator.invoice_viewed": 2,  # JSON and CSV (the 409 was refused before)
            "operator.invoices_viewed": 1,
            "operator.plan_assigned": 1,  # to none (the plan at creation is in tenant_created)
            "operator.key_created": 1,
            "operator.key_rotated": 1,
            "operator.key_revoked": 1,
            "operator.keys_listed": 1,
        }
    )


def test_operator_keys_are_out_of_the_apis_reach(
    client: FlaskClient, services: Services, operator
) -> None:
    """A stolen operator key cannot rotate or revoke operator keys, or treat the operator
    partner as a tenant."""
    other = create_operator_key(services.pb, actor="test")
    assert_problem(
        client.post(f"/api/operator/keys/{other['key_id']}/rotate", headers=operator),
        404,
        "not_found",
    )
    assert_problem(
        client.post(f"/api/operator/keys/{other['key_id']}/revoke", headers=operator),
        404,
        "not_found",
    )
    operator_partner = services.pb.find_first("partners", where={"slug": "operator"})
    assert_problem(
        client.post(f"/api/operator/tenants/{operator_partner['id']}/suspend", headers=operator),
        404,
        "not_found",
    )


def test_operator_operations_keep_their_contract(app: Flask, services: Services) -> None:
    """The operator operations fuzzed with an operator key (the suite-wide contract test uses a
    partner key, which they refuse)."""
    headers = {"x-api-key": create_operator_key(services.pb, actor="test")["api_key"]}
    seen: Counter[int] = Counter()
    app.after_request_funcs.setdefault(None, []).append(
        lambda response: seen.update([response.status_code]) or response
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: dict[str, str] = {}
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        if not operation.path.startswith("/api/operator/"):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("CONTRACT_EXAMPLES", "6")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )

        try:
            fuzz()
        except Exception as failure:  # schemathesis groups what it found per operation
            failures[operation.label] = str(failure)[:1500]
    assert failures == {}, "\n\n".join(f"{label}: {why}" for label, why in failures.items())
    assert sum(count for status, count in seen.items() if status < 300) >= 5, seen


@pytest.mark.usefixtures("cli_env")
def test_operator_actions_from_the_cli_are_audited_too(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "partner", "create", "CLI audited bank", "--json")
    created = json.loads(out)
    code, out = run(capsys, "key", "create", created["partner_id"], "--json")
    second = json.loads(out)["key_id"]
    assert run(capsys, "key", "signing-secret", second)[0] == 0
    assert run(capsys, "key", "revoke", created["key_id"])[0] == 0
    code, out = run(capsys, "operator", "key", "create", "--json")
    assert code == 0 and json.loads(out)["api_key"]
    rows = services.pb.find(
        "audit_log",
        "actor = 'operator:cli' && target = {:t}",
        {"t": created["partner_id"]},
        sort="created",
    )
    assert [(row["action"], row["detail"].get("key_id")) for row in rows] == [
        ("operator.tenant_created", created["key_id"]),
        ("operator.key_created", second),
        ("operator.key_signing_secret_replaced", second),
        ("operator.key_revoked", created["key_id"]),
    ]
    assert created["api_key"] not in str(rows)


def test_operator_keys_can_sign_their_requests(
    client: FlaskClient, services: Services, make_settings
) -> None:
    """An operator key made by the CLI has a signing secret, so the operator partner may require
    signed requests like any tenant."""
    from gateway.services.request_signing import sign_request

    created = create_operator_key(services.pb, actor="test", data_key=make_settings().data_key)
    assert created["signing_secret"]
    timestamp = str(int(datetime.now(UTC).timestamp()))
    path = "/api/operator/plans"
    signature = sign_request(created["signing_secret"], timestamp, "GET", path, b"")
    signed = client.get(
        path,
        headers={
            "x-api-key": created["api_key"],
            "X-API-TIMESTAMP": timestamp,
            "X-API-SIGN": signature,
        },
    )
    assert signed.status_code == 200
