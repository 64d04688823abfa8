"""Per-partner settings: defaults, validation on write (service and API), merge-patch semantics,
operator-only keys, redaction, and that the existing consumers still read what they expect."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from api_helpers import assert_problem, create_profile
from flask.testing import FlaskClient

from gateway import create_app
from gateway.container import Services
from gateway.errors import Forbidden, StoreError, ValidationFailed
from gateway.pb_server import REPO_ROOT
from gateway.services.partner_settings import (
    DEFAULT_SETTINGS,
    effective_settings,
    merge_patch,
    set_partner_settings,
    validate_settings,
)
from gateway.settings import Settings
from gateway.verification.factors import PASS, apply_document_policy
from gateway.verification.liveness import OFFERED_PROMPTS
from gateway.verification.pipeline import pipeline_settings


def test_defaults_are_valid_and_as_specified() -> None:
    settings = effective_settings(None)
    validate_settings(settings)
    assert settings["thresholds"] == {"approve": 80, "review": 60}
    assert settings["weights"] == {"liveness": 30, "face_match": 40, "document": 25, "kya": 5}
    assert settings["face_match_threshold"] == 0.75 and settings["min_age"] == 18
    assert settings["required_checks"]["liveness"] is True
    assert settings["required_checks"]["kya"] is False
    # The keys other modules already read keep their meaning.
    for key in ("link_ttl_s", "rate_limit", "retention_days", "allowed_return_urls", "branding"):
        assert key in settings


def test_effective_settings_merge_nested_and_leave_defaults_alone() -> None:
    settings = effective_settings({"weights": {"kya": 0, "document": 30}, "min_age": 21})
    assert settings["weights"] == {"liveness": 30, "face_match": 40, "document": 30, "kya": 0}
    assert settings["min_age"] == 21
    assert DEFAULT_SETTINGS["weights"]["kya"] == 5
    assert effective_settings("garbage")["min_age"] == 18  # type: ignore[arg-type]


def test_merge_patch_null_restores_default() -> None:
    stored = {"min_age": 21, "branding": {"name": "Acme", "accent_color": "#000000"}}
    patched = merge_patch(stored, {"min_age": None, "branding": {"name": None}})
    assert patched == {"branding": {"accent_color": "#000000"}}


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"weights": {"kya": 10}}, "weights"),
        ({"weights": {"liveness": -5, "face_match": 75}}, "weights"),
        ({"thresholds": {"review": 85}}, "thresholds.review"),
        ({"thresholds": {"approve": 120}}, "thresholds.approve"),
        ({"face_match_threshold": 1.5}, "face_match_threshold"),
        ({"face_match_threshold": True}, "face_match_threshold"),
        ({"min_age": -1}, "min_age"),
        ({"min_age": 18.5}, "min_age"),
        ({"allowed_document_types": ["library_card"]}, "allowed_document_types"),
        ({"allowed_document_types": []}, "allowed_document_types"),
        ({"allowed_countries": ["XYZ"]}, "allowed_countries"),
        ({"link_ttl_s": 10}, "link_ttl_s"),
        ({"retention_days": 0}, "retention_days"),
        ({"rate_limit": "lots"}, "rate_limit"),
        ({"allowed_return_urls": ["javascript:alert(1)"]}, "allowed_return_urls"),
        ({"allowed_return_urls": ["https://shop.example"]}, "allowed_return_urls"),
        ({"branding": {"accent_color": "red"}}, "branding.accent_color"),
        ({"branding": {"logo": "x.png"}}, "branding.logo"),
        ({"liveness": {"prompts": ["wink"]}}, "liveness.prompts"),
        ({"liveness": {"prompt_count": 9}}, "liveness.prompt_count"),
        ({"liveness": {"max_challenges": 0}}, "liveness.max_challenges"),
        ({"liveness": {"max_challenges": 21}}, "liveness.max_challenges"),
        ({"liveness": {"max_challenges": True}}, "liveness.max_challenges"),
        ({"kya": {"phone": "yes"}}, "kya.phone"),
        ({"required_checks": {"registry": True}}, "required_checks.registry"),
        ({"review_email": "not-an-address"}, "review_email"),
        # A trailing line break would make every review email's To header refused.
        ({"review_email": "kyc@acme.example\n"}, "review_email"),
        ({"registry": {"enabled": True}}, "registry.url"),
        ({"registry": {"url": "ftp://x"}}, "registry.url"),
        ({"registry": {"timeout_s": 600}}, "registry.timeout_s"),
        ({"registry": {"auth_header_value": "a\r\nX-Evil: 1"}}, "registry.auth_header_value"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_settings_are_refused(patch: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_settings(effective_settings(merge_patch({}, patch)))
    assert path in caught.value.errors, caught.value.errors


def test_a_consistent_custom_profile_is_accepted() -> None:
    validate_settings(
        effective_settings(
            {
                "thresholds": {"approve": 85, "review": 70},
                "weights": {"liveness": 35, "face_match": 45, "document": 20, "kya": 0},
                "required_checks": {"kya": False, "registry": True},
                "allowed_countries": ["IDN", "mys"],
                "allowed_return_urls": ["https://shop.example/return"],
                "rate_limit": "120/minute",
                "branding": {"name": "Acme", "accent_color": "#AA3300"},
                "liveness": {
                    "prompts": ["blink", "turn_left"],
                    "prompt_count": 2,
                    "max_challenges": 20,
                },
                "review_email": "kyc@acme.example",
                "registry": {"enabled": True, "url": "https://nik.example/lookup"},
            }
        )
    )


def test_api_reads_and_patches_own_settings(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    shown = client.get("/api/settings", headers=partner.headers)
    assert shown.status_code == 200 and shown.get_json()["min_age"] == 18

    patched = client.patch(
        "/api/settings",
        json={"min_age": 21, "branding": {"name": "Acme"}, "allowed_countries": ["IDN"]},
        headers=partner.headers,
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["min_age"] == 21
    assert patched.get_json()["branding"] == {"name": "Acme", "accent_color": "#1f4fd1"}
    stored = services.pb.get("partners", partner.partner_id)["settings"]
    assert stored == {"min_age": 21, "branding": {"name": "Acme"}, "allowed_countries": ["IDN"]}

    reset = client.patch("/api/settings", json={"min_age": None}, headers=partner.headers)
    assert reset.get_json()["min_age"] == 18

    invalid = client.patch("/api/settings", json={"weights": {"kya": 50}}, headers=partner.headers)
    body = assert_problem(invalid, 422, "validation_failed")
    assert "weights" in body["errors"]
    assert services.pb.get("partners", partner.partner_id)["settings"].get("weights") is None

    for key in ("rate_limit", "registry"):
        refused = client.patch("/api/settings", json={key: None}, headers=partner.headers)
        assert_problem(refused, 403, "forbidden")

    audit = services.pb.find(
        "audit_log",
        "target = {:t} && action = 'partner.settings_changed'",
        {"t": partner.partner_id},
    )
    assert len(audit) == 2  # the refused patches left no trace
    assert audit[0]["detail"] == {"keys": ["allowed_countries", "branding", "min_age"]}


def test_country_codes_are_stored_upper_case_so_the_worker_matches_them(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    """Validation accepts "idn"; the worker compares the document's issuer ("IDN") as stored, so
    a lower-case code refused every document of the very country the partner meant to accept."""
    patched = client.patch(
        "/api/settings", json={"allowed_countries": ["idn", "Mys"]}, headers=partner.headers
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["allowed_countries"] == ["IDN", "MYS"]
    stored = services.pb.get("partners", partner.partner_id)["settings"]
    assert stored["allowed_countries"] == ["IDN", "MYS"]
    document = {"status": PASS, "score": 1.0, "reasons": []}
    apply_document_policy(
        document,
        {"document_type": "id_card", "issuing_state": "IDN"},
        pipeline_settings(effective_settings(stored)),
    )
    assert document["status"] == PASS, document["reasons"]


def test_country_codes_stored_lower_case_earlier_read_upper_case() -> None:
    """Codes written before the write upper-cased them (or typed in the admin UI) are read upper
    case too, so the flow's list and the worker's check agree; the stored value is not touched."""
    stored = {"allowed_countries": ["idn"]}
    read = effective_settings(stored)
    assert read["allowed_countries"] == ["IDN"]
    assert stored == {"allowed_countries": ["idn"]}
    document = {"status": PASS, "score": 1.0, "reasons": []}
    apply_document_policy(
        document, {"document_type": "id_card", "issuing_state": "IDN"}, pipeline_settings(read)
    )
    assert document["status"] == PASS, document["reasons"]


def test_operator_may_set_registry_and_credentials_are_redacted(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner()
    with pytest.raises(Forbidden):
        set_partner_settings(
            services.pb, partner.partner_id, {"rate_limit": "5/minute"}, actor="partner:x"
        )
    shown = set_partner_settings(
        services.pb,
        partner.partner_id,
        {
            "rate_limit": "500/minute",
            "registry": {
                "enabled": True,
                "url": "https://nik.example/lookup",
                "auth_header_value": "Bearer very-secret",
            },
        },
        actor="operator",
        operator=True,
    )
    assert shown["registry"]["auth_header_value"] == "***"
    api_view = client.get("/api/settings", headers=partner.headers).get_json()
    assert api_view["registry"]["auth_header_value"] == "***"
    assert api_view["rate_limit"] == "500/minute"
    # The worker (through the key's principal) sees the real value.
    principal = services.keys.authenticate(partner.api_key)
    assert principal.settings["registry"]["auth_header_value"] == "Bearer very-secret"


def test_link_ttl_setting_reaches_profile_links(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner()
    set_partner_settings(services.pb, partner.partner_id, {"link_ttl_s": 600}, actor="operator")
    response = create_profile(client, partner.headers)
    assert response.status_code == 201
    expires = datetime.fromisoformat(response.get_json()["link_expires_at"].replace("Z", "+00:00"))
    remaining_s = (expires - datetime.now(UTC)).total_seconds()
    assert 500 < remaining_s <= 600


FULL_SETTINGS = {
    "thresholds": {"approve": 85, "review": 70},
    "weights": {"liveness": 35, "face_match": 45, "document": 20, "kya": 0},
    "required_checks": {"kya": False, "registry": True},
    "face_match_threshold": 0.8,
    "min_age": 21,
    "allowed_document_types": ["passport", "id_card"],
    "allowed_countries": ["IDN", "MYS"],
    "link_ttl_s": 3600,
    "rate_limit": "120/minute",
    "capture_upload_rate_limit": "20 per minute;200 per hour",
    "retention_days": 30,
    "allowed_return_urls": ["https://shop.example/return"],
    "branding": {"name": "Acme", "accent_color": "#AA3300"},
    "liveness": {"prompts": ["blink", "turn_left"], "prompt_count": 2},
    "kya": {"email_mx": True},
    "review_email": "kyc@acme.example",
    "registry": {"enabled": True, "url": "https://nik.example/lookup", "retries": 1},
}


def test_every_setting_can_be_written_through_the_data_layer_guard(
    services: Services, make_partner: Callable
) -> None:
    partner = make_partner()
    shown = set_partner_settings(
        services.pb, partner.partner_id, FULL_SETTINGS, actor="operator", operator=True
    )
    assert shown["thresholds"] == {"approve": 85, "review": 70}
    assert services.pb.get("partners", partner.partner_id)["settings"]["min_age"] == 21


def test_only_prompts_the_evaluation_validated_can_be_allowed(
    services: Services, make_partner: Callable
) -> None:
    assert effective_settings(None)["liveness"]["prompts"] == list(OFFERED_PROMPTS)
    partner = make_partner()
    with pytest.raises(ValidationFailed) as caught:
        set_partner_settings(
            services.pb, partner.partner_id, {"liveness": {"prompts": ["look_up"]}}, actor="t"
        )
    assert "liveness.prompts" in caught.value.errors
    # Written before look_up was withdrawn: read back without it, and no bar to the next write.
    services.pb.update(
        "partners",
        partner.partner_id,
        {"settings": {"liveness": {"prompts": ["look_up", "smile", "blink"]}}},
    )
    shown = set_partner_settings(services.pb, partner.partner_id, {"min_age": 21}, actor="t")
    assert shown["liveness"]["prompts"] == ["smile", "blink"]
    assert services.pb.get("partners", partner.partner_id)["settings"]["liveness"] == {
        "prompts": ["smile", "blink"]
    }


@pytest.mark.parametrize(
    "stored",
    [
        {"weights": {"kya": 50}},
        {"thresholds": {"review": 90}},
        {"face_match_threshold": 7},
        {"surprise": True},
    ],
)
def test_admin_ui_edits_are_checked_by_pocketbase(
    services: Services, make_partner: Callable, stored: dict[str, Any]
) -> None:
    """What the admin UI does: write the JSON straight through the records API."""
    partner = make_partner()
    with pytest.raises(StoreError, match="invalid_settings"):
        services.pb.update("partners", partner.partner_id, {"settings": stored})
    assert services.pb.get("partners", partner.partner_id)["settings"] == {}


def test_data_layer_guard_knows_the_same_keys() -> None:
    guard = (REPO_ROOT / "pb_hooks" / "lib" / "settings_guard.js").read_text()
    known_block = re.search(r"const KNOWN = \[(.*?)\];", guard, re.S)
    assert known_block is not None
    assert set(re.findall(r'"([a-z_]+)"', known_block.group(1))) == set(DEFAULT_SETTINGS)


def test_partners_without_a_link_ttl_get_the_gateway_wide_one(
    make_settings: Callable[..., Settings], make_partner: Callable
) -> None:
    """EKYC_LINK_TTL_S applies where the partner set no link_ttl_s; the partner's own wins."""
    app = create_app(make_settings(link_ttl_s=900))
    client = app.test_client()
    services: Services = app.extensions["ekyc"]
    partner = make_partner()
    assert client.get("/api/settings", headers=partner.headers).get_json()["link_ttl_s"] is None

    def remaining_s() -> float:
        response = create_profile(client, partner.headers)
        assert response.status_code == 201
        expires = response.get_json()["link_expires_at"].replace("Z", "+00:00")
        return (datetime.fromisoformat(expires) - datetime.now(UTC)).total_seconds()

    assert 800 < remaining_s() <= 900
    set_partner_settings(services.pb, partner.partner_id, {"link_ttl_s": 3600}, actor="operator")
    services.keys.forget_partner(partner.partner_id)
    assert 3500 < remaining_s() <= 3600


def test_every_failing_rule_is_reported_in_one_answer(
    client: FlaskClient, make_partner: Callable
) -> None:
    """A group that is not an object no longer hides the problems of the other groups."""
    partner = make_partner()
    response = client.patch(
        "/api/settings",
        json={"branding": "blue", "thresholds": {"review": 90, "approve": 85}, "min_age": -1},
        headers=partner.headers,
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert {"branding", "thresholds.review", "min_age"} <= set(problem["errors"])
    for path in ("branding", "thresholds.review", "min_age"):
        assert path in problem["detail"]
