"""The floor under the gateway's GET: a bare Flask app that answers a constant JSON body.

``gateway_bench.py`` serves it with the exact gunicorn command ``ekyc serve`` runs and drives it
like the gateway's GET. No authentication, rate limit, store call, log line or metric: whatever it
reaches is the most any Flask app under that command can answer on this machine, so the gateway's
GET ratio can be read against it.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)

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
