"""Registry checks: an optional connector to a national ID or professional register.

One HTTP implementation, configured per partner (``settings.registry``: URL, auth header,
timeout, retries). Transient failures (timeouts, connection errors, 5xx, 429) are retried with
exponential backoff; repeated failures open a per-URL circuit breaker so a dead registry does not
add its timeout to every verification. The result is the ``registry`` factor
``{status: pass|fail|not_checked, reasons, ...}``; a registry that cannot be reached is reported
as ``not_checked`` with the reason, never as ``pass``: whether that blocks approval is the
partner's ``required_checks.registry``.

Wire protocol (what ``scripts/registry_simulator.py`` serves):
``POST <url>`` with ``{"type": "national_id", "id_number": "..."}`` answers
``{"status": "VALID" | "BLOCKED" | "INVALID" | "DECEASED"}``;
``{"type": "professional", "registration_number": "..."}`` answers
``{"status": "ACTIVE" | "SUSPENDED" | "REVOKED" | "NOT_FOUND", "name": "..."}``.
"""

from __future__ import annotations

import random
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
import structlog

log = structlog.get_logger("gateway.registry")

NATIONAL_ID_OUTCOMES = {
    "VALID": ("pass", "the national ID is valid in the registry"),
    "BLOCKED": ("fail", "the registry reports the national ID as blocked"),
    "INVALID": ("fail", "the registry does not know this national ID"),
    "DECEASED": ("fail", "the registry reports the holder as deceased"),
}
PROFESSIONAL_OUTCOMES = {
    "SUSPENDED": "the professional registration is suspended",
    "REVOKED": "the professional registration is revoked",
    "NOT_FOUND": "the registration number is not in the professional register",
}
TRANSIENT_STATUS_CODES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RegistrySubject:
    """What is looked up: a national ID number, or a professional registration and the name the
    document bears (compared locally, never sent)."""

    kind: str  # "national_id" | "professional"
    id_number: str | None = None
    registration_number: str | None = None
    full_name: str | None = None


@dataclass(frozen=True)
class RegistryResult:
    """The ``registry`` factor."""

    status: str  # "pass" | "fail" | "not_checked"
    reasons: tuple[str, ...]
    kind: str
    registry_status: str | None = None
    attempts: int = 0
    latency_ms: float | None = None

    def as_factor(self) -> dict[str, Any]:
        """The factor as stored in a profile's scores."""
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "kind": self.kind,
            "registry_status": self.registry_status,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
        }


class RegistryConnector(Protocol):
    """Anything that can check a subject against a register."""

    def check(self, subject: RegistrySubject) -> RegistryResult:
        """Look ``subject`` up; never raises for registry trouble (reports ``not_checked``)."""
        ...


@dataclass(frozen=True)
class RegistryConfig:
    """A partner's ``settings.registry``."""

    url: str
    kind: str = "national_id"
    auth_header_name: str = "Authorization"
    auth_header_value: str | None = None
    timeout_s: float = 5.0
    retries: int = 2

    @classmethod
    def from_settings(cls, registry: dict[str, Any]) -> RegistryConfig:
        """From the validated settings dict."""
        return cls(
            url=registry["url"],
            kind=registry.get("kind") or "national_id",
            auth_header_name=registry.get("auth_header_name") or "Authorization",
            auth_header_value=registry.get("auth_header_value"),
            timeout_s=float(registry.get("timeout_s") or 5.0),
            retries=int(registry.get("retries") if registry.get("retries") is not None else 2),
        )


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; after ``reset_after_s`` lets one
    trial call through (half-open), which closes it on success or re-opens it on failure."""

    failure_threshold: int = 5
    reset_after_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now."""
        with self._lock:
            return self.state != "open"

    def record_success(self) -> None:
        """A call succeeded: close."""
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def record_failure(self) -> None:
        """A call failed: count it, open at the threshold (or again after a failed trial)."""
        with self._lock:
            self.failures += 1
            if self.opened_at is not None or self.failures >= self.failure_threshold:
                self.opened_at = self.clock()


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(url: str) -> CircuitBreaker:
    """The process-wide breaker of one registry URL."""
    with _breakers_lock:
        return _breakers.setdefault(url, CircuitBreaker())


def normalize_name(name: str) -> tuple[str, ...]:
    """Case-, accent- and order-insensitive name tokens: 'Dr. José  da Silva' ~ 'SILVA JOSE DA'."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = "".join(c if c.isalnum() else " " for c in letters.casefold())
    return tuple(sorted(cleaned.split()))


class _Transient(Exception):
    """A failure worth retrying."""


class HttpRegistryConnector:
    """The HTTP connector (see the module docstring for the protocol)."""

    def __init__(
        self,
        config: RegistryConfig,
        *,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.breaker = breaker or breaker_for(config.url)
        self.sleep = sleep
        self.backoff_base_s = backoff_base_s
        self.rng = rng or random.Random()

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def _not_checked(self, reason: str, attempts: int = 0) -> RegistryResult:
        return RegistryResult("not_checked", (reason,), self.config.kind, attempts=attempts)

    def check(self, subject: RegistrySubject) -> RegistryResult:
        """Look ``subject`` up with retries, behind the circuit breaker."""
        body = self._request_body(subject)
        if body is None:
            return self._not_checked("nothing to look up: no number for this registry")
        if not self.breaker.allow():
            return self._not_checked("registry unavailable (circuit open after repeated failures)")
        headers = {"accept": "application/json"}
        if self.config.auth_header_value:
            headers[self.config.auth_header_name] = self.config.auth_header_value
        last_error = "no attempt made"
        started = time.monotonic()
        attempts = 0
        for attempt in range(self.config.retries + 1):
            if attempt:
                delay = self.backoff_base_s * 2 ** (attempt - 1)
                self.sleep(delay * (1 + self.rng.uniform(0, 0.25)))
            attempts += 1
            try:
                answer = self._call(body, headers)
            except _Transient as exc:
                last_error = str(exc)
                continue
            except _Permanent as exc:
                self.breaker.record_failure()
                log.warning("registry_refused", kind=self.config.kind, error=str(exc))
                return self._not_checked(f"registry error: {exc}", attempts)
            self.breaker.record_success()
            result = self._interpret(subject, answer, attempts)
            return RegistryResult(
                result.status,
                result.reasons,
                result.kind,
                result.registry_status,
                attempts,
                round((time.monotonic() - started) * 1000, 1),
            )
        self.breaker.record_failure()
        log.warning("registry_unavailable", kind=self.config.kind, attempts=attempts)
        return self._not_checked(
            f"registry unavailable after {attempts} attempts: {last_error}", attempts
        )

    def _request_body(self, subject: RegistrySubject) -> dict[str, str] | None:
        if self.config.kind == "national_id":
            return (
                {"type": "national_id", "id_number": subject.id_number}
                if subject.id_number
                else None
            )
        if subject.registration_number:
            return {"type": "professional", "registration_number": subject.registration_number}
        return None

    def _call(self, body: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        try:
            response = self.session.post(
                self.config.url,
                json=body,
                headers=headers,
                timeout=self.config.timeout_s,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise _Transient(f"timeout after {self.config.timeout_s}s") from exc
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from exc
        if response.status_code in TRANSIENT_STATUS_CODES:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise _Permanent(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise _Permanent("the answer is not JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
            raise _Permanent("the answer has no status")
        return answer

    def _interpret(
        self, subject: RegistrySubject, answer: dict[str, Any], attempts: int
    ) -> RegistryResult:
        status = answer["status"].upper()
        kind = self.config.kind
        if kind == "national_id":
            if status not in NATIONAL_ID_OUTCOMES:
                return RegistryResult(
                    "not_checked",
                    (f"registry answered an unknown status {status!r}",),
                    kind,
                    status,
                )
            outcome, reason = NATIONAL_ID_OUTCOMES[status]
            return RegistryResult(outcome, (reason,), kind, status)
        if status in PROFESSIONAL_OUTCOMES:
            return RegistryResult("fail", (PROFESSIONAL_OUTCOMES[status],), kind, status)
        if status != "ACTIVE":
            return RegistryResult(
                "not_checked", (f"registry answered an unknown status {status!r}",), kind, status
            )
        registered = answer.get("name")
        if not subject.full_name or not isinstance(registered, str):
            return RegistryResult(
                "not_checked",
                ("registration active, but there is no name to compare",),
                kind,
                status,
            )
        if normalize_name(registered) != normalize_name(subject.full_name):
            return RegistryResult(
                "fail", ("registration active under a different name",), kind, status
            )
        return RegistryResult("pass", ("registration active under the same name",), kind, status)


class _Permanent(Exception):
    """A failure retrying will not fix (bad credentials, malformed answer)."""


def registry_factor(
    partner_settings: dict[str, Any],
    subject: RegistrySubject,
    connector: RegistryConnector | None = None,
) -> dict[str, Any]:
    """The ``registry`` factor for a verification under a partner's effective settings."""
    registry = partner_settings.get("registry") or {}
    if not registry.get("enabled") or not registry.get("url"):
        return RegistryResult(
            "not_checked", ("no registry configured for this partner",), registry.get("kind") or ""
        ).as_factor()
    if connector is not None:
        return connector.check(subject).as_factor()
    http_connector = HttpRegistryConnector(RegistryConfig.from_settings(registry))
    try:
        return http_connector.check(subject).as_factor()
    finally:
        http_connector.close()
