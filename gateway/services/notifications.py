"""Email to a partner's review address when a profile needs a human (``manual_review``).

Queued by the worker while it fans out the ``profile.manual_review`` event, only when the operator
set ``EKYC_SMTP_URL``: ``smtp://[user:password@]host[:port][?from=addr&starttls=1]`` or
``smtps://...`` (implicit TLS). The message names the profile by id and the partner's own
reference and says why it is in review; no applicant data, no images.

A mail server that is down or refuses the message is retried on a growing schedule
(``RETRY_DELAYS_S``, about a day in all); a review that waits on an email nobody sent is the failure
this guards against. Delivery is at least once: a worker killed between sending and recording can
send one email twice.
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from gateway.services.partner_settings import effective_settings
from gateway.services.pocketbase import PocketBase

log = structlog.get_logger("gateway.notifications")
SMTP_TIMEOUT_S = 10.0
# Waits before the 2nd, 3rd, ... attempt: 1 min, 5 min, 30 min, 2 h, 6 h, 16 h (~25 h in all).
RETRY_DELAYS_S = (60, 300, 1800, 7200, 21600, 57600)
# Also sent to the review address: a quota reaching 80 % or 100 % (gateway.services.quotas).
QUOTA_EMAIL_EVENT = "quota.threshold_reached"
# Control characters and every line break str.splitlines() knows: the email package refuses a
# header holding one, so a partner's external_ref with a CR or LF (the API does not forbid them)
# would fail every attempt, and must never start a header of its own.
_NOT_IN_A_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail."""

    host: str
    port: int
    use_ssl: bool
    starttls: bool
    username: str | None
    password: str | None
    sender: str


def parse_smtp_url(url: str) -> SmtpConfig:
    """``EKYC_SMTP_URL`` as a config; ``ValueError`` when it is not a usable SMTP URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("EKYC_SMTP_URL must look like smtp://host:port or smtps://host:port")
    query = parse_qs(parts.query)
    use_ssl = parts.scheme == "smtps"
    sender = query.get("from", [f"ekyc-gateway@{parts.hostname}"])[0]
    if _NOT_IN_A_HEADER.search(sender):
        raise ValueError("EKYC_SMTP_URL: the from address must not hold line breaks")
    return SmtpConfig(
        host=parts.hostname,
        port=parts.port or (465 if use_ssl else 25),
        use_ssl=use_ssl,
        starttls=(query.get("starttls", ["0"])[0].lower() in {"1", "true", "yes"}),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sender=sender,
    )


def send_email(config: SmtpConfig, to_address: str, subject: str, body: str) -> None:
    """Send one plain-text email."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to_address
    message["Subject"] = subject
    message.set_content(body)
    client_class = smtplib.SMTP_SSL if config.use_ssl else smtplib.SMTP
    with client_class(config.host, config.port, timeout=SMTP_TIMEOUT_S) as client:
        if config.starttls and not config.use_ssl:
            client.starttls()
        if config.username:
            client.login(config.username, config.password or "")
        client.send_message(message)


def review_address(partner: dict[str, Any]) -> str | None:
    """The partner's review address: its settings' ``review_email``, else the record's field."""
    settings = effective_settings(partner.get("settings"))
    return settings.get("review_email") or partner.get("review_email") or None


def review_message(partner: dict[str, Any], event: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of the manual-review email (ids and reasons only)."""
    data = event.get("data") or {}
    if event.get("type") == QUOTA_EMAIL_EVENT:
        return quota_message(partner, data)
    reference = data.get("external_ref") or data.get("profile_id")
    reasons = data.get("reasons") or []
    lines = [
        f"A profile of {partner.get('name') or 'your organisation'} needs a manual review.",
        "",
        f"Profile id: {data.get('profile_id')}",
        f"Your reference: {_one_line(str(data.get('external_ref') or '-'))}",
        f"Score: {data.get('score') if data.get('score') is not None else '-'}",
        "Why:",
        *(f"  - {_reason_text(reason)}" for reason in reasons),
        *(["  - (no reason recorded)"] if not reasons else []),
        "",
        "Open the review queue in the admin UI to decide.",
    ]
    return f"[eKYC] Manual review needed: {_one_line(str(reference))}", "\n".join(lines)


def _one_line(text: str) -> str:
    """``text`` fit for a header: each run of control characters or line breaks one space."""
    return _NOT_IN_A_HEADER.sub(" ", text)


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("reason") or reason.get("code") or reason)
    return str(reason)


def notify_manual_review(pb: PocketBase, config: SmtpConfig, event: dict[str, Any]) -> bool:
    """Email the partner's review address about a ``profile.manual_review`` event.

    Returns False (and logs) when the partner has no review address.
    """
    partner = pb.get("partners", event["partner"])
    to_address = review_address(partner)
    if not to_address:
        log.info("review_email_skipped", partner_id=partner["id"], reason="no review address")
        return False
    subject, body = review_message(partner, event)
    send_email(config, to_address, subject, body)
    log.info("review_email_sent", partner_id=partner["id"], event_id=event["id"])
    return True


def quota_message(partner: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of the email announcing 80 % or 100 % of a monthly quota."""
    percent = data.get("threshold_percent")
    lines = [
        f"{partner.get('name') or 'Your organisation'} has used {percent} % of its monthly"
        f" {data.get('check')} quota ({data.get('used')} of {data.get('quota')}) in"
        f" {data.get('period')}.",
        "",
        "Past 100 % the gateway answers 429 quota_exceeded until the quota resets"
        f" ({data.get('resets_at')}) or the operator raises it.",
    ]
    return f"[eKYC] {percent} % of the {data.get('check')} quota used", "\n".join(lines)


def wants_review_email(event: dict[str, Any]) -> bool:
    """Whether an outbox event calls for the review email (a manual review, or a quota's 80 %
    and 100 % thresholds)."""
    return event.get("type") in ("profile.manual_review", QUOTA_EMAIL_EVENT)


def attempt_review_email(
    pb: PocketBase, config: SmtpConfig, event_id: str, attempt: int, now: datetime
) -> datetime | None:
    """One attempt at the review email of an event; when the next attempt is due, or None.

    None when the email went out, was not wanted (no review address), or failed its last attempt
    (logged as ``review_email_abandoned``). Errors of the mail server are caught here and
    retried; a PocketBase outage propagates (the worker task retries that attempt).
    """
    event = pb.get("webhook_events", event_id)
    try:
        notify_manual_review(pb, config, event)
        return None
    except (smtplib.SMTPException, OSError) as exc:
        fields = {"event_id": event_id, "attempt": attempt, "error": type(exc).__name__}
        if attempt > len(RETRY_DELAYS_S):
            log.error("review_email_abandoned", **fields)
            return None
        retry_at = now + timedelta(seconds=RETRY_DELAYS_S[attempt - 1])
        log.warning("review_email_failed", retry_at=retry_at.isoformat(), **fields)
        return retry_at
