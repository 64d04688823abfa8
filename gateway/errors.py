"""The one error hierarchy of the gateway.

Services raise these; `gateway.problem` renders every one of them (and every werkzeug, marshmallow
and rate-limit error) as an RFC 9457 ``application/problem+json`` body. Nothing here imports Flask,
so the worker and the CLI raise the same errors the routes do. Every error class lives here, the
general ones first and then one section per area, so this file is the catalogue of every
``code`` a partner or an applicant's page can receive.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base class: a stable machine ``code``, an HTTP ``status`` and a human ``title``."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(GatewayError):
    """Malformed JSON, a body that is not an object, a bad header: the request cannot be read."""

    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(GatewayError):
    """No key, an unknown or revoked key: who is calling is not known."""

    status, code, title = 401, "unauthorized", "Missing or unknown API key"


class Forbidden(GatewayError):
    """The caller is known but the key lacks the scope, or its partner is suspended."""

    status, code, title = 403, "forbidden", "This key may not do that"


class NotFound(GatewayError):
    """Also the answer for another partner's records, so their existence is not revealed."""

    status, code, title = 404, "not_found", "Not found"


class Conflict(GatewayError):
    """The request is valid but the record's current state does not allow it now."""

    status, code, title = 409, "conflict", "Conflict"


class IllegalTransition(Conflict):
    code, title = "illegal_transition", "That status change is not allowed"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "Idempotency-Key reused with a different request"


class CaptureClosed(Conflict):
    """A new capture link was asked for a profile whose capture is over (being verified or
    decided): its page could only say the verification is complete."""

    code, title = "capture_closed", "This profile has nothing left to capture"


class Gone(GatewayError):
    """The thing existed and was removed on purpose (erased, expired): do not retry."""

    status, code, title = 410, "gone", "No longer available"


class ProfileErased(Gone):
    code, title = "profile_erased", "The profile's personal data was erased"


class PayloadTooLarge(GatewayError):
    """Refused by size before anything was decoded or stored."""

    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(GatewayError):
    """A body or file whose bytes are not of an accepted type, whatever its name says."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(GatewayError):
    """Well-formed but wrong: ``errors`` maps each field to what is wrong with it."""

    status, code, title = 422, "validation_failed", "The request is not valid"


class RateLimited(GatewayError):
    """Past a per-key rate or a monthly quota; ``Retry-After`` says when to come back."""

    status, code, title = 429, "rate_limited", "Too many requests"


class StoreUnavailable(GatewayError):
    """PocketBase did not answer: the caller may retry, nothing was written by this request."""

    status, code, title = 503, "store_unavailable", "The data store is unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 5, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after_s))


class QueueUnavailable(StoreUnavailable):
    """Redis (the queue and the shared rate-limit counts, with ``REDIS_URL``) did not answer."""

    code, title = "queue_unavailable", "The queue is unavailable"


class StoreError(GatewayError):
    """PocketBase answered with something we did not expect: a bug, never the caller's fault."""

    status, code, title = 500, "store_error", "The data store refused the operation"


class StoreCredentialsRefused(StoreError):
    """PocketBase refused the superuser the settings name: another EKYC_HOME's, or stale."""


# -- Request bodies -------------------------------------------------------------------------------


class JsonTooDeep(BadRequest):
    code, title = "json_too_deep", "The JSON body is nested too deeply"


class JsonInvalid(BadRequest):
    code, title = "json_invalid", "The body is not valid JSON"


# -- The applicant's link and flow ----------------------------------------------------------------


class LinkRefused(GatewayError):
    """The link cannot be used; ``reason`` picks the page the applicant sees."""

    status, code, title = 403, "link_invalid", "This link is not valid"

    def __init__(self, reason: str, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail or self.title, **kwargs)
        self.reason = reason


class LinkMissing(LinkRefused):
    status, code, title = 401, "link_missing", "This page needs the full link you were sent"


class LinkExpired(LinkRefused):
    status, code, title = 410, "link_expired", "This link has expired"


class LinkFinished(LinkRefused):
    status, code, title = 409, "link_finished", "This verification is already complete"


class StepNotReady(Conflict):
    """The applicant skipped a step the next one needs (consent, document type, challenge)."""

    code, title = "step_not_ready", "An earlier step is not complete"


class DocumentNotAccepted(ValidationFailed):
    """The applicant chose a document type or issuing country the partner does not accept
    (``allowed_document_types``, ``allowed_countries``); ``errors`` names ``type``/``country``."""

    code, title = "document_not_accepted", "This document is not accepted here"


class SelfieTooLarge(PayloadTooLarge):
    code, title = "selfie_too_large", "The selfie frames exceed the challenge's upload budget"


class ChallengeRefused(Conflict):
    code, title = "challenge_refused", "This liveness challenge cannot be used"


class ChallengeLimitReached(Conflict):
    """The capture link drew as many liveness challenges as the partner allows
    (``liveness.max_challenges``): each draw shows a new prompt order, which is what a recording
    made in advance for one order waits for. A new link from the partner starts the count again."""

    code, title = "challenge_limit_reached", "No more liveness challenges on this link"


class ChallengeTokenRefused(ValidationFailed):
    """A partner's ``challenge_token`` (server-to-server liveness) is unknown, foreign, expired or
    spent: a 422 on the request's field, where the hosted flow's `ChallengeRefused` is a 409 on
    the applicant's state."""

    code, title = "challenge_refused", "This liveness challenge cannot be used"


class SelfieRefused(ValidationFailed):
    """No neutral frame is a usable selfie; ``extra["issue"]`` says what to change."""

    code, title = "selfie_refused", "The selfie cannot be used"


# -- Uploads --------------------------------------------------------------------------------------


class ImageTooLarge(PayloadTooLarge):
    code, title = "image_too_large", "The image is larger than allowed"


class ImageTypeRefused(UnsupportedMediaType):
    code, title = "image_type_refused", "Only JPEG, PNG and WebP images are accepted"


class ImageRefused(ValidationFailed):
    code, title = "image_refused", "The image cannot be used"


class PdfRefused(ValidationFailed):
    code, title = "pdf_refused", "The PDF cannot be accepted"


# -- The object store (server-to-server intake) ---------------------------------------------------


class ObjectMissing(ValidationFailed):
    code, title = "object_missing", "No such object in the store"


class ObjectStoreDenied(GatewayError):
    status, code, title = 502, "object_store_denied", "The object store refused the gateway"


class ObjectStoreUnavailable(GatewayError):
    status, code, title = 503, "object_store_unavailable", "The object store did not answer"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", "10")


# -- Signed requests ------------------------------------------------------------------------------


class SignatureRefused(Unauthorized):
    code, title = "signature_invalid", "The request signature is wrong"


class SignatureMissing(SignatureRefused):
    code, title = "signature_missing", "This partner's requests must be signed"


class SignatureStale(SignatureRefused):
    code, title = "signature_stale", "The request timestamp is outside the accepted window"


class SignatureReplayed(SignatureRefused):
    code, title = "signature_replayed", "This signed request was already received"


# -- Quotas ---------------------------------------------------------------------------------------


class QuotaExceeded(RateLimited):
    """The partner's monthly quota of a check is used up (429 with ``Retry-After``)."""

    code, title = "quota_exceeded", "Monthly quota used up"


# -- Webhooks -------------------------------------------------------------------------------------


class UrlRefused(ValidationFailed):
    """The URL may not be called from the worker."""

    code, title = "webhook_url_refused", "This webhook URL is not allowed"


# -- API documentation page -----------------------------------------------------------------------


class DocsAssetsMissing(GatewayError):
    status, code, title = 503, "docs_assets_missing", "The API page's assets are not installed"
