"""The only module that speaks HTTP to PocketBase.

A thin client on one urllib3 connection pool rather than the PyPI SDK (see ARCHITECTURE.md: the
SDK's filter helper can be injected across partners and it never refreshes tokens), and rather than
``requests``: every gateway request makes one PocketBase call, and requests' session machinery was
about a fifth of a GET's CPU (py-spy, bench/gateway_bench.py). Lookups by user-supplied values go
through ``find``, whose values are bound server-side by the ``/api/ekyc/find`` hook route; atomic
operations (profile upsert, status transitions) are hook routes that run in one transaction.

Errors are translated once, here: PocketBase unreachable -> ``StoreUnavailable`` (503, retry later,
nothing written by us), anything else unexpected -> ``StoreError``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from gateway.errors import (
    Conflict,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    StoreError,
    StoreUnavailable,
)

JsonDict = dict[str, Any]
FileTuple = tuple[str, bytes, str]  # (filename, content, mime type)
RECORD_ID = re.compile(r"[a-z0-9]{15}")
# The JSON columns among those ``profile_page`` returns.
PAGE_JSON_COLUMNS = ("automated_decision", "reasons", "last_change")


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


# Connections kept open to PocketBase: one per gunicorn thread or worker thread, with headroom.
POOL_SIZE = 16


class PocketBase:
    """Superuser client: one token per client, refreshed on 401, one connection pool."""

    def __init__(self, config: PocketBaseConfig) -> None:
        self.config = config
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._base_path = urlsplit(config.url).path.rstrip("/")
        # retries=False: a failed call surfaces at once as StoreUnavailable (the caller decides
        # whether to retry); no proxy, .netrc or environment lookups, ever (the store is local).
        self._pool = urllib3.connection_from_url(
            config.url,
            maxsize=POOL_SIZE,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(total=config.timeout_s),
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _authenticate(self) -> str:
        with self._token_lock:
            response = self._send(
                "POST",
                "/api/collections/_superusers/auth-with-password",
                json={"identity": self.config.email, "password": self.config.password},
                authenticated=False,
            )
            if response.status_code != 200:
                raise StoreError(
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
        body: bytes | None = None
        if json is not None:
            body = _encode_json(json)
            headers["Content-Type"] = "application/json"
        elif data is not None or files:
            fields: list[tuple[str, Any]] = list((data or {}).items()) + list(files or [])
            body, headers["Content-Type"] = urllib3.encode_multipart_formdata(fields)
        url = self._base_path + path + (f"?{urlencode(params)}" if params else "")
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
        if response.status_code >= 500:
            raise StoreUnavailable(f"PocketBase failed with {response.status_code}")
        return response

    @staticmethod
    def _json(response: StoreResponse, what: str) -> JsonDict:
        if response.status_code == 404:
            raise NotFound(f"{what} not found")
        if response.status_code >= 400:
            raise StoreError(
                f"PocketBase refused {what}: {response.status_code} {response.text[:300]}"
            )
        return response.json()

    # -- health -------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """True when PocketBase answers its health endpoint."""
        try:
            response = self._send("GET", "/api/health", authenticated=False)
        except StoreUnavailable:
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

    # -- records ------------------------------------------------------------------------------

    def create(
        self, collection: str, data: JsonDict, files: dict[str, list[FileTuple]] | None = None
    ) -> JsonDict:
        """Create a record; with ``files`` the body is multipart (JSON values as strings)."""
        path = f"/api/collections/{collection}/records"
        if files:
            response = self.request("POST", path, data=_form(data), files=_file_parts(files))
        else:
            response = self.request("POST", path, json=data)
        if response.status_code == 400:
            raise StoreError(f"PocketBase refused a {collection} record: {response.text[:300]}")
        return self._json(response, collection)

    def get(self, collection: str, record_id: str) -> JsonDict:
        """One record by id; ``NotFound`` when absent."""
        if not _is_record_id(record_id):
            raise NotFound(f"{collection} record not found")
        response = self.request("GET", f"/api/collections/{collection}/records/{record_id}")
        return self._json(response, f"{collection} record")

    def update(
        self,
        collection: str,
        record_id: str,
        data: JsonDict,
        files: dict[str, list[FileTuple]] | None = None,
    ) -> JsonDict:
        """Patch a record. A file field name ending in ``+`` appends to a multi-file field."""
        path = f"/api/collections/{collection}/records/{record_id}"
        if files:
            response = self.request("PATCH", path, data=_form(data), files=_file_parts(files))
        else:
            response = self.request("PATCH", path, json=data)
        if response.status_code == 400:
            body = response.json()
            if any(
                (item or {}).get("code") == "illegal_transition"
                for item in (body.get("data") or {}).values()
            ):
                raise IllegalTransition(body.get("message"))
            raise StoreError(f"PocketBase refused a {collection} update: {response.text[:300]}")
        return self._json(response, f"{collection} record")

    def delete(self, collection: str, record_id: str) -> None:
        """Delete a record; refused (``Conflict``) for append-only collections."""
        response = self.request("DELETE", f"/api/collections/{collection}/records/{record_id}")
        if response.status_code == 400:
            raise Conflict(response.json().get("message"))
        if response.status_code not in (204, 404):
            raise StoreError(f"PocketBase refused a delete: {response.status_code}")

    def find(
        self,
        collection: str,
        filter_template: str = "",
        params: JsonDict | None = None,
        *,
        where: dict[str, str] | None = None,
        sort: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> list[JsonDict]:
        """Records matching a filter; PocketBase binds its ``{:name}`` placeholders from ``params``.

        Never format user input into ``filter_template``: put it in ``params``. For equality
        lookups by free text (a partner's external_ref), pass ``where={field: value}`` instead:
        filter params never match values holding runes Go deems unprintable (e.g. NBSP), while
        ``where`` binds them in SQL. ``sort`` is then one field, optionally ``-`` for descending.
        """
        payload: JsonDict = {
            "collection": collection,
            "sort": sort,
            "limit": limit,
            "offset": offset,
        }
        if where is not None:
            payload["where"] = where
        else:
            payload["filter"] = filter_template or "1=1"
            payload["params"] = params or {}
        response = self.request("POST", "/api/ekyc/find", json=payload)
        return self._json(response, f"{collection} query")["items"]

    def find_page(
        self,
        collection: str,
        filter_template: str = "",
        params: JsonDict | None = None,
        *,
        where: dict[str, str] | None = None,
        sort: str = "-@rowid",
        page: int = 1,
        per_page: int = 50,
    ) -> JsonDict:
        """One page of ``find``: ``{page, per_page, has_more, items}`` (raw records).

        Asks for one record more than the page to learn ``has_more`` without counting the whole
        collection (PocketBase's totals need a full scan).
        """
        rows = self.find(
            collection,
            filter_template,
            params,
            where=where,
            sort=sort,
            limit=per_page + 1,
            offset=(page - 1) * per_page,
        )
        return {
            "page": page,
            "per_page": per_page,
            "has_more": len(rows) > per_page,
            "items": rows[:per_page],
        }

    def find_first(
        self,
        collection: str,
        filter_template: str = "",
        params: JsonDict | None = None,
        *,
        where: dict[str, str] | None = None,
        sort: str = "",
    ) -> JsonDict | None:
        """The first matching record, or None."""
        items = self.find(collection, filter_template, params, where=where, sort=sort, limit=1)
        return items[0] if items else None

    # -- files --------------------------------------------------------------------------------

    def download_file(self, collection: str, record_id: str, filename: str) -> bytes:
        """Bytes of a protected file, fetched with a short-lived file token."""
        token = self._json(self.request("POST", "/api/files/token"), "file token")["token"]
        response = self.request(
            "GET", f"/api/files/{collection}/{record_id}/{filename}", params={"token": token}
        )
        if response.status_code != 200:
            raise NotFound("file not found")
        return response.content

    # -- backups --------------------------------------------------------------------------------

    def create_backup(self, name: str) -> None:
        """Zip ``pb_data`` (database and files) into PocketBase's backups storage as ``name``."""
        response = self.request("POST", "/api/backups", json={"name": name})
        if response.status_code != 204:
            raise StoreError(f"PocketBase refused the backup: {response.text[:300]}")

    def backups(self) -> list[JsonDict]:
        """The stored backups: ``[{key, size, modified}]``."""
        response = self.request("GET", "/api/backups")
        if response.status_code != 200:
            raise StoreError(f"PocketBase refused the backup list: {response.text[:300]}")
        return response.json()

    # -- profile operations that must be atomic -----------------------------------------------

    def record_signature(self, key_id: str, signature: str, prune_before: str) -> bool:
        """Record a signed request's signature; False when the key used it before (a replay).

        One hook route (``pb_hooks/signatures.pb.js``): the unique index answers, for every
        gateway process at once, and rows from before ``prune_before`` go in the same call.
        """
        response = self.request(
            "POST",
            "/api/ekyc/signatures",
            json={"key_id": key_id, "signature": signature, "prune_before": prune_before},
        )
        return bool(self._json(response, "request signature")["fresh"])

    def transitions(self) -> JsonDict:
        """The state machine as the data layer enforces it."""
        return self._json(self.request("GET", "/api/ekyc/transitions"), "transitions")

    def profile_page(
        self,
        partner_id: str,
        *,
        order: str,
        after: JsonDict | None = None,
        status: str | None = None,
        external_ref: str | None = None,
        limit: int = 50,
        offset: int = 0,
        explain: bool = False,
    ) -> list[JsonDict] | list[str]:
        """A page of a partner's profiles read off an index (``pb_hooks/profile_lists.pb.js``).

        ``order`` "newest" (``after={created, id}``) or "changes" (``after={seq}``); the columns a
        profile view needs (not whole records), or with ``explain`` SQLite's plan of the query.
        """
        payload: JsonDict = {"partner": partner_id, "order": order, "limit": limit}
        for name, value in (
            ("after", after),
            ("status", status),
            ("external_ref", external_ref),
            ("offset", offset),
            ("explain", explain),
        ):
            if value:
                payload[name] = value
        body = self._json(self.request("POST", "/api/ekyc/profiles/page", json=payload), "profiles")
        if explain:
            return body["plan"]
        for row in body["items"]:  # plain rows: JSON columns arrive as text ("" for none)
            for name in PAGE_JSON_COLUMNS:
                row[name] = json.loads(row[name]) if row[name] else None
        return body["items"]

    def upsert_profile(
        self, partner_id: str, fields: JsonDict, idempotency: JsonDict | None = None
    ) -> JsonDict:
        """Create or reuse a profile in one transaction: ``{created, replayed, profile}``."""
        response = self.request(
            "POST",
            "/api/ekyc/profiles/upsert",
            json={"partner": partner_id, "fields": fields, "idempotency": idempotency},
        )
        if response.status_code == 409:
            raise IdempotencyConflict(
                "This Idempotency-Key was used with a different request in the last 24 hours"
            )
        if response.status_code == 400:
            raise StoreError(f"PocketBase refused the profile: {response.text[:300]}")
        return self._json(response, "profile")

    def transition(
        self,
        profile_id: str,
        to_status: str,
        *,
        actor: str,
        reason: str = "",
        expected_from: list[str] | None = None,
        set_fields: JsonDict | None = None,
        increment: list[str] | None = None,
    ) -> JsonDict:
        """Change a profile's status atomically; returns ``{profile, from}``.

        Raises ``IllegalTransition`` (with the allowed next states) when the table forbids it or
        the profile is not in ``expected_from``.
        """
        if not _is_record_id(profile_id):
            raise NotFound("profile not found")
        response = self.request(
            "POST",
            f"/api/ekyc/profiles/{profile_id}/transition",
            json={
                "to": to_status,
                "actor": actor,
                "reason": reason,
                "expected_from": expected_from,
                "set": set_fields or {},
                "increment": increment or [],
            },
        )
        if response.status_code == 409:
            body = response.json()
            raise IllegalTransition(
                f"Cannot move a profile from {body['current']} to {to_status}",
                extra={"current_status": body["current"], "allowed": body["allowed"]},
            )
        if response.status_code == 400:
            raise StoreError(f"PocketBase refused the transition: {response.text[:300]}")
        return self._json(response, "profile")


def stored_name_for(sent_name: str, stored_names: list[str]) -> str | None:
    """The name PocketBase stored an uploaded file under, among ``stored_names``.

    PocketBase keeps a file's name only when it is free, and otherwise stores
    ``<stem>_<random><suffix>``; callers that sent several files need each one's stored name back.
    """
    if not sent_name:
        return None
    if sent_name in stored_names:
        return sent_name
    stem, dot, suffix = sent_name.rpartition(".")
    if not dot:
        stem, suffix = sent_name, ""
    for stored in stored_names:
        stored_stem, _, stored_suffix = stored.rpartition(".")
        if stored_suffix.lower() == suffix.lower() and stored_stem.startswith(stem + "_"):
            return stored
    return None


def _encode_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _is_record_id(value: str) -> bool:
    """PocketBase ids are 15 chars of [a-z0-9]; anything else cannot exist, so skip the call."""
    return RECORD_ID.fullmatch(value) is not None


def _form(data: JsonDict) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in data.items()
        if value is not None
    }


def _file_parts(files: dict[str, list[FileTuple]]) -> list[tuple[str, FileTuple]]:
    return [(field, item) for field, items in files.items() for item in items]
