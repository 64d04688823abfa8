"""The worker's webhook engine: deliveries sent concurrently, fairly across partners, in rounds.

Each round is one request to PocketBase (``pb_hooks/webhook_work.pb.js``), one transaction: store
the attempts finished since the last round, fan new outbox events out to deliveries, claim due
deliveries for the free sending slots. Claims visit the endpoints with pending deliveries
round-robin and keep at most ``per_endpoint`` of an endpoint's deliveries in flight, across every
worker: a partner's backlog or slow receiver holds that many slots, never the others'. Attempts run
on a thread pool (sending is waiting on receivers, not CPU), so throughput is the receivers' and
not a fixed batch per sweep. Idle, a round costs PocketBase two index seeks.

A claimed delivery is leased; a worker that dies mid-attempt frees it when the lease runs out, and
the next round sends it again (at least once; receivers dedupe on ``webhook-id``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from gateway.errors import StoreError
from gateway.services.pb_time import pb_datetime
from gateway.services.webhooks.attempts import Attempt, after_recorded, attempt
from gateway.services.webhooks.context import DeliveryContext
from gateway.settings import Settings

log = structlog.get_logger("gateway.webhooks")

WORK_PATH = "/api/ekyc/webhooks/work"
# The longest a round waits for more attempts to finish before storing the ones that have.
BATCH_WAIT_S = 0.01


@dataclass(frozen=True)
class EngineLimits:
    """How much the engine sends at once: in all (threads) and per endpoint (across workers),
    and how many new events a round fans out."""

    concurrency: int = Settings.webhook_concurrency
    per_endpoint: int = Settings.webhook_endpoint_concurrency
    dispatch_batch: int = 1000


@dataclass
class _Finished:
    delivery: dict[str, Any]
    endpoint: dict[str, Any]
    made: Attempt


def work_round(
    ctx: DeliveryContext,
    now: datetime,
    *,
    results: list[dict[str, Any]] | None = None,
    dispatch_limit: int,
    claim_limit: int,
    per_endpoint: int = EngineLimits.per_endpoint,
    cursor: str = "",
) -> dict[str, Any]:
    """One round in PocketBase: store ``results``, fan out, claim. The route's answer."""
    response = ctx.pb.request(
        "POST",
        WORK_PATH,
        json={
            "now": pb_datetime(now),
            "lease_until": pb_datetime(now + timedelta(seconds=ctx.lease_s())),
            "results": results or [],
            "dispatch_limit": dispatch_limit,
            "claim_limit": claim_limit,
            "per_endpoint": per_endpoint,
            "cursor": cursor,
        },
    )
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused a webhook round: {response.status_code}")
    return response.json()


def announce_dispatched(ctx: DeliveryContext, events: list[dict[str, Any]]) -> None:
    """Run the context's side effect (the review email) for each event fanned out."""
    if ctx.on_event_dispatched is None:
        return
    for event in events:
        try:
            ctx.on_event_dispatched(event)
        except Exception:  # a notification must never hold back webhooks
            log.exception("event_side_effect_failed", event_id=event["id"], type=event["type"])


class DeliveryEngine:
    """Sends due deliveries on a thread pool; ``run`` in the worker, ``drain`` in a sweep."""

    def __init__(self, ctx: DeliveryContext, limits: EngineLimits | None = None) -> None:
        self.ctx = ctx
        self.limits = limits or EngineLimits()
        self.counts: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(self.limits.concurrency, thread_name_prefix="webhook")
        self._changed = threading.Condition()
        self._in_flight = 0
        self._finished: list[_Finished] = []
        self._cursor = ""
        self._local = threading.local()
        self._contexts: list[DeliveryContext] = []

    # -- rounds ----------------------------------------------------------------------------------

    def round(self) -> bool:
        """Store finished attempts, fan out, claim and start attempts; whether anything moved."""
        with self._changed:
            finished, self._finished = self._finished, []
            free = self.limits.concurrency - self._in_flight
        try:
            work = work_round(
                self.ctx,
                self.ctx.clock(),
                results=[{"id": f.delivery["id"], "record": f.made.record} for f in finished],
                dispatch_limit=self.limits.dispatch_batch,
                claim_limit=free,
                per_endpoint=self.limits.per_endpoint,
                cursor=self._cursor,
            )
        except Exception:
            with self._changed:  # stored by the next round (or sent again once the lease ends)
                self._finished[:0] = finished
            raise
        self._cursor = work["cursor"]
        for item in finished:
            self.counts["attempted"] += 1
            self.counts[item.made.outcome.status] += 1
            after_recorded(self.ctx, item.endpoint, item.made)
        self.counts["dispatched"] += len(work["created"])
        announce_dispatched(self.ctx, work["dispatched"])
        for delivery in work["deliveries"]:
            endpoint = work["endpoints"][delivery["endpoint"]]
            event = work["events"][delivery["event"]]
            with self._changed:
                self._in_flight += 1
            self._pool.submit(self._attempt, delivery, endpoint, event)
        return bool(finished or work["dispatched"] or work["deliveries"])

    def _attempt(
        self, delivery: dict[str, Any], endpoint: dict[str, Any], event: dict[str, Any]
    ) -> None:
        made = None
        try:
            made = attempt(self._thread_context(), delivery, endpoint, event, self.ctx.clock())
        except Exception:  # left leased: sent again when the lease ends
            log.exception("webhook_attempt_crashed", delivery_id=delivery["id"])
        finally:
            with self._changed:
                if made is not None:
                    self._finished.append(_Finished(delivery, endpoint, made))
                self._in_flight -= 1
                self._changed.notify_all()

    def _thread_context(self) -> DeliveryContext:
        """The context with connection pools of this thread's own."""
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = dataclasses.replace(self.ctx, pools=None)
            self._local.ctx = ctx
            with self._changed:
                self._contexts.append(ctx)
        return ctx

    def _wait(self, moved: bool, idle_wait_s: float) -> None:
        """Between rounds. After a round that moved, until half the attempts in flight have
        finished (at most ``BATCH_WAIT_S``): a round per finished attempt cost PocketBase more
        than the attempts themselves. Otherwise until one finishes, or ``idle_wait_s``."""
        with self._changed:
            if moved:
                wanted = max(1, self._in_flight // 2)
                deadline = time.monotonic() + BATCH_WAIT_S
                while len(self._finished) < wanted and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())
            elif not self._finished:
                self._changed.wait(idle_wait_s)

    def _idle(self) -> bool:
        with self._changed:
            return self._in_flight == 0 and not self._finished

    # -- loops -----------------------------------------------------------------------------------

    def drain(self, wait_s: float = 1.0) -> Counter[str]:
        """Round after round until nothing is due, dispatched or in flight (sweeps, tests)."""
        while True:
            moved = self.round()
            if not moved and self._idle():
                return self.counts
            self._wait(moved, wait_s)

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Until ``stop``: a round as soon as the last one moved or an attempt finished, else
        every ``interval_s``."""
        while not stop.is_set():
            try:
                moved = self.round()
            except Exception:  # the store restarting: try again at the next interval
                log.warning("webhook_round_failed", exc_info=True)
                stop.wait(interval_s)
                continue
            self._wait(moved, interval_s)
        self.close()

    def close(self) -> None:
        """Finish the attempts in flight, store them, close the connections."""
        self._pool.shutdown(wait=True)
        if not self._idle():
            try:
                self.round_storing_only()
            except Exception:
                log.warning("webhook_final_round_failed", exc_info=True)
        for ctx in self._contexts:
            ctx.close()

    def round_storing_only(self) -> None:
        """Store finished attempts without fanning out or claiming (at shutdown)."""
        with self._changed:
            finished, self._finished = self._finished, []
        if finished:
            work_round(
                self.ctx,
                self.ctx.clock(),
                results=[{"id": f.delivery["id"], "record": f.made.record} for f in finished],
                dispatch_limit=0,
                claim_limit=0,
            )
            for item in finished:
                after_recorded(self.ctx, item.endpoint, item.made)
