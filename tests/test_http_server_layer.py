"""The HTTP server layer as operators run it: the gunicorn command of ``ekyc serve`` on the real
PocketBase. What gunicorn refuses itself (an over-long request line, an oversized header) is
problem JSON like every other error, and a refused body never breaks a keep-alive connection:
it is drained, or the response says ``Connection: close``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli import LIMIT_REQUEST_FIELD_BYTES, LIMIT_REQUEST_LINE_BYTES, gunicorn_command
from gateway.pb_server import PocketBaseServer, free_port
from gateway.processes import stop_process, wait_healthy
from gateway.settings import Settings

pytestmark = pytest.mark.slow

MAX_UPLOAD_BYTES = 100_000  # the app's body limit is five times this (MAX_CONTENT_LENGTH)


@dataclass
class Served:
    """A running gunicorn and how to reach it."""

    port: int
    api_key: str
    log: Path


@pytest.fixture(scope="module")
def served(
    pocketbase: PocketBaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """gunicorn started with the exact command ``ekyc serve`` runs."""
    home = tmp_path_factory.mktemp("served_home")
    settings = Settings(
        ekyc_home=home,
        gateway_port=free_port(),
        pocketbase_url=pocketbase.url,
        pb_superuser_email=pocketbase.superuser_email,
        pb_superuser_password=pocketbase.superuser_password,
        link_secret="test-link-secret-0123456789",
        data_key="test-data-key-0123456789abcdef",
        log_level="DEBUG",  # gunicorn's access log on, as an operator debugging would run it
    )
    env = {
        **os.environ,
        **settings.child_env(),
        "EKYC_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "EKYC_RATE_LIMIT": "1000/minute",
        "VALID_API_KEYS": "served-test-key-0123456789",
        "PROMETHEUS_MULTIPROC_DIR": str(home),
    }
    log = open(home / "gunicorn.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(gunicorn_command(settings), env=env, stdout=log, stderr=log)
    try:
        wait_healthy(
            process,
            f"http://127.0.0.1:{settings.gateway_port}/health",
            what=f"gunicorn (log: {home / 'gunicorn.log'})",
            timeout_s=60,
        )
        yield Served(settings.gateway_port, "served-test-key-0123456789", home / "gunicorn.log")
    finally:
        stop_process(process, grace_s=20)
        log.close()


def exchange(sock: socket.socket, raw: bytes, timeout_s: float = 10.0) -> tuple[bytes, bytes]:
    """Send ``raw`` and read one response: (head, body)."""
    sock.sendall(raw)
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return head, body


def header(head: bytes, name: str) -> str | None:
    """One response header's value."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def assert_problem_bytes(head: bytes, body: bytes, status: int) -> dict[str, object]:
    assert status_of(head) == status, head
    assert header(head, "Content-Type") == "application/problem+json", head
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] and problem["trace_id"]
    return problem


def connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=10)


def test_a_request_line_over_the_limit_is_problem_json(served: Served) -> None:
    path = "/api/profiles?q=" + "a" * (LIMIT_REQUEST_LINE_BYTES + 10)
    with connect(served) as sock:
        head, body = exchange(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    problem = assert_problem_bytes(head, body, 414)
    assert problem["code"] == "uri_too_long"


def test_a_long_url_within_the_limit_reaches_the_app(served: Served) -> None:
    # 4,094 bytes was gunicorn's default and the probe's HTML 414; the app answers now.
    path = "/api/profiles?external_ref=" + "a" * 5000
    with connect(served) as sock:
        head, body = exchange(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert_problem_bytes(head, body, 401)


def test_an_oversized_header_is_problem_json(served: Served) -> None:
    big = "b" * (LIMIT_REQUEST_FIELD_BYTES + 100)
    with connect(served) as sock:
        raw = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
        head, body = exchange(sock, raw.encode())
    problem = assert_problem_bytes(head, body, 431)
    assert problem["code"] == "request_header_fields_too_large"


def test_a_malformed_request_is_problem_json(served: Served) -> None:
    with connect(served) as sock:
        head, body = exchange(sock, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n")
    assert_problem_bytes(head, body, 400)


def post(path: str, body: bytes, content_type: str, key: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


@pytest.mark.parametrize("size", [100_000, 450_000])
def test_a_refused_unread_body_keeps_the_connection(served: Served, size: int) -> None:
    with connect(served) as sock:
        head, body = exchange(
            sock, post("/api/profiles", b"x" * size, "text/plain", served.api_key)
        )
        assert_problem_bytes(head, body, 415)
        assert header(head, "Connection") != "close"
        again_head, _ = exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(again_head) == 200


def test_a_refused_body_without_a_key_keeps_the_connection(served: Served) -> None:
    with connect(served) as sock:
        head, body = exchange(sock, post("/api/profiles", b"{}" * 60_000, "application/json", ""))
        assert_problem_bytes(head, body, 401)
        again_head, _ = exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(again_head) == 200


def test_read_bodies_and_bodiless_requests_keep_the_connection(served: Served) -> None:
    # A request whose body was read to its end (or that had none) is not drained: the next
    # request on the connection, and two sent at once, are still answered in order.
    with connect(served) as sock:
        first, _ = exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        read, body = exchange(
            sock, post("/api/profiles", b'{"first_name": 5}', "application/json", served.api_key)
        )
        assert_problem_bytes(read, body, 422)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        both = b""
        while both.count(b"HTTP/1.1 200 OK") < 2:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {both!r}"
            both += chunk
    assert status_of(first) == 200
    assert both.count(b"HTTP/1.1 ") == 2


def test_a_body_over_the_limit_is_refused_and_the_close_is_announced(served: Served) -> None:
    size = MAX_UPLOAD_BYTES * 5 + 1
    with connect(served) as sock:
        head, body = exchange(
            sock, post("/api/profiles", b"x" * size, "application/json", served.api_key)
        )
    assert_problem_bytes(head, body, 413)
    assert header(head, "Connection") == "close"


def test_the_served_gateway_writes_its_request_lines(served: Served) -> None:
    # The served gateway batches its log writes (EKYC_LOG_FLUSH_MS, 50 ms by default): the line
    # arrives, with the caller's request id, shortly after the response.
    with connect(served) as sock:
        head, _ = exchange(
            sock,
            b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: served-log-line-0001\r\n\r\n",
        )
    assert status_of(head) == 200
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)
        text = served.log.read_text(errors="replace")
        lines = [
            json.loads(line)
            for line in text.splitlines()
            if "served-log-line-0001" in line and line.startswith("{")
        ]
    assert [(line["event"], line["route"], line["status"]) for line in lines] == [
        ("request", "/health", 200)
    ]


def test_the_debug_access_log_keeps_no_capture_token(served: Served) -> None:
    """At DEBUG gunicorn's access log wrote the request line whole: a flow URL's ?t= token
    (a working capture link) landed in the log."""
    with connect(served) as sock:
        head, _ = exchange(
            sock,
            b"GET /flow/abcdefghijklmno?t=capture-token-in-the-url HTTP/1.1\r\nHost: t\r\n\r\n",
        )
    assert status_of(head) in (400, 403, 404, 410)
    deadline = time.monotonic() + 5
    access: list[str] = []
    while not access and time.monotonic() < deadline:
        time.sleep(0.05)
        text = served.log.read_text(errors="replace")
        access = [line for line in text.splitlines() if '"GET /flow/abcdefghijklmno' in line]
    assert access, "no access line for the request"
    assert "capture-token-in-the-url" not in served.log.read_text(errors="replace")
