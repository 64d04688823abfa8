"""Manual-review emails against a real SMTP server (aiosmtpd) started by the test: sent to the
partner's review address when a profile enters manual_review, with ids and reasons only."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from api_helpers import TO_PROCESSING, new_profile_id, subscribe, walk
from flask.testing import FlaskClient

from gateway import create_app
from gateway.container import Services
from gateway.services import notifications
from gateway.services.partner_settings import set_partner_settings
from gateway.services.webhooks.delivery import dispatch_events
from gateway.settings import Settings
from gateway.worker import queue
from gateway.worker.webhook_tasks import delivery_context, review_email_hook


class Inbox:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    """A local SMTP server; yields its URL and inbox."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}?from=ekyc%40gateway.test", inbox
    controller.stop()


CONTENT_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "MIME-Version")


def closed_smtp_url() -> str:
    """An SMTP URL where nothing listens: a mail server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"smtp://127.0.0.1:{port}?from=ekyc%40gateway.test"


def to_manual_review(services: Services, profile_id: str) -> None:
    """Walk a profile to manual_review as the worker would, with a reason."""
    walk(services.pb, profile_id, *TO_PROCESSING)
    services.pb.transition(
        profile_id,
        "manual_review",
        actor="worker",
        set_fields={
            "decision": "manual_review",
            "score": 71,
            "reasons": ["similarity 0.70 < 0.75 threshold"],
        },
    )


def test_manual_review_emails_the_review_address(
    make_settings: Callable[..., Settings],
    make_partner: Callable,
    smtp: tuple[str, Inbox],
    inline_worker: Callable[[Services], Services],
) -> None:
    url, inbox = smtp
    app = create_app(make_settings(smtp_url=url))
    client: FlaskClient = app.test_client()
    services: Services = app.extensions["ekyc"]
    inline_worker(services)  # the queued email task runs inline on these services
    partner = make_partner("Mail partner")
    set_partner_settings(
        services.pb, partner.partner_id, {"review_email": "review@partner.test"}, actor="test"
    )
    profile_id = new_profile_id(
        client, partner.headers, external_ref="case-77", first_name="Budi", email="b@x.test"
    )
    to_manual_review(services, profile_id)

    context = delivery_context(services)  # the worker's wiring: SMTP on because the URL is set
    dispatch_events(context)
    dispatch_events(context)  # dispatched events are not mailed twice

    mine = [(to, m) for to, m in inbox.messages if profile_id in m.get_payload()]
    assert len(mine) == 1
    recipients, message = mine[0]
    assert recipients == ["review@partner.test"]
    assert message["From"] == "ekyc@gateway.test"
    assert "case-77" in message["Subject"]
    body = message.get_payload()
    assert "similarity 0.70 < 0.75 threshold" in body and "71" in body
    assert "Budi" not in body and "b@x.test" not in body


def test_no_review_address_no_email(
    services: Services, make_partner: Callable, smtp: tuple[str, Inbox], client: FlaskClient
) -> None:
    url, inbox = smtp
    partner = make_partner("Silent partner")
    subscribe(services, partner.partner_id)  # the event exists for the webhook, not for an email
    profile_id = new_profile_id(client, partner.headers)
    to_manual_review(services, profile_id)
    [event] = services.pb.find(
        "webhook_events",
        "profile = {:p} && type = 'profile.manual_review'",
        {"p": profile_id},
    )
    sent = notifications.notify_manual_review(services.pb, notifications.parse_smtp_url(url), event)
    assert sent is False and not inbox.messages


def test_notifier_is_off_without_smtp_url() -> None:
    assert review_email_hook("") is None
    with pytest.raises(ValueError):
        review_email_hook("http://not-smtp.test")


def manual_review_event(services: Services, make_partner: Callable, client: FlaskClient) -> str:
    """The id of a fresh profile.manual_review event of a partner with a review address."""
    partner = make_partner("Retry partner")
    set_partner_settings(
        services.pb, partner.partner_id, {"review_email": "review@retry.test"}, actor="test"
    )
    profile_id = new_profile_id(client, partner.headers, external_ref="retry-1")
    to_manual_review(services, profile_id)
    [event] = services.pb.find(
        "webhook_events",
        "profile = {:p} && type = 'profile.manual_review'",
        {"p": profile_id},
    )
    return event["id"]


def test_review_email_is_retried_until_the_mail_server_answers(
    services: Services, make_partner: Callable, smtp: tuple[str, Inbox], client: FlaskClient
) -> None:
    url, inbox = smtp
    event_id = manual_review_event(services, make_partner, client)
    down = notifications.parse_smtp_url(closed_smtp_url())
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    retry_at = notifications.attempt_review_email(services.pb, down, event_id, 1, now)
    assert retry_at == now + timedelta(seconds=notifications.RETRY_DELAYS_S[0])
    retry_at = notifications.attempt_review_email(services.pb, down, event_id, 2, now)
    assert retry_at == now + timedelta(seconds=notifications.RETRY_DELAYS_S[1])
    assert not inbox.messages

    up = notifications.parse_smtp_url(url)
    assert notifications.attempt_review_email(services.pb, up, event_id, 3, now) is None
    [(recipients, message)] = inbox.messages
    assert recipients == ["review@retry.test"] and "retry-1" in message["Subject"]


def test_review_email_is_abandoned_after_the_last_attempt(
    services: Services, make_partner: Callable, client: FlaskClient
) -> None:
    event_id = manual_review_event(services, make_partner, client)
    down = notifications.parse_smtp_url(closed_smtp_url())
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    last = len(notifications.RETRY_DELAYS_S) + 1
    assert notifications.attempt_review_email(services.pb, down, event_id, last - 1, now)
    assert notifications.attempt_review_email(services.pb, down, event_id, last, now) is None


def test_the_worker_schedules_the_next_attempt_when_mail_is_down(
    make_settings: Callable[..., Settings],
    make_partner: Callable,
    inline_worker: Callable[[Services], Services],
) -> None:
    app = create_app(make_settings(smtp_url=closed_smtp_url()))
    services: Services = app.extensions["ekyc"]
    inline_worker(services)
    event_id = manual_review_event(services, make_partner, app.test_client())

    dispatch_events(delivery_context(services))  # queues the email; the task runs inline

    # The shared store may hold other tests' undispatched events: look at this one's.
    retries = [
        task
        for task in queue.huey.scheduled()
        if task.name.endswith("send_review_email") and task.args[0] == event_id
    ]
    assert [task.args for task in retries] == [(event_id, 2)]
    assert retries[0].eta > datetime.now(UTC).replace(tzinfo=None)


def test_smtp_url_parsing() -> None:
    config = notifications.parse_smtp_url("smtps://user%40x:p%2Fw@mail.test?from=a%40b.test")
    assert (config.host, config.port, config.use_ssl) == ("mail.test", 465, True)
    assert (config.username, config.password, config.sender) == ("user@x", "p/w", "a@b.test")
    plain = notifications.parse_smtp_url("smtp://mail.test:2525?starttls=1")
    assert (plain.port, plain.use_ssl, plain.starttls) == (2525, False, True)
    with pytest.raises(ValueError):
        notifications.parse_smtp_url("http://mail.test")
    # A sender the email package would refuse as a header fails at start, not on every email.
    with pytest.raises(ValueError):
        notifications.parse_smtp_url("smtp://mail.test?from=a%40b.test%0D%0ABcc%3A%20c%40d.test")


def test_reviewers_see_the_queue_and_the_timeline(
    services: Services, make_partner: Callable, client: FlaskClient
) -> None:
    """The admin-UI views the migration declares for the review workflow."""
    partner = make_partner("Queue partner")
    profile_id = new_profile_id(client, partner.headers, external_ref="queue-1")
    to_manual_review(services, profile_id)
    services.pb.create("notes", {"profile": profile_id, "author": "reviewer:r1", "body": "check"})

    [queued] = services.pb.find("review_queue", "id = {:id}", {"id": profile_id})
    assert queued["external_ref"] == "queue-1" and queued["score"] == 71
    assert queued["reasons"] == ["similarity 0.70 < 0.75 threshold"]
    assert queued["waiting_since"]

    timeline = services.pb.find(
        "profile_timeline", "profile = {:id}", {"id": profile_id}, sort="created", limit=50
    )
    assert [row["kind"] for row in timeline].count("status") == 5
    assert timeline[-1]["kind"] == "note" and timeline[-1]["detail"] == "check"

    services.pb.transition(profile_id, "approved", actor="reviewer:r1", reason="ok")
    assert services.pb.find("review_queue", "id = {:id}", {"id": profile_id}) == []

    layout = services.pb.request("GET", "/api/collections/profiles").json()
    first = [field["name"] for field in layout["fields"]][:7]
    assert first == ["id", "external_ref", "partner", "status", "decision", "score", "reasons"]


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\u2028"])
def test_a_line_break_in_the_partners_reference_neither_injects_a_header_nor_stops_the_email(
    services: Services,
    make_partner: Callable,
    smtp: tuple[str, Inbox],
    client: FlaskClient,
    line_break: str,
) -> None:
    """The subject quotes the partner's external_ref, which may hold any character: a line
    break in it must not add a header (Bcc) nor fail every attempt, leaving the review
    unannounced."""
    url, inbox = smtp
    partner = make_partner("Crlf partner")
    set_partner_settings(
        services.pb, partner.partner_id, {"review_email": "review@crlf.test"}, actor="test"
    )
    reference = f"case-9{line_break}Bcc: thief@evil.test{line_break}Profile id: forged"
    profile_id = new_profile_id(client, partner.headers, external_ref=reference)
    to_manual_review(services, profile_id)
    [event] = services.pb.find(
        "webhook_events",
        "profile = {:p} && type = 'profile.manual_review'",
        {"p": profile_id},
    )
    config = notifications.parse_smtp_url(url)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert notifications.attempt_review_email(services.pb, config, event["id"], 1, now) is None
    [(recipients, message)] = inbox.messages
    assert recipients == ["review@crlf.test"]
    assert message["Bcc"] is None
    assert sorted(message.keys()) == sorted(["From", "To", "Subject", *CONTENT_HEADERS])
    # A long subject is folded (a line break then a space), which is not a new line of text.
    subject = re.sub(r"\r?\n[ \t]+", " ", message["Subject"]).strip()
    assert subject.startswith("[eKYC] Manual review needed: case-9") and "\n" not in subject
    # Nor a line of its own in the body (a forged "Profile id:" a reviewer would follow).
    assert [line for line in message.get_payload().splitlines() if line.startswith("Profile")] == [
        f"Profile id: {profile_id}"
    ]
