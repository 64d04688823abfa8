"""The README's examples parse, and the example applicant's data passes the checks it feeds.

The docs test proper (tests/e2e/test_flow_to_decision.py) runs the README's commands against a
live stack and walks the example profile to an approval; it needs Chromium and the shared
datasets. This part needs neither, so a README edit that breaks an example fails everywhere.
"""

from __future__ import annotations

import pytest

from gateway.verification.kya import check_email, check_phone
from tests.e2e.readme_example import (
    PARTNER_CREATE,
    PARTNER_EXAMPLE,
    TRY_IT_CREATE,
    TRY_IT_DECISION,
    block_with,
    line_starting,
    profile_request,
)


def test_the_partner_example_is_one_block_with_a_profile_that_passes_the_data_checks():
    example = block_with(PARTNER_EXAMPLE)
    request = profile_request(example)
    assert request["return_url"].startswith("https://bank.example/kyc/")
    assert '"allowed_return_urls": ["https://bank.example/kyc/"]' in example
    # the first thing the new user trips on: the example's own phone and email must pass
    assert check_phone(request["phone"], request["country"])[0]["status"] == "pass"
    assert check_email(request["email"])[0]["status"] == "pass"
    assert line_starting(PARTNER_CREATE, block_with(PARTNER_CREATE)).startswith(PARTNER_CREATE)


def test_the_try_it_steps_are_found():
    assert "$KEY" in block_with(TRY_IT_CREATE)
    assert "<id>" in block_with(TRY_IT_DECISION)


def test_a_readme_that_lost_an_example_fails_loudly():
    with pytest.raises(AssertionError, match="one sh block"):
        block_with("curl -s", "```sh\necho nothing\n```\n")
