"""Signatures against the Standard Webhooks specification's published example, secrets' shape,
and the header layout during a rotation."""

from __future__ import annotations

import base64

import pytest

from gateway.services.webhooks.signing import (
    generate_secret,
    secret_key,
    sign,
    signature_header,
    webhook_headers,
)

# The example in the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_the_specification_example() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY) != SPEC_SIGNATURE
    assert sign(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, SPEC_BODY) != SPEC_SIGNATURE


def test_secrets_are_whsec_and_at_least_24_random_bytes() -> None:
    made = {generate_secret() for _ in range(20)}
    assert len(made) == 20
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:])) >= 24
        assert secret_key(secret) == base64.b64decode(secret[6:])


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_!!"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        secret_key(bad)


def test_header_carries_one_signature_per_secret() -> None:
    other = generate_secret()
    header = signature_header([other, SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    entries = header.split(" ")
    assert len(entries) == 2 and entries[1] == SPEC_SIGNATURE
    headers = webhook_headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers["webhook-id"] == SPEC_ID
    assert headers["webhook-timestamp"] == str(SPEC_TIMESTAMP)
    assert headers["webhook-signature"] == SPEC_SIGNATURE


def test_the_documented_partner_snippet_verifies_our_messages() -> None:
    """The Python snippet in docs/webhooks.md, run as a partner would copy it."""
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    [snippet] = re.findall(r"```python\n(.*?)```", doc, re.S)
    namespace: dict = {}
    exec(compile(snippet, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 (our own doc)
    verify = namespace["verify_webhook"]

    old, new = generate_secret(), generate_secret()
    now = int(time.time())
    body = b'{"type":"profile.approved"}'
    headers = {"Webhook-Id": "msg_x", "Webhook-Timestamp": str(now)}
    headers["Webhook-Signature"] = signature_header([new, old], "msg_x", now, body)
    assert verify(old, headers, body) and verify(new, headers, body)
    assert not verify(generate_secret(), headers, body)
    assert not verify(new, headers, body + b" ")
    stale = dict(headers, **{"Webhook-Timestamp": str(now - 3600)})
    stale["Webhook-Signature"] = signature_header([new], "msg_x", now - 3600, body)
    assert not verify(new, stale, body)
