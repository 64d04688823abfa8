"""The gateway's PocketBase client: records, queries, files and backups.

Every call to the store goes through ``PocketBase``: what is here (record CRUD, ``find`` and its
pages, protected files, backups) sits on the transactional hook routes (``pocketbase_hooks.py``:
profile upsert, status transitions, signatures, profile pages), which sit on the transport
(``pocketbase_transport.py``: one connection pool, one superuser token, errors translated once).
Lookups by user-supplied values go through ``find``, whose values are bound server-side by the
``/api/ekyc/find`` hook route.
"""

from __future__ import annotations

import json

from gateway.errors import Conflict, IllegalTransition, NotFound, ProfileErased, StoreError
from gateway.services.pocketbase_hooks import HookOperations
from gateway.services.pocketbase_transport import FileTuple, JsonDict, StoreResponse, is_record_id

ERASED_MESSAGE = "This profile's personal data was erased; create a new profile"


class PocketBase(HookOperations):
    """The store client the services share (``container.py`` builds it once per process)."""

    # -- records ------------------------------------------------------------------------------

    def create(
        self, collection: str, data: JsonDict, files: dict[str, list[FileTuple]] | None = None
    ) -> JsonDict:
        """Create a record; with ``files`` the body is multipart (JSON values as strings)."""
        response = self._write("POST", f"/api/collections/{collection}/records", data, files)
        if response.status_code == 400:
            if "profile_erased" in _field_codes(response):
                raise ProfileErased(ERASED_MESSAGE)
            raise StoreError(f"PocketBase refused a {collection} record: {response.text[:300]}")
        return self._json(response, collection)

    def _write(
        self,
        method: str,
        path: str,
        data: JsonDict,
        files: dict[str, list[FileTuple]] | None,
        params: dict[str, str] | None = None,
    ) -> StoreResponse:
        """A record body as JSON, or with ``files`` as a multipart form (JSON values as strings)."""
        if files:
            return self.request(
                method, path, data=_form(data), files=_file_parts(files), params=params
            )
        return self.request(method, path, json=data, params=params)

    def get(self, collection: str, record_id: str) -> JsonDict:
        """One record by id; ``NotFound`` when absent."""
        if not is_record_id(record_id):
            raise NotFound(f"{collection} record not found")
        response = self.request("GET", f"/api/collections/{collection}/records/{record_id}")
        return self._json(response, f"{collection} record")

    def get_owned(
        self, collection: str, record_id: str, partner_id: str | None, what: str
    ) -> JsonDict:
        """The record if its ``partner`` is ``partner_id`` (None: the operator, any partner).

        Else ``NotFound("No such <what>")``, the answer for no record: others' ids stay unrevealed.
        """
        try:
            record = self.get(collection, record_id)
        except NotFound:
            record = None
        if record is None or (partner_id is not None and record["partner"] != partner_id):
            raise NotFound(f"No such {what}")
        return record

    def update(
        self,
        collection: str,
        record_id: str,
        data: JsonDict,
        files: dict[str, list[FileTuple]] | None = None,
        *,
        expected_status: str | None = None,
        expected_version: int | None = None,
    ) -> JsonDict:
        """Patch a record. A file field name ending in ``+`` appends to a multi-file field.

        With ``expected_status`` (profiles only) the patch is saved only if the profile's status
        is still that one, and with ``expected_version`` only if it was not written since it was
        read at that version, both read in the transaction of the save
        (``pb_hooks/profiles.pb.js``); else ``IllegalTransition`` and nothing is written."""
        path = f"/api/collections/{collection}/records/{record_id}"
        params = {"expected_status": expected_status} if expected_status else {}
        if expected_status and expected_version is not None:
            params["expected_version"] = str(expected_version)
        response = self._write("PATCH", path, data, files, params=params or None)
        if response.status_code == 400:
            codes = _field_codes(response)
            if codes & {"illegal_transition", "unexpected_status"}:
                raise IllegalTransition(response.json().get("message"))
            if "profile_erased" in codes:
                raise ProfileErased(ERASED_MESSAGE)
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


def _form(data: JsonDict) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in data.items()
        if value is not None
    }


def _file_parts(files: dict[str, list[FileTuple]]) -> list[tuple[str, FileTuple]]:
    return [(field, item) for field, items in files.items() for item in items]


def _field_codes(response: StoreResponse) -> set[str]:
    """The codes of the fields a refused write names (PocketBase's ``data``): the hooks say with
    them why, e.g. ``profile_erased`` when the data layer refused a write for its erased profile
    (pb_hooks/lib/erasure.js, notes.pb.js: the gateway checks first, but an erasure may commit
    between that check and the write, and the caller is owed the 410, not a 500)."""
    try:
        fields = response.json().get("data") or {}
    except ValueError:
        return set()
    return {(item or {}).get("code") for item in fields.values()} - {None}
