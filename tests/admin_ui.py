"""The PocketBase admin UI as tests drive it: the records API with a superuser's own token, which
is not the gateway's client (no platform mark), so the hooks treat its writes as a person's."""

from __future__ import annotations

from typing import Any

import requests


class AdminUI:
    """What the PocketBase admin UI does: the records API with a superuser token."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self.url = url
        self.session = requests.Session()
        auth = self.session.post(
            f"{url}/api/collections/_superusers/auth-with-password",
            json={"identity": email, "password": password},
            timeout=10,
        ).json()
        self.superuser_id = auth["record"]["id"]
        self.session.headers["Authorization"] = auth["token"]

    def create(self, collection: str, data: dict) -> requests.Response:
        """Create a record as the admin UI would."""
        return self.session.post(
            f"{self.url}/api/collections/{collection}/records", json=data, timeout=10
        )

    def patch(self, collection: str, record_id: str, data: dict) -> requests.Response:
        """Edit a record as the admin UI would."""
        return self.session.patch(
            f"{self.url}/api/collections/{collection}/records/{record_id}", json=data, timeout=10
        )

    def save_form(self, collection: str, record_id: str, form: dict) -> requests.Response:
        """Save a record's edit form as the admin UI does: every value a multipart text field."""
        return self.session.patch(
            f"{self.url}/api/collections/{collection}/records/{record_id}",
            files={name: (None, value) for name, value in form.items()},
            timeout=10,
        )

    def delete(self, collection: str, record_id: str) -> requests.Response:
        """Delete a record as the admin UI would."""
        return self.session.delete(
            f"{self.url}/api/collections/{collection}/records/{record_id}", timeout=10
        )

    @classmethod
    def of(cls, server: Any) -> AdminUI:
        """A session on a started PocketBase (``gateway.pb_server.PocketBaseServer``)."""
        return cls(server.url, server.superuser_email, server.superuser_password)
