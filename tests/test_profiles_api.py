"""The partner API against the real PocketBase: every route and every error status it can answer."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from api_helpers import approve, assert_problem, create_profile, new_profile_id, unique_ref, walk

from gateway import create_app
from gateway.services import links
from gateway.services.pb_time import pb_datetime

PASSPORT = {"type": "passport", "country": "NLD", "number": "XN12AB34C"}


def token_of(redirect_url: str) -> str:
    """The ``t`` query parameter of a redirect URL."""
    return parse_qs(urlsplit(redirect_url).query)["t"][0]


def stored(services, profile_id: str) -> dict:
    """The raw record, hidden fields included (superuser read)."""
    return services.pb.get("profiles", profile_id)


# -- create / reuse ----------------------------------------------------------------------------


def test_create_returns_201_with_link_view(client, partner, settings, services):
    ref = unique_ref()
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"allowed_return_urls": ["https://partner.example/"]}},
    )
    response = client.post(
        "/api/profiles",
        json={
            "external_ref": ref,
            "first_name": "Ana",
            "last_name": "Lima",
            "date_of_birth": "1990-04-01",
            "email": "ana@example.org",
            "phone": "+6281234567890",
            "country": "idn",
            "document": PASSPORT,
            "return_url": "https://partner.example/done",
            "metadata": {"crm_id": 7},
        },
        headers=partner.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "status", "redirect_url", "link_expires_at", "created"}
    assert body["status"] == "unverified"
    record = stored(services, body["id"])
    assert record["partner"] == partner.partner_id
    assert record["external_ref"] == ref
    assert record["first_name"] == "Ana"
    assert record["date_of_birth"] == "1990-04-01"
    assert record["document_country"] == "NLD"
    # The document number is stored encrypted, never in clear.
    assert "XN12AB34C" not in json.dumps(record)
    assert record["document_number_enc"] and record["document_index"]


def test_redirect_url_is_frontend_id_and_a_token_bound_to_the_profile(client, partner, services):
    body = create_profile(client, partner.headers).get_json()
    prefix = f"http://127.0.0.1:8000/flow/{body['id']}?t="
    assert body["redirect_url"].startswith(prefix)
    claims = links.read_link(
        "test-link-secret-0123456789", token_of(body["redirect_url"]), now_ts=time.time()
    )
    assert claims.profile_id == body["id"]
    assert claims.nonce == stored(services, body["id"])["link_nonce"]
    expires = datetime.fromisoformat(body["link_expires_at"].replace("Z", "+00:00"))
    assert claims.expires_ts == int(expires.timestamp())
    # Default TTL: 24 h.
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)
    with pytest.raises(links.InvalidLink):
        links.read_link("another-secret-0123456789", token_of(body["redirect_url"]), now_ts=0)


def test_only_the_issued_spelling_of_a_link_token_verifies():
    secret = "test-link-secret-0123456789"
    token = links.sign_link(secret, "abcdefghijklmno", 4_000_000_000, "nonce-1")
    assert links.read_link(secret, token, now_ts=0).nonce == "nonce-1"
    payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # A 32-byte signature is 43 characters whose last holds 2 unused bits: flipping them spells
    # the same bytes, and the same goes for the payload's last character when it has unused bits.
    for part, text in (("signature", signature), ("payload", payload)):
        last = alphabet.index(text[-1])
        for twin in {alphabet[(last & ~3) | low] for low in range(4)} - {text[-1]}:
            spelled = text[:-1] + twin
            forged = f"{spelled}.{signature}" if part == "payload" else f"{payload}.{spelled}"
            if len(text) % 4 == 0:  # no unused bits: a different character is different bytes
                continue
            with pytest.raises(links.InvalidLink):
                links.read_link(secret, forged, now_ts=0)


def test_link_ttl_follows_the_partners_setting(client, partner, services):
    services.pb.update("partners", partner.partner_id, {"settings": {"link_ttl_s": 600}})
    body = create_profile(client, partner.headers).get_json()
    expires = datetime.fromisoformat(body["link_expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)


def test_same_external_ref_returns_the_existing_profile_with_200(client, partner):
    ref = unique_ref()
    first = create_profile(client, partner.headers, external_ref=ref)
    again = create_profile(client, partner.headers, external_ref=ref, first_name="Other")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["redirect_url"] == first.get_json()["redirect_url"]


def test_same_document_after_normalisation_returns_the_existing_profile(client, partner):
    number = f"AB {unique_ref('')[1:9]}-9<"
    first = create_profile(
        client, partner.headers, document={"type": "passport", "country": "fra", "number": number}
    )
    compact = number.replace(" ", "").replace("-", "").replace("<", "").lower()
    again = create_profile(
        client, partner.headers, document={"type": "id_card", "country": "FRA", "number": compact}
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    other_country = create_profile(
        client, partner.headers, document={"type": "passport", "country": "BEL", "number": number}
    )
    assert other_country.status_code == 201
    assert other_country.get_json()["id"] != first.get_json()["id"]


def test_same_reference_for_two_partners_makes_two_profiles(client, make_partner):
    one, two = make_partner("One"), make_partner("Two")
    ref = unique_ref()
    first = create_profile(client, one.headers, external_ref=ref, document=PASSPORT)
    second = create_profile(client, two.headers, external_ref=ref, document=PASSPORT)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]


def test_seed_alias_create_route(client, partner):
    ref = unique_ref()
    response = client.post(
        "/api/profiles/create", json={"external_ref": ref}, headers=partner.headers
    )
    assert response.status_code == 201
    again = client.post("/api/profiles", json={"external_ref": ref}, headers=partner.headers)
    assert again.status_code == 200
    assert again.get_json()["id"] == response.get_json()["id"]


def test_reuse_of_a_profile_whose_link_expired_issues_a_fresh_link(client, partner, services):
    ref = unique_ref()
    first = create_profile(client, partner.headers, external_ref=ref).get_json()
    past = pb_datetime(datetime.now(UTC) - timedelta(minutes=1))
    services.pb.update("profiles", first["id"], {"link_expires_at": past})
    again = create_profile(client, partner.headers, external_ref=ref)
    assert again.status_code == 200
    body = again.get_json()
    assert body["redirect_url"] != first["redirect_url"]
    claims = links.read_link(
        "test-link-secret-0123456789", token_of(body["redirect_url"]), now_ts=time.time()
    )
    assert claims.nonce == stored(services, first["id"])["link_nonce"]


def test_return_url_outside_the_partners_allowed_prefixes_is_422(client, partner, services):
    # With no allowed prefix at all, a return URL would be silently ignored: it is refused.
    unset = create_profile(client, partner.headers, return_url="https://partner.example/back")
    problem = assert_problem(unset, 422, "validation_failed")
    assert "allowed_return_urls" in problem["detail"] and "return_url" in problem["errors"]
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"allowed_return_urls": ["https://partner.example/"]}},
    )
    services.keys.forget_partner(partner.partner_id)
    bad = create_profile(client, partner.headers, return_url="https://evil.example/x")
    assert "return_url" in assert_problem(bad, 422, "validation_failed")["errors"]
    good = create_profile(client, partner.headers, return_url="https://partner.example/back")
    assert good.status_code == 201


def test_an_allowed_prefix_ends_at_a_boundary(client, partner, services):
    """The hosted flow only redirects under an allowed prefix at a path boundary; creation
    applies the same rule, so a look-alike host is refused up front, not silently later."""
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"allowed_return_urls": ["https://partner.example"]}},
    )
    lookalike = create_profile(
        client, partner.headers, return_url="https://partner.example.evil.test/x"
    )
    assert "return_url" in assert_problem(lookalike, 422, "validation_failed")["errors"]
    good = create_profile(client, partner.headers, return_url="https://partner.example/back")
    assert good.status_code == 201


# -- reads -------------------------------------------------------------------------------------


def test_get_profile_shape_and_latest_history(client, partner, services):
    ref = unique_ref()
    profile_id = new_profile_id(client, partner.headers, external_ref=ref)
    services.pb.transition(profile_id, "in_progress", actor="applicant", reason="opened link")
    body = client.get(f"/api/profiles/{profile_id}", headers=partner.headers).get_json()
    assert set(body) == {
        "id",
        "external_ref",
        "status",
        "decision",
        "decided_by",
        "decision_reason",
        "automated_decision",
        "score",
        "reasons",
        "latest_history",
        "created",
        "updated",
    }
    assert body["external_ref"] == ref
    assert body["status"] == "in_progress"
    assert body["decision"] is None and body["score"] is None and body["reasons"] == []
    assert body["decided_by"] is None and body["automated_decision"] is None
    latest = body["latest_history"]
    assert latest["from"] == "unverified" and latest["to"] == "in_progress"
    assert latest["actor"] == "applicant" and latest["reason"] == "opened link"
    assert set(latest) == {"from", "to", "actor", "reason", "created"}


def test_history_is_oldest_first_with_actors(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)
    for status in ("in_progress", "submitted", "processing"):
        services.pb.transition(profile_id, status, actor="worker", reason=f"to {status}")
    response = client.get(f"/api/profiles/{profile_id}/history", headers=partner.headers)
    items = response.get_json()["items"]
    assert [(item["from"], item["to"]) for item in items] == [
        (None, "unverified"),
        ("unverified", "in_progress"),
        ("in_progress", "submitted"),
        ("submitted", "processing"),
    ]
    assert items[0]["actor"] == f"partner:{partner.partner_id}"
    assert [item["created"] for item in items] == sorted(item["created"] for item in items)


def test_list_filters_and_pages_newest_first(client, make_partner, services):
    mine, theirs = make_partner("Lister"), make_partner("Other lister")
    ids = [new_profile_id(client, mine.headers) for _ in range(3)]
    new_profile_id(client, theirs.headers)
    services.pb.transition(ids[1], "in_progress", actor="applicant")

    everything = client.get("/api/profiles", headers=mine.headers).get_json()
    assert [item["id"] for item in everything["items"]] == ids[::-1]
    assert everything["has_more"] is False
    # A list item has GET's shape, latest status change included.
    latest = {item["id"]: item["latest_history"] for item in everything["items"]}
    assert latest[ids[1]]["to"] == "in_progress" and latest[ids[1]]["actor"] == "applicant"
    assert latest[ids[0]]["to"] == "unverified"
    single = client.get(f"/api/profiles/{ids[1]}", headers=mine.headers).get_json()
    assert set(single) == set(everything["items"][1]) and single == everything["items"][1]

    page_one = client.get("/api/profiles?per_page=2&page=1", headers=mine.headers).get_json()
    page_two = client.get("/api/profiles?per_page=2&page=2", headers=mine.headers).get_json()
    assert [item["id"] for item in page_one["items"]] == [ids[2], ids[1]]
    assert page_one["has_more"] is True
    assert [item["id"] for item in page_two["items"]] == [ids[0]]
    assert page_two["has_more"] is False and page_two["page"] == 2

    in_progress = client.get("/api/profiles?status=in_progress", headers=mine.headers).get_json()
    assert [item["id"] for item in in_progress["items"]] == [ids[1]]

    ref = stored(services, ids[0])["external_ref"]
    by_ref = client.get(f"/api/profiles?external_ref={ref}", headers=mine.headers).get_json()
    assert [item["id"] for item in by_ref["items"]] == [ids[0]]


@pytest.mark.parametrize(
    "query, field",
    [("status=bogus", "status"), ("page=0", "page"), ("per_page=500", "per_page"), ("x=1", "x")],
)
def test_list_rejects_bad_queries_with_per_field_422(client, partner, query, field):
    response = client.get(f"/api/profiles?{query}", headers=partner.headers)
    assert field in assert_problem(response, 422, "validation_failed")["errors"]


# -- capture links -----------------------------------------------------------------------------


def test_new_link_invalidates_the_old_one(client, partner, services):
    first = create_profile(client, partner.headers).get_json()
    old_claims = links.read_link(
        "test-link-secret-0123456789", token_of(first["redirect_url"]), now_ts=time.time()
    )
    response = client.post(f"/api/profiles/{first['id']}/link", headers=partner.headers)
    assert response.status_code == 200
    fresh = response.get_json()
    assert fresh["id"] == first["id"]
    assert fresh["redirect_url"] != first["redirect_url"]
    new_claims = links.read_link(
        "test-link-secret-0123456789", token_of(fresh["redirect_url"]), now_ts=time.time()
    )
    nonce_now = stored(services, first["id"])["link_nonce"]
    # The old token still has a valid signature, but its nonce no longer matches the profile's.
    assert new_claims.nonce == nonce_now
    assert old_claims.nonce != nonce_now


def test_new_link_reopens_an_expired_profile(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)
    services.pb.transition(profile_id, "expired", actor="system", reason="link never used")
    response = client.post(f"/api/profiles/{profile_id}/link", headers=partner.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "unverified"
    history = client.get(f"/api/profiles/{profile_id}/history", headers=partner.headers)
    last = history.get_json()["items"][-1]
    assert (last["from"], last["to"]) == ("expired", "unverified")
    assert last["actor"] == f"partner:{partner.partner_id}"


@pytest.mark.parametrize("path", [("in_progress", "submitted"), ("approved",), ("manual_review",)])
def test_new_link_on_a_profile_with_nothing_to_capture_is_a_409_and_keeps_the_link(
    client, partner, services, path
):
    """A link for a profile being verified or decided would only show "already complete": the
    partner is told so (409, as the OpenAPI document says), not handed a dead link."""
    created = create_profile(client, partner.headers).get_json()
    profile_id = created["id"]
    if path == ("approved",):
        approve(services.pb, profile_id, 90.8)
    elif path == ("manual_review",):
        walk(services.pb, profile_id, "in_progress", "submitted", "processing", "manual_review")
    else:
        walk(services.pb, profile_id, *path)
    nonce = stored(services, profile_id)["link_nonce"]
    response = client.post(f"/api/profiles/{profile_id}/link", headers=partner.headers)
    body = assert_problem(response, 409, "capture_closed")
    assert "resubmission_requested" in body["detail"]
    assert stored(services, profile_id)["link_nonce"] == nonce


# -- error statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": ""}, {"x-api-key": "ek_000000000000_nope"}, {"x-api-key": "garbage"}],
    ids=["missing", "empty", "unknown-well-formed", "unknown-malformed"],
)
def test_missing_or_unknown_key_is_401(client, headers):
    for method, path in [
        ("post", "/api/profiles"),
        ("get", "/api/profiles"),
        ("get", "/api/profiles/abcdefghijklmno"),
    ]:
        response = getattr(client, method)(path, json={"external_ref": "x"}, headers=headers)
        assert_problem(response, 401, "unauthorized")


def test_key_without_partner_scope_is_403(client, make_partner):
    reviewer_only = make_partner("Reviewer only", ("reviewer",))
    response = create_profile(client, reviewer_only.headers)
    assert_problem(response, 403, "forbidden")
    assert_problem(client.get("/api/profiles", headers=reviewer_only.headers), 403, "forbidden")


def test_other_partners_profile_is_the_same_404_as_a_missing_one(client, make_partner):
    owner, stranger = make_partner("Owner"), make_partner("Stranger")
    profile_id = new_profile_id(client, owner.headers)
    for method, suffix in [("get", ""), ("get", "/history"), ("post", "/link")]:
        foreign = getattr(client, method)(
            f"/api/profiles/{profile_id}{suffix}", headers=stranger.headers
        )
        missing = getattr(client, method)(
            f"/api/profiles/zzzzzzzzzzzzzzz{suffix}", headers=stranger.headers
        )
        malformed = getattr(client, method)(
            f"/api/profiles/not-an-id{suffix}", headers=stranger.headers
        )
        bodies = [assert_problem(r, 404, "not_found") for r in (foreign, missing, malformed)]
        assert len({(b["title"], b["detail"]) for b in bodies}) == 1
    assert client.get(f"/api/profiles/{profile_id}", headers=owner.headers).status_code == 200


def test_illegal_transition_is_409_with_the_allowed_next_states(client, reviewer):
    profile_id = new_profile_id(client, reviewer.headers)
    response = client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "approved", "reason": "looks fine"},
        headers=reviewer.headers,
    )
    body = assert_problem(response, 409, "illegal_transition")
    assert body["current_status"] == "unverified"
    # What the caller may do from here: a reviewer moves nothing until the profile is decided
    # or waits in manual_review (the applicant's and the worker's moves are theirs).
    assert body["allowed"] == []


def test_body_over_the_limit_is_413(make_settings, partner):
    client = create_app(make_settings(max_upload_bytes=1024)).test_client()
    response = client.post(
        "/api/profiles",
        data=json.dumps({"external_ref": "x" * 8000}),
        content_type="application/json",
        headers=partner.headers,
    )
    assert_problem(response, 413, "payload_too_large")


def test_non_json_body_is_415(client, partner):
    response = client.post(
        "/api/profiles", data="external_ref=x", content_type="text/plain", headers=partner.headers
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_json_that_is_not_an_object_is_400(client, partner):
    response = client.post("/api/profiles", json=["external_ref"], headers=partner.headers)
    assert_problem(response, 400, "bad_request")


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"_schema"}),
        ({"external_ref": "r", "email": "not-an-email"}, {"email"}),
        ({"external_ref": "r", "phone": "0812345"}, {"phone"}),
        ({"external_ref": "r", "date_of_birth": "01/02/1990"}, {"date_of_birth"}),
        ({"external_ref": "r", "country": "ZZZ"}, {"country"}),
        ({"external_ref": "r", "surprise": 1}, {"surprise"}),
        ({"document": {"type": "passport", "country": "NLD"}}, {"document"}),
        ({"document": {"type": "passport", "country": "NLD", "number": "A'1"}}, {"document"}),
        ({"external_ref": "r", "return_url": "javascript:alert(1)"}, {"return_url"}),
        ({"external_ref": "r", "metadata": {"k": "v" * 9000}}, {"metadata"}),
    ],
)
def test_invalid_bodies_are_422_with_per_field_errors(client, partner, body, fields):
    response = client.post("/api/profiles", json=body, headers=partner.headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert set(problem["errors"]) == fields


def test_invalid_document_reports_the_nested_field(client, partner):
    response = create_profile(
        client, partner.headers, document={"type": "scroll", "country": "NLD", "number": "A1"}
    )
    errors = assert_problem(response, 422, "validation_failed")["errors"]
    assert set(errors["document"]) == {"type"}


def test_rate_limit_is_429_with_retry_after(make_settings, make_partner):
    client = create_app(make_settings(rate_limit="3/minute")).test_client()
    caller = make_partner("Busy partner")
    statuses = [client.get("/api/profiles", headers=caller.headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get("/api/profiles", headers=caller.headers)
    assert_problem(response, 429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # The limit counts per key: another partner is not slowed down.
    other = make_partner("Quiet partner")
    assert client.get("/api/profiles", headers=other.headers).status_code == 200


def test_every_partner_route_draws_on_the_one_allowance_of_the_key(make_settings, make_partner):
    """The limit is the key's, not each route's: counted per route, a partner had it once for
    every endpoint (~40 times the operator's limit, the CPU-heavy /v1 checks included)."""
    client = create_app(make_settings(rate_limit="4/minute")).test_client()
    caller = make_partner("Spread-out partner")
    routes = ["/api/profiles", "/api/webhooks", "/api/settings", "/api/usage"]
    assert [client.get(route, headers=caller.headers).status_code for route in routes] == [200] * 4
    for route in [*routes, "/api/webhooks/deliveries"]:
        assert_problem(client.get(route, headers=caller.headers), 429, "rate_limited")
    refused = client.post("/v1/liveness/challenge", headers=caller.headers)
    assert_problem(refused, 429, "rate_limited")


def test_partner_rate_limit_overrides_the_gateway_default(client, partner, services):
    services.pb.update("partners", partner.partner_id, {"settings": {"rate_limit": "2/minute"}})
    statuses = [client.get("/api/profiles", headers=partner.headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_unknown_key_is_401_not_429_when_limited(make_settings):
    client = create_app(make_settings(rate_limit="1/minute")).test_client()
    for _ in range(3):
        response = client.get("/api/profiles", headers={"x-api-key": "ek_111111111111_nope"})
        assert_problem(response, 401, "unauthorized")


def test_pocketbase_down_is_503_with_retry_after_and_nothing_written(
    make_settings, partner, services
):
    down = create_app(make_settings(pocketbase_url="http://127.0.0.1:9")).test_client()
    ref = unique_ref()
    response = down.post("/api/profiles", json={"external_ref": ref}, headers=partner.headers)
    assert_problem(response, 503, "store_unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert services.pb.find("profiles", "external_ref = {:ref}", {"ref": ref}) == []


def test_an_unexpected_error_is_a_generic_500_that_echoes_nothing(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)

    def broken(*_args, **_kwargs):
        raise RuntimeError("internal detail that must not leak")

    services.profiles.reads.view = broken
    response = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    body = assert_problem(response, 500, "internal_error")
    assert "internal detail" not in response.get_data(as_text=True)
    assert "trace_id" in body["detail"]


def test_unknown_route_and_wrong_method_are_problems_too(client, partner):
    assert_problem(client.get("/api/nothing-here", headers=partner.headers), 404, "not_found")
    response = client.delete("/api/profiles", headers=partner.headers)
    assert_problem(response, 405, "method_not_allowed")
