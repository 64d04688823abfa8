"""HTTP/1.1 to PocketBase over plain loopback sockets: the wire under ``pocketbase_transport``.

Every poll makes one PocketBase call, and through urllib3 that call cost 0.62 ms of the gateway's
CPU, most of it http.client parsing response headers with the ``email`` package and urllib3's
per-request bookkeeping; the same GET over a kept-alive socket read here costs 0.18 ms
(2,000 GETs of one record, ``time.process_time``, 2026-11-30). PocketBase is our own server
on a known address, answering plain HTTP/1.1, so this reads exactly what it sends and no more:
a status line, headers, and a body framed by ``Content-Length`` or chunked, or read to the close.

Connections are kept alive in a small stack per client (no limit on how many are open at once;
at most ``keep`` idle ones are kept). A kept connection that PocketBase has closed meanwhile is
noticed before use (readable while idle means EOF) and replaced. A request that fails on a
reused connection before any answer arrives is sent again on a new one only if it is a GET (it
may have reached PocketBase otherwise); every other failure surfaces as ``OSError`` or
``WireError`` for the transport to translate.
"""

from __future__ import annotations

import select
import socket
import threading
import weakref
from dataclasses import dataclass

MAX_LINE = 65_536  # bytes in a status, header or chunk-size line
NO_BODY = frozenset({204, 304})


class WireError(Exception):
    """PocketBase's answer was not HTTP/1.1 as expected (or the connection ended inside it)."""


@dataclass
class _Connection:
    sock: socket.socket
    reader: object  # the socket's buffered binary reader
    reused: bool = False


class Wire:
    """Kept-alive plain-HTTP connections to one ``host:port``, shared by threads."""

    def __init__(self, host: str, port: int, timeout_s: float, keep: int) -> None:
        self.host, self.port, self.timeout_s, self.keep = host, port, timeout_s, keep
        self._host_header = f"{host}:{port}".encode("ascii")
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        # A client dropped without close() (tests build many apps) closes its idle sockets.
        weakref.finalize(self, _close_all, self._idle)

    def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        """Send one request and read its whole answer: ``(status, body)``."""
        head = self._head(method, target, headers, body)
        while True:
            connection = self._checkout()
            try:
                status, content, keep_alive = self._exchange(connection, method, head, body)
            except _NothingCameBack:
                self._close(connection)
                if connection.reused and method == "GET":
                    continue  # PocketBase closed it while idle: once more on a new one
                raise WireError("PocketBase closed the connection without answering") from None
            except BaseException:
                self._close(connection)
                raise
            if keep_alive:
                self._checkin(connection)
            else:
                self._close(connection)
            return status, content

    def close(self) -> None:
        """Close the idle connections (a busy one closes when its request ends)."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)

    # -- connections ------------------------------------------------------------------------

    def _checkout(self) -> _Connection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return _Connection(sock, sock.makefile("rb"))
            if not _closed_by_peer(connection.sock):
                connection.reused = True
                return connection
            self._close(connection)

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(connection)
                return
        self._close(connection)

    @staticmethod
    def _close(connection: _Connection) -> None:
        try:
            connection.reader.close()  # type: ignore[attr-defined]
        finally:
            connection.sock.close()

    # -- one exchange -----------------------------------------------------------------------

    def _head(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1".encode("ascii"), b"Host: " + self._host_header]
        lines.extend(f"{name}: {value}".encode("latin-1") for name, value in headers.items())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d" % len(body or b""))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _exchange(
        self, connection: _Connection, method: str, head: bytes, body: bytes | None
    ) -> tuple[int, bytes, bool]:
        try:
            connection.sock.sendall(head + body if body else head)
        except (BrokenPipeError, ConnectionResetError):
            raise _NothingCameBack from None
        reader = connection.reader
        try:
            status_line = reader.readline(MAX_LINE)  # type: ignore[attr-defined]
        except ConnectionResetError:
            raise _NothingCameBack from None
        if not status_line:
            raise _NothingCameBack
        version, _, rest = status_line.partition(b" ")
        try:
            status = int(rest[:3])
        except ValueError:
            raise WireError(f"Not an HTTP status line: {status_line[:80]!r}") from None
        length: int | None = None
        chunked = False
        keep_alive = version == b"HTTP/1.1"
        while True:
            line = reader.readline(MAX_LINE)  # type: ignore[attr-defined]
            if line in (b"\r\n", b"\n"):
                break
            if not line.endswith(b"\n"):
                raise WireError("PocketBase's headers ended early or were too long")
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower() and (
                    keep_alive or b"keep-alive" in value.lower()
                )
        if 100 <= status < 200:
            raise WireError(f"Unexpected interim answer {status}")
        if method == "HEAD" or status in NO_BODY:
            return status, b"", keep_alive
        if chunked:
            return status, _read_chunked(reader), keep_alive
        if length is not None:
            content = reader.read(length)  # type: ignore[attr-defined]
            if len(content) != length:
                raise WireError("PocketBase's answer ended before its Content-Length")
            return status, content, keep_alive
        return status, reader.read(), False  # type: ignore[attr-defined]  # framed by the close


def _close_all(connections: list[_Connection]) -> None:
    for connection in connections:
        Wire._close(connection)
    connections.clear()


class _NothingCameBack(Exception):
    """The connection failed before any byte of an answer: PocketBase closed it while idle."""


def _read_chunked(reader: object) -> bytes:
    parts = []
    while True:
        size_line = reader.readline(MAX_LINE)  # type: ignore[attr-defined]
        if not size_line.endswith(b"\n"):
            raise WireError("PocketBase's chunked answer ended early")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        chunk = reader.read(size + 2)  # type: ignore[attr-defined]
        if len(chunk) != size + 2:
            raise WireError("PocketBase's chunked answer ended inside a chunk")
        parts.append(chunk[:size])
    while reader.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):  # type: ignore[attr-defined]
        pass  # trailers: none expected, none kept
    return b"".join(parts)


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed (or sent garbage): unusable."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True
