"""PocketBase's realtime stream of one collection's committed record changes.

PocketBase's realtime API is server-sent events: ``GET /api/realtime`` opens a stream whose first
event, ``PB_CONNECT``, names the client; a ``POST /api/realtime`` with that client id and the
superuser's token subscribes it to ``<collection>/*``; from then on every committed create, update
or delete of a record in the collection arrives as one event ``{"action", "record"}`` (also the
writes made inside the hook routes' transactions, measured). PocketBase ends a stream that has
carried nothing for five minutes. A socket read that waits longer than ``read_timeout_s`` ends the
stream here too, so a link that died without a word is noticed within that time.

The subscription POST goes through the transport (its token and error translation); the stream is
read on a connection of its own, which stays open for as long as the stream lasts. A stream can
ask for some fields only: PocketBase then serialises and sends no others.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from gateway.errors import StoreError
from gateway.services.pocketbase_transport import JsonDict, PocketBaseTransport


class RealtimeStream:
    """One collection's changes, one connection at a time (``follow`` until it ends)."""

    def __init__(
        self,
        transport: PocketBaseTransport,
        collection: str,
        read_timeout_s: float = 60.0,
        fields: tuple[str, ...] = (),
    ) -> None:
        self.transport = transport
        # With ``fields`` PocketBase sends only those fields of each record (its ``fields``
        # query option, URL-encoded JSON in the topic as its SDKs send it); the events are named
        # by the whole topic.
        options = quote(json.dumps({"query": {"fields": ",".join(fields)}})) if fields else ""
        self.topic = f"{collection}/*" + (f"?options={options}" if options else "")
        self.read_timeout_s = read_timeout_s
        parts = urlsplit(transport.config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/") + "/api/realtime"
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None
        self._closed = False

    def close(self) -> None:
        """End the stream for good, from any thread: a ``follow`` waiting for the next event
        returns at once (its socket is shut down), and a later one returns without connecting."""
        with self._lock:
            self._closed = True
            connection = self._connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):  # already closed by the other side
                connection.sock.shutdown(socket.SHUT_RDWR)

    def follow(
        self,
        on_subscribed: Callable[[], None],
        on_change: Callable[[str, JsonDict], None],
        keep_going: Callable[[], bool],
    ) -> None:
        """Connect, subscribe, call ``on_subscribed``, then ``on_change(action, record)`` for each
        change in commit order of delivery, until the stream ends or ``keep_going()`` is false.

        Returns when the stream ends; raises ``OSError`` (a timeout included) or ``StoreError``
        when it breaks. Either way, changes after the end are not seen: the caller decides what
        that means for what it derived from the stream.
        """
        connection_class = (
            http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        )
        connection = connection_class(self._host, self._port, timeout=self.read_timeout_s)
        with self._lock:
            if self._closed:
                return
            connection.connect()  # under the lock: ``close`` sees the socket it must shut
            self._connection = connection
        try:
            connection.request("GET", self._path, headers={"Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                raise StoreError(f"PocketBase refused the realtime stream ({response.status})")
            events = _events(response)
            name, data = next(events, ("", ""))
            if name != "PB_CONNECT":
                raise StoreError("PocketBase's realtime stream did not start with PB_CONNECT")
            subscribed = self.transport.request(
                "POST",
                "/api/realtime",
                json={"clientId": json.loads(data)["clientId"], "subscriptions": [self.topic]},
            )
            if subscribed.status_code != 204:
                raise StoreError(
                    f"PocketBase refused the realtime subscription ({subscribed.status_code})"
                )
            on_subscribed()
            for name, data in events:
                if not keep_going():
                    return
                if name == self.topic:
                    change = json.loads(data)
                    on_change(change["action"], change["record"])
        finally:
            with self._lock:
                self._connection = None
            connection.close()


def _events(response: http.client.HTTPResponse):
    """(event name, data) of each server-sent event until the stream ends."""
    name, data = "", []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "", []
            continue
        field, _, value = line.decode().partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
