"""The flow's issuing-country list and the pages of links that cannot be used, against the real
PocketBase: names in the applicant's language from ISO 3166 data, the code still checked by the
server, and refused links in the partner's colours when the partner can be known."""

from __future__ import annotations

import re
from typing import Any

import pycountry
import pytest
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.services import links
from tests.conftest import PartnerHandle
from tests.e2e.flow_support import Link, create_profile, set_partner_settings


@pytest.fixture
def link(client: FlaskClient, partner: PartnerHandle, services: Services) -> Link:
    set_partner_settings(
        services.pb,
        partner.partner_id,
        {"branding": {"name": "Banque Lumière", "accent_color": "#0b6e4f"}},
    )
    return create_profile(client, partner.headers, country="IDN")


def flow_call(client: FlaskClient, link: Link, method: str, path: str, **kwargs: Any) -> Any:
    return client.open(
        f"/flow/api/{link.profile_id}{path}",
        method=method,
        headers={"X-Capture-Token": link.token, **kwargs.pop("headers", {})},
        **kwargs,
    )


def test_the_country_list_is_every_iso_country_named_in_the_applicants_language(
    client: FlaskClient, link: Link
) -> None:
    english = flow_call(client, link, "GET", "/countries?lang=en").get_json()
    french = flow_call(client, link, "GET", "/countries", headers={"Accept-Language": "fr"})
    french_names = {c["code"]: c["name"] for c in french.get_json()["countries"]}
    english_names = {c["code"]: c["name"] for c in english["countries"]}
    assert set(english_names) == {country.alpha_3 for country in pycountry.countries}
    assert (english_names["DEU"], french_names["DEU"]) == ("Germany", "Allemagne")
    # The names people use, not the formal ones.
    assert (english_names["KOR"], french_names["KOR"]) == ("South Korea", "Corée du Sud")
    # Sorted as a reader looks for them: accents ignored ("Égypte" among the E's).
    french_order = [c["name"] for c in french.get_json()["countries"]]
    assert french_order.index("Équateur") < french_order.index("Érythrée")
    assert french_order.index("Égypte") < french_order.index("Espagne")
    # Only with the link's token, like every other call of the flow.
    refused = client.get(f"/flow/api/{link.profile_id}/countries")
    assert refused.status_code == 401


def test_a_country_that_is_not_in_the_list_is_refused_and_changes_nothing(
    client: FlaskClient, link: Link, services: Services
) -> None:
    # Opened and consented, written directly: /start would also warm the face models up.
    services.pb.transition(link.profile_id, "in_progress", actor="applicant")
    flow_call(client, link, "POST", "/consent", json={"accepted": True})
    before = services.pb.get("profiles", link.profile_id)
    for country in ("ZZZ", "France", "", "F"):
        refused = flow_call(
            client, link, "POST", "/document", json={"type": "passport", "country": country}
        )
        assert refused.status_code == 422, country
        assert refused.mimetype == "application/problem+json"
        assert list(refused.get_json()["errors"]) == ["country"]
    after = services.pb.get("profiles", link.profile_id)
    assert (after["capture"], after["updated"]) == (before["capture"], before["updated"])


def brand_header(html: str) -> str | None:
    found = re.search(r'<span class="brand-name"[^>]*>([^<]*)</span>', html)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda link: f"/flow/{link.profile_id}", 401),  # the token cut off
        (lambda link: f"/flow/{link.profile_id}?t={link.token[:-3]}abc", 403),  # tampered
        (lambda link: f"/flow/{link.profile_id}?t=garbage", 403),
    ],
)
def test_a_refused_link_of_a_known_profile_keeps_the_partners_branding(
    client: FlaskClient, link: Link, mangle: Any, status: int
) -> None:
    response = client.get(mangle(link))
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert brand_header(html) == "Banque Lumière"
    style = re.search(r"<style>([^<]*)</style>", html).group(1)
    assert "--accent:#0b6e4f" in style
    # The one inline style is allowed by its hash, nothing else inline is.
    policy = response.headers["Content-Security-Policy"]
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+';", policy)
    assert "unsafe-inline" not in policy


def test_the_api_refusal_carries_the_branding_for_pages_served_elsewhere(
    client: FlaskClient, link: Link, services: Services, settings: Any
) -> None:
    nonce = services.pb.get("profiles", link.profile_id)["link_nonce"]
    expired = links.sign_link(settings.link_secret, link.profile_id, 1_000, nonce)
    response = client.post(
        f"/flow/api/{link.profile_id}/start", headers={"X-Capture-Token": expired}
    )
    assert response.status_code == 410
    assert response.get_json()["branding"]["name"] == "Banque Lumière"


@pytest.mark.parametrize("path", ["/flow/", "/flow/zzzzzzzzzzzzzzz?t=abc", "/flow/x?t=abc"])
def test_a_link_whose_partner_cannot_be_known_shows_a_neutral_page(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path, headers={"Accept-Language": "fr"})
    assert response.status_code in (401, 403)
    html = response.get_data(as_text=True)
    assert brand_header(html) is None
    assert "<style>" not in html
    assert "style-src 'self';" in response.headers["Content-Security-Policy"]
    assert 'lang="fr"' in html and "Vérification d&#39;identité" in html
