"""The lean HTTP/1.1 wire under the PocketBase client, against a scripted loopback server: each
way an answer can be framed, a kept connection the server closed while idle, and a server that
stops mid-answer. (Every other test reaches the real PocketBase through it.)"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gateway.services.pocketbase_wire import Wire, WireError

OK_1 = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"


class Scripted:
    """Answers each request with the next scripted bytes; ``None`` closes the connection instead,
    and an answer in a tuple is sent and then the connection is closed."""

    def __init__(self, answers: list[bytes | tuple[bytes] | None]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.server.accept()
            except OSError:  # the fixture closed the server with answers left: nothing to serve
                return
            self.connections += 1
            with conn:
                while self.answers:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.requests.append(data)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer[0] if isinstance(answer, tuple) else answer)
                    if isinstance(answer, tuple):
                        break


@pytest.fixture
def wire_to() -> Iterator:
    made: list[Wire] = []
    servers: list[Scripted] = []

    def build(answers: list[bytes | tuple[bytes] | None]) -> tuple[Wire, Scripted]:
        server = Scripted(answers)
        servers.append(server)
        made.append(Wire("127.0.0.1", server.port, timeout_s=5, keep=4))
        return made[-1], server

    yield build
    for wire in made:
        wire.close()
    for server in servers:
        server.server.close()


def test_each_framing_and_keep_alive(wire_to):
    wire, server = wire_to(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]
    )
    assert wire.request("GET", "/a", {"Authorization": "t"}, None) == (200, b"hello")
    assert wire.request("POST", "/b", {}, b'{"x":1}') == (200, b"abcde")
    assert wire.request("DELETE", "/c", {}, None) == (204, b"")
    assert server.connections == 1  # one kept-alive connection for all three
    assert server.requests[0].startswith(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Authorization: t\r\n" in server.requests[0]
    assert server.requests[1].endswith(b'Content-Length: 7\r\n\r\n{"x":1}')


def test_connection_close_and_a_body_read_to_the_close(wire_to):
    wire, _ = wire_to([(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",), OK_1])
    assert wire.request("GET", "/a", {}, None) == (200, b"until the end")
    assert wire.request("GET", "/b", {}, None) == (200, b"1")  # on a new connection


def test_a_get_on_a_connection_closed_while_idle_is_sent_again(wire_to):
    wire, server = wire_to(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
            None,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2",
        ]
    )
    assert wire.request("GET", "/a", {}, None) == (200, b"1")
    # The server reads the next request and closes without answering (as if idle-closed).
    assert wire.request("GET", "/b", {}, None) == (200, b"2")
    assert server.connections == 2


def test_a_post_is_not_sent_twice(wire_to):
    wire, server = wire_to([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1", None, b"unused"])
    assert wire.request("GET", "/a", {}, None) == (200, b"1")
    with pytest.raises(WireError):
        wire.request("POST", "/b", {}, b"{}")
    assert server.connections == 1


def test_an_answer_cut_short_is_an_error(wire_to):
    wire, _ = wire_to([(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",)])
    with pytest.raises(WireError):
        wire.request("GET", "/a", {}, None)
