"""A real HTTP receiver on loopback for webhook tests, and an independent signature checker.

The checker is written from the Standard Webhooks text, not from ``gateway.services.webhooks``:
if our signer drifts from the standard, these tests fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers with the queued status codes (then ``default_status``) and keeps every request."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 200
    requests: list[Received] = field(default_factory=list)

    tls: bool = False
    # Seconds each answer waits after the request is recorded: a slow receiver.
    delay_s: float = 0.0

    @property
    def url(self) -> str:
        """The receiver's URL on 127.0.0.1."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_receiver(tls: ssl.SSLContext | None = None) -> Receiver:
    """Start a receiver in a thread; with ``tls``, it speaks HTTPS."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            receiver = holder["receiver"]
            receiver.requests.append(
                Received({k.lower(): v for k, v in self.headers.items()}, body)
            )
            time.sleep(receiver.delay_s)
            status = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
            payload = f"status {status}".encode()
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    receiver = Receiver(server, thread, tls=tls is not None)
    holder["receiver"] = receiver
    thread.start()
    return receiver


def independent_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification: any ``v1`` signature over ``id.timestamp.body`` matches."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode()
    content += b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
