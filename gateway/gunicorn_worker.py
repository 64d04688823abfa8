"""The gunicorn worker the gateway runs: gthread, with two fixes at the HTTP server layer.

1. **Errors gunicorn answers itself are problem JSON.** A request line over
   ``--limit-request-line``, a header over ``--limit-request-field_size``, or a malformed request
   never reaches Flask: gunicorn writes an HTML page. Here gunicorn still decides the status and
   logs the refusal (its own ``handle_error`` runs against a captured socket), and the client gets
   the gateway's RFC 9457 body instead.
2. **A refused request body never breaks keep-alive.** gunicorn 27 drains at most 64 KiB of a body
   the application did not read and then closes a connection whose response promised
   ``Connection: keep-alive`` (an outside probe's next request on it failed after a 415 on a
   ~100 KB body). Here a body up to the app's ``MAX_CONTENT_LENGTH`` is drained in full, and a
   longer or chunked one (whose end is unknown in advance) is answered ``Connection: close``
   before the response is written, so the client is told the truth either way.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gunicorn.http.body import LengthReader
from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, ThreadWorker

from gateway.problem import PROBLEM_TYPE_BASE

# gunicorn's own statuses for what it refuses, named like the gateway's other problem codes.
_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its HTML error, to read its status."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.written += data


def problem_bytes(status: int, title: str) -> bytes:
    """A complete HTTP/1.1 response carrying the gateway's problem body; the connection closes
    (after a malformed request the parser cannot know where the next one starts)."""
    trace_id = uuid.uuid4().hex
    code = _CODES.get(status, "http_error")
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + code,
            "title": title,
            "status": status,
            "detail": title,
            "code": code,
            "trace_id": trace_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {trace_id}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _declared_length(req: Any) -> int | None:
    """The request's Content-Length (None when absent or chunked)."""
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_chunked(req: Any) -> bool:
    return any(
        name == "TRANSFER-ENCODING" and "chunked" in value.lower() for name, value in req.headers
    )


def _body_read_to_its_end(conn: Any) -> bool:
    """Whether the request's body has been read up to its declared length (a request without a
    body has a length of 0), so no byte of it is left on the socket."""
    body = getattr(getattr(conn.parser, "mesg", None), "body", None)
    reader = getattr(body, "reader", None)
    return isinstance(reader, LengthReader) and reader.length == 0


class ProblemJsonThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with problem-JSON errors and an honest keep-alive."""

    def _drain_limit_bytes(self) -> int:
        config = getattr(self.wsgi, "config", None) or {}
        return int(config.get("MAX_CONTENT_LENGTH") or 0)

    def handle_request(self, req: Any, conn: Any) -> bool:
        """Say ``Connection: close`` up front when the body could not be drained afterwards."""
        length = _declared_length(req)
        if _is_chunked(req) or (length is not None and length > self._drain_limit_bytes()):
            req.must_close = True
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Drain what the application left unread (bounded by the app's body limit)."""
        if not keepalive:
            return False
        if _body_read_to_its_end(conn):
            # Nothing to drain (every GET): skip the drain's two timeout changes, each a system
            # call that lets go of the GIL, which a request then waits to take back.
            return True
        deadline = time.monotonic() + DEFAULT_WORKER_DATA_TIMEOUT
        limit = max(self._drain_limit_bytes(), 1)
        return bool(conn.parser.finish_body(deadline=deadline, max_bytes=limit))

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's status and log line, the gateway's body."""
        captured = _CapturedSocket()
        super().handle_error(req, captured, addr, exc)
        status_line = captured.written.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        try:
            status = int(parts[1])
            title = parts[2] if len(parts) > 2 else "Error"
        except (IndexError, ValueError):
            status, title = 500, "Internal Server Error"
        try:
            client.sendall(problem_bytes(status, title))
        except OSError:
            self.log.debug("Failed to send error message.")
