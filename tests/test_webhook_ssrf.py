"""The SSRF guard: refused schemes, credentials and internal addresses (literal or resolved, e.g.
``localhost``), the operator's loopback allowance, and the socket-level check that stops a DNS
answer changing between the check and the request."""

from __future__ import annotations

import ipaddress

import pytest
import requests
from webhook_receiver import start_receiver

from gateway.errors import UrlRefused
from gateway.services.webhooks.ssrf import address_refusal, check_url, guarded_session


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com",
        "http://user:pass@example.com/hook",
        "https://token@example.com/hook",
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.9/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http:///nohost",
        "not a url",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=False)


def test_refusal_is_a_422_problem() -> None:
    with pytest.raises(UrlRefused) as caught:
        check_url("http://localhost/hook", allow_private=False)
    assert caught.value.status == 422 and caught.value.code == "webhook_url_refused"
    assert "url" in caught.value.errors


def test_public_addresses_pass() -> None:
    assert check_url("https://93.184.215.14/hooks?x=1", allow_private=False)
    assert check_url("http://[2606:4700:4700::1111]/h", allow_private=False)


def test_operator_allowance_admits_loopback_but_never_metadata() -> None:
    assert check_url("http://localhost:9/hook", allow_private=True)
    assert check_url("http://10.0.0.8/hook", allow_private=True)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://[fd00:ec2::254]/"):
        with pytest.raises(UrlRefused):
            check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("127.0.0.5", True),
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        # Site-local (fec0::/10): deprecated, still routed where a network kept it, and Python
        # calls it global.
        ("fec0::1", True),
        ("feff:ffff::1", True),
    ],
)
def test_address_policy(address: str, refused: bool) -> None:
    assert (address_refusal(ipaddress.ip_address(address), False) is not None) is refused


def test_guarded_session_refuses_the_socket_even_without_the_url_check() -> None:
    receiver = start_receiver()
    session = guarded_session(allow_private=False)
    try:
        with pytest.raises(requests.ConnectionError):
            session.post(receiver.url, data=b"{}", timeout=5)
        assert receiver.requests == []
        allowed = guarded_session(allow_private=True)
        try:
            response = allowed.post(receiver.url, data=b"{}", timeout=5)
            assert response.status_code == 200 and len(receiver.requests) == 1
            response.close()
        finally:
            allowed.close()
    finally:
        session.close()
        receiver.stop()
