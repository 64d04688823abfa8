"""``/openapi.json`` and a human page at ``/docs``, with every asset served by the gateway.

The page is Swagger UI from the npm package ``swagger-ui-dist``, which ``scripts/install``
fetches from the registry at install time (pinned version and hash) into the virtualenv; nothing
is loaded from another site at run time. Without those assets the page says how to install them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory

from gateway.errors import DocsAssetsMissing, NotFound
from gateway.openapi import build_spec

SWAGGER_UI_DIR = Path(sys.prefix) / "share" / "ekyc" / "swagger-ui"
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eKYC gateway API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="api"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script></body></html>
"""
START_SCRIPT = "SwaggerUIBundle({url: '/openapi.json', dom_id: '#api', deepLinking: true});\n"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this gateway (built once per app, from its routes)."""
    spec = current_app.extensions.get("ekyc_openapi")
    if spec is None:
        spec = current_app.extensions["ekyc_openapi"] = build_spec(current_app)
    return spec


@bp.get("/docs")
def docs_page() -> Response:
    """The API reference for people (Swagger UI, served from this gateway)."""
    if not all((SWAGGER_UI_DIR / name).is_file() for name in SWAGGER_UI_FILES):
        raise DocsAssetsMissing(
            f"Run scripts/install to fetch them into {SWAGGER_UI_DIR}; /openapi.json works without"
        )
    return Response(DOCS_PAGE, mimetype="text/html", headers=PAGE_HEADERS)


@bp.get("/docs/start.js")
def docs_start() -> Response:
    """The page's own script (a separate file, so the CSP needs no inline script)."""
    return Response(START_SCRIPT, mimetype="text/javascript", headers=PAGE_HEADERS)


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    """Swagger UI's script and stylesheet."""
    if name not in SWAGGER_UI_FILES:
        raise NotFound(f"No asset {name!r}")
    return send_from_directory(SWAGGER_UI_DIR, name, max_age=3600)
