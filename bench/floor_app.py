"""Floors under the gateway: the least a Flask app under the same gunicorn command can do.

``gateway_bench.py`` serves this app with the exact gunicorn command ``ekyc serve`` runs (same
worker class, processes and threads) and drives it like the gateway. No authentication, rate
limit, validation, log line or metric, so what it reaches is the most any Flask gateway served
that way, making the same PocketBase request, could reach on this machine:

- ``GET /floor/<id>`` reads the profile record with the request the gateway's poll makes (the
  records-API GET by id, superuser token, through the gateway's own PocketBase transport), and
  answers a JSON view of it: the floor of a poll;
- ``GET /floor/static/<id>`` answers a constant JSON body with no store call: the floor of any
  Flask GET here (what ``/floor/<id>`` was until 2026-11-30; kept for context, not for targets);
- ``POST /floor/profiles`` makes the one PocketBase call a create cannot do without: a native
  records-API create of the profile (the data layer's hooks still write its history and outbox
  rows), with no lookup, idempotency or link signing.
"""

from __future__ import annotations

import json
import os
import secrets

from flask import Flask, Response, jsonify, request

from gateway.services.pocketbase_transport import PocketBaseConfig, PocketBaseTransport

app = Flask(__name__)

# Set by gateway_bench.py: where PocketBase is, its superuser, and the partner to create for.
PB_URL = os.environ.get("FLOOR_PB_URL", "")
PARTNER = os.environ.get("FLOOR_PARTNER", "")
store = (
    PocketBaseTransport(
        PocketBaseConfig(
            PB_URL, os.environ.get("FLOOR_PB_EMAIL", ""), os.environ.get("FLOOR_PB_PASSWORD", "")
        )
    )
    if PB_URL
    else None
)

# About the size of the gateway's profile view.
BODY = {
    "id": "",
    "external_ref": "bench-ref",
    "status": "unverified",
    "decision": None,
    "score": None,
    "reasons": [],
    "latest_history": {
        "from": None,
        "to": "unverified",
        "actor": "partner",
        "reason": "created by partner",
        "created": "2026-11-23T00:00:00Z",
    },
    "created": "2026-11-23T00:00:00Z",
    "updated": "2026-11-23T00:00:00Z",
}


@app.get("/floor/ready")
def ready() -> Response:
    """Up (the bench waits for this before measuring)."""
    return jsonify({"ready": True})


@app.get("/floor/static/<profile_id>")
def floor_static(profile_id: str) -> Response:
    """The constant view, with the id asked for: no store call."""
    return jsonify({**BODY, "id": profile_id})


@app.get("/floor/<profile_id>")
def floor(profile_id: str) -> tuple[Response, int] | Response:
    """The profile record read as the gateway's poll reads it, answered as a view."""
    assert store is not None, "FLOOR_PB_URL is not set"
    answer = store.request("GET", f"/api/collections/profiles/records/{profile_id}")
    if answer.status_code != 200:
        return jsonify({"error": answer.text[:300]}), 502
    record = answer.json()
    return jsonify(
        {
            **BODY,
            "id": record["id"],
            "external_ref": record.get("external_ref"),
            "status": record["status"],
            "created": record["created"],
            "updated": record["updated"],
        }
    )


@app.post("/floor/profiles")
def floor_create() -> tuple[Response, int]:
    """One native PocketBase create with the fields the gateway writes for this body."""
    body = request.get_json()
    fields = {
        "partner": PARTNER,
        "status": "unverified",
        "external_ref": body["external_ref"],
        "first_name": body["first_name"],
        "last_name": body["last_name"],
        "status_actor": f"partner:{PARTNER}",
        "status_reason": "created by partner",
        "link_nonce": secrets.token_urlsafe(16),
        "link_expires_at": "2099-01-01 00:00:00.000Z",
        "retention_until": "2099-01-01 00:00:00.000Z",
    }
    assert store is not None, "FLOOR_PB_URL is not set"
    answer = store.request("POST", "/api/collections/profiles/records", json=fields)
    if answer.status_code != 200:
        return jsonify({"error": answer.text[:300]}), 502
    return jsonify({"id": json.loads(answer.content)["id"]}), 201
