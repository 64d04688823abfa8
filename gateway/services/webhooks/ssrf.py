"""Outbound-request guard for partner-supplied webhook URLs.

A webhook URL is chosen by a partner, and the worker that calls it sits inside the operator's
network. Only http(s) URLs without credentials are accepted, and every address the host resolves
to must be public. The check runs when the URL is saved and again on the socket actually used for
each delivery (the peer address after connect), so a DNS answer that changes between the check and
the request (rebinding) is refused too. Loopback and private ranges can be allowed by the operator
(``EKYC_WEBHOOK_ALLOW_PRIVATE``, for tests and single-host setups); link-local addresses
(169.254.0.0/16, fe80::/10, where cloud metadata services live) and the known metadata
addresses (169.254.169.254, fd00:ec2::254) never are.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gateway.errors import ValidationFailed

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class UrlRefused(ValidationFailed):
    """The URL may not be called from the worker."""

    code, title = "webhook_url_refused", "This webhook URL is not allowed"


def address_refusal(address: IpAddress, allow_private: bool) -> str | None:
    """Why ``address`` may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or address.is_link_local:
        return "link-local and metadata addresses are never allowed"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address.is_global:
        return None
    if allow_private:
        return None
    return "private, loopback and internal addresses are not allowed"


def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(
            "The webhook host does not resolve", errors={"url": ["host does not resolve"]}
        ) from exc
    return sorted({ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}, key=str)


def check_url(url: str, *, allow_private: bool, resolve_host: bool = True) -> str:
    """The URL, normalised, if the worker may call it; ``UrlRefused`` otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UrlRefused("Not a URL", errors={"url": ["not a URL"]}) from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Only http and https URLs", errors={"url": ["scheme must be http(s)"]})
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused(
            "Credentials in a webhook URL are not allowed (use the signature to authenticate)",
            errors={"url": ["credentials not allowed"]},
        )
    if not parts.hostname:
        raise UrlRefused("The URL has no host", errors={"url": ["missing host"]})
    if parts.fragment:
        raise UrlRefused("A webhook URL has no fragment", errors={"url": ["fragment"]})
    if resolve_host:
        for address in resolve(parts.hostname, port):
            refusal = address_refusal(address, allow_private)
            if refusal:
                raise UrlRefused(
                    f"The webhook host resolves to a refused address: {refusal}",
                    errors={"url": [refusal]},
                )
    return parts.geturl()


class RefusedPeer(requests.ConnectionError):
    """The connection reached an address the guard refuses."""


def _checked(sock: socket.socket, allow_private: bool) -> socket.socket:
    peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
    refusal = address_refusal(peer, allow_private)
    if refusal:
        sock.close()
        raise RefusedPeer(f"refused peer address: {refusal}")
    return sock


def _guarded_pools(allow_private: bool) -> dict[str, type]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _checked(super()._new_conn(), allow_private)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _checked(super()._new_conn(), allow_private)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """An adapter whose every new connection checks the peer it reached."""

    def __init__(self, allow_private: bool, **kwargs: Any) -> None:
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self.allow_private)


def guarded_session(allow_private: bool, ca_bundle: str = "") -> requests.Session:
    """A session for webhook deliveries: no proxies from the environment, guarded sockets, and
    HTTPS receivers verified against ``ca_bundle`` (a PEM file) or else the public CAs."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle or True
    adapter = GuardedAdapter(allow_private, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
