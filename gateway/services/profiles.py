"""Applicant profiles as a partner and a reviewer see them.

Every read and write is scoped to the calling partner: another partner's profile is reported as
missing (404), the same answer as an id that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from gateway.errors import (
    CaptureClosed,
    Conflict,
    IllegalTransition,
    ProfileErased,
    ValidationFailed,
)
from gateway.services import crypto, links
from gateway.services.api_keys import Principal
from gateway.services.audit import append_audit
from gateway.services.capture_rules import url_under_prefix
from gateway.services.partner_settings import link_ttl_s, retention_days
from gateway.services.pb_time import iso, parse_pb_time, pb_datetime
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import FileTuple
from gateway.services.profile_reads import ProfileReads
from gateway.services.webhooks.events import emit_profile_erased
from gateway.settings import Settings
from gateway.statuses import (
    ERASURE_ENDS_CAPTURE,
    LINK_NOT_REFRESHED,
    REASON_REQUIRED,
    REOPENED_BY_NEW_LINK,
    REVIEWER_MOVES,
    ProfileStatus,
)

log = structlog.get_logger("gateway.profiles")

APPLICANT_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone", "country")
DOCUMENT_FIELDS = ("document_front", "document_back", "selfie", "other")
# profiles.other_documents holds at most this many files (maxSelect in pb_migrations); the other
# document fields hold one each.
MAX_OTHER_DOCUMENTS = 20
# Reads of a profile an erasure makes when its status keeps moving under it (erase_record).
ERASE_ATTEMPTS = 3


def request_fingerprint(body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a request body, for Idempotency-Key comparison."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class LinkConfig:
    """What the service needs to mint capture links and protect document numbers."""

    frontend_url: str
    link_secret: str
    data_key: str
    idempotency_ttl_s: int = Settings.idempotency_ttl_s
    # The link lifetime of partners that set none (EKYC_LINK_TTL_S).
    link_ttl_s: int = Settings.link_ttl_s


class ProfileService:
    """Profile operations for partners and reviewers; no Flask, explicit arguments."""

    def __init__(
        self,
        pb: PocketBase,
        config: LinkConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 0,
    ) -> None:
        self.pb = pb
        self.config = config
        self.clock = clock
        self.reads = ProfileReads(pb, cache_size)

    # -- creation ------------------------------------------------------------------------------

    def create_or_reuse(
        self, principal: Principal, body: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Create a profile, or return the partner's existing one for the same reference or
        document. Returns ``(link view, created)``."""
        now = self.clock()
        ttl_s = link_ttl_s(principal.settings) or self.config.link_ttl_s
        self._check_return_url(principal, body.get("return_url"))
        fields: dict[str, Any] = {
            "external_ref": body.get("external_ref") or "",
            "metadata": body.get("metadata") or None,
            "return_url": body.get("return_url") or "",
            "status_actor": f"partner:{principal.partner_id}",
            "status_reason": "created by partner",
            "link_nonce": links.new_nonce(),
            "link_expires_at": pb_datetime(now + timedelta(seconds=ttl_s)),
            "retention_until": pb_datetime(
                now + timedelta(days=retention_days(principal.settings))
            ),
        }
        for name in APPLICANT_FIELDS:
            if body.get(name):
                fields[name] = body[name]
        document = body.get("document") or None
        if document:
            fields["document_type"] = document.get("type") or ""
            fields["document_country"] = document["country"].upper()
            fields["document_number_enc"] = crypto.encrypt_text(
                self.config.data_key, document["number"]
            )
            fields["document_index"] = crypto.document_index(
                self.config.data_key, document["country"], document["number"]
            )
        idempotency = None
        if idempotency_key:
            idempotency = {
                "key": idempotency_key,
                "request_sha256": request_fingerprint(body),
                "expires_at": pb_datetime(now + timedelta(seconds=self.config.idempotency_ttl_s)),
            }
        result = self.pb.upsert_profile(principal.partner_id, fields, idempotency)
        profile = result["profile"]
        if profile.get("erased_at"):
            # Its reference still names it, but the applicant it held is gone and it takes no new
            # capture: a link to it could only say so.
            raise ProfileErased(
                "The profile with this external_ref was erased; create the applicant's new "
                "profile with another external_ref"
            )
        if not result["created"] and not result["replayed"]:
            profile = self._refresh_link_if_expired(principal, profile)
        return self.link_view(profile), bool(result["created"])

    @staticmethod
    def _check_return_url(principal: Principal, return_url: str | None) -> None:
        """A return URL the flow would never follow is refused now, not ignored later: the
        applicant is sent back only to a prefix the partner allowed in its settings."""
        allowed = principal.settings.get("allowed_return_urls") or []
        if return_url and not allowed:
            raise ValidationFailed(
                "return_url needs allowed_return_urls in the partner settings (PATCH "
                "/api/settings); without an allowed prefix the applicant is never sent back",
                errors={"return_url": ["no allowed_return_urls are set"]},
            )
        if return_url and not any(url_under_prefix(return_url, p) for p in allowed):
            raise ValidationFailed(
                "return_url is not among this partner's allowed return URLs",
                errors={"return_url": ["not an allowed prefix"]},
            )

    def _refresh_link_if_expired(
        self, principal: Principal, profile: dict[str, Any]
    ) -> dict[str, Any]:
        expires = profile.get("link_expires_at")
        if expires and parse_pb_time(expires) > self.clock():
            return profile
        if profile["status"] in LINK_NOT_REFRESHED:
            return profile
        return self._rotate_link(principal, profile)

    # -- links ---------------------------------------------------------------------------------

    def link_view(self, profile: dict[str, Any]) -> dict[str, Any]:
        """``{id, status, redirect_url, link_expires_at, created}`` for a profile."""
        expires = parse_pb_time(profile["link_expires_at"])
        token = links.sign_link(
            self.config.link_secret, profile["id"], int(expires.timestamp()), profile["link_nonce"]
        )
        return {
            "id": profile["id"],
            "status": profile["status"],
            "redirect_url": f"{self.config.frontend_url}/{profile['id']}?t={token}",
            "link_expires_at": iso(profile["link_expires_at"]),
            "created": iso(profile["created"]),
        }

    def new_link(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """A fresh capture link; older links of the profile stop working at once. A profile
        being verified or decided has nothing to capture: ``CaptureClosed``, the link unchanged."""
        profile = self.load_open(principal, profile_id)
        if profile["status"] in LINK_NOT_REFRESHED:
            raise CaptureClosed(
                f"The profile is {profile['status']}: a new link would only show that the "
                "verification is complete. To capture again, a reviewer moves the decided profile "
                "to resubmission_requested (PATCH /api/profiles/{id}/status), then ask again"
            )
        if profile["status"] in REOPENED_BY_NEW_LINK:
            profile = self.pb.transition(
                profile["id"],
                "unverified",
                actor=principal.actor,
                reason="new capture link requested",
                expected_from=[profile["status"]],
            )["profile"]
        return self.link_view(self._rotate_link(principal, profile))

    def _rotate_link(self, principal: Principal, profile: dict[str, Any]) -> dict[str, Any]:
        ttl_s = link_ttl_s(principal.settings) or self.config.link_ttl_s
        return self.pb.update(
            "profiles",
            profile["id"],
            {
                "link_nonce": links.new_nonce(),
                "link_expires_at": pb_datetime(self.clock() + timedelta(seconds=ttl_s)),
            },
        )

    # -- reads ---------------------------------------------------------------------------------

    def load_owned(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """The raw profile record if it belongs to the caller's partner, else ``NotFound``."""
        return self.reads.owned(principal, profile_id)

    def load_open(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """``load_owned`` for a write that stores personal data (a link that reopens the capture,
        documents, notes): ``Gone`` once the profile is erased. An erasure runs once (a second
        DELETE and the retention job skip an erased profile), so what came after it would stay."""
        profile = self.load_owned(principal, profile_id)
        if profile.get("erased_at"):
            raise ProfileErased(
                "This profile's personal data was erased; create a new profile for a new capture"
            )
        return profile

    def view(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """What a partner sees of a profile (see ``ProfileReads.view`` for conditional reads)."""
        body = self.reads.view(principal, profile_id).body
        assert isinstance(body, dict)
        return body

    # -- reviewer operations -------------------------------------------------------------------

    def change_status(
        self, principal: Principal, profile_id: str, status: str, reason: str | None
    ) -> dict[str, Any]:
        """A reviewer's status change: only the moves of ``REVIEWER_MOVES``, from the status the
        profile still has when the data layer (which writes the history) makes it."""
        if status in REASON_REQUIRED and not (reason or "").strip():
            raise ValidationFailed(
                f"A reason is required to set {status}", errors={"reason": ["required"]}
            )
        profile = self.load_owned(principal, profile_id)
        current = profile["status"]
        allowed = REVIEWER_MOVES.get(ProfileStatus(current), frozenset())
        if status not in allowed:
            raise IllegalTransition(
                f"A reviewer cannot move a profile from {current} to {status}",
                extra={"current_status": current, "allowed": sorted(allowed)},
            )
        changed = self.pb.transition(
            profile["id"],
            status,
            actor=principal.actor,
            reason=(reason or "").strip(),
            expected_from=[current],
        )["profile"]
        self.audit(principal.actor, "profile.status_changed", profile["id"], {"to": status})
        return self.view(principal, changed["id"])

    def add_note(self, principal: Principal, profile_id: str, body: str) -> dict[str, Any]:
        """Attach a reviewer's note to a profile."""
        profile = self.load_open(principal, profile_id)
        note = self.pb.create(
            "notes", {"profile": profile["id"], "author": principal.actor, "body": body}
        )
        return note_view(note)

    def notes(self, principal: Principal, profile_id: str) -> list[dict[str, Any]]:
        """A profile's notes, oldest first."""
        profile = self.load_owned(principal, profile_id)
        rows = self.pb.find(
            "notes", "profile = {:profile}", {"profile": profile["id"]}, sort="@rowid", limit=1000
        )
        return [note_view(row) for row in rows]

    def attach_documents(
        self, principal: Principal, profile_id: str, files: dict[str, list[FileTuple]]
    ) -> dict[str, Any]:
        """Store reviewer-supplied documents as protected files on the profile: one file per
        field, ``other`` up to ``MAX_OTHER_DOCUMENTS`` with those already stored."""
        profile = self.load_open(principal, profile_id)
        errors = {
            name: ["one file per field"]
            for name, items in files.items()
            if name != "other" and len(items) > 1
        }
        kept = len(profile.get("other_documents") or [])
        if kept + len(files.get("other", [])) > MAX_OTHER_DOCUMENTS:
            errors["other"] = [f"at most {MAX_OTHER_DOCUMENTS} files, {kept} already stored"]
        if errors:
            raise ValidationFailed(
                "Send one file in document_front, document_back and selfie, and at most "
                f"{MAX_OTHER_DOCUMENTS} other documents per profile",
                errors=errors,
            )
        field_map = {
            "document_front": "document_front",
            "document_back": "document_back",
            "selfie": "selfie",
            "other": "other_documents+",
        }
        stored = self.pb.update(
            "profiles", profile["id"], {}, files={field_map[k]: v for k, v in files.items()}
        )
        self.audit(
            principal.actor, "profile.documents_attached", profile["id"], {"fields": sorted(files)}
        )
        return {
            "id": stored["id"],
            "documents": {
                "document_front": stored.get("document_front") or None,
                "document_back": stored.get("document_back") or None,
                "selfie": stored.get("selfie") or None,
                "other": stored.get("other_documents") or [],
            },
        }

    # -- erasure -------------------------------------------------------------------------------

    def erase(self, principal: Principal, profile_id: str) -> dict[str, Any]:
        """Erase a profile's personal data at the partner's request; idempotent.

        Everything personal goes: applicant fields, the encrypted document number and its index,
        the document's expiry date, metadata, every capture file, reviewer notes, the per-factor
        details of the scores (they quote what was read from the document), and the text of
        every reason a reviewer typed (it may name the applicant; it reads "[erased]" in the
        history, the profile and the stored webhook events). What stays explains what happened
        without naming anyone: every history row, the decision, score and the worker's reasons.
        An open capture ends (status ``expired``, in the same transaction as the wipe) and every
        link stops working; a running verification is refused (409) because the worker would
        write its results back.
        """
        profile = self.load_owned(principal, profile_id)
        erased = self.erase_record(
            profile, actor=principal.actor, reason="personal data erased at the partner's request"
        )
        return erasure_view(erased)

    def erase_record(self, profile: dict[str, Any], *, actor: str, reason: str) -> dict[str, Any]:
        """Erase one profile record (see ``erase``), for whoever is entitled to: the partner's
        request, or the end of its retention period. Returns the record as erased.

        The erasure is made on the status read; when the profile moved meanwhile (a reviewer's
        decision, the applicant's next step) it is read again and the erasure made on its new
        status, a few times at most: the partner asked for an erasure, not for a status.
        """
        for attempt in range(ERASE_ATTEMPTS):
            if profile.get("erased_at"):
                # Sent once (deduplicated): a retry after a failure still tells the partner.
                emit_profile_erased(self.pb, profile)
                return profile
            if profile["status"] == "processing":
                raise Conflict("A verification is running on this profile; erase it when it ends")
            try:
                result = self.pb.erase_profile(
                    profile["id"],
                    erasure_fields(profile, erased_at=pb_datetime(self.clock())),
                    expected_from=[profile["status"]],
                    to_status="expired" if profile["status"] in ERASURE_ENDS_CAPTURE else None,
                    actor=actor,
                    reason=reason,
                )
            except IllegalTransition:
                if attempt == ERASE_ATTEMPTS - 1:
                    raise
                profile = self.pb.get("profiles", profile["id"])
                continue
            break
        erased = result["profile"]
        if not result["erased"]:  # erased meanwhile, by another request or the retention job
            return erased
        # The notes and the audit row went in the erasure's transaction. The event is sent once
        # (deduplicated), also by a retry of an erasure that committed and failed after (above).
        emit_profile_erased(self.pb, profile)
        return erased

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        """Append to the audit log (ids and codes only, never PII)."""
        append_audit(self.pb, actor, action, target, detail)


def erasure_fields(profile: dict[str, Any], *, erased_at: str) -> dict[str, Any]:
    """The values that erase a profile's personal data (files are removed by emptying them).
    The data layer refuses writing these fields again on an erased profile: keep
    ``ERASED_FIELDS`` in pb_hooks/lib/erasure.js to the same names."""
    factors = (profile.get("scores") or {}).get("factors") or {}
    return {
        **{name: "" for name in APPLICANT_FIELDS},
        "document_number_enc": "",
        "document_index": "",
        "metadata": None,
        "return_url": "",
        "capture": None,
        "liveness_challenge": None,
        "consent_at": "",
        "document_front": "",
        "document_back": "",
        "selfie": "",
        "selfie_frames": [],
        "other_documents": [],
        "scores": {
            "erased": True,
            "factors": {
                name: {"status": factor.get("status"), "score": factor.get("score")}
                for name, factor in factors.items()
            },
        }
        if factors
        else None,
        # Read from the document: kept, it drove expiry notices and a document_expired move
        # (the date in its history row) for an erased profile.
        "document_expires_on": "",
        "expiry_notices": None,
        "link_nonce": links.new_nonce(),
        "erased_at": erased_at,
    }


def erasure_view(profile: dict[str, Any]) -> dict[str, Any]:
    """What the partner is told after an erasure."""
    return {
        "id": profile["id"],
        "status": profile["status"],
        "erased_at": iso(profile["erased_at"]),
    }


def note_view(row: dict[str, Any]) -> dict[str, Any]:
    """One reviewer note as the API shows it."""
    return {
        "id": row["id"],
        "author": row["author"],
        "body": row["body"],
        "created": iso(row["created"]),
    }


def queue_submitted(enqueue: Callable[[str], None] | None, profile_id: str) -> None:
    """Queue a profile the caller has just stored as ``submitted`` with ``enqueue`` (the service's
    own, None when it queues nothing). A queue that refuses is logged, never raised: the request
    already succeeded, and the reconciler re-enqueues the profile within a minute (answering 500
    told the caller to retry, and the retry got 409)."""
    if enqueue is None:
        return
    try:
        enqueue(profile_id)
    except Exception:
        log.exception("enqueue_failed", profile_id=profile_id)
