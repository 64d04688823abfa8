"""The hosted flow with two tabs (or an applicant's link in two hands): a capture that is still
being checked when the other tab submits must not change the evidence that was submitted.

Each race is made deterministic by holding the upload inside its image check until the other
request has finished, against the real PocketBase."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.routes.flow import capture_service
from tests.e2e.flow_support import Link, document_jpeg
from tests.test_flow_api import (  # noqa: F401  (fixtures)
    api,
    captured,
    enqueued,
    flow_partner,
    link,
    prompts_for,
    send_frames,
    sharp_passport,
    upload,
)


class HeldCheck:
    """Wraps one of the capture service's image checks: the upload sent from another thread
    waits inside it until ``release`` is set, after telling the test it got there."""

    def __init__(self, check: Callable[[Any], Any]) -> None:
        self.check = check
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only the request started in its own thread is held; the test's own calls go through.
        if threading.current_thread() is not threading.main_thread():
            self.entered.set()
            assert self.release.wait(30), "the test never released the held upload"
        return self.check(*args, **kwargs)


def hold(app: Flask, attribute: str) -> Iterator[HeldCheck]:
    # The service is the app's one instance; no app context stays pushed during the test, or
    # the test client's requests would share its ``g`` (and its cached capture session).
    with app.app_context():
        service = capture_service()
    held = HeldCheck(getattr(service, attribute))
    setattr(service, attribute, held)
    try:
        yield held
    finally:
        held.release.set()
        setattr(service, attribute, held.check)


@pytest.fixture
def held_check(app: Flask) -> Iterator[HeldCheck]:
    yield from hold(app, "quality_check")


@pytest.fixture
def held_selfie_check(app: Flask) -> Iterator[HeldCheck]:
    yield from hold(app, "selfie_check")


@pytest.fixture
def held_draw(app: Flask) -> Iterator[HeldCheck]:
    yield from hold(app, "issue_challenge_fn")


def at_the_document_photo(client: FlaskClient, fresh: Link) -> None:
    """Walk a fresh link to the step where the applicant photographs a French passport."""
    assert api(client, fresh, "POST", "/start").status_code == 200
    consent = api(client, fresh, "POST", "/consent", json={"accepted": True})
    assert consent.status_code == 200, consent.get_json()
    chosen = api(client, fresh, "POST", "/document", json={"type": "passport", "country": "FRA"})
    assert chosen.status_code == 200


@contextmanager
def held_in_check(
    app: Flask, held: HeldCheck, send: Callable[[FlaskClient], Any]
) -> Iterator[dict]:
    """Start ``send`` on a client of its own and hold it in its image check while the block
    runs (the other tab's move), then let it finish; its response lands in the dict."""
    thread, result = in_thread(send, app)
    assert held.entered.wait(30)
    try:
        yield result
    finally:
        held.release.set()
        thread.join(30)
    assert not thread.is_alive()


def in_thread(send: Callable[[FlaskClient], Any], app: Flask) -> tuple[threading.Thread, dict]:
    """Start ``send`` on a client of its own; its response lands in the dict."""
    result: dict[str, Any] = {}

    def run() -> None:
        response = send(app.test_client())
        result["status"] = response.status_code
        result["body"] = response.get_json()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.usefixtures("enqueued")
def test_a_document_upload_overtaken_by_the_submit_changes_nothing(
    app: Flask,
    client: FlaskClient,
    captured: Link,  # noqa: F811
    services: Services,
    held_check: HeldCheck,
) -> None:
    before = services.pb.get("profiles", captured.profile_id)
    other_passport = document_jpeg("passport", seed=23)
    with held_in_check(
        app, held_check, lambda tab: upload(tab, captured, "front", other_passport)
    ) as result:
        # The other tab submits while the upload is being checked.
        submitted = api(client, captured, "POST", "/submit")
        assert submitted.status_code == 200, submitted.get_json()
    after = services.pb.get("profiles", captured.profile_id)
    assert after["status"] == "submitted"
    # The evidence the applicant submitted is the evidence the worker reads.
    assert after["document_front"] == before["document_front"]
    assert after["capture"]["documents"] == before["capture"]["documents"]
    assert result["status"] == 409, result
    assert result["body"]["code"] == "link_finished"


@pytest.mark.usefixtures("enqueued")
def test_a_selfie_overtaken_by_the_submit_changes_nothing(
    app: Flask,
    client: FlaskClient,
    captured: Link,  # noqa: F811
    services: Services,
    face_frames: list[bytes],
    held_selfie_check: HeldCheck,
) -> None:
    challenge = api(client, captured, "POST", "/challenge").get_json()
    before = services.pb.get("profiles", captured.profile_id)
    faces = face_frames[10:]
    with held_in_check(
        app,
        held_selfie_check,
        lambda tab: send_frames(tab, captured, challenge["id"], prompts_for(challenge), faces),
    ) as result:
        submitted = api(client, captured, "POST", "/submit")
        assert submitted.status_code == 200, submitted.get_json()
    after = services.pb.get("profiles", captured.profile_id)
    assert after["status"] == "submitted"
    assert (after["selfie"], after["selfie_frames"]) == (before["selfie"], before["selfie_frames"])
    assert after["capture"]["frames"] == before["capture"]["frames"]
    assert after["capture"]["submitted_at"]
    assert result["status"] == 409, result
    assert result["body"]["code"] == "link_finished"


def test_a_document_upload_overtaken_by_the_erasure_stores_nothing(
    app: Flask,
    client: FlaskClient,
    link: Link,  # noqa: F811
    flow_partner: Any,  # noqa: F811
    services: Services,
    held_check: HeldCheck,
    sharp_passport: bytes,  # noqa: F811
) -> None:
    at_the_document_photo(client, link)
    with held_in_check(
        app, held_check, lambda tab: upload(tab, link, "front", sharp_passport)
    ) as result:
        # The partner erases the profile while the photo is being checked.
        erased = client.delete(f"/api/profiles/{link.profile_id}", headers=flow_partner.headers)
        assert erased.status_code == 200, erased.get_json()
    after = services.pb.get("profiles", link.profile_id)
    assert after["erased_at"] and after["status"] == "expired"
    assert not after["document_front"] and not after["capture"]
    # A clear refusal of the link (it was retired by the erasure), not a store error.
    assert result["status"] == 403, result
    assert result["body"]["code"] == "link_invalid"


def test_a_submit_overtaken_by_a_new_document_choice_is_judged_on_what_is_there(
    app: Flask,
    client: FlaskClient,
    captured: Link,  # noqa: F811
    services: Services,
    enqueued: list[str],  # noqa: F811
) -> None:
    """The submit checked the captures, then the other tab chose another document type (which
    drops the photos of the first): the submit must not go through without them."""
    with app.app_context():
        pb = capture_service().pb
    transition = pb.transition
    entered, release = threading.Event(), threading.Event()

    def held_transition(profile_id: str, to_status: str, **kwargs: Any) -> Any:
        if to_status == "submitted":
            entered.set()
            assert release.wait(30), "the test never released the held submit"
        return transition(profile_id, to_status, **kwargs)

    pb.transition = held_transition
    try:
        thread, result = in_thread(lambda tab: api(tab, captured, "POST", "/submit"), app)
        assert entered.wait(30)
        chosen = api(
            client, captured, "POST", "/document", json={"type": "id_card", "country": "FRA"}
        )
        assert chosen.status_code == 200, chosen.get_json()
        release.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        release.set()
        del pb.transition
    after = services.pb.get("profiles", captured.profile_id)
    assert not after["document_front"]
    assert after["status"] == "in_progress"
    assert result["status"] == 409, result
    assert set(result["body"]["errors"]) == {"document_front", "document_back"}
    assert enqueued == []


def test_a_document_photo_and_a_selfie_from_two_devices_keep_both_records(
    app: Flask,
    client: FlaskClient,
    captured: Link,  # noqa: F811
    services: Services,
    face_frames: list[bytes],
    held_check: HeldCheck,
) -> None:
    """The QR hand-off: the computer retakes the document photo while the phone sends a new
    selfie. Each write of the capture record must keep what the other stored meanwhile."""
    other_passport = document_jpeg("passport", seed=23)
    with held_in_check(
        app, held_check, lambda tab: upload(tab, captured, "front", other_passport)
    ) as result:
        challenge = api(client, captured, "POST", "/challenge").get_json()
        sent = send_frames(
            client, captured, challenge["id"], prompts_for(challenge), face_frames[5:]
        )
        assert sent.status_code == 201, sent.get_json()
    assert result["status"] == 201, result
    after = services.pb.get("profiles", captured.profile_id)
    # Every stored frame is described by the capture record, under the challenge it answered.
    assert after["capture"]["challenge_id"] == challenge["id"]
    described = {entry["filename"] for entry in after["capture"]["frames"]}
    assert described == set(after["selfie_frames"])
    assert after["capture"]["documents"]["front"]


def test_one_challenge_answered_from_two_tabs_is_used_once(
    app: Flask,
    client: FlaskClient,
    captured: Link,  # noqa: F811
    services: Services,
    face_frames: list[bytes],
    held_selfie_check: HeldCheck,
) -> None:
    challenge = api(client, captured, "POST", "/challenge").get_json()
    prompts = prompts_for(challenge)
    with held_in_check(
        app,
        held_selfie_check,
        lambda tab: send_frames(tab, captured, challenge["id"], prompts, face_frames[10:]),
    ) as result:
        # The second tab answers the same challenge while the first one's frames are checked.
        sent = send_frames(client, captured, challenge["id"], prompts, face_frames[5:])
        assert sent.status_code == 201, sent.get_json()
    assert result["status"] == 409, result
    assert result["body"]["code"] == "challenge_refused"
    after = services.pb.get("profiles", captured.profile_id)
    described = {entry["filename"] for entry in after["capture"]["frames"]}
    assert described == set(after["selfie_frames"])


def test_a_document_upload_overtaken_by_a_new_link_stores_nothing(
    app: Flask,
    client: FlaskClient,
    link: Link,  # noqa: F811
    flow_partner: Any,  # noqa: F811
    services: Services,
    held_check: HeldCheck,
    sharp_passport: bytes,  # noqa: F811
) -> None:
    """The partner issues a new link (the old one leaked): an upload the old link started is
    not stored when it lands after."""
    at_the_document_photo(client, link)
    with held_in_check(
        app, held_check, lambda tab: upload(tab, link, "front", sharp_passport)
    ) as result:
        renewed = client.post(f"/api/profiles/{link.profile_id}/link", headers=flow_partner.headers)
        assert renewed.status_code in (200, 201), renewed.get_json()
    assert not services.pb.get("profiles", link.profile_id)["document_front"]
    assert result["status"] == 403, result
    assert result["body"]["code"] == "link_invalid"


def test_two_tabs_asking_for_a_challenge_at_once_share_one_draw(
    app: Flask,
    client: FlaskClient,
    link: Link,  # noqa: F811
    services: Services,
    held_draw: HeldCheck,
) -> None:
    """The same link opened on two devices at once: the one that writes second is handed the
    first one's challenge, as a reload would be. Drawing over it spent a second order of the
    link's ``max_challenges`` and refused the first device's selfie as "not the current
    challenge" after the applicant had filmed it."""
    assert api(client, link, "POST", "/start").status_code == 200
    assert api(client, link, "POST", "/consent", json={"accepted": True}).status_code == 200
    with held_in_check(app, held_draw, lambda tab: api(tab, link, "POST", "/challenge")) as result:
        first = api(client, link, "POST", "/challenge")
        assert first.status_code == 201, first.get_json()
    assert result["status"] == 200, result
    assert result["body"] == first.get_json()
    stored = services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert (stored["id"], stored["drawn_on_link"]) == (first.get_json()["id"], 1)
