"""Filter injection: values that would break out of a hand-built PocketBase filter string must be
plain data. Partner B stores profiles first; partner A then sends hostile values. No request may
fail with a 5xx, and A must never receive one of B's profiles."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from api_helpers import assert_problem

HOSTILE_REFS = [
    "x' || partner != '",
    'x" || partner != "',
    "x' && 1=1 || '1'='1",
    "x\\' || 1=1 || \\'",
    "\\",
    "ref\\",
    "ref'",
    'ref"',
    "' || external_ref != '",
    "ref\n|| status != ''",
    "ref\r\n&& 1=1",
    "{:partner}",
    "{:ref} || {:partner}",
    "%",
    "_",
    "ref%' || '1'='1",
    "@request.auth.id != ''",
    "external_ref ?= ''",
    "Dürüm-ÇĞŞ-ünïcödé",
    "参考-番号-١٢٣",
    "ref\u202e-rtl",
    "ref\u200b-zero-width",
    "emoji-🙂-ref",
    "ＦＵＬＬＷＩＤＴＨ",
    "nbsp\u00a0ref",
    "ctl\x01ref",
    "line\u2028sep",
    "a" * 200,
]
# PocketBase filter {:params} never match values holding runes Go deems unprintable (NBSP,
# U+200B, U+202E, controls...): creation and the list filter must look these up SQL-bound.
HOSTILE_NUMBERS = [
    "X' || '1'='1",
    'X" || "1"="1',
    "X\\",
    "X\n1",
    "{:index}",
    "X && 1=1",
    "X || 1",
    "ÄÖÜ123",
]


@pytest.fixture
def victim(make_partner, client):
    """Partner B, with one profile per hostile value and one ordinary profile."""
    handle = make_partner("Victim partner")
    ids = set()
    for ref in [*HOSTILE_REFS, "ordinary-ref"]:
        response = client.post("/api/profiles", json={"external_ref": ref}, headers=handle.headers)
        assert response.status_code == 201, response.get_json()
        ids.add(response.get_json()["id"])
    response = client.post(
        "/api/profiles",
        json={"document": {"type": "passport", "country": "NLD", "number": "VICTIM123"}},
        headers=handle.headers,
    )
    ids.add(response.get_json()["id"])
    handle.profile_ids = ids
    return handle


@pytest.fixture
def attacker(make_partner):
    """Partner A."""
    return make_partner("Attacker partner")


def test_hostile_external_refs_create_the_attackers_own_profiles(client, victim, attacker):
    mine = set()
    for ref in HOSTILE_REFS:
        response = client.post(
            "/api/profiles", json={"external_ref": ref}, headers=attacker.headers
        )
        assert response.status_code == 201, (ref, response.get_json())
        profile_id = response.get_json()["id"]
        assert profile_id not in victim.profile_ids
        mine.add(profile_id)
        again = client.post("/api/profiles", json={"external_ref": ref}, headers=attacker.headers)
        assert again.status_code == 200, (ref, again.get_json())
        assert again.get_json()["id"] == profile_id, ref
        stored = client.get(f"/api/profiles/{profile_id}", headers=attacker.headers).get_json()
        assert stored["external_ref"] == ref
    assert len(mine) == len(HOSTILE_REFS)


def test_hostile_list_filters_return_only_exact_matches_of_the_caller(client, victim, attacker):
    for ref in HOSTILE_REFS[:10]:
        client.post("/api/profiles", json={"external_ref": ref}, headers=attacker.headers)
    for ref in [*HOSTILE_REFS, "ordinary-ref", "nothing-like-this"]:
        response = client.get(
            f"/api/profiles?external_ref={quote(ref, safe='')}", headers=attacker.headers
        )
        assert response.status_code == 200, (ref, response.get_json())
        items = response.get_json()["items"]
        assert not {item["id"] for item in items} & victim.profile_ids, ref
        assert all(item["external_ref"] == ref for item in items), ref
        assert len(items) == (1 if ref in HOSTILE_REFS[:10] else 0), ref


def test_every_hostile_ref_is_found_by_the_list_filter(client, attacker):
    for ref in HOSTILE_REFS:
        client.post("/api/profiles", json={"external_ref": ref}, headers=attacker.headers)
        response = client.get(
            f"/api/profiles?external_ref={quote(ref, safe='')}", headers=attacker.headers
        )
        assert [item["external_ref"] for item in response.get_json()["items"]] == [ref], ref


def test_the_unfiltered_list_holds_only_the_callers_profiles(client, victim, attacker):
    mine = {
        client.post(
            "/api/profiles", json={"external_ref": ref}, headers=attacker.headers
        ).get_json()["id"]
        for ref in HOSTILE_REFS[:5]
    }
    listed = client.get("/api/profiles?per_page=200", headers=attacker.headers).get_json()["items"]
    assert {item["id"] for item in listed} == mine


def test_hostile_document_numbers_are_refused_as_invalid_not_as_errors(client, attacker):
    for number in HOSTILE_NUMBERS:
        response = client.post(
            "/api/profiles",
            json={"document": {"type": "passport", "country": "NLD", "number": number}},
            headers=attacker.headers,
        )
        errors = assert_problem(response, 422, "validation_failed")["errors"]
        assert "number" in errors["document"], number


def test_the_same_document_number_under_another_partner_is_not_matched(client, victim, attacker):
    response = client.post(
        "/api/profiles",
        json={"document": {"type": "passport", "country": "NLD", "number": "victim 123"}},
        headers=attacker.headers,
    )
    assert response.status_code == 201
    assert response.get_json()["id"] not in victim.profile_ids


def test_hostile_profile_ids_are_plain_404s(client, attacker):
    hostile_ids = [
        "x' || '1'='1",
        "abc\\",
        "%27%20%7C%7C%201",
        "{:id}",
        "aaaaaaaaaaaaaa'",
        "Ä" * 15,
    ]
    for profile_id in hostile_ids:
        for suffix in ("", "/history", "/link"):
            path = f"/api/profiles/{quote(profile_id, safe='')}{suffix}"
            method = client.post if suffix == "/link" else client.get
            assert_problem(method(path, headers=attacker.headers), 404, "not_found")


def test_victims_profiles_are_untouched(client, victim, attacker):
    for ref in HOSTILE_REFS:
        client.post(
            "/api/profiles",
            json={"external_ref": ref, "first_name": "Mallory"},
            headers={**attacker.headers, "Idempotency-Key": f"key-{uuid.uuid4().hex}"},
        )
    listed = client.get("/api/profiles?per_page=200", headers=victim.headers).get_json()["items"]
    assert {item["id"] for item in listed} == victim.profile_ids
