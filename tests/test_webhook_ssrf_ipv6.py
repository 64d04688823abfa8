"""The SSRF guard on IPv6 addresses that carry an IPv4 address (6to4, Teredo, NAT64, IPv4-mapped,
-translated and -compatible): each is judged as the IPv4 address it carries, so none of them is a
way around the refusal of loopback, private, link-local or metadata addresses."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from api_helpers import assert_problem
from flask.testing import FlaskClient

from gateway.errors import UrlRefused
from gateway.services.webhooks.ssrf import address_refusal, check_url, embedded_ipv4

# (IPv6 literal, the IPv4 address it carries)
LOOPBACK_FORMS = [
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4, the probe's first finding
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo client (bits inverted)
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 well-known prefix
    ("64:ff9b:1:7f00:0:100::", "127.0.0.1"),  # NAT64 local-use /48 (RFC 6052 layout)
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::ffff:0:7f00:1", "127.0.0.1"),  # IPv4-translated
    ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
]
METADATA_FORMS = [
    ("2002:a9fe:a9fe::", "169.254.169.254"),  # 6to4, the probe's second finding
    ("2001:0:4136:e378:8000:63bf:5601:5601", "169.254.169.254"),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
    ("64:ff9b:1:a9fe:a9:fe00::", "169.254.169.254"),
    ("::ffff:169.254.169.254", "169.254.169.254"),
    ("::ffff:0:a9fe:a9fe", "169.254.169.254"),
    ("::a9fe:a9fe", "169.254.169.254"),
]
PRIVATE_FORMS = [("2002:a00:1::", "10.0.0.1"), ("64:ff9b::c0a8:101", "192.168.1.1")]


@pytest.mark.parametrize(("literal", "ipv4"), LOOPBACK_FORMS + METADATA_FORMS + PRIVATE_FORMS)
def test_the_carried_ipv4_is_found(literal: str, ipv4: str) -> None:
    assert ipaddress.ip_address(ipv4) in embedded_ipv4(ipaddress.IPv6Address(literal))


@pytest.mark.parametrize(("literal", "ipv4"), LOOPBACK_FORMS + METADATA_FORMS + PRIVATE_FORMS)
def test_every_form_is_refused(literal: str, ipv4: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(f"http://[{literal}]/hook", allow_private=False)


@pytest.mark.parametrize(("literal", "ipv4"), METADATA_FORMS)
def test_metadata_forms_stay_refused_when_private_addresses_are_allowed(
    literal: str, ipv4: str
) -> None:
    with pytest.raises(UrlRefused):
        check_url(f"http://[{literal}]/hook", allow_private=True)


@pytest.mark.parametrize(
    "literal",
    ["2002:808:808::1", "64:ff9b::808:808", "2606:4700:4700::1111", "2a00:1450:4001:81a::200e"],
)
def test_public_addresses_still_pass(literal: str) -> None:
    assert address_refusal(ipaddress.ip_address(literal), False) is None


def test_plain_loopback_and_unspecified_are_not_mistaken_for_carried_ipv4() -> None:
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) == []
    assert embedded_ipv4(ipaddress.IPv6Address("::")) == []
    assert address_refusal(ipaddress.ip_address("::1"), False) is not None


@pytest.mark.parametrize("literal", ["2002:7f00:1::", "2002:a9fe:a9fe::"])
def test_the_api_refuses_to_register_them(client: FlaskClient, partner: Any, literal: str) -> None:
    response = client.post(
        "/api/webhooks",
        json={"url": f"http://[{literal}]/hook", "events": ["*"]},
        headers=partner.headers,
    )
    assert_problem(response, 422, "webhook_url_refused")
