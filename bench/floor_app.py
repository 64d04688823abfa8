"""Floors under the gateway: the least a Flask app under the same gunicorn command can do.

``gateway_bench.py`` serves this app with the exact gunicorn command ``ekyc serve`` runs and drives
it like the gateway. No authentication, rate limit, validation, log line or metric, so what it
reaches is the most any Flask gateway served that way could reach on this machine:

- ``GET /floor/<id>`` answers a constant JSON body (no store call at all);
- ``POST /floor/profiles`` makes the one PocketBase call a create cannot do without: a native
  records-API create of the profile (the data layer's hooks still write its history and outbox
  rows), with no lookup, idempotency or link signing.
"""

from __future__ import annotations

import json
import os
import secrets

import urllib3
from flask import Flask, Response, jsonify, request

app = Flask(__name__)

# Set by gateway_bench.py: where PocketBase is, a superuser token, and the partner to create for.
PB_URL = os.environ.get("FLOOR_PB_URL", "")
PB_TOKEN = os.environ.get("FLOOR_PB_TOKEN", "")
PARTNER = os.environ.get("FLOOR_PARTNER", "")
pool = urllib3.connection_from_url(PB_URL, maxsize=16, retries=False) if PB_URL else None

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


@app.get("/floor/<profile_id>")
def floor(profile_id: str) -> Response:
    """The constant view, with the id asked for."""
    return jsonify({**BODY, "id": profile_id})


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
    assert pool is not None, "FLOOR_PB_URL is not set"
    answer = pool.urlopen(
        "POST",
        "/api/collections/profiles/records",
        body=json.dumps(fields),
        headers={"Authorization": PB_TOKEN, "Content-Type": "application/json"},
    )
    if answer.status != 200:
        return jsonify({"error": answer.data.decode()[:300]}), 502
    return jsonify({"id": json.loads(answer.data)["id"]}), 201
