"""Small helpers the API test modules share: one way to create a profile, one way to check a
problem body, so every test asserts the RFC 9457 shape the same way."""

from __future__ import annotations

import io
import uuid
from typing import Any

from werkzeug.test import TestResponse

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "trace_id"}
# The path every verified profile takes before a decision.
TO_PROCESSING = ("in_progress", "submitted", "processing")


def unique_ref(prefix: str = "ref") -> str:
    """An external_ref no other test uses (tests share one PocketBase)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_profile(client: Any, headers: dict[str, str], **body: Any) -> TestResponse:
    """POST /api/profiles with ``body`` (a fresh external_ref unless one is given)."""
    if "external_ref" not in body and "document" not in body:
        body["external_ref"] = unique_ref()
    return client.post("/api/profiles", json=body, headers=headers)


def new_profile_id(client: Any, headers: dict[str, str], **body: Any) -> str:
    """Create a profile and return its id, failing loudly if creation did not succeed."""
    response = create_profile(client, headers, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def attach_files(
    client: Any, headers: dict[str, str], profile_id: str, fields: dict[str, Any]
) -> TestResponse:
    """POST /api/profiles/{id}/documents as multipart: ``(bytes, filename)`` values are files,
    anything else a plain form field."""
    data = {
        name: (io.BytesIO(value[0]), value[1]) if isinstance(value, tuple) else value
        for name, value in fields.items()
    }
    return client.post(
        f"/api/profiles/{profile_id}/documents",
        data=data,
        headers=headers,
        content_type="multipart/form-data",
    )


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """Check the RFC 9457 problem shape, status and code; return the body for further checks."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    assert body["trace_id"] == response.headers["X-Request-ID"]
    return body


def walk(pb: Any, profile_id: str, *statuses: str, actor: str = "worker", reason: str = "") -> None:
    """Move a profile through ``statuses`` in order, each a real transition with its history."""
    for status in statuses:
        pb.transition(profile_id, status, actor=actor, reason=reason)


def approve(pb: Any, profile_id: str, score: float, **fields: Any) -> None:
    """Walk a profile through the worker's moves to ``approved`` with a decision and ``score``
    (and any other fields the worker records with it), as a scored verification leaves it."""
    walk(pb, profile_id, *TO_PROCESSING)
    pb.transition(
        profile_id,
        "approved",
        actor="worker",
        set_fields={"decision": "approved", "score": score, **fields},
    )


def subscribe(services: Any, partner_id: str, events: tuple[str, ...] = ("*",)) -> None:
    """Give the partner an enabled webhook endpoint for ``events``: the outbox holds only events
    someone receives. Its loopback URL answers nothing; tests that use it read the outbox only."""
    from gateway.services.webhooks.endpoints import create_endpoint

    create_endpoint(
        services.pb,
        services.settings.data_key,
        partner_id,
        "http://127.0.0.1:9/unused",
        list(events),
        allow_private=True,
    )
