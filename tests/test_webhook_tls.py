"""Webhook delivery to an HTTPS receiver on loopback: the receiver's certificate is verified, by
the public CAs unless the operator names its own (``EKYC_WEBHOOK_CA_BUNDLE``). A receiver whose
certificate nobody vouches for gets nothing, and the partner sees why."""

from __future__ import annotations

import ipaddress
import json
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient
from webhook_fixtures import hook, loopback_context
from webhook_receiver import Receiver, independent_verify, start_receiver

from gateway.container import Services
from gateway.services.webhooks.delivery import sweep
from gateway.settings import Settings, SettingsError


@dataclass
class Pki:
    """A throwaway CA and a certificate it issued for 127.0.0.1, as PEM files."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("eKYC test CA"))
        .issuer_name(_name("eKYC test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(folder / "ca.pem", folder / "receiver.pem", folder / "receiver.key")
    paths.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_receiver(pki: Pki) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_pem, pki.key_pem)
    server = start_receiver(tls=context)
    yield server
    server.stop()


def sweep_once(services: Services, ca_bundle: str = "") -> None:
    """One sweep by a delivery context that trusts ``ca_bundle`` besides the public CAs."""
    context = loopback_context(services, ca_bundle=ca_bundle, rng=random.Random(3))
    try:
        sweep(context)
    finally:
        context.close()


def test_a_receiver_certificate_from_an_unknown_ca_is_refused(
    loopback_client: FlaskClient,
    loopback_services: Services,
    make_partner: Callable,
    tls_receiver: Receiver,
) -> None:
    assert tls_receiver.url.startswith("https://")
    hooked = hook(loopback_client, make_partner, tls_receiver, name="TLS partner")
    hooked.new_profile()
    sweep_once(loopback_services)
    assert tls_receiver.requests == []
    [row] = hooked.deliveries()
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert row["last_error"].startswith("SSLError")
    assert "CERTIFICATE_VERIFY_FAILED" in row["attempt_log"][0]["error"]


def test_the_operators_ca_bundle_makes_the_receiver_trusted(
    loopback_client: FlaskClient,
    loopback_services: Services,
    make_partner: Callable,
    tls_receiver: Receiver,
    pki: Pki,
) -> None:
    hooked = hook(loopback_client, make_partner, tls_receiver, name="TLS partner with CA")
    profile_id = hooked.new_profile()
    sweep_once(loopback_services, ca_bundle=str(pki.ca_pem))
    [request] = tls_receiver.requests
    assert independent_verify(hooked.endpoint["secret"], request.headers, request.body)
    assert json.loads(request.body)["data"]["profile_id"] == profile_id
    [row] = hooked.deliveries()
    assert row["status"] == "succeeded" and row["last_status_code"] == 200


def test_a_missing_ca_bundle_fails_at_start_up(tmp_path: Path) -> None:
    env = {"EKYC_HOME": str(tmp_path), "EKYC_WEBHOOK_CA_BUNDLE": str(tmp_path / "absent.pem")}
    with pytest.raises(SettingsError, match="EKYC_WEBHOOK_CA_BUNDLE"):
        Settings.from_env(env)
