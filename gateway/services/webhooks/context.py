"""What webhook delivery runs with: the retry schedule, the context, an attempt's outcome."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import urllib3

from gateway.services.pocketbase import PocketBase
from gateway.services.webhooks.ssrf import guarded_pool_manager

TIMEOUT_S = 10.0
LEASE_MARGIN_S = 30


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * factor**step`` capped, stretched by up to
    ``jitter`` (never shortened, so the schedule never spans less than its nominal total)."""

    base_delay_s: float = 60.0
    factor: float = 3.0
    max_delay_s: float = 12 * 3600.0
    max_retries: int = 12
    jitter: float = 0.2

    def nominal_delay_s(self, step: int) -> float:
        """Delay before retry number ``step + 1``, before jitter."""
        return min(self.base_delay_s * self.factor**step, self.max_delay_s)

    def delay_s(self, step: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``step + 1``, with jitter."""
        return self.nominal_delay_s(step) * (1.0 + (rng or random).uniform(0.0, self.jitter))

    def nominal_span_s(self) -> float:
        """Time from the first attempt to the last retry, before jitter."""
        return sum(self.nominal_delay_s(step) for step in range(self.max_retries))


@dataclass
class DeliveryContext:
    """What delivering needs: the store, the key that opens secrets, the SSRF policy, a clock."""

    pb: PocketBase
    data_key: str
    allow_private: bool = False
    ca_bundle: str = ""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = TIMEOUT_S
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_event_dispatched: Callable[[dict[str, Any]], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    pools: urllib3.PoolManager | None = None
    # What this process wrote of an endpoint's health, by the endpoint as claimed (id,
    # failing_since, last_success_at): every delivery of a round carries the same stale copy and
    # would otherwise write the same mark again. Shared by the engine's threads.
    endpoint_marks: dict[tuple[str, str, str], tuple[str, datetime]] = field(default_factory=dict)

    def http(self) -> urllib3.PoolManager:
        """The guarded connection pools (built on first use)."""
        if self.pools is None:
            self.pools = guarded_pool_manager(self.allow_private, self.ca_bundle)
        return self.pools

    def close(self) -> None:
        """Close the connections."""
        if self.pools is not None:
            self.pools.clear()
            self.pools = None

    def lease_s(self) -> float:
        """How long a claimed delivery stays leased: an attempt's connect and read timeouts,
        and a margin to record it. A worker that dies mid-attempt frees it after this."""
        return self.timeout_s * 2 + LEASE_MARGIN_S


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt did."""

    delivery_id: str
    attempted: bool
    status: str
    status_code: int | None = None
    next_attempt_at: datetime | None = None
    endpoint_disabled: bool = False
