"""What the hosted flow serves besides JSON: the files of ``hosted_flow/``, the page for a link
that cannot be used, the QR code of a link, and the headers every flow response carries.

The views that serve them are in ``flow.py`` (one blueprint for the pages and the JSON calls, so
their endpoints and OpenAPI names stay ``flow.*``); what it takes to render them is here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import mimetypes
from functools import cache
from pathlib import Path
from typing import Any

import segno
from flask import Response, render_template_string
from werkzeug.security import safe_join

from gateway.errors import LinkFinished, LinkRefused, NotFound

HOSTED_FLOW_DIR = Path(__file__).resolve().parents[2] / "hosted_flow"
STATIC_SUFFIXES = frozenset({".js", ".css", ".json", ".svg", ".png", ".ico", ".html"})
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
}


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """The one string catalogue the pages and the server-rendered pages share."""
    return json.loads((HOSTED_FLOW_DIR / "strings.json").read_text(encoding="utf-8"))


def message_page(refusal: LinkRefused, lang: str, brand: dict[str, Any] | None) -> Response:
    """The page for a link that cannot be used (never a stack trace, nothing stored). It wears
    the partner's ``brand`` (name and colours, as the flow does) when the profile in the URL
    exists, even if the token was cut off or changed; without one (no profile) it is neutral."""
    strings = catalogue()[lang]
    # The flow's CSP allows no inline style but this one block, by its hash: the colours were
    # checked to be #rrggbb by branding().
    brand_css = (
        f":root{{--accent:{brand['accent_color']};--accent-text:{brand['accent_text_color']}}}"
        if brand
        else ""
    )
    kind = {
        "link_missing": "missing",
        "link_expired": "expired",
        "link_finished": "finished",
    }.get(refusal.code, "invalid")
    return_url = refusal.extra.get("return_url") if isinstance(refusal, LinkFinished) else None
    html = render_template_string(
        (HOSTED_FLOW_DIR / "message.html").read_text(encoding="utf-8"),
        lang=lang,
        title=strings[f"link_{kind}_title"],
        body=strings[f"link_{kind}_body"],
        return_label=strings["done_return"],
        return_url=return_url,
        kind=kind,
        app_title=strings["app_title"],
        skip_link=strings["skip_link"],
        brand_name=brand["name"] if brand else "",
        brand_css=brand_css,
    )
    response = Response(html, status=refusal.status, mimetype="text/html")
    if brand_css:
        digest = base64.b64encode(hashlib.sha256(brand_css.encode()).digest()).decode()
        response.headers["Content-Security-Policy"] = PAGE_HEADERS[
            "Content-Security-Policy"
        ].replace("style-src 'self'", f"style-src 'self' 'sha256-{digest}'")
    return response


def flow_file(filename: str, *, cache_control: str) -> Response:
    """A file of ``hosted_flow/`` read whole (they are a few KB; no file handle outlives the
    request)."""
    path = safe_join(str(HOSTED_FLOW_DIR), filename)
    if path is None or not Path(path).is_file():
        raise NotFound("No such file")
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mimetype in ("text/javascript", "application/javascript"):
        mimetype = "text/javascript"
    response = Response(Path(path).read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = cache_control
    return response


def qr_svg(url: str) -> bytes:
    """A standalone SVG (with its namespace, so an ``<img>`` can show it) of ``url``."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2, title="QR")
    return buffer.getvalue()
