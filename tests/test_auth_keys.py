"""API keys: minted once, stored as key id + SHA-256 of the secret, revocable; the seed system's
VALID_API_KEYS bootstrap partner; suspended partners."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from api_helpers import assert_problem, create_profile

from gateway import create_app
from gateway.errors import NotFound, ValidationFailed
from gateway.services import partners
from gateway.services.api_keys import BOOTSTRAP_SLUG, split_key
from gateway.settings import Settings


def key_record(services, key_id: str) -> dict:
    """The stored api_keys record, hidden fields included."""
    record = services.pb.find_first("api_keys", "key_id = {:k}", {"k": key_id})
    assert record is not None
    return record


def test_a_key_is_shown_once_and_stored_as_id_plus_sha256(services):
    created = partners.create_partner(services.pb, "Key storage", ("partner", "reviewer"))
    api_key = created["api_key"]
    assert re.fullmatch(r"ek_[0-9a-f]{12}_[A-Za-z0-9_-]{40,}", api_key)
    key_id, secret = split_key(api_key)
    assert key_id == created["key_id"]
    record = key_record(services, key_id)
    assert record["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert sorted(record["scopes"]) == ["partner", "reviewer"]
    stored_text = json.dumps(record)
    assert secret not in stored_text and api_key not in stored_text
    listed = partners.list_keys(services.pb, created["partner_id"])
    assert [key["key_id"] for key in listed] == [key_id]
    assert "secret_sha256" not in listed[0] and secret not in json.dumps(listed)


def test_two_keys_never_share_a_secret(services):
    one = partners.create_partner(services.pb, "Mint one")
    two = partners.create_key(services.pb, one["partner_id"], ("partner",))
    assert split_key(one["api_key"])[1] != split_key(two["api_key"])[1]
    assert one["key_id"] != two["key_id"]


def test_a_wrong_secret_for_a_real_key_id_is_401(client, partner):
    forged = f"ek_{partner.key_id}_{'A' * 43}"
    assert_problem(create_profile(client, {"x-api-key": forged}), 401, "unauthorized")


def test_revoked_key_is_refused_by_a_fresh_process(client, make_settings, partner, services):
    assert create_profile(client, partner.headers).status_code == 201
    assert partners.revoke_key(services.pb, partner.key_id) == {
        "key_id": partner.key_id,
        "revoked": True,
    }
    assert key_record(services, partner.key_id)["revoked"]
    fresh = create_app(make_settings()).test_client()
    response = create_profile(fresh, partner.headers)
    assert "revoked" in assert_problem(response, 401, "unauthorized")["detail"]


def test_revoked_key_is_refused_once_the_cache_is_cleared(client, partner, services):
    assert create_profile(client, partner.headers).status_code == 201
    partners.revoke_key(services.pb, partner.key_id)
    # Within KeyAuthenticator's cache TTL (10 s) this process may still accept it: documented.
    services.keys._cache.clear()
    assert_problem(create_profile(client, partner.headers), 401, "unauthorized")


@pytest.mark.parametrize(
    "field, value",
    [
        ("secret_sha256", hashlib.sha256(b"a secret someone else holds").hexdigest()),
        ("key_id", "taken_over_key"),
        ("scopes", ["partner", "admin"]),
        ("partner", None),  # another partner's id
        ("revoked", ""),
    ],
)
def test_a_key_cannot_be_rewritten_in_the_admin_ui(
    client, partner, make_partner, services, field, value
):
    """The records API (the admin UI's) took over a key with a new hash, moved it to another
    partner, gave it admin, or brought a revoked key back: a key stays what it was made."""
    if field == "partner":
        value = make_partner("Another partner").partner_id
    if field == "revoked":
        partners.revoke_key(services.pb, partner.key_id)
    before = key_record(services, partner.key_id)
    response = services.pb.request(
        "PATCH", f"/api/collections/api_keys/records/{before['id']}", json={field: value}
    )
    assert response.status_code == 400, response.text
    assert response.json()["data"][field]["code"] == "immutable_field"
    assert key_record(services, partner.key_id) == before
    services.pb.update("api_keys", before["id"], {"label": "renamed in the admin UI"})
    assert key_record(services, partner.key_id)["label"] == "renamed in the admin UI"


def test_revoking_an_unknown_key_is_not_found(services):
    with pytest.raises(NotFound):
        partners.revoke_key(services.pb, "000000000000")


def test_unknown_scopes_are_refused(services):
    with pytest.raises(ValidationFailed):
        partners.create_partner(services.pb, "Bad scopes", ("partner", "root"))


def test_suspended_partner_is_403(make_settings, partner, services):
    services.pb.update("partners", partner.partner_id, {"status": "suspended"})
    fresh = create_app(make_settings()).test_client()
    response = create_profile(fresh, partner.headers)
    assert "suspended" in assert_problem(response, 403, "forbidden")["detail"]


def test_last_used_is_recorded(client, partner, services):
    assert not key_record(services, partner.key_id)["last_used"]
    create_profile(client, partner.headers)
    assert key_record(services, partner.key_id)["last_used"]


def test_valid_api_keys_act_for_the_bootstrap_partner(make_settings, services):
    client = create_app(
        make_settings(valid_api_keys=("boot-key-123", "boot-key-456"))
    ).test_client()
    first = create_profile(client, {"x-api-key": "boot-key-123"})
    assert first.status_code == 201
    bootstrap = services.pb.find_first("partners", "slug = {:s}", {"s": BOOTSTRAP_SLUG})
    profile = services.pb.get("profiles", first.get_json()["id"])
    assert profile["partner"] == bootstrap["id"]
    # Both bootstrap keys act for the same partner, so each sees the other's profiles.
    seen = client.get(f"/api/profiles/{profile['id']}", headers={"x-api-key": "boot-key-456"})
    assert seen.status_code == 200
    assert_problem(create_profile(client, {"x-api-key": "boot-key-789"}), 401, "unauthorized")


def test_a_suspended_bootstrap_partner_refuses_its_valid_api_keys(make_settings, services):
    """The operator suspends the bootstrap partner like any tenant (POST
    /api/operator/tenants/{id}/suspend); its VALID_API_KEYS kept creating profiles."""
    client = create_app(make_settings(valid_api_keys=("boot-key-123",))).test_client()
    assert create_profile(client, {"x-api-key": "boot-key-123"}).status_code == 201
    bootstrap = services.pb.find_first("partners", "slug = {:s}", {"s": BOOTSTRAP_SLUG})
    services.pb.update("partners", bootstrap["id"], {"status": "suspended"})
    try:
        response = create_profile(client, {"x-api-key": "boot-key-123"})
        assert "suspended" in assert_problem(response, 403, "forbidden")["detail"]
    finally:  # the bootstrap partner is shared by every test of the session
        services.pb.update("partners", bootstrap["id"], {"status": "active"})
    assert create_profile(client, {"x-api-key": "boot-key-123"}).status_code == 201


def test_bootstrap_keys_are_off_unless_configured(client):
    assert_problem(create_profile(client, {"x-api-key": "boot-key-123"}), 401, "unauthorized")


def test_valid_api_keys_env_is_split_on_commas(tmp_path):
    settings = Settings.from_env(
        {"EKYC_HOME": str(tmp_path), "VALID_API_KEYS": " boot-key-123 , ,boot-key-456,"}
    )
    assert settings.valid_api_keys == ("boot-key-123", "boot-key-456")
    assert "boot-key" not in repr(settings)
