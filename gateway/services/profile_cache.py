"""Partners' polls answered from memory, kept current by PocketBase's change stream (issue 18).

Partners' schedulers poll ``GET /api/profiles/{id}`` all day, and most polls find nothing new.
Read from PocketBase, each poll cost more CPU in the store than the gateway spent on it
(bench/gateway_bench.py), on the two cores both share. Here the gateway keeps the partner-facing
view of recently read profiles and PocketBase tells it of every change, so a repeated poll touches
neither the store nor the network.

Why an answer from here is never older than the store, beyond the time an event takes to arrive:
- An entry holds a profile's view and its ``version``, which every update bumps inside the write
  (``pb_hooks/profiles.pb.js``). An entry is only ever replaced by a higher version, so a read that
  raced with a change cannot put the older state back, in whatever order they land.
- The cache answers only while its stream is subscribed: every committed create, update and
  delete of a profile arrives on it. When the stream ends or breaks, the cache is emptied and
  reads go to PocketBase until a new subscription holds; a read that began before that
  subscription is not kept (``epoch``).
- A change made through this process's own client forgets the profile at once (a caller reads its
  own writes at once). A change made elsewhere (the worker, the admin UI) is seen when its event
  arrives: a few milliseconds after the write returns on this machine (docs/performance.md).
- A deleted profile (erasure) is remembered as deleted, so a late read cannot bring it back.

The stream is read by one daemon thread per process, started at the first read (a process that
never serves a poll, such as the worker, never subscribes). It holds the cache only weakly and
stops once the cache is gone, or at once and silently when the cache is closed (``close``: its
app is done, e.g. at the end of a test; a thread left behind went on following, and logging,
long after its app's last request).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import structlog

from gateway.services.pocketbase_realtime import RealtimeStream
from gateway.services.pocketbase_transport import JsonDict, PocketBaseTransport, is_record_id

log = structlog.get_logger(__name__)
# After a broken stream, wait this long before the next attempt, doubling up to the maximum.
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 5.0
# The version a deletion is kept at: above any update's, so nothing read late replaces it.
DELETED = 2**62
# Non-GET calls that change no existing profile: a page read (POST for its bound filter), the
# upsert (it creates a profile or returns one unchanged: pb_hooks/routes.pb.js), a create.
_WRITES_NO_CACHED_PROFILE = (
    "/api/ekyc/profiles/page",
    "/api/ekyc/profiles/upsert",
)
_RECORDS = "/api/collections/profiles/records"


@dataclass(frozen=True)
class CachedProfile:
    """What a poll needs of a profile: whose it is, its version and its view (None: deleted).
    The view is shared by every poll that reads it: it is never changed, only replaced."""

    partner: str
    version: int
    view: dict[str, Any] | None

    @cached_property
    def encoded(self) -> bytes | None:
        """The view as the JSON body of a 200, encoded at its first poll and kept: once per
        version instead of once per poll, and never for a change nobody polls (most creates)."""
        return None if self.view is None else encode_json(self.view)


def encode_json(body: Any) -> bytes:
    """``body`` as the gateway's JSON responses carry it: the bytes Flask's ``jsonify`` writes
    outside debug mode (sorted keys, compact, ASCII, a final newline)."""
    return (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()


class ProfileCache:
    """Profiles by id, at most ``capacity`` of them (the oldest stored leaves first)."""

    def __init__(
        self,
        transport: PocketBaseTransport,
        capacity: int,
        render: Callable[[JsonDict], dict[str, Any]],
        read_timeout_s: float = 60.0,
        fields: tuple[str, ...] = (),
    ) -> None:
        self.capacity = capacity
        self._render = render  # record -> partner-facing view (profile_reads.profile_view)
        # ``fields``: what ``render`` reads, besides partner and version. PocketBase then sends
        # only those over the stream: no applicant's name, birth date or contact reaches this
        # process with every change, and an event is about a third of the bytes (477 of 1,292 for a
        # new profile, measured).
        wanted = tuple(dict.fromkeys(("id", "partner", "version", *fields))) if fields else ()
        self._stream = RealtimeStream(transport, "profiles", read_timeout_s, wanted)
        self._entries: dict[str, CachedProfile] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # subscriptions so far
        self._writes = 0  # profile writes this process sent
        self._live = False
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        transport.on_write(self.forget_written)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop following the stream, for good: its thread ends without a word (waited for up to
        ``timeout_s``) and every read goes to PocketBase from now on."""
        with self._lock:
            self._closed.set()
            self._live = False
            self._entries.clear()
            thread = self._thread
        self._stream.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    # -- what the reads use ---------------------------------------------------------------------

    def lookup(self, profile_id: str) -> CachedProfile | None:
        """The cached profile, or None when it must be read from PocketBase."""
        if self._thread is None:
            self._start()
        if not self._live:
            return None
        return self._entries.get(profile_id)

    def read_token(self) -> tuple[int, int] | None:
        """Take before reading a profile from PocketBase; hand to ``remember`` with the record."""
        return (self._epoch, self._writes) if self._live else None

    def remember(
        self, profile_id: str, profile: CachedProfile, token: tuple[int, int] | None
    ) -> None:
        """Keep a profile read from PocketBase, unless since ``read_token`` the subscription
        changed or this process wrote a profile (the read may predate that write)."""
        if token is not None:
            self._keep(profile_id, profile, token)

    def forget_written(self, method: str, path: str) -> None:
        """This process sent PocketBase a write: forget the profile it may change (every profile,
        when the path does not say which)."""
        if "profiles" not in path or path.startswith(_WRITES_NO_CACHED_PROFILE):
            return
        if path.split("?", 1)[0].rstrip("/") == _RECORDS:  # a create: a new id, never cached
            return
        record_id = _profile_id_in(path)
        with self._lock:
            self._writes += 1
            if record_id is None:
                self._entries.clear()
            else:
                self._entries.pop(record_id, None)

    # -- what the stream does -------------------------------------------------------------------

    def _subscribed(self) -> None:
        with self._lock:
            if self._closed.is_set():  # subscribed just before close shut the stream: no stream
                return
            self._entries.clear()
            self._epoch += 1
            self._live = True

    def _lost(self) -> None:
        with self._lock:
            self._live = False
            self._entries.clear()

    def _changed(self, action: str, record: JsonDict) -> None:
        if action == "delete":
            profile = CachedProfile(record.get("partner", ""), DELETED, None)
        else:
            version = int(record.get("version") or 0)
            profile = CachedProfile(record["partner"], version, self._render(record))
        self._keep(record["id"], profile, None)

    def _keep(self, profile_id: str, profile: CachedProfile, token: tuple[int, int] | None) -> None:
        """Keep ``profile`` unless a version as new is kept; a read's only under ``token`` (None:
        a change from the stream, current when it arrives)."""
        with self._lock:
            if not self._live or (token is not None and token != (self._epoch, self._writes)):
                return
            current = self._entries.get(profile_id)
            if current is not None and current.version >= profile.version:
                return
            if current is None and len(self._entries) >= self.capacity:
                del self._entries[next(iter(self._entries))]
            self._entries[profile_id] = profile

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            self._thread = threading.Thread(
                target=_follow,
                args=(weakref.ref(self), self._closed),
                name="profile-cache",
                daemon=True,
            )
        self._thread.start()


def _follow(cache_ref: weakref.ref[ProfileCache], closed: threading.Event) -> None:
    """The stream thread: subscribe, apply changes, start again after a break, stop with the
    cache or when it is closed. Holds the cache strongly only while it reconnects or handles one
    event."""
    delay = RETRY_FIRST_S

    def alive() -> bool:
        return cache_ref() is not None and not closed.is_set()

    def subscribed() -> None:
        nonlocal delay
        delay = RETRY_FIRST_S
        cache = cache_ref()
        if cache is not None:
            cache._subscribed()

    def changed(action: str, record: JsonDict) -> None:
        cache = cache_ref()
        if cache is not None:
            cache._changed(action, record)

    while True:
        cache = cache_ref()
        if cache is None:
            return
        stream = cache._stream
        del cache
        try:
            stream.follow(subscribed, changed, alive)
            reason = "ended"
        except Exception as exc:  # any break means the same: subscribe again
            reason = type(exc).__name__
        cache = cache_ref()
        if cache is None or closed.is_set():
            return
        cache._lost()
        del cache
        log.info("profile_cache_stream_lost", reason=reason, retry_in_s=delay)
        if closed.wait(delay):
            return
        delay = min(delay * 2, RETRY_MAX_S)


def _profile_id_in(path: str) -> str | None:
    """The profile id in a records-API or hook-route path about one profile, else None."""
    for prefix in (_RECORDS + "/", "/api/ekyc/profiles/"):
        if path.startswith(prefix):
            candidate = path[len(prefix) :].split("/", 1)[0].split("?", 1)[0]
            if is_record_id(candidate):
                return candidate
    return None
