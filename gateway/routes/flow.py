"""Hosted capture flow: the applicant's pages and the JSON calls they make.

``GET /flow/<profile_id>?t=<token>`` opens the link (or shows a page saying why it cannot) and
serves the single-page flow from ``hosted_flow/``; the page then calls
``/flow/api/<profile_id>/...`` with the same token in ``X-Capture-Token`` (or ``?t=`` for images
it embeds). The token is the only credential: no API key works here and a token never works on
the partner API. What the pages are made of (files, the refused-link page, the QR code, the
security headers) is rendered by ``flow_pages.py``; the views, their limits and hooks are here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from gateway.auth import limiter, services
from gateway.errors import BadRequest, JsonInvalid, LinkMissing, LinkRefused, NotFound
from gateway.openapi import documented
from gateway.problem import render_gateway_error
from gateway.request_json import parse_json
from gateway.routes import json_body
from gateway.routes.flow_pages import (
    PAGE_HEADERS,
    STATIC_SUFFIXES,
    flow_file,
    message_page,
    qr_svg,
)
from gateway.services.capture import CaptureService
from gateway.services.capture_link import CaptureSession
from gateway.services.capture_rules import FrameUpload

LANGUAGES = ("en", "fr")

bp = Blueprint("flow", __name__, url_prefix="/flow")


def capture_service() -> CaptureService:
    """The app's capture service (built once with the app's other services)."""
    return services().capture


def capture_token() -> str | None:
    """The token from the header the page sends, or from ``?t=`` (links, embedded images)."""
    return request.headers.get("X-Capture-Token") or request.args.get("t") or None


def current_session(profile_id: str) -> CaptureSession:
    """The verified session of this request, checked once per request."""
    session = g.get("capture_session")
    if session is None:
        session = capture_service().verify(profile_id, capture_token())
        g.capture_session = session
    return session


def choose_language() -> str:
    """``?lang=`` if supported, else the best ``Accept-Language`` match, else English."""
    asked = (request.args.get("lang") or "").lower()[:2]
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def _upload_key() -> str:
    """Uploads count per link (per profile), whoever and wherever the applicant is."""
    return f"capture:{request.view_args['profile_id']}"


def _api_key() -> str:
    return f"capture-api:{request.view_args['profile_id']}"


def _check_key() -> str:
    return f"capture-check:{request.view_args['profile_id']}"


# The limit callables check the link first: a forged token is refused (403) before it is
# counted, so nobody can spend an applicant's allowance without the applicant's link.
def _upload_limit() -> str:
    return capture_service().upload_rate_limit(current_session(request.view_args["profile_id"]))


def _api_limit() -> str:
    return capture_service().api_rate_limit(current_session(request.view_args["profile_id"]))


def _check_limit() -> str:
    return capture_service().check_rate_limit(current_session(request.view_args["profile_id"]))


# Shared limits: the routes of each group draw on one allowance per link (a plain limit would
# count each route on its own).
upload_limit = limiter.shared_limit(_upload_limit, "capture-upload", key_func=_upload_key)
api_limit = limiter.shared_limit(_api_limit, "capture-api", key_func=_api_key)
# The framing checks come every few hundred ms while the applicant finds the right distance: an
# allowance of their own, so they neither starve nor are starved by the other calls.
check_limit = limiter.shared_limit(_check_limit, "capture-check", key_func=_check_key)


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    """Every answer under ``/flow``, routing's own too (an unknown call 404, a wrong method 405,
    which no view of this blueprint makes): their URL may carry the token as well."""
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


@bp.after_request
def _cross_origin(response: Response) -> Response:
    """CORS for the JSON calls, for the one origin of ``KYC_FRONTEND_URL`` when the pages are
    served from there. Only the capture token (a header, no cookie) authenticates, so no
    credentials are allowed; any other origin gets no CORS headers and the browser refuses."""
    allowed = services().settings.flow_cross_origin
    if not allowed or not request.path.startswith(f"{bp.url_prefix}/api/"):
        return response
    response.vary.add("Origin")
    if request.headers.get("Origin") != allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = allowed
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Capture-Token"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.errorhandler(LinkRefused)
def _link_refused(refusal: LinkRefused) -> Response:
    """A refused link on a JSON call: the usual problem, and on ``start`` the partner's branding,
    so pages served from KYC_FRONTEND_URL say why in the partner's colours. (The token is checked
    before the view, by the rate limit, so this cannot live in the view.)"""
    if request.endpoint == "flow.start":
        profile_id = (request.view_args or {}).get("profile_id")
        refusal.extra.setdefault("branding", capture_service().link_branding(profile_id))
    return render_gateway_error(refusal)


# -- pages -------------------------------------------------------------------------------------


@bp.get("/<profile_id>")
def page(profile_id: str) -> Response | tuple[str, int]:
    """Open a capture link: the flow if the link works, else a page that says why."""
    lang = choose_language()
    try:
        capture_service().open(profile_id, capture_token())
    except LinkRefused as refusal:
        return message_page(refusal, lang, capture_service().link_branding(profile_id))
    return flow_file("index.html", cache_control="no-store")


@bp.get("/")
@bp.get("")
def page_without_profile() -> Response:
    """A link with its profile cut off: nothing says whose it was, so the page is neutral."""
    return message_page(
        LinkMissing("missing"), choose_language(), capture_service().link_branding(None)
    )


@bp.get("/static/<path:filename>")
def static_file(filename: str) -> Response:
    """The flow's own scripts, styles and string catalogue (nothing is loaded from elsewhere)."""
    if Path(filename).suffix not in STATIC_SUFFIXES or filename == "message.html":
        raise NotFound("No such file")
    return flow_file(filename, cache_control="public, max-age=300")


# -- JSON calls --------------------------------------------------------------------------------

# What the calls below take, for the OpenAPI document (they read their bodies by hand).
CONSENT_BODY = {
    "type": "object",
    "required": ["accepted"],
    "properties": {"accepted": {"type": "boolean"}},
}
DOCUMENT_BODY = {
    "type": "object",
    "required": ["type", "country"],
    "properties": {
        "type": {"type": "string", "description": "e.g. `passport`, `id_card`"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-3, from `/countries`"},
    },
}
SELFIE_FORM = {
    "type": "object",
    "required": ["challenge_id", "meta", "frames"],
    "properties": {
        "challenge_id": {"type": "string"},
        "meta": {"type": "string", "description": "JSON: one `{prompt, t_ms}` per frame"},
        "frames": {"type": "array", "items": {"type": "string", "contentMediaType": "image/jpeg"}},
    },
}


def file_form(description: str) -> dict[str, Any]:
    """A multipart body of one image in the field ``file``."""
    return {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "image/jpeg",
                "description": description,
            }
        },
    }


@bp.post("/api/<profile_id>/start")
@api_limit
def start(profile_id: str) -> dict[str, Any]:
    """Open (or resume) the capture and return the state the page draws."""
    service = capture_service()
    session = service.open(profile_id, capture_token())
    return service.state(session, lang=choose_language())


@bp.get("/api/<profile_id>/countries")
@api_limit
def countries(profile_id: str) -> Response:
    """The issuing countries the partner accepts, named in the applicant's language.

    ``[{code, alpha_2, name}]`` sorted by name: ISO 3166-1 from the ``pycountry`` package and its
    translations, only the partner's ``allowed_countries`` when it lists any; ``code`` (alpha-3)
    is what ``/document`` takes."""
    session = current_session(profile_id)
    lang = choose_language()
    choices = capture_service().countries(session, lang=lang)
    response = jsonify({"lang": lang, "countries": choices})
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/api/<profile_id>/state")
@api_limit
def state(profile_id: str) -> dict[str, Any]:
    """The current state (which step, what is captured)."""
    return capture_service().state(current_session(profile_id), lang=choose_language())


@bp.post("/api/<profile_id>/consent")
@documented(body=CONSENT_BODY)
@api_limit
def consent(profile_id: str) -> dict[str, Any]:
    """Record consent; ``{"accepted": true}``."""
    body = json_body()
    service = capture_service()
    session = current_session(profile_id)
    lang = choose_language()
    service.consent(session, accepted=body.get("accepted"), lang=lang)
    return service.state(session, lang=lang)


@bp.post("/api/<profile_id>/document")
@documented(body=DOCUMENT_BODY)
@api_limit
def document(profile_id: str) -> dict[str, Any]:
    """Choose the document: ``{"type": "passport", "country": "FRA"}``.

    422 ``document_not_accepted`` for a type or country the partner does not accept."""
    body = json_body()
    service = capture_service()
    session = current_session(profile_id)
    service.choose_document(
        session, document_type=str(body.get("type") or ""), country=str(body.get("country") or "")
    )
    return service.state(session, lang=choose_language())


@bp.post("/api/<profile_id>/document/<side>")
@documented(
    form=file_form("The photo of this side (`front` or `back`)"),
    statuses={201: "Accepted", 200: "Not accepted: `issues` say why; take it again"},
)
@upload_limit
def document_photo(profile_id: str, side: str) -> tuple[dict[str, Any], int]:
    """Upload one side (multipart ``file``); 200 with ``accepted`` false asks for a retake."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("Send the photo as the multipart field 'file'")
    service = capture_service()
    session = current_session(profile_id)
    result = service.upload_document(session, side, upload.read())
    lang = choose_language()
    body = {
        "accepted": result.accepted,
        "issues": result.issues,
        "state": service.state(session, lang=lang),
    }
    return body, 201 if result.accepted else 200


@bp.post("/api/<profile_id>/challenge")
@documented(
    statuses={
        201: "Drawn now",
        200: "The unused challenge already shown on this link (a reload, another device)",
    },
    errors={
        409: "The verification is complete, or an earlier step is missing; "
        "`challenge_limit_reached`: the link drew `liveness.max_challenges`"
    },
)
@upload_limit
def challenge(profile_id: str) -> tuple[dict[str, Any], int]:
    """The liveness challenge for this selfie attempt: 201 when drawn now, 200 when it is the
    unused one already shown (a reload, another device)."""
    challenge, drawn = capture_service().new_challenge(current_session(profile_id))
    return challenge, 201 if drawn else 200


@bp.post("/api/<profile_id>/selfie/check")
@documented(form=file_form("One camera still"))
@check_limit
def selfie_check(profile_id: str) -> dict[str, Any]:
    """Check one camera still (multipart ``file``) for framing; ``{ok, issue}``, nothing stored."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("Send the still as the multipart field 'file'")
    return capture_service().check_selfie_still(current_session(profile_id), upload.read())


@bp.post("/api/<profile_id>/selfie")
@documented(form=SELFIE_FORM, status=201)
@upload_limit
def selfie(profile_id: str) -> tuple[dict[str, Any], int]:
    """Frames of one attempt: multipart ``challenge_id``, ``meta`` (``[{prompt, t_ms}]``) and
    ``frames``."""
    frames_meta = _json_field("meta")
    uploads = request.files.getlist("frames")
    if not isinstance(frames_meta, list) or len(frames_meta) != len(uploads):
        raise BadRequest("'meta' must list one {prompt, t_ms} per uploaded frame")
    frames = []
    for index, (meta, upload) in enumerate(zip(frames_meta, uploads, strict=True)):
        t_ms = meta.get("t_ms") if isinstance(meta, dict) else None
        # Finite only: Python's decoder reads NaN and Infinity, which PocketBase's JSON refuses
        # (after the frames were stored).
        if isinstance(t_ms, bool) or not isinstance(t_ms, int | float) or not math.isfinite(t_ms):
            raise BadRequest(f"meta[{index}] needs a prompt and a numeric t_ms")
        frames.append(FrameUpload(prompt=str(meta.get("prompt")), t_ms=t_ms, content=upload.read()))
    service = capture_service()
    session = current_session(profile_id)
    result = service.upload_selfie(session, str(request.form.get("challenge_id") or ""), frames)
    result["state"] = service.state(session, lang=choose_language())
    return result, 201


@bp.get("/api/<profile_id>/image/<field_name>")
@documented(media_type="image/jpeg")
@api_limit
def image(profile_id: str, field_name: str) -> Response:
    """One of the applicant's own stored images (clean copy), for the review thumbnails."""
    content = capture_service().image(current_session(profile_id), field_name)
    response = Response(content, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/<profile_id>/qr.svg")
@documented(media_type="image/svg+xml")
@api_limit
def qr_code(profile_id: str) -> Response:
    """The same link as a QR code, to continue on a device with a camera."""
    service = capture_service()
    url = service.link_url(current_session(profile_id))
    response = Response(qr_svg(url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/<profile_id>/submit")
@api_limit
def submit(profile_id: str) -> dict[str, Any]:
    """Submit the captures for verification; returns the redirect to the partner, if allowed."""
    return capture_service().submit(current_session(profile_id))


def _json_field(name: str) -> Any:
    raw = request.form.get(name)
    if raw is None:
        raise BadRequest(f"The multipart field '{name}' is required")
    try:
        return parse_json(raw.encode())  # depth-bounded, as JSON bodies are: never a 500
    except JsonInvalid as exc:
        raise BadRequest(f"The multipart field '{name}' is not JSON") from exc
