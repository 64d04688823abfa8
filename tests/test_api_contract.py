"""Contract fuzzing: schemathesis generates requests from /openapi.json and sends them to the
real app on the real PocketBase, with a real partner key. No response may be a server error or
break the document (undocumented status, wrong content type, a body off its schema).

Bounded: a few examples per operation (``CONTRACT_EXAMPLES``), so the whole run takes well under
a minute in CI; raise it locally to fuzz harder.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.conftest import PartnerHandle

CONTRACT_EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "6"))
CONTRACT_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def reviewer_partner(make_partner) -> PartnerHandle:
    """A key with both scopes, so reviewer operations are exercised too, not only refused."""
    return make_partner("Contract partner", scopes=("partner", "reviewer"))


def test_every_operation_keeps_its_contract(app: Flask, reviewer_partner: PartnerHandle) -> None:
    """Every operation of the document, fuzzed in turn; all failures are reported together."""
    seen_statuses: Counter[int] = Counter()
    app.after_request_funcs.setdefault(None, []).append(
        lambda response: seen_statuses.update([response.status_code]) or response
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = 0
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=CONTRACT_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:
            case.call_and_validate(headers=reviewer_partner.headers, checks=CONTRACT_CHECKS)

        try:
            fuzz()
        except Exception as failure:  # schemathesis groups what it found per operation
            failures[operation.label] = str(failure)[:1500]
    assert operations >= 30
    # The fuzz reached the operations themselves, not only the gate in front of them.
    assert sum(count for status, count in seen_statuses.items() if status < 300) >= 20, (
        seen_statuses
    )
    assert seen_statuses[422] > 0 and seen_statuses[404] > 0
    assert failures == {}, "\n\n".join(f"{label}: {why}" for label, why in failures.items())
