"""The hosted flow's server side, against the real PocketBase: every call the pages make and
every refusal (bad links, wrong content, oversized uploads, pixel bombs, rate limits)."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import numpy as np
import pycountry
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from gateway.container import Services
from gateway.errors import NotFound
from gateway.pb_server import PocketBaseServer
from gateway.routes.flow import capture_service
from gateway.services import links
from tests.admin_ui import AdminUI
from tests.conftest import PartnerHandle
from tests.e2e.flow_support import (
    Link,
    create_profile,
    document_jpeg,
    jpeg_bytes,
    read_link,
    set_partner_settings,
)

RETURN_PREFIX = "https://partner.example/kyc/done"


@pytest.fixture(scope="module")
def sharp_passport() -> bytes:
    return document_jpeg("passport", seed=11)


@pytest.fixture(scope="module")
def sharp_id_card() -> bytes:
    return document_jpeg("id_card", seed=12)


@pytest.fixture(scope="module")
def blurred_passport() -> bytes:
    return document_jpeg("passport", seed=11, blur_sigma_px=4.0)


@pytest.fixture
def enqueued(app: Flask) -> list[str]:
    """Profile ids the flow queued for verification (the worker's own tests run the task)."""
    calls: list[str] = []
    with app.app_context():
        capture_service().enqueue = calls.append
    return calls


@pytest.fixture
def flow_partner(partner: PartnerHandle, services: Services) -> PartnerHandle:
    set_partner_settings(
        services.pb,
        partner.partner_id,
        {
            "allowed_return_urls": [RETURN_PREFIX],
            "retention_days": 30,
            "branding": {"name": "Acme Bank", "accent_color": "#ffd700"},
        },
    )
    return partner


@pytest.fixture
def link(client: FlaskClient, flow_partner: PartnerHandle) -> Link:
    return create_profile(
        client,
        flow_partner.headers,
        return_url=RETURN_PREFIX + "?session=abc",
        country="FRA",
    )


def api(client: FlaskClient, link: Link, method: str, path: str, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", {})
    headers.setdefault("X-Capture-Token", link.token)
    return client.open(
        f"/flow/api/{link.profile_id}{path}", method=method, headers=headers, **kwargs
    )


def history(services: Services, profile_id: str) -> list[dict[str, Any]]:
    return services.pb.find(
        "status_history", "profile = {:p}", {"p": profile_id}, sort="@rowid", limit=100
    )


def upload(client: FlaskClient, link: Link, side: str, content: bytes, name: str = "x.jpg"):
    # Encoded here, in memory: the test client would spool a large body to an unclosed file.
    boundary, body = encode_multipart(
        MultiDict({"file": FileStorage(io.BytesIO(content), name, content_type="image/jpeg")})
    )
    return api(
        client,
        link,
        "POST",
        f"/document/{side}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def frame_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return jpeg_bytes(rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8))


def send_frames(
    client: FlaskClient,
    link: Link,
    challenge_id: str,
    prompts: list[str],
    faces: list[bytes] | None = None,
):
    """One selfie upload; ``faces`` (real frames, reused in turn) or noise without a face."""
    meta = [{"prompt": p, "t_ms": 100 * i} for i, p in enumerate(prompts)]
    images = [faces[i % len(faces)] if faces else frame_jpeg(i) for i in range(len(meta))]
    data: dict[str, Any] = {
        "challenge_id": challenge_id,
        "meta": json.dumps(meta),
        "frames": [(io.BytesIO(data), f"f{i}.jpg", "image/jpeg") for i, data in enumerate(images)],
    }
    return api(client, link, "POST", "/selfie", data=data, content_type="multipart/form-data")


def prompts_for(challenge: dict[str, Any], per_prompt: int = 3) -> list[str]:
    return ["neutral"] * 2 + [p for p in challenge["prompts"] for _ in range(per_prompt)]


def start_with_consent(client: FlaskClient, link: Link) -> dict[str, Any]:
    assert api(client, link, "POST", "/start").status_code == 200
    response = api(client, link, "POST", "/consent", json={"accepted": True})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def complete_captures(client: FlaskClient, link: Link, passport: bytes, faces: list[bytes]) -> None:
    start_with_consent(client, link)
    chosen = api(client, link, "POST", "/document", json={"type": "passport", "country": "FR"})
    assert chosen.status_code == 200
    assert upload(client, link, "front", passport).status_code == 201
    challenge = api(client, link, "POST", "/challenge").get_json()
    sent = send_frames(client, link, challenge["id"], prompts_for(challenge), faces)
    assert sent.status_code == 201, sent.get_json()


# -- link check ----------------------------------------------------------------------------------


def test_valid_link_opens_the_flow_and_moves_to_in_progress_as_applicant(
    client: FlaskClient, link: Link, services: Services
) -> None:
    response = client.get(link.path)
    assert response.status_code == 200
    assert b'type="module"' in response.data
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["status"] == "in_progress"
    rows = history(services, link.profile_id)
    assert [(r["from_status"], r["to_status"], r["actor"]) for r in rows][-1] == (
        "unverified",
        "in_progress",
        "applicant",
    )
    # Opening again resumes without another status change.
    assert client.get(link.path).status_code == 200
    assert len(history(services, link.profile_id)) == len(rows)


@pytest.mark.parametrize(
    ("mangle", "status", "title"),
    [
        (lambda link: f"/flow/{link.profile_id}", 401, b"This link is incomplete"),
        (lambda link: f"/flow/{link.profile_id}?t={link.token[:-3]}abc", 403, b"not valid"),
        (lambda link: f"/flow/{link.profile_id}?t=garbage", 403, b"not valid"),
        (lambda link: "/flow/", 401, b"incomplete"),
    ],
)
def test_missing_or_tampered_links_show_a_page_and_store_nothing(
    client: FlaskClient,
    link: Link,
    services: Services,
    mangle: Callable[[Link], str],
    status: int,
    title: bytes,
) -> None:
    before = history(services, link.profile_id)
    response = client.get(mangle(link))
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert title in response.data
    assert b"Traceback" not in response.data
    assert services.pb.get("profiles", link.profile_id)["status"] == "unverified"
    assert history(services, link.profile_id) == before


def test_expired_link_shows_the_expired_page(
    client: FlaskClient, link: Link, services: Services, settings: Any
) -> None:
    profile = services.pb.get("profiles", link.profile_id)
    token = links.sign_link(settings.link_secret, link.profile_id, 1_000, profile["link_nonce"])
    response = client.get(f"/flow/{link.profile_id}?t={token}")
    assert response.status_code == 410
    assert b"This link has expired" in response.data
    assert services.pb.get("profiles", link.profile_id)["status"] == "unverified"
    api_response = client.post(
        f"/flow/api/{link.profile_id}/start", headers={"X-Capture-Token": token}
    )
    assert api_response.status_code == 410
    assert api_response.get_json()["code"] == "link_expired"


def test_expired_page_is_french_when_asked(client: FlaskClient, link: Link, settings: Any) -> None:
    token = links.sign_link(settings.link_secret, link.profile_id, 1_000, "whatever")
    response = client.get(
        f"/flow/{link.profile_id}?t={token}", headers={"Accept-Language": "fr-FR,fr;q=0.9"}
    )
    assert "Ce lien a expiré".encode() in response.data
    assert b'lang="fr"' in response.data
    english = client.get(f"/flow/{link.profile_id}?t={token}&lang=en")
    assert b"This link has expired" in english.data


def test_a_token_never_opens_another_profile(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link, services: Services
) -> None:
    other = create_profile(client, flow_partner.headers)
    response = client.get(f"/flow/{other.profile_id}?t={link.token}")
    assert response.status_code == 403
    for path in ("/start", "/consent", "/submit"):
        refused = client.post(
            f"/flow/api/{other.profile_id}{path}",
            json={"accepted": True},
            headers={"X-Capture-Token": link.token},
        )
        assert refused.status_code == 403
        assert refused.get_json()["code"] == "link_invalid"
    image = client.get(f"/flow/api/{other.profile_id}/qr.svg?t={link.token}")
    assert image.status_code == 403
    assert services.pb.get("profiles", other.profile_id)["status"] == "unverified"


def test_a_token_is_no_key_for_the_partner_api(client: FlaskClient, link: Link) -> None:
    response = client.get(
        f"/api/profiles/{link.profile_id}", headers={"X-Capture-Token": link.token}
    )
    assert response.status_code == 401
    response = client.get(f"/api/profiles/{link.profile_id}", headers={"x-api-key": link.token})
    assert response.status_code == 401


def test_a_new_link_retires_the_old_one(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link
) -> None:
    fresh = client.post(f"/api/profiles/{link.profile_id}/link", headers=flow_partner.headers)
    assert fresh.status_code == 200
    response = client.get(link.path)
    assert response.status_code == 403


# -- consent, document choice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbled",
    [
        {"branding": "acme"},
        {"branding": {"accent_color": "red"}},
        {"retention_days": "ninety"},
        {"link_ttl_s": "a day"},
        {"liveness": "blink"},
        {"liveness": {"prompt_count": "3"}},
        {"liveness": {"max_challenges": "lots"}},
        {"liveness": {"prompts": []}},
    ],
)
def test_settings_the_flow_reads_are_checked_when_typed_in_the_admin_ui(
    client: FlaskClient,
    partner: PartnerHandle,
    services: Services,
    admin_ui: AdminUI,
    garbled: dict[str, Any],
) -> None:
    """Stored, each gave every applicant of that partner a 500 at the flow's first step
    (branding, retention) or at the selfie (the liveness group), and every profile created or
    link issued one (retention, link lifetime): refused at the data layer now, and read as the
    default if stored before (tests/test_flow_capture_rules.py)."""
    link = create_profile(client, partner.headers, country="FRA")
    saved = admin_ui.patch("partners", partner.partner_id, {"settings": garbled})
    assert saved.status_code == 400, saved.text
    assert "invalid_settings" in saved.text
    assert services.pb.get("partners", partner.partner_id)["settings"] in (None, {})
    assert api(client, link, "POST", "/start").status_code == 200


def test_start_returns_branding_retention_and_prefilled_country(
    client: FlaskClient, link: Link
) -> None:
    state = api(client, link, "POST", "/start").get_json()
    assert state["step"] == "consent"
    assert state["retention_days"] == 30
    assert state["branding"] == {
        "name": "Acme Bank",
        "accent_color": "#ffd700",
        "accent_text_color": "#111111",
    }
    assert state["document"]["country"] == "FRA"
    assert state["lang"] == "en"
    french = api(client, link, "GET", "/state", headers={"Accept-Language": "fr"})
    assert french.get_json()["lang"] == "fr"


def test_consent_is_required_and_stored(
    client: FlaskClient, link: Link, services: Services
) -> None:
    api(client, link, "POST", "/start")
    refused = api(client, link, "POST", "/consent", json={"accepted": False})
    assert refused.status_code == 422
    early = api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    assert early.status_code == 409
    assert early.get_json()["code"] == "step_not_ready"
    state = api(client, link, "POST", "/consent", json={"accepted": True}).get_json()
    assert state["step"] == "document"
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["consent_at"]
    assert profile["capture"]["consent"]["retention_days"] == 30


def test_document_choice_is_validated_and_normalized(
    client: FlaskClient, link: Link, services: Services
) -> None:
    start_with_consent(client, link)
    bad_type = api(
        client, link, "POST", "/document", json={"type": "library_card", "country": "FR"}
    )
    assert bad_type.status_code == 422
    bad_country = api(client, link, "POST", "/document", json={"type": "id_card", "country": "ZZ"})
    assert bad_country.status_code == 422
    state = api(client, link, "POST", "/document", json={"type": "id_card", "country": "fr"})
    assert state.get_json()["document"] == {
        "type": "id_card",
        "country": "FRA",
        "needs_back": True,
        "types": ["passport", "id_card", "driver_license", "residence_permit"],
    }
    assert services.pb.get("profiles", link.profile_id)["document_type"] == "id_card"


def restrict(services: Services, partner: PartnerHandle, **accepted: list[str]) -> None:
    """The flow partner's settings with ``allowed_document_types``/``allowed_countries`` set."""
    stored = services.pb.get("partners", partner.partner_id)["settings"]
    set_partner_settings(services.pb, partner.partner_id, {**stored, **accepted})


def test_a_restricted_partner_is_offered_only_its_document_types_and_countries(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link, services: Services
) -> None:
    # Stored as the settings API accepts them, in any case; offered in the flow's order.
    restrict(
        services,
        flow_partner,
        allowed_document_types=["residence_permit", "id_card"],
        allowed_countries=["IDN", "mys"],
    )
    state = api(client, link, "POST", "/start").get_json()
    assert state["document"]["types"] == ["id_card", "residence_permit"]
    listed = api(client, link, "GET", "/countries?lang=fr").get_json()["countries"]
    assert [(c["code"], c["name"]) for c in listed] == [("IDN", "Indonésie"), ("MYS", "Malaisie")]


def test_a_single_accepted_type_is_the_only_choice(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link, services: Services
) -> None:
    restrict(services, flow_partner, allowed_document_types=["passport"])
    state = api(client, link, "POST", "/start").get_json()
    assert state["document"]["types"] == ["passport"]
    # Countries are not restricted: every one is listed.
    listed = api(client, link, "GET", "/countries").get_json()["countries"]
    assert len(listed) == len(pycountry.countries)


def test_a_document_the_partner_refuses_is_a_422_and_writes_nothing(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link, services: Services
) -> None:
    restrict(services, flow_partner, allowed_document_types=["id_card"], allowed_countries=["IDN"])
    start_with_consent(client, link)
    before = services.pb.get("profiles", link.profile_id)
    for body, refused_fields in (
        ({"type": "driver_license", "country": "IDN"}, {"type"}),
        ({"type": "id_card", "country": "FR"}, {"country"}),
        ({"type": "passport", "country": "FRA"}, {"type", "country"}),
    ):
        refused = api(client, link, "POST", "/document", json=body)
        assert refused.status_code == 422, body
        assert refused.mimetype == "application/problem+json"
        problem = refused.get_json()
        assert problem["code"] == "document_not_accepted"
        assert set(problem["errors"]) == refused_fields, problem
    # Unknown values are still refused as unknown, not as "not accepted".
    unknown = api(client, link, "POST", "/document", json={"type": "library_card", "country": "ID"})
    assert unknown.get_json()["code"] == "validation_failed"
    assert services.pb.get("profiles", link.profile_id) == before
    accepted = api(client, link, "POST", "/document", json={"type": "id_card", "country": "id"})
    assert accepted.status_code == 200, accepted.get_json()
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["capture"]["document"] == {"type": "id_card", "country": "IDN"}


def test_an_unrestricted_partner_is_offered_everything(
    client: FlaskClient, flow_partner: PartnerHandle, link: Link, services: Services
) -> None:
    # The defaults written out: every type, and an empty country list meaning every country.
    restrict(
        services,
        flow_partner,
        allowed_document_types=["passport", "id_card", "driver_license", "residence_permit"],
        allowed_countries=[],
    )
    state = start_with_consent(client, link)
    assert state["document"]["types"] == [
        "passport",
        "id_card",
        "driver_license",
        "residence_permit",
    ]
    listed = api(client, link, "GET", "/countries").get_json()["countries"]
    assert {c["code"] for c in listed} == {country.alpha_3 for country in pycountry.countries}
    chosen = api(
        client, link, "POST", "/document", json={"type": "driver_license", "country": "NZ"}
    )
    assert chosen.status_code == 200, chosen.get_json()
    assert chosen.get_json()["document"]["country"] == "NZL"


# -- document photos -------------------------------------------------------------------------------


def test_the_partners_document_type_skips_the_choice_and_its_photo_is_taken(
    client: FlaskClient, flow_partner: PartnerHandle, sharp_passport: bytes
) -> None:
    """Found by the browser-to-worker test: the page went straight to the photo for a profile
    created with its document, and the upload was refused for want of a choice."""
    link = create_profile(
        client,
        flow_partner.headers,
        document={"type": "passport", "country": "FRA", "number": "12AB34567"},
    )
    state = start_with_consent(client, link)
    assert state["step"] == "document" and state["document"]["type"] == "passport"
    uploaded = upload(client, link, "front", sharp_passport)
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["state"]["step"] == "selfie"


def test_sharp_document_is_stored_clean_and_blurred_one_asks_for_a_retake(
    pocketbase: PocketBaseServer,
    client: FlaskClient,
    link: Link,
    services: Services,
    sharp_passport: bytes,
    blurred_passport: bytes,
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    blurred = upload(client, link, "front", blurred_passport)
    assert blurred.status_code == 200
    body = blurred.get_json()
    assert body["accepted"] is False
    assert [issue["code"] for issue in body["issues"]] == ["blurry"]
    assert not services.pb.get("profiles", link.profile_id)["document_front"]
    profile_storage = f"*/{link.profile_id}/*"
    assert not list((pocketbase.data_dir / "storage").glob(profile_storage))
    sharp = upload(client, link, "front", sharp_passport)
    assert sharp.status_code == 201
    assert list((pocketbase.data_dir / "storage").glob(profile_storage))
    assert sharp.get_json()["state"]["step"] == "selfie"
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["document_front"]
    stored = api(client, link, "GET", "/image/document_front")
    assert stored.status_code == 200
    assert stored.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(stored.data)).size == (1600, 1221)
    back = upload(client, link, "back", sharp_passport)
    assert back.status_code == 422  # a passport has no back


def test_exif_is_stripped_and_orientation_applied(
    client: FlaskClient, link: Link, services: Services, sharp_id_card: bytes
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "id_card", "country": "FRA"})
    # The card stored on its side with EXIF "rotate 90 CW" (orientation 6), plus a GPS tag.
    upright = Image.open(io.BytesIO(sharp_id_card))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", quality=92, exif=exif)
    response = upload(client, link, "front", buffer.getvalue())
    assert response.status_code == 201, response.get_json()
    stored = Image.open(io.BytesIO(api(client, link, "GET", "/image/document_front").data))
    assert stored.size == upright.size
    assert not stored.getexif()
    assert "exif" not in stored.info and "icc_profile" not in stored.info


def test_uploads_are_judged_by_content_not_name(
    pocketbase: PocketBaseServer, client: FlaskClient, link: Link, services: Services
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    fake = upload(client, link, "front", b"<html><script>alert(1)</script></html>", "photo.jpg")
    assert fake.status_code == 415
    assert fake.get_json()["code"] == "image_type_refused"
    pdf = upload(client, link, "front", b"%PDF-1.7\n" + b"0" * 100, "photo.png")
    assert pdf.status_code == 415
    truncated = upload(client, link, "front", document_jpeg("passport")[:4000])
    assert truncated.status_code == 422
    assert not services.pb.get("profiles", link.profile_id)["document_front"]
    # No orphan: nothing of this profile reached PocketBase's storage.
    assert not list((pocketbase.data_dir / "storage").glob(f"*/{link.profile_id}/*"))


def test_uploads_over_10_mb_get_413_and_store_nothing(
    client: FlaskClient, link: Link, services: Services
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    oversized = b"\xff\xd8\xff\xe0" + b"\0" * (10 * 1024 * 1024)
    response = upload(client, link, "front", oversized)
    assert response.status_code == 413
    assert not services.pb.get("profiles", link.profile_id)["document_front"]


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 1-bit pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = zlib.compress(b"\0" * (1 + width // 8) * 64, 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side_px", [7_000, 12_000, 100_000])
def test_decompression_bombs_are_refused_before_decoding(
    client: FlaskClient, link: Link, services: Services, side_px: int
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    bomb = png_bomb(side_px, side_px)
    assert len(bomb) < 100_000
    response = upload(client, link, "front", bomb, "bomb.png")
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"file": ["too_many_pixels"]}
    assert not services.pb.get("profiles", link.profile_id)["document_front"]


def test_uploads_are_rate_limited_per_link(
    client: FlaskClient,
    flow_partner: PartnerHandle,
    services: Services,
    blurred_passport: bytes,
) -> None:
    set_partner_settings(
        services.pb, flow_partner.partner_id, {"capture_upload_rate_limit": "3 per minute"}
    )
    limited = create_profile(client, flow_partner.headers)
    other = create_profile(client, flow_partner.headers)
    for each in (limited, other):
        start_with_consent(client, each)
        api(client, each, "POST", "/document", json={"type": "passport", "country": "FRA"})
    codes = [upload(client, limited, "front", blurred_passport).status_code for _ in range(2)]
    codes += [api(client, limited, "POST", "/challenge").status_code for _ in range(2)]
    # Uploads and challenges share the allowance (the second challenge is the first handed back).
    assert codes == [200, 200, 201, 429]
    refused = upload(client, limited, "front", blurred_passport)
    assert refused.get_json()["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
    # Another link of the same partner has its own allowance.
    assert upload(client, other, "front", blurred_passport).status_code == 200


def test_every_other_call_is_rate_limited_per_link(
    app: Flask, client: FlaskClient, flow_partner: PartnerHandle
) -> None:
    with app.app_context():
        service = capture_service()
        service.config = dataclasses.replace(service.config, api_rate_limit="4 per minute")
    link = create_profile(client, flow_partner.headers)
    forged = link.forged()
    assert [api(client, forged, "GET", "/state").status_code for _ in range(6)] == [403] * 6
    codes = [api(client, link, "POST", "/start").status_code for _ in range(2)]
    codes += [api(client, link, "GET", "/state").status_code for _ in range(3)]
    assert codes == [200, 200, 200, 200, 429]
    assert api(client, link, "POST", "/submit").get_json()["code"] == "rate_limited"


def test_a_bad_token_does_not_spend_the_links_upload_allowance(
    client: FlaskClient, link: Link, blurred_passport: bytes
) -> None:
    start_with_consent(client, link)
    api(client, link, "POST", "/document", json={"type": "passport", "country": "FRA"})
    forged = link.forged()
    for _ in range(40):
        assert upload(client, forged, "front", blurred_passport).status_code == 403
    assert upload(client, link, "front", blurred_passport).status_code == 200


# -- selfie ---------------------------------------------------------------------------------------


def test_challenge_is_random_stored_and_single_use(
    client: FlaskClient, link: Link, services: Services, face_frames: list[bytes]
) -> None:
    start_with_consent(client, link)
    first = api(client, link, "POST", "/challenge")
    assert first.status_code == 201
    challenge = first.get_json()
    assert len(challenge["prompts"]) == 3
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert stored["id"] == challenge["id"] and stored["prompts"] == challenge["prompts"]
    assert stored["used_at"] is None
    out_of_order = ["neutral", *[p for p in reversed(challenge["prompts"]) for _ in range(3)]]
    if out_of_order[1:] != prompts_for(challenge)[2:]:
        assert send_frames(client, link, challenge["id"], out_of_order).status_code == 422
    assert send_frames(client, link, challenge["id"], ["neutral", "wave"]).status_code == 422
    wrong_id = send_frames(client, link, "not-the-challenge", prompts_for(challenge), face_frames)
    assert wrong_id.status_code == 409
    good = send_frames(client, link, challenge["id"], prompts_for(challenge), face_frames)
    assert good.status_code == 201, good.get_json()
    profile = services.pb.get("profiles", link.profile_id)
    frames = profile["capture"]["frames"]
    assert [f["prompt"] for f in frames] == prompts_for(challenge)
    assert [f["t_ms"] for f in frames] == [100 * i for i in range(len(frames))]
    assert sorted(f["filename"] for f in frames) == sorted(profile["selfie_frames"])
    assert profile["selfie"]
    assert profile["liveness_challenge"]["used_at"]
    again = send_frames(client, link, challenge["id"], prompts_for(challenge), face_frames)
    assert again.status_code == 409
    assert again.get_json()["code"] == "challenge_refused"
    # A new attempt gets a new challenge and replaces the frames of the old one.
    second = api(client, link, "POST", "/challenge").get_json()
    assert second["id"] != challenge["id"] and second["attempt"] == 2
    sent = send_frames(client, link, second["id"], prompts_for(second, 2), face_frames)
    assert sent.status_code == 201
    profile = services.pb.get("profiles", link.profile_id)
    assert len(profile["selfie_frames"]) == len(prompts_for(second, 2))


def test_an_unused_challenge_is_handed_back_not_drawn_again(
    app: Flask, client: FlaskClient, link: Link, services: Services, face_frames: list[bytes]
) -> None:
    """A reload (or the same link on another device) gets the order it was shown: a new order at
    every reload let a recording made for one order wait until it came up."""
    start_with_consent(client, link)
    first = api(client, link, "POST", "/challenge")
    assert first.status_code == 201
    version = services.pb.get("profiles", link.profile_id)["version"]
    again = api(client, link, "POST", "/challenge")
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert services.pb.get("profiles", link.profile_id)["version"] == version  # nothing written
    # Too little of its lifetime left for a capture: replaced, as a new draw.
    challenge = first.get_json()
    with app.app_context():
        service = capture_service()
        real_clock = service.clock
        service.clock = lambda: challenge["expires_at"] - 30
        try:
            late = api(client, link, "POST", "/challenge")
        finally:
            service.clock = real_clock
    assert late.status_code == 201
    assert late.get_json()["id"] != challenge["id"] and late.get_json()["attempt"] == 2
    # The partner's prompts changed meanwhile: the unused challenge no longer fits them.
    set_partner_settings(
        services.pb,
        link_partner(services, link),
        {"liveness": {"prompts": ["turn_left", "turn_right"], "prompt_count": 2}},
    )
    changed = api(client, link, "POST", "/challenge")
    assert changed.status_code == 201
    assert sorted(changed.get_json()["prompts"]) == ["turn_left", "turn_right"]
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert stored["drawn_on_link"] == 3 and stored["attempt"] == 3


def link_partner(services: Services, link: Link) -> str:
    return services.pb.get("profiles", link.profile_id)["partner"]


def test_a_link_draws_at_most_max_challenges_and_a_new_link_starts_again(
    client: FlaskClient,
    flow_partner: PartnerHandle,
    link: Link,
    services: Services,
    face_frames: list[bytes],
) -> None:
    set_partner_settings(
        services.pb,
        flow_partner.partner_id,
        {"allowed_return_urls": [RETURN_PREFIX], "liveness": {"max_challenges": 2}},
    )
    start_with_consent(client, link)
    for attempt in (1, 2):
        challenge = api(client, link, "POST", "/challenge").get_json()
        assert challenge["attempt"] == attempt
        sent = send_frames(client, link, challenge["id"], prompts_for(challenge), face_frames)
        assert sent.status_code == 201, sent.get_json()
    before = services.pb.get("profiles", link.profile_id)
    refused = api(client, link, "POST", "/challenge")
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "challenge_limit_reached"
    assert refused.get_json()["max_challenges"] == 2
    after = services.pb.get("profiles", link.profile_id)
    assert after["liveness_challenge"] == before["liveness_challenge"]
    assert after["version"] == before["version"]
    # The frames of the last challenge stay: the applicant can still submit them.
    assert after["selfie"] and after["capture"]["frames"]
    # The partner issues a new link: the count starts again on it, the profile's goes on.
    fresh = client.post(f"/api/profiles/{link.profile_id}/link", headers=flow_partner.headers)
    assert fresh.status_code == 200, fresh.get_json()
    relinked = read_link(fresh.get_json()["redirect_url"])
    drawn = api(client, relinked, "POST", "/challenge")
    assert drawn.status_code == 201, drawn.get_json()
    assert drawn.get_json()["attempt"] == 3
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert stored["drawn_on_link"] == 1


def test_a_resubmission_on_the_same_link_does_not_start_the_count_again(
    client: FlaskClient,
    flow_partner: PartnerHandle,
    link: Link,
    services: Services,
    sharp_passport: bytes,
    face_frames: list[bytes],
    enqueued: list[str],
) -> None:
    """The worker asks for a retake on its own (a document without a face), and the same link
    reopens: if that started the count again, a submit with a faceless document bought the link
    another ``max_challenges`` orders, as often as the attacker liked."""
    set_partner_settings(
        services.pb,
        flow_partner.partner_id,
        {"allowed_return_urls": [RETURN_PREFIX], "liveness": {"max_challenges": 2}},
    )
    complete_captures(client, link, sharp_passport, face_frames)
    challenge = api(client, link, "POST", "/challenge").get_json()
    sent = send_frames(client, link, challenge["id"], prompts_for(challenge), face_frames)
    assert sent.status_code == 201, sent.get_json()
    assert api(client, link, "POST", "/challenge").status_code == 409
    assert api(client, link, "POST", "/submit").status_code == 200
    services.pb.transition(link.profile_id, "processing", actor="worker")
    services.pb.transition(
        link.profile_id, "resubmission_requested", actor="worker", reason="INVALID_PHOTO:document"
    )
    assert api(client, link, "POST", "/start").get_json()["step"] == "document"
    reopened = services.pb.get("profiles", link.profile_id)
    assert not reopened["selfie"] and not reopened["selfie_frames"]
    refused = api(client, link, "POST", "/challenge")
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "challenge_limit_reached"
    # A new link from the partner still starts the count again, and the attempt on the profile
    # counts from the reopening.
    fresh = client.post(f"/api/profiles/{link.profile_id}/link", headers=flow_partner.headers)
    assert fresh.status_code == 200, fresh.get_json()
    drawn = api(client, read_link(fresh.get_json()["redirect_url"]), "POST", "/challenge")
    assert drawn.status_code == 201, drawn.get_json()
    assert drawn.get_json()["attempt"] == 1


@pytest.mark.parametrize(
    ("first_t_ms", "code"),
    [(None, "json_too_deep"), ("NaN", "bad_request"), ("1e999", "bad_request")],
    ids=["deep", "nan", "infinite"],
)
def test_selfie_meta_that_is_not_plain_json_is_a_400_and_stores_nothing(
    client: FlaskClient,
    link: Link,
    services: Services,
    face_frames: list[bytes],
    first_t_ms: str | None,
    code: str,
) -> None:
    """Python's decoder takes NaN and Infinity, which PocketBase's JSON does not: the frames
    were stored and the challenge used, then the capture record refused (a 500, half written)."""
    start_with_consent(client, link)
    challenge = api(client, link, "POST", "/challenge").get_json()
    prompts = prompts_for(challenge)
    meta = json.dumps([{"prompt": p, "t_ms": 100 * i} for i, p in enumerate(prompts)])
    if first_t_ms is None:
        meta = "[" * 100_000 + "]" * 100_000
    else:
        meta = meta.replace('"t_ms": 0}', f'"t_ms": {first_t_ms}}}', 1)
    data = {
        "challenge_id": challenge["id"],
        "meta": meta,
        "frames": [
            (io.BytesIO(face_frames[i % len(face_frames)]), f"f{i}.jpg", "image/jpeg")
            for i in range(len(prompts))
        ],
    }
    response = api(client, link, "POST", "/selfie", data=data, content_type="multipart/form-data")
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code
    profile = services.pb.get("profiles", link.profile_id)
    assert not profile["selfie_frames"] and not profile["selfie"]
    assert not profile["liveness_challenge"]["used_at"]


def test_challenge_uses_the_partners_allowed_prompts(
    client: FlaskClient, flow_partner: PartnerHandle, services: Services
) -> None:
    set_partner_settings(
        services.pb,
        flow_partner.partner_id,
        {"liveness": {"prompts": ["turn_left", "turn_right"], "prompt_count": 2}},
    )
    link = create_profile(client, flow_partner.headers)
    start_with_consent(client, link)
    challenge = api(client, link, "POST", "/challenge").get_json()
    assert sorted(challenge["prompts"]) == ["turn_left", "turn_right"]
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert stored["prompts_allowed"] == ["turn_left", "turn_right"]


def test_no_camera_qr_code_carries_the_same_link(
    client: FlaskClient, link: Link, settings: Any
) -> None:
    api(client, link, "POST", "/start")
    response = client.get(f"/flow/api/{link.profile_id}/qr.svg?t={link.token}")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    from gateway.routes.flow_pages import qr_svg

    assert response.data == qr_svg(f"{settings.kyc_frontend_url}/{link.profile_id}?t={link.token}")
    assert b'xmlns="http://www.w3.org/2000/svg"' in response.data


# -- submit, return, resubmission ------------------------------------------------------------------


def test_submit_needs_every_capture(client: FlaskClient, link: Link) -> None:
    start_with_consent(client, link)
    response = api(client, link, "POST", "/submit")
    assert response.status_code == 409
    assert set(response.get_json()["errors"]) == {"document_front", "selfie"}


@pytest.fixture
def captured(
    client: FlaskClient, link: Link, sharp_passport: bytes, face_frames: list[bytes]
) -> Link:
    """``link`` with its document and selfie captured, ready to submit."""
    complete_captures(client, link, sharp_passport, face_frames)
    return link


@pytest.mark.usefixtures("captured")
def test_submit_moves_to_submitted_enqueues_and_returns_to_the_allowed_url(
    client: FlaskClient, link: Link, services: Services, enqueued: list[str]
) -> None:
    state = api(client, link, "GET", "/state").get_json()
    assert state["step"] == "review"
    response = api(client, link, "POST", "/submit")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "status": "submitted",
        "redirect_url": f"{RETURN_PREFIX}?session=abc&profile_id={link.profile_id}"
        "&status=submitted",
    }
    assert enqueued == [link.profile_id]
    rows = history(services, link.profile_id)
    assert (rows[-1]["from_status"], rows[-1]["to_status"], rows[-1]["actor"]) == (
        "in_progress",
        "submitted",
        "applicant",
    )
    # The link is finished now: a page says so, the API refuses, nothing changes.
    page = client.get(link.path)
    assert page.status_code == 409
    assert b"already complete" in page.data
    assert RETURN_PREFIX.encode() in page.data
    assert api(client, link, "POST", "/submit").status_code == 409
    assert enqueued == [link.profile_id]


def test_a_retake_left_unfinished_submits_the_selfie_with_its_own_challenge(
    client: FlaskClient,
    captured: Link,
    services: Services,
    enqueued: list[str],
) -> None:
    """The applicant starts a retake (a new order is drawn), then leaves it and sends the selfie
    already taken, as the page offers (and offers again once the link drew all its orders). The
    worker judges the frames against the stored challenge: it must be the one they answer, not
    the retake's, or a genuine selfie fails liveness for following the wrong order."""
    before = services.pb.get("profiles", captured.profile_id)
    answered = before["liveness_challenge"]
    assert before["capture"]["challenge_id"] == answered["id"]
    retake = api(client, captured, "POST", "/challenge")
    assert retake.status_code == 201
    submitted = api(client, captured, "POST", "/submit")
    assert submitted.status_code == 200, submitted.get_json()
    after = services.pb.get("profiles", captured.profile_id)
    stored = after["liveness_challenge"]
    assert after["capture"]["challenge_id"] == stored["id"] == answered["id"]
    for key in ("prompts", "issued_at", "expires_at", "used_at"):
        assert stored[key] == answered[key], key
    # The liveness factor reads `attempt` as the orders drawn up to the one answered ("2
    # challenges were drawn for this capture; the last was answered" was said of the first).
    assert stored["attempt"] == answered["attempt"] == 1
    # The retake's draw still counts on the link.
    assert (stored["link"], stored["drawn_on_link"]) == (answered["link"], 2)


def test_return_url_outside_the_allow_list_is_not_followed(
    client: FlaskClient,
    partner: PartnerHandle,
    services: Services,
    sharp_passport: bytes,
    enqueued: list[str],
    face_frames: list[bytes],
) -> None:
    # Another prefix was allowed when the profile was created, then the partner restricts it.
    set_partner_settings(
        services.pb, partner.partner_id, {"allowed_return_urls": ["https://evil.example/"]}
    )
    link = create_profile(client, partner.headers, return_url="https://evil.example/steal")
    set_partner_settings(services.pb, partner.partner_id, {"allowed_return_urls": [RETURN_PREFIX]})
    complete_captures(client, link, sharp_passport, face_frames)
    response = api(client, link, "POST", "/submit").get_json()
    assert response == {"status": "submitted", "redirect_url": None}


def stored_file_names(pocketbase: PocketBaseServer) -> set[str]:
    """Every file name in PocketBase's local storage."""
    return {path.name for path in (pocketbase.data_dir / "storage").rglob("*") if path.is_file()}


@pytest.fixture
def ask_for_resubmission(
    client: FlaskClient, captured: Link, services: Services, enqueued: list[str]
) -> Callable[[str], None]:
    """Submit the captured link and have the worker ask for a retake with the reason given."""

    def ask(reason: str) -> None:
        assert api(client, captured, "POST", "/submit").status_code == 200
        profile_id = captured.profile_id
        services.pb.transition(profile_id, "processing", actor="worker")
        services.pb.transition(profile_id, "resubmission_requested", actor="worker", reason=reason)

    return ask


def test_resubmission_reopens_at_the_failed_step_with_the_reason(
    client: FlaskClient,
    link: Link,
    services: Services,
    enqueued: list[str],
    face_frames: list[bytes],
    ask_for_resubmission: Callable[[str], None],
) -> None:
    ask_for_resubmission("INVALID_PHOTO:selfie")
    assert client.get(link.path).status_code == 200
    profile = services.pb.get("profiles", link.profile_id)
    assert profile["status"] == "in_progress"
    assert history(services, link.profile_id)[-1]["actor"] == "applicant"
    assert profile["document_front"]  # the document was fine: kept
    assert not profile["selfie"] and not profile["selfie_frames"]
    state = api(client, link, "GET", "/state").get_json()
    assert state["step"] == "selfie"
    assert state["resubmission"] == {"step": "selfie", "reason": "INVALID_PHOTO:selfie"}
    challenge = api(client, link, "POST", "/challenge").get_json()
    sent = send_frames(client, link, challenge["id"], prompts_for(challenge), face_frames)
    assert sent.status_code == 201
    # A good selfie answers the resubmission: its notice is gone from the page's state.
    assert sent.get_json()["state"]["resubmission"] is None
    assert api(client, link, "POST", "/submit").get_json()["status"] == "submitted"
    assert enqueued == [link.profile_id, link.profile_id]


def test_document_resubmission_clears_the_document(
    pocketbase: PocketBaseServer,
    client: FlaskClient,
    link: Link,
    services: Services,
    ask_for_resubmission: Callable[[str], None],
) -> None:
    ask_for_resubmission("INVALID_PHOTO:document")
    old_files = services.pb.get("profiles", link.profile_id)
    old_names = [old_files["document_front"], old_files["selfie"], *old_files["selfie_frames"]]
    assert set(old_names) <= stored_file_names(pocketbase)
    state = api(client, link, "POST", "/start").get_json()
    assert state["step"] == "document"
    assert state["resubmission"]["step"] == "document"
    profile = services.pb.get("profiles", link.profile_id)
    assert not profile["document_front"] and not profile["selfie"]
    assert not profile["selfie_frames"]
    # Of the challenge only the link's count is kept: nothing can be uploaded under it.
    assert profile["liveness_challenge"] == {"link": ANY, "drawn_on_link": 1}
    # The files themselves are gone from PocketBase's storage, not only unlinked.
    assert not set(old_names) & stored_file_names(pocketbase)
    for name in old_names:
        with pytest.raises(NotFound):
            services.pb.download_file("profiles", link.profile_id, name)


# -- static files ---------------------------------------------------------------------------------


def test_static_files_are_served_and_the_catalogue_is_complete(client: FlaskClient) -> None:
    scripts = ("js/app.js", "js/api.js", "js/camera.js", "js/i18n.js", "js/selfie.js")
    for path in (*scripts, "flow.css"):
        response = client.get(f"/flow/static/{path}")
        assert response.status_code == 200, path
        response.close()
    strings = client.get("/flow/static/strings.json").get_json()
    assert set(strings) == {"en", "fr"}
    assert set(strings["en"]) == set(strings["fr"])
    assert client.get("/flow/static/message.html").status_code == 404
    assert client.get("/flow/static/../gateway/settings.py").status_code == 404


def test_every_answer_under_flow_carries_the_security_headers(
    client: FlaskClient, link: Link
) -> None:
    """Routing's own answers too (an unknown call, a wrong method), not only the views': the
    token may be in their URL, and they must not be cached or framed either."""
    from gateway.routes.flow_pages import PAGE_HEADERS

    answers = {
        "unknown call": client.get(f"/flow/api/{link.profile_id}/nope?t={link.token}"),
        "wrong method": client.get(f"/flow/api/{link.profile_id}/submit?t={link.token}"),
        "deeper path": client.get(f"/flow/{link.profile_id}/x?t={link.token}"),
        "a view's": api(client, link, "GET", "/state"),
    }
    for what, response in answers.items():
        missing = {
            name for name in PAGE_HEADERS if response.headers.get(name) != PAGE_HEADERS[name]
        }
        assert not missing, (what, response.status_code, missing)
    assert [r.status_code for r in answers.values()] == [404, 405, 404, 200]
    # The partner API is not the flow: its answers are left as they were.
    assert "Permissions-Policy" not in client.get("/api/nope").headers


def test_nothing_in_the_pages_loads_from_outside() -> None:
    from gateway.routes.flow_pages import HOSTED_FLOW_DIR

    for path in HOSTED_FLOW_DIR.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert "http://" not in text and "https://" not in text, path
