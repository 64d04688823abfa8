"""How the gateway reaches PocketBase: one connection pool, one superuser token, errors translated.

A thin client on one urllib3 connection pool rather than the PyPI SDK (see ARCHITECTURE.md: the
SDK's filter helper can be injected across partners and it never refreshes tokens), and rather than
``requests``: every gateway request makes one PocketBase call, and requests' session machinery was
about a fifth of a GET's CPU (py-spy, bench/gateway_bench.py).
Over plain HTTP the bytes go through ``pocketbase_wire.py`` (kept-alive sockets, PocketBase's
answers read directly): urllib3 and http.client were most of the gateway's CPU for that call.
urllib3 stays for an ``https://`` PocketBase.

Errors are translated once, here: PocketBase unreachable -> ``StoreUnavailable`` (503, retry later,
nothing written by us), anything else unexpected -> ``StoreError``. What the gateway asks of the
store (records, queries, files, the hook routes) is in ``pocketbase.py`` and ``pocketbase_hooks.py``
on top of this class; nothing else speaks HTTP to PocketBase but ``pocketbase_realtime.py``, which
reads the realtime stream on a long-lived connection of its own (and subscribes through here).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import urllib3

from gateway.errors import NotFound, StoreCredentialsRefused, StoreError, StoreUnavailable
from gateway.services.pocketbase_wire import Wire, WireError

JsonDict = dict[str, Any]
FileTuple = tuple[str, bytes, str]  # (filename, content, mime type)
RECORD_ID = re.compile(r"[a-z0-9]{15}")
# Connections kept open to PocketBase: one per gunicorn thread or worker thread, with headroom.
POOL_SIZE = 16
# Marks the gateway's and the worker's writes apart from a person's in the admin UI, who signs in
# with the same superuser: the records API lets only the platform write the capture state, the
# captures and the worker's bookkeeping (pb_hooks/lib/platform_writer.js checks it). A keyed hash
# of the superuser password, which PocketBase reads from its environment; a browser on the admin
# UI sends no such header, and the password itself never travels in one.
PLATFORM_HEADER = "X-Ekyc-Platform"
PLATFORM_CONTEXT = b"ekyc platform writes"


def platform_mark(password: str) -> str:
    """The ``X-Ekyc-Platform`` value for the superuser ``password`` (HMAC-SHA256, hex)."""
    return hmac.new(password.encode(), PLATFORM_CONTEXT, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PocketBaseConfig:
    """Where PocketBase is and how the gateway authenticates to it."""

    url: str
    email: str
    password: str
    timeout_s: float = 10.0


@dataclass(frozen=True)
class StoreResponse:
    """A PocketBase answer, read whole: status and body."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        """The body as text (for error messages)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.content)


class PocketBaseTransport:
    """Superuser client: one token per client, refreshed on 401, one connection pool."""

    # Told of every write any client of this process sends (the profile cache forgets what a
    # write may change, whichever client made it: the gateway's, a CLI command's, a test's).
    _write_observers: ClassVar[list[weakref.WeakMethod]] = []

    def __init__(self, config: PocketBaseConfig) -> None:
        self.config = config
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._platform_mark = platform_mark(config.password)
        parts = urlsplit(config.url)
        self._base_path = parts.path.rstrip("/")
        # Plain HTTP (PocketBase beside the gateway): our own lean HTTP/1.1 wire, 0.18 instead
        # of 0.62 ms of CPU a call (pocketbase_wire.py); HTTPS: urllib3, which speaks TLS.
        self._wire = (
            Wire(parts.hostname or "127.0.0.1", parts.port or 80, config.timeout_s, POOL_SIZE)
            if parts.scheme == "http"
            else None
        )
        # retries=False: a failed call surfaces at once as StoreUnavailable (the caller decides
        # whether to retry); no proxy, .netrc or environment lookups, ever (the store is local).
        self._pool = (
            None
            if self._wire is not None
            else urllib3.connection_from_url(
                config.url,
                maxsize=POOL_SIZE,
                block=False,
                retries=False,
                timeout=urllib3.Timeout(total=config.timeout_s),
            )
        )

    def _authenticate(self) -> str:
        with self._token_lock:
            response = self._send(
                "POST",
                "/api/collections/_superusers/auth-with-password",
                json={"identity": self.config.email, "password": self.config.password},
                authenticated=False,
            )
            if response.status_code != 200:
                raise StoreCredentialsRefused(
                    f"PocketBase refused the gateway's superuser ({response.status_code})"
                )
            self._token = response.json()["token"]
            return self._token

    def _send(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        json: Any = None,
        data: dict[str, str] | None = None,
        files: list[tuple[str, FileTuple]] | None = None,
        params: dict[str, str] | None = None,
    ) -> StoreResponse:
        headers: dict[str, str] = {}
        if authenticated:
            headers["Authorization"] = self._token or self._authenticate()
            headers[PLATFORM_HEADER] = self._platform_mark
        body: bytes | None = None
        if json is not None:
            body = _encode_json(json)
            headers["Content-Type"] = "application/json"
        elif data is not None or files:
            fields: list[tuple[str, Any]] = list((data or {}).items()) + list(files or [])
            body, headers["Content-Type"] = urllib3.encode_multipart_formdata(fields)
        url = self._base_path + path + (f"?{urlencode(params)}" if params else "")
        if self._wire is not None:
            try:
                status, content = self._wire.request(method, url, headers, body)
            except (OSError, WireError) as exc:
                raise StoreUnavailable("PocketBase did not answer; nothing was written") from exc
            return StoreResponse(status, content)
        try:
            response = self._pool.urlopen(
                method, url, body=body, headers=headers, redirect=False, preload_content=True
            )
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailable("PocketBase did not answer; nothing was written") from exc
        return StoreResponse(response.status, response.data)

    def request(self, method: str, path: str, **kwargs: Any) -> StoreResponse:
        """Send an authenticated request, re-authenticating once if the token was refused.

        Keyword arguments: ``json`` (a JSON body), or ``data`` and ``files`` (a multipart form),
        and ``params`` (the query string).
        """
        response = self._send(method, path, **kwargs)
        if response.status_code == 401:
            self._token = None
            response = self._send(method, path, **kwargs)
        if method != "GET" and self._write_observers:
            self._tell_observers(method, path)
        if response.status_code >= 500:
            raise StoreUnavailable(f"PocketBase failed with {response.status_code}")
        return response

    @classmethod
    def on_write(cls, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(method, path)`` (a bound method, held weakly) after each write any
        client of this process sends, whether or not PocketBase accepted it."""
        cls._write_observers.append(weakref.WeakMethod(callback))

    @classmethod
    def _tell_observers(cls, method: str, path: str) -> None:
        for ref in list(cls._write_observers):
            callback = ref()
            if callback is None:
                with contextlib.suppress(ValueError):  # another thread removed it first
                    cls._write_observers.remove(ref)
            else:
                callback(method, path)

    @staticmethod
    def _json(response: StoreResponse, what: str) -> JsonDict:
        if response.status_code == 404:
            raise NotFound(f"{what} not found")
        if response.status_code >= 400:
            raise StoreError(
                f"PocketBase refused {what}: {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def healthy(self) -> bool:
        """True when PocketBase answers its health endpoint."""
        try:
            response = self._send("GET", "/api/health", authenticated=False)
        except StoreUnavailable:
            return False
        return response.status_code == 200

    def accepts_gateway(self) -> bool:
        """True when PocketBase lets the gateway's superuser read (one partner id): it may be up
        (``healthy``) and still refuse the credentials every other call needs."""
        try:
            response = self.request(
                "GET",
                "/api/collections/partners/records",
                params={"perPage": "1", "skipTotal": "1", "fields": "id"},
            )
        except (StoreError, StoreUnavailable):
            return False
        return response.status_code == 200

    def wait_healthy(self, timeout_s: float = 15.0) -> None:
        """Block until PocketBase answers, or raise ``StoreUnavailable`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return
            time.sleep(0.1)
        raise StoreUnavailable(f"PocketBase at {self.config.url} did not start in {timeout_s}s")


def is_record_id(value: str) -> bool:
    """PocketBase ids are 15 chars of [a-z0-9]; anything else cannot exist, so skip the call."""
    return RECORD_ID.fullmatch(value) is not None


def _encode_json(value: Any) -> bytes:
    return json.dumps(value).encode()
