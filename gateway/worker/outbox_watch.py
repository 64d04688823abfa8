"""Wakes webhook dispatch within half a second of an event's commit, whoever made the change.

Status changes write their events into the outbox inside PocketBase (pb_hooks), on every path: the
gateway, the worker, a reviewer in the admin UI. The worker hands its own decisions to dispatch at
once; everything else (a profile created, a link opened, a reviewer's decision) used to wait for
the minute's sweep, 7-49 s. This loop, in the consumer's main process, asks the store twice a second
whether any event is undispatched (one indexed lookup of one row, nothing while idle beyond that)
and enqueues a dispatch when one is. The sweep stays as the safety net.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from gateway.services.pocketbase import PocketBase

log = structlog.get_logger("gateway.worker.outbox")

POLL_INTERVAL_S = 0.5


def has_undispatched_events(pb: PocketBase) -> bool:
    """Whether the outbox holds an event not yet fanned out (served by the dispatch index)."""
    return bool(pb.find("webhook_events", where={"dispatched_at": ""}, sort="@rowid", limit=1))


def watch_outbox(
    pb: PocketBase,
    wake: Callable[[], object],
    stop: threading.Event,
    *,
    interval_s: float = POLL_INTERVAL_S,
) -> None:
    """Until ``stop`` is set: call ``wake`` (which fans the events out before it returns) each
    time undispatched events are found."""
    while not stop.wait(interval_s):
        try:
            if has_undispatched_events(pb):
                wake()
        except Exception:  # the store restarting: the minute's sweep covers the gap
            log.warning("outbox_watch_failed", exc_info=True)


def start_outbox_watch(pb: PocketBase, wake: Callable[[], object]) -> threading.Event:
    """Run ``watch_outbox`` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_outbox, args=(pb, wake, stop), name="outbox-watch", daemon=True
    )
    thread.start()
    return stop
