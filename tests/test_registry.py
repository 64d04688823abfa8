"""Registry connector outcomes against a mocked third-party registry (``responses``): every
national-ID status, professional name matching, retries, the circuit breaker, and failures that
must never read as a pass."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses

from gateway.services.partner_settings import DEFAULT_SETTINGS, effective_settings
from gateway.verification.registry import (
    CircuitBreaker,
    HttpRegistryConnector,
    RegistryConfig,
    RegistrySubject,
    normalize_name,
    registry_factor,
)

URL = "https://registry.example.test/lookup"
NIK = RegistrySubject("national_id", id_number="3171234567890001")


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept HTTP to the registry."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def connector(
    kind: str = "national_id", retries: int = 2, **kwargs: object
) -> HttpRegistryConnector:
    """A connector with a fresh breaker and no real sleeping."""
    config = RegistryConfig(
        url=URL,
        kind=kind,
        auth_header_name="X-Registry-Key",
        auth_header_value="k-123",
        timeout_s=1.0,
        retries=retries,
    )
    sleeps: list[float] = []
    made = HttpRegistryConnector(
        config,
        breaker=kwargs.pop("breaker", None) or CircuitBreaker(),  # type: ignore[arg-type]
        sleep=sleeps.append,
    )
    made.sleeps = sleeps  # type: ignore[attr-defined]
    return made


@pytest.mark.parametrize(
    ("registry_status", "factor_status"),
    [("VALID", "pass"), ("BLOCKED", "fail"), ("INVALID", "fail"), ("DECEASED", "fail")],
)
def test_national_id_statuses(
    mocked: responses.RequestsMock, registry_status: str, factor_status: str
) -> None:
    mocked.post(URL, json={"status": registry_status})
    made = connector()
    result = made.check(NIK)
    made.close()
    assert result.status == factor_status
    assert result.registry_status == registry_status and result.attempts == 1
    assert result.reasons and all(isinstance(reason, str) for reason in result.reasons)
    sent = mocked.calls[0].request
    assert sent.headers["X-Registry-Key"] == "k-123"
    assert json.loads(sent.body) == {"type": "national_id", "id_number": "3171234567890001"}


def test_transient_errors_are_retried_with_backoff(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, status=503)
    mocked.post(URL, body=requests.ConnectionError("reset"))
    mocked.post(URL, json={"status": "VALID"})
    made = connector(retries=2)
    result = made.check(NIK)
    made.close()
    assert result.status == "pass" and result.attempts == 3
    assert len(made.sleeps) == 2 and made.sleeps[1] > made.sleeps[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503},
        {"body": requests.Timeout("slow")},
        {"status": 401},
        {"body": "<html>oops</html>", "status": 200},
        {"json": {"status": "MAYBE"}},
        {"json": {"unexpected": True}},
    ],
)
def test_failures_are_not_checked_never_pass(mocked: responses.RequestsMock, failure: dict) -> None:
    mocked.post(URL, **failure)
    made = connector(retries=1)
    result = made.check(NIK)
    made.close()
    assert result.status == "not_checked"
    assert result.reasons and result.reasons[0]


def test_circuit_breaker_opens_then_lets_a_trial_through(mocked: responses.RequestsMock) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=30, clock=clock)
    mocked.post(URL, status=500)
    made = connector(retries=0, breaker=breaker)
    assert made.check(NIK).status == "not_checked"
    assert made.check(NIK).status == "not_checked"
    assert breaker.state == "open" and len(mocked.calls) == 2

    result = made.check(NIK)  # open: no call goes out
    assert result.status == "not_checked" and "circuit open" in result.reasons[0]
    assert len(mocked.calls) == 2

    clock.now += 31
    assert breaker.state == "half_open"
    mocked.replace(responses.POST, URL, json={"status": "VALID"})
    assert made.check(NIK).status == "pass"
    assert breaker.state == "closed" and len(mocked.calls) == 3
    made.close()


def test_failed_trial_reopens_the_breaker(mocked: responses.RequestsMock) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    mocked.post(URL, status=502)
    made = connector(retries=0, breaker=breaker)
    made.check(NIK)
    clock.now += 11
    made.check(NIK)  # the half-open trial fails
    assert breaker.state == "open"
    made.close()


def test_professional_register_matches_name_and_status(mocked: responses.RequestsMock) -> None:
    subject = RegistrySubject(
        "professional", registration_number="MD-4471", full_name="José da Silva"
    )
    mocked.post(URL, json={"status": "ACTIVE", "name": "SILVA, JOSE DA"})
    made = connector(kind="professional")
    assert made.check(subject).status == "pass"
    assert json.loads(mocked.calls[0].request.body) == {
        "type": "professional",
        "registration_number": "MD-4471",
    }  # the name is compared here, never sent
    mocked.replace(responses.POST, URL, json={"status": "ACTIVE", "name": "Maria Santos"})
    mismatch = made.check(subject)
    assert mismatch.status == "fail" and "different name" in mismatch.reasons[0]
    mocked.replace(responses.POST, URL, json={"status": "SUSPENDED", "name": "Jose da Silva"})
    assert made.check(subject).status == "fail"
    made.close()


def test_factor_without_configuration_or_number_is_not_checked(
    mocked: responses.RequestsMock,
) -> None:
    assert registry_factor(effective_settings({}), NIK)["status"] == "not_checked"
    settings = effective_settings(
        {"registry": {**DEFAULT_SETTINGS["registry"], "enabled": True, "url": URL}}
    )
    factor = registry_factor(settings, RegistrySubject("national_id"))
    assert factor["status"] == "not_checked" and "nothing to look up" in factor["reasons"][0]
    assert not mocked.calls


def test_factor_through_partner_settings(mocked: responses.RequestsMock) -> None:
    mocked.post(URL, json={"status": "DECEASED"})
    settings = effective_settings(
        {"registry": {"enabled": True, "url": URL, "auth_header_value": "Bearer t"}}
    )
    factor = registry_factor(settings, RegistrySubject("national_id", id_number="1"))
    assert factor["status"] == "fail" and factor["registry_status"] == "DECEASED"
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer t"


def test_name_normalisation() -> None:
    assert normalize_name("Dr  José DA-Silva") == normalize_name("silva da jose dr")
    assert normalize_name("Ann Lee") != normalize_name("Anne Lee")


def test_a_failed_registry_check_never_leads_to_approval(mocked: responses.RequestsMock) -> None:
    """The operator enabled the registry without making it required. It carries no weight, so
    its failure cannot lower the score: a register saying the holder is deceased must still stop
    an approval (it used to leave the decision untouched)."""
    from gateway.verification.factors import registry_check
    from gateway.verification.scoring import PASS, decide, factor, scoring_settings

    mocked.post(URL, json={"status": "DECEASED"})
    settings = effective_settings({"registry": {"enabled": True, "url": URL}})
    factors = {
        "liveness": factor(PASS, 1.0, ["the challenge was followed live"]),
        "face_match": factor(PASS, 0.95, ["similarity 0.95 >= 0.75 threshold"]),
        "document": factor(PASS, 1.0, ["document checks passed"]),
        "kya": factor(PASS, 1.0, ["2 applicant data checks passed"]),
        "registry": registry_check(settings, {}, {"document_number": "3171234567890001"}),
    }
    assert factors["registry"]["status"] == "fail"
    result = decide(factors, scoring_settings(settings))
    assert result.score == 98.0
    assert result.decision == "manual_review"
    assert result.main_reason == (
        "registry check failed: the registry reports the holder as deceased"
    )
