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

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gateway.errors import UrlRefused

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


# IPv6 prefixes whose addresses carry an IPv4 address that a gateway, relay or the host's own
# stack will reach: 6to4 (RFC 3056), Teredo (RFC 4380), NAT64's well-known and local-use prefixes
# (RFC 6052, RFC 8215), and the IPv4-mapped, -translated (RFC 2765) and -compatible forms.
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address ``address`` carries (empty for a plain IPv6 address).

    Judging such an address by its IPv6 properties alone is wrong: Python calls
    ``2002:7f00:1::`` (6to4 of 127.0.0.1) global, and a 6to4 relay or NAT64 gateway on the
    operator's network would deliver the request to the embedded IPv4 address.
    """
    value = int(address)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in SIX_TO_FOUR:
        return [ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)]
    if address in TEREDO:
        server, client = address.teredo  # type: ignore[misc]
        return [server, client]
    if address in NAT64_WELL_KNOWN or address in IPV4_TRANSLATED:
        return [low32]
    if address in NAT64_LOCAL_USE:
        # A /48 NAT64 prefix puts the IPv4 address in bits 48-63 and 72-87 (bits 64-71 are the
        # reserved "u" octet), RFC 6052 section 2.2.
        high16 = (value >> 64) & 0xFFFF
        low16 = (value >> 40) & 0xFFFF
        return [ipaddress.IPv4Address((high16 << 16) | low16)]
    if address in IPV4_COMPATIBLE and value > 1:  # :: and ::1 are not IPv4-compatible forms
        return [low32]
    return []


def address_refusal(address: IpAddress, allow_private: bool) -> str | None:
    """Why ``address`` may not be called, or None when it may.

    An IPv6 address that carries an IPv4 address is judged as every IPv4 address it carries.
    """
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        if carried:
            for ipv4 in carried:
                refusal = address_refusal(ipv4, allow_private)
                if refusal:
                    return f"{refusal} (embedded in an IPv6 address)"
            if address in NAT64_LOCAL_USE and not allow_private:
                return "private, loopback and internal addresses are not allowed"
            return None
    if address in METADATA_ADDRESSES or address.is_link_local:
        return "link-local and metadata addresses are never allowed"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    # Python calls IPv6 site-local (fec0::/10, deprecated by RFC 3879 but still routed where a
    # network kept it) global: it is an internal range like the unique-local fc00::/7.
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if address.is_global and not site_local:
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


def guarded_pool_manager(allow_private: bool, ca_bundle: str = "") -> urllib3.PoolManager:
    """The worker's connection pools for deliveries: guarded sockets, HTTPS receivers verified
    against ``ca_bundle`` or else the public CAs, no retries, no proxies. urllib3 rather than a
    requests session: requests' per-call preparation was half the worker's CPU per webhook
    (bench/webhook_bench.py)."""
    manager = urllib3.PoolManager(
        num_pools=256,
        maxsize=32,
        block=False,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_bundle or certifi.where(),
    )
    manager.pool_classes_by_scheme = _guarded_pools(allow_private)
    return manager
