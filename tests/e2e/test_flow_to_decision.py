"""The browser-to-worker seam with nothing replaced: a real person's clip as Chromium's camera,
the hosted flow from consent to submit, the gateway (gunicorn, as ``ekyc serve`` runs it) putting
the job on the real queue, the real worker (``ekyc worker``) deciding, and the signed webhook
reaching a receiver on loopback.

The person is d9.mp4 of ``liveness/real`` (a man with glasses): his passport is synthetic with a
portrait cut from a frame of the clip at rest; the camera is that clip cut by
``scripts/make_fake_camera.py`` so that he is too far away first, then rests while the page takes
its neutral frames, smiles while the page says "smile" and blinks while it says "blink". The
partner allows those two prompts only (its ``liveness.prompts`` setting); a recording follows
one order only, and the challenge shown stays the link's until it is used (a reload or another
device is handed it back), so the applicant starts the selfie on one device and carries on with the
same link on a second device whose camera holds the recording in the order shown or, for the
control, the other (one challenge drawn; always two devices, so each journey crosses that seam).

The approved journey is also the README's docs test: its partner, settings and profile are made
by the README's own commands, read out of README.md and run as printed (tests/e2e/readme_example.py;
only the host and $KEY change), and the passport carries the README's applicant (with a middle
name the example does not send, which must pass as a partial name match). The stack has a
PocketBase of its own, so the README's "Acme Bank" is the only partner of that name.

A second journey is the control: the same footage against a challenge in the other order (a
recording replayed against a new challenge) must not be approved, or the approval proves nothing.

Each journey prints what the browser sent: frames per second during each prompt, the largest
gap, the bytes of the upload, and when in the camera file the neutral frames began
(docs/hosted-flow.md quotes them). Needs Debian chromium and ffmpeg and the shared datasets;
skips with the reason otherwise.
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.pb_server import PocketBaseServer
from gateway.verification.documents.normalize import normalize_country
from scripts.make_fake_camera import SELFIE_SCRIPTS, SelfieSchedule, build_selfie_camera
from tests.e2e.browser_support import (
    CAMERA_DIR,
    RETURN_PREFIX,
    Browsers,
    Steps,
    visible,
    wait_js,
)
from tests.e2e.flow_support import Link, read_link
from tests.e2e.live_stack import LiveStack, live_stack
from tests.e2e.readme_example import ReadmeRun, run_partner_example, run_try_it
from tests.e2e.recorded_person import (
    camera_time_s,
    capture_figures,
    make_document,
    readme_identity,
)
from tests.webhook_receiver import Receiver, independent_verify, start_receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.needs_datasets]

SCHEDULE = SelfieSchedule()
# The camera's two recordings: one per order of the partner's two prompts.
CAMERAS = {("smile", "blink"): "selfie_smile_blink", ("blink", "smile"): "selfie_blink_smile"}
FIRST_CAMERA = ("smile", "blink")  # the device the applicant starts the selfie on
CAMERA_RETRIES = 2  # a capture the upload refused as paused or too slow (a loaded machine)
DECISION_TIMEOUT_S = 240
DECIDED_EVENTS = [
    "profile.approved",
    "profile.rejected",
    "profile.manual_review",
    "profile.resubmission_requested",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The live stack on a PocketBase of its own (the README's partner name must be unique)."""
    pocketbase = PocketBaseServer.throwaway(tmp_path_factory.mktemp("pb_readme"))
    try:
        with live_stack(pocketbase, tmp_path_factory.mktemp("live_home")) as running:
            yield running
    finally:
        pocketbase.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cameras(datasets_dir: Path) -> dict[tuple[str, str], Path]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")

    return {
        order: build_selfie_camera(CAMERA_DIR, datasets_dir, SELFIE_SCRIPTS[name], name)
        for order, name in CAMERAS.items()
    }


def start_selfie(page: Any, stack: LiveStack, profile_id: str) -> tuple[dict[str, Any], list]:
    """Start the selfie on ``page`` until its first prompt shows; the challenge shown and the
    selfie uploads the page will make."""
    uploads: list[bytes] = []
    page.on(
        "request",
        lambda request: (
            uploads.append(request.post_data_buffer or b"")
            if request.method == "POST" and request.url.split("?")[0].endswith("/selfie")
            else None
        ),
    )
    visible(page, "#selfie-start")
    page.locator("#selfie-start").click()
    page.locator("body[data-prompt]").wait_for(state="attached", timeout=60_000)
    return stack.services.pb.get("profiles", profile_id)["liveness_challenge"], uploads


def take_selfie(
    place: Place, page: Any, link: Link, in_order: bool, steps: Steps
) -> tuple[Any, Path, dict[str, Any], bytes]:
    """The selfie with the recording that follows the challenge (``in_order``) or its reverse.

    A recording follows one order, and a reload no longer draws another: the applicant starts
    the selfie on a first device, which shows the challenge, and carries on with the same link
    on a second device whose camera holds the recording wanted; it is handed back the challenge
    already shown (one draw in all). Always two devices, so every journey crosses that seam.
    Returns the page that uploaded, its camera, the challenge and the upload body."""
    stack = place.stack
    challenge, _ = start_selfie(page, stack, link.profile_id)
    page.context.close()
    shown = tuple(challenge["prompts"])
    camera = place.cameras[shown if in_order else shown[::-1]]
    page = place.browsers.page(camera)
    page.goto(link.url)
    visible(page, "#step-selfie")
    for attempt in range(1 + CAMERA_RETRIES):
        handed_back, uploads = start_selfie(page, stack, link.profile_id)
        assert handed_back["id"] == challenge["id"], "the second device drew another challenge"
        page.wait_for_timeout(300)
        steps.shot(page, f"prompt-{shown[0]}")
        wait_js(
            page,
            "document.body.dataset.step === 'review' || !document.querySelector('#alert').hidden",
            60_000,
        )
        if page.evaluate("document.body.dataset.step") == "review":
            break
        # A browser starved of CPU paused its capture: the upload says so at once and the
        # applicant starts again (the same challenge, the recording from its start).
        refused = page.locator("#alert").inner_text()
        assert "camera" in refused.lower() and attempt < CAMERA_RETRIES, refused
        print(f"\nthe selfie was refused ({refused!r}); starting it again")
    stored = stack.services.pb.get("profiles", link.profile_id)["liveness_challenge"]
    assert (stored["id"], stored["drawn_on_link"]) == (challenge["id"], 1), stored
    return page, camera, stored, uploads[-1]


def wait_for_decision_webhook(receiver: Receiver, profile_id: str) -> tuple[Any, dict[str, Any]]:
    deadline = time.monotonic() + DECISION_TIMEOUT_S
    while time.monotonic() < deadline:
        for request in list(receiver.requests):
            body = json.loads(request.body)
            data = body.get("data") or {}
            if body.get("type") in DECIDED_EVENTS and profile_id in json.dumps(data):
                return request, body
        time.sleep(0.5)
    raise AssertionError(f"no decision webhook for {profile_id} in {DECISION_TIMEOUT_S} s")


@dataclass
class Journey:
    """What one applicant's journey produced: the challenge, the worker's record and event."""

    challenge: dict[str, Any]
    record: dict[str, Any]
    event: dict[str, Any]
    figures: dict[str, Any]

    @property
    def factors(self) -> dict[str, dict[str, Any]]:
        return (self.record.get("scores") or {}).get("factors") or {}

    def diagnosis(self, stack: LiveStack) -> dict[str, Any]:
        """What to read when an assertion fails: the decision, its reasons, liveness's hints."""
        liveness = (self.factors.get("liveness") or {}).get("detail") or {}
        return {
            "event": self.event["type"],
            "status": self.record["status"],
            "reasons": self.record.get("reasons"),
            "liveness": {key: liveness.get(key) for key in ("hint_codes", "challenge")},
            "capture": self.figures,
            "worker_log": stack.log_tail("worker", 1500),
        }


PARTNER_SETTINGS = {
    "allowed_return_urls": [RETURN_PREFIX],
    # what the recorded camera can follow (a recording cannot turn its head on request)
    "liveness": {"prompts": ["smile", "blink"], "prompt_count": 2},
}


def subscribe(stack: LiveStack, receiver: Receiver, api_key: str, settings: dict) -> str:
    """A partner's settings patched and a webhook to the loopback receiver; its secret."""
    key = {"x-api-key": api_key}
    patched = stack.api("PATCH", "/api/settings", json=settings, headers=key)
    assert patched.status_code == 200, patched.text
    hook = stack.api(
        "POST", "/api/webhooks", json={"url": receiver.url, "events": DECIDED_EVENTS}, headers=key
    )
    assert hook.status_code == 201, hook.text
    return hook.json()["secret"]


@pytest.fixture(scope="module")
def webhook_secret(stack: LiveStack, receiver: Receiver) -> str:
    """The stack partner's allowed prompts, return URL and a webhook to the receiver."""
    return subscribe(stack, receiver, stack.api_key, PARTNER_SETTINGS)


@pytest.fixture(scope="module")
def readme(stack: LiveStack, receiver: Receiver) -> tuple[ReadmeRun, str]:
    """The README's partner and profile, made by its own commands; the partner's webhook secret.

    Its return URL setting comes from the README; the test adds the prompts the recording can
    follow and the webhook it waits for. The "Try it" commands run here too (a link and its
    status); walking that link is the same flow as the journey below."""
    started, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = run_partner_example(stack.url, stack.settings.child_env())
    try_it, decision = run_try_it(stack.url, stack.settings.child_env())
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    print(
        f"\nthe README's partner and Try-it commands ran in {time.monotonic() - started:.1f} s "
        f"({cpu_s:.1f} s of CPU in their processes)"
    )
    assert try_it["status"] == "unverified" and try_it["redirect_url"].startswith(stack.url)
    assert (decision["id"], decision["status"]) == (try_it["id"], "unverified"), decision
    liveness = {"liveness": PARTNER_SETTINGS["liveness"]}
    return run, subscribe(stack, receiver, run.api_key, liveness)


@dataclass
class Place:
    """Everything a journey runs against: the stack, the receiver, the browsers, the cameras,
    and where the clips are."""

    stack: LiveStack
    receiver: Receiver
    browsers: Browsers
    cameras: dict[tuple[str, str], Path]
    datasets_dir: Path


@pytest.fixture
def place(
    stack: LiveStack,
    receiver: Receiver,
    browsers: Browsers,
    cameras: dict[tuple[str, str], Path],
    datasets_dir: Path,
) -> Place:
    return Place(stack, receiver, browsers, cameras, datasets_dir)


@dataclass
class Applicant:
    """A profile to walk through: its link, passport photo, where it returns, the webhook
    secret of its partner."""

    redirect_url: str
    passport_path: Path
    return_url: str
    secret: str


def run_journey(place: Place, in_order: bool, applicant: Applicant, steps: Steps) -> Journey:
    """Go through the flow, take the selfie with the recording that follows the challenge
    (``in_order``) or its reverse, submit, and wait for the worker's decision webhook."""
    stack, receiver = place.stack, place.receiver
    page = place.browsers.page(place.cameras[FIRST_CAMERA])
    link = read_link(applicant.redirect_url)
    page.goto(link.url)
    visible(page, "#step-consent")
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    # The partner sent the document's type and country: the flow goes straight to the photo.
    visible(page, "#step-photo")
    page.locator("#photo-file").set_input_files(str(applicant.passport_path))
    visible(page, "#step-selfie")
    steps.shot(page, "selfie")
    page, camera, challenge, upload = take_selfie(place, page, link, in_order, steps)
    page.context.route(
        applicant.return_url.split("?")[0] + "**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="partner"),
    )
    wait_js(
        page, "[...document.querySelectorAll('#review-thumbs img')].every(i => i.naturalWidth > 0)"
    )
    steps.shot(page, "review")
    page.locator("#submit").click()
    page.wait_for_url(f"{applicant.return_url.split('?')[0]}**")
    page.context.close()

    stored = stack.services.pb.get("profiles", link.profile_id)
    figures = capture_figures(stored["capture"]["frames"], upload)
    first = stored["capture"]["frames"][0]["filename"]
    figures["neutral_began_at_camera_s"] = camera_time_s(
        camera, stack.services.pb.download_file("profiles", link.profile_id, first)
    )
    print(f"\ncapture in headless Chromium: {json.dumps(figures)}")
    # The recording only answers the challenge if the page's schedule met it as planned.
    late_s = figures["neutral_began_at_camera_s"] - SCHEDULE.framing_s
    assert 0 <= late_s <= SCHEDULE.start_jitter_s, (
        f"the page began its neutral frames {late_s:.2f} s after the recording turned full "
        f"size; the camera allows 0-{SCHEDULE.start_jitter_s} s (a slow framing check?)"
    )
    request, event = wait_for_decision_webhook(receiver, link.profile_id)
    assert independent_verify(applicant.secret, request.headers, request.body)
    record = stack.services.pb.get("profiles", link.profile_id)
    print(f"worker timings (ms): {(record.get('scores') or {}).get('timings_ms')}")
    return Journey(challenge, record, event, figures)


def test_the_readme_example_walked_through_the_flow_is_approved_and_the_partner_told(
    place: Place, readme: tuple[ReadmeRun, str], tmp_path: Path
) -> None:
    """The docs test: the README's commands made the partner and the profile (as printed); the
    applicant follows the prompts with a real fake camera; the real worker approves."""
    run, secret = readme
    assert run.profile["status"] == "unverified", run.profile
    passport, _ = make_document(place.datasets_dir, 19, tmp_path, readme_identity(run.request))
    applicant = Applicant(run.profile["redirect_url"], passport, run.request["return_url"], secret)
    journey = run_journey(place, True, applicant, Steps("decision"))
    figures = journey.figures
    assert min(figures["fps_by_prompt"].values()) >= 10, figures
    assert figures["upload_bytes"] <= 3_000_000, figures
    diagnosis = journey.diagnosis(place.stack)
    assert {name: factor["status"] for name, factor in journey.factors.items()} == {
        "face_match": "pass",
        "liveness": "pass",
        "document": "pass",
        "kya": "pass",
    }, diagnosis
    assert journey.event["type"] == "profile.approved", diagnosis
    assert journey.record["status"] == "approved", diagnosis
    liveness = journey.factors["liveness"]["detail"]
    assert liveness["challenge"]["prompts"] == journey.challenge["prompts"]
    assert liveness["challenge"]["satisfied"] == [True, True]
    # The middle name the example does not send: a partial match, said in the decision.
    partial = "applicant_name: given name matches; the document also lists a middle name"
    assert any(partial in reason for reason in journey.record["reasons"]), diagnosis


def test_the_same_person_out_of_the_challenged_order_is_not_approved(
    place: Place, webhook_secret: str, tmp_path: Path
) -> None:
    """The control: the same real footage, smiling when asked to blink and blinking when asked
    to smile (a recording replayed against a new challenge). Everything else passes; liveness
    must not, or the approval above proves nothing."""
    passport, fields = make_document(place.datasets_dir, 31, tmp_path)
    created = place.stack.api(
        "POST",
        "/api/profiles",
        json={
            "external_ref": f"browser-decision-{time.time_ns()}",
            "first_name": fields["given_names"].title(),
            "last_name": fields["surname"].title(),
            "document": {
                "type": "passport",
                "country": normalize_country(fields["issuing_state"]).alpha3,
                "number": fields["document_number"],
            },
            "return_url": RETURN_PREFIX + "?session=42",
        },
    )
    assert created.status_code == 201, created.text
    applicant = Applicant(created.json()["redirect_url"], passport, RETURN_PREFIX, webhook_secret)
    journey = run_journey(place, False, applicant, Steps("decision-wrong-order"))
    diagnosis = journey.diagnosis(place.stack)
    # Refused for the movements, not for a capture too sparse to judge (a starved browser).
    assert min(journey.figures["fps_by_prompt"].values()) >= 10, diagnosis
    assert journey.factors["liveness"]["status"] == "fail", diagnosis
    hint_codes = journey.factors["liveness"]["detail"]["hint_codes"]
    assert any(code.startswith("prompt_not_satisfied:") for code in hint_codes), diagnosis
    assert journey.factors["face_match"]["status"] == "pass", diagnosis
    assert journey.record["status"] != "approved", diagnosis
    assert journey.event["type"] in DECIDED_EVENTS
    assert journey.event["type"] != "profile.approved"
