"""The applicant's journey in real headless Chromium (Debian ``chromium`` driven by Playwright),
against the real gateway on a loopback port and the real PocketBase.

The camera is Chromium's fake device fed from generated .y4m files (scripts/make_fake_camera.py):
a synthetic ID card for the rear camera and a real person's clip for the selfie (too far away
first, so the page asks them to come closer). One browser process has one fake camera, so the
whole journey photographs the document in one browser and finishes the selfie in another on the
same link, which is also how an applicant moves from a laptop to a phone. Screenshots of every
step go to test-output/flow/. The worker's decision on such a journey is in
test_flow_to_decision.py.
"""

from __future__ import annotations

import json
import mimetypes
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from gateway import create_app
from gateway.pb_server import PocketBaseServer, free_port
from gateway.routes.flow_pages import HOSTED_FLOW_DIR
from gateway.services import links
from tests.e2e.browser_support import (
    CAMERA_DIR,
    RETURN_PREFIX,
    Browsers,
    Steps,
    visible,
    wait_js,
)
from tests.e2e.flow_gateway import LiveGateway, serving, start_gateway
from tests.e2e.flow_support import document_rgb, real_face_frames

playwright_api = pytest.importorskip("playwright.sync_api")
from werkzeug.security import safe_join  # noqa: E402
from werkzeug.wrappers import Request as WerkzeugRequest  # noqa: E402
from werkzeug.wrappers import Response as WerkzeugResponse  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT.parent / "shared" / "datasets"
SELFIE_TIMEOUT_MS = 40_000


def partner_frontend(gateway_url: str) -> Callable[..., Any]:
    """A partner's own web server with a copy of hosted_flow/ under /verify: a static page whose
    `ekyc-api` meta names the gateway's flow API on its other origin."""
    page = (HOSTED_FLOW_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace('content="/flow/api"', f'content="{gateway_url}/flow/api"')
    assert gateway_url in page

    @WerkzeugRequest.application
    def app(request: Any) -> WerkzeugResponse:
        if request.path.startswith("/verify/static/"):
            path = safe_join(str(HOSTED_FLOW_DIR), request.path.removeprefix("/verify/static/"))
            if path is None or not Path(path).is_file():
                return WerkzeugResponse("not found", status=404)
            mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
            return WerkzeugResponse(Path(path).read_bytes(), mimetype=mimetype)
        if request.path.startswith("/verify/"):
            return WerkzeugResponse(page, mimetype="text/html")
        return WerkzeugResponse("not found", status=404)

    return app


@pytest.fixture(scope="module")
def cross_origin_gateway(pocketbase: PocketBaseServer, ekyc_home: Path) -> Iterator[LiveGateway]:
    """The gateway on one loopback origin, its flow pages on a partner's server on another."""
    gateway_port, frontend_port = free_port(), free_port()
    frontend_url = f"http://127.0.0.1:{frontend_port}/verify"
    app, gateway = start_gateway(pocketbase, ekyc_home, gateway_port, frontend_url)
    with serving(app, gateway_port), serving(partner_frontend(gateway.url), frontend_port):
        yield gateway


def _ffmpeg_or_skip() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")


@pytest.fixture(scope="module")
def document_camera() -> Path:
    """The rear camera: a synthetic ID card (needs no shared data)."""
    _ffmpeg_or_skip()
    from scripts.make_fake_camera import build_document_camera

    return build_document_camera(CAMERA_DIR, DATASETS_DIR)


@pytest.fixture(scope="module")
def face_camera(datasets_dir: Path) -> Path:
    """The front camera: a real person (d9.mp4), too far away at first, then close."""
    _ffmpeg_or_skip()
    from scripts.make_fake_camera import SELFIE_SCRIPTS, build_selfie_camera

    name = "selfie_smile_blink"
    return build_selfie_camera(CAMERA_DIR, datasets_dir, SELFIE_SCRIPTS[name], name)


def write_document(tmp_path: Path, name: str, **kwargs: Any) -> Path:
    path = tmp_path / name
    Image.fromarray(document_rgb(**kwargs)).save(path, quality=92)
    return path


def consent_and_choose(page: Any, document_type: str) -> None:
    visible(page, "#step-consent")
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    visible(page, "#step-document")
    page.locator(f"#document-type-{document_type}").check()
    if not page.locator("#document-country").input_value():
        page.locator("#document-continue").click()
        visible(page, "#alert")  # the country is needed: said, not silently ignored
        page.locator("#document-country").fill("fra")
    page.locator("#document-continue").click()
    visible(page, "#step-photo")


def do_selfie(page: Any, steps: Steps) -> None:
    visible(page, "#step-selfie")
    steps.shot(page, "selfie")
    page.locator("#selfie-start").click()
    # The camera shows the person too far away first: the page says so before any challenge.
    page.locator("#selfie-feedback.issue").wait_for(state="visible")
    assert "closer" in page.locator("#selfie-feedback").inner_text()
    steps.shot(page, "selfie-too-far")
    page.locator("body[data-prompt]").wait_for(state="attached")
    page.wait_for_timeout(400)
    steps.shot(page, "selfie-prompt")
    visible(page, "#step-review", SELFIE_TIMEOUT_MS)


def submit_and_return(page: Any, steps: Steps, profile_id: str) -> dict[str, list[str]]:
    wait_js(
        page, "[...document.querySelectorAll('#review-thumbs img')].every(i => i.naturalWidth > 0)"
    )
    steps.shot(page, "review")
    page.locator("#submit").click()
    visible(page, "#step-done")
    steps.shot(page, "done")
    page.wait_for_url(f"{RETURN_PREFIX}**")
    query = parse_qs(urlsplit(page.url).query)
    assert query["profile_id"] == [profile_id]
    assert query["status"] == ["submitted"]
    assert query["session"] == ["42"]
    return query


def finish_on_camera_device(
    browsers: Browsers, face_camera: Path, link: Any, steps: Steps, *, retake_selfie: bool = False
) -> list[int]:
    """Open the same link in a browser whose camera is a real person's clip: selfie, submit.
    Returns the byte size of each selfie upload."""
    page = browsers.page(face_camera)
    uploads: list[int] = []
    page.on(
        "request",
        lambda request: (
            uploads.append(len(request.post_data_buffer or b""))
            if request.method == "POST" and request.url.split("?")[0].endswith("/selfie")
            else None
        ),
    )
    page.goto(link.url)
    do_selfie(page, steps)
    if retake_selfie:
        # From the review, the selfie again: a new challenge, the old one is spent.
        page.locator("#retake-selfie").click()
        page.locator("#selfie-start").click()
        visible(page, "#step-review", SELFIE_TIMEOUT_MS)
    submit_and_return(page, steps, link.profile_id)
    page.context.close()
    return uploads


def profile(gateway: LiveGateway, profile_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{gateway.url}/api/profiles/{profile_id}/history",
        headers={"x-api-key": gateway.api_key},
        timeout=10,
    )
    return response.json()


def test_whole_journey_with_the_camera_from_create_to_return(
    live_gateway: LiveGateway, browsers: Browsers, document_camera: Path, face_camera: Path
) -> None:
    steps = Steps("journey")
    link = live_gateway.create_profile(country="FRA", external_ref="browser-journey")
    page = browsers.page(document_camera)
    page.goto(link.url)
    visible(page, "#step-consent")
    assert page.locator("#brand-name").inner_text() == "Acme Bank"
    assert "60 days" in page.locator("#consent-retention").inner_text()
    steps.shot(page, "consent")
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    visible(page, "#step-document")
    # The partner's country, by its name in the applicant's language, on the searchable list.
    assert page.locator("#document-country").input_value() == "France"
    assert page.locator("#country-list option").count() == 249
    page.locator("#document-type-id_card").check()
    steps.shot(page, "document-type")
    page.locator("#document-continue").click()
    visible(page, "#photo-take")
    page.wait_for_timeout(300)
    steps.shot(page, "document-front-camera")
    page.locator("#photo-take").click()
    wait_js(
        page,
        "document.querySelector('#photo-title').textContent.includes('back')"
        " || !document.querySelector('#photo-issues').hidden",
    )
    assert page.locator("#photo-issues").is_hidden(), page.locator("#photo-issues").inner_text()
    steps.shot(page, "document-back-camera")
    page.locator("#photo-take").click()
    visible(page, "#step-selfie")
    page.context.close()

    # The selfie on another device (its camera is the head-turn clip), same link.
    uploads = finish_on_camera_device(browsers, face_camera, link, steps, retake_selfie=True)

    history = profile(live_gateway, link.profile_id)["items"]
    assert [(row["from"], row["to"], row["actor"]) for row in history][1:] == [
        ("unverified", "in_progress", "applicant"),
        ("in_progress", "submitted", "applicant"),
    ]
    assert live_gateway.enqueued.count(link.profile_id) == 1
    pb = create_app(live_gateway.settings).extensions["ekyc"].pb
    stored = pb.get("profiles", link.profile_id)
    assert stored["liveness_challenge"]["attempt"] == 2
    assert stored["liveness_challenge"]["used_at"]
    frames = stored["capture"]["frames"]
    order = [frame["prompt"] for index, frame in enumerate(frames)
             if index == 0 or frames[index - 1]["prompt"] != frame["prompt"]]  # fmt: skip
    assert order == ["neutral", *stored["liveness_challenge"]["prompts"]]
    # Dense: at least 10 frames a second over the whole capture, none at the same time.
    times = [frame["t_ms"] for frame in frames]
    assert times == sorted(set(times))
    assert len(frames) >= 10 * times[-1] / 1000, (len(frames), times[-1])
    assert len(stored["selfie_frames"]) == len(frames)
    # Within the challenge's budget, as the browser sent it (docs/hosted-flow.md quotes these).
    assert len(uploads) == 2 and max(uploads) <= 3_000_000, uploads
    rate = (len(frames) - 1) / (times[-1] / 1000)
    print(f"\n3-prompt capture: {len(frames)} frames, {rate:.1f} fps, {uploads[-1]} bytes")
    assert stored["document_front"] and stored["document_back"]


def test_upload_fallback_without_a_camera_then_qr_to_another_device(
    live_gateway: LiveGateway, browsers: Browsers, face_camera: Path, tmp_path: Path
) -> None:
    steps = Steps("fallback")
    passport = write_document(tmp_path, "passport.jpg", kind="passport", seed=21)
    link = live_gateway.create_profile(country="IDN", external_ref="browser-fallback")
    page = browsers.page(None)
    page.goto(link.url + "&lang=fr")
    visible(page, "#step-consent")
    assert page.locator("#consent-title").inner_text() == "Avant de commencer"
    consent_and_choose(page, "passport")
    wait_js(page, "document.querySelector('#photo-status').textContent.includes('Impossible')")
    assert page.locator("#photo-take").is_hidden()
    assert "caméra" in page.locator("#photo-status").inner_text()
    steps.shot(page, "no-camera-upload")
    page.locator("#photo-file").set_input_files(str(passport))
    visible(page, "#step-selfie")
    page.locator("#selfie-start").click()
    visible(page, "#no-camera")
    wait_js(page, "document.querySelector('#qr-code').naturalWidth > 0")
    qr_src = page.locator("#qr-code").get_attribute("src")
    assert qr_src.startswith(f"/flow/api/{link.profile_id}/qr.svg")
    steps.shot(page, "no-camera-qr")
    # The code on screen, read back by OpenCV's QR decoder, is this very link. A screenshot
    # taken while the panel still fades in can be unreadable (seen once under load): read a few.
    decoded = ""
    for _ in range(10):
        shown = cv2.imdecode(
            np.frombuffer(page.locator("#qr-code").screenshot(), np.uint8), cv2.IMREAD_GRAYSCALE
        )
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(shown)
        if decoded:
            break
        page.wait_for_timeout(200)
    assert decoded == f"{live_gateway.url}/flow/{link.profile_id}?t={link.token}"
    page.context.close()
    finish_on_camera_device(browsers, face_camera, link, steps)
    assert live_gateway.enqueued.count(link.profile_id) == 1


def test_expired_link_shows_a_clear_page(live_gateway: LiveGateway, browsers: Browsers) -> None:
    steps = Steps("expired")
    link = live_gateway.create_profile(external_ref="browser-expired")
    stored = requests.get(
        f"{live_gateway.url}/api/profiles/{link.profile_id}",
        headers={"x-api-key": live_gateway.api_key},
        timeout=10,
    ).json()
    assert stored["status"] == "unverified"
    app = create_app(live_gateway.settings)
    nonce = app.extensions["ekyc"].pb.get("profiles", link.profile_id)["link_nonce"]
    token = links.sign_link(live_gateway.settings.link_secret, link.profile_id, 1_000_000, nonce)
    page = browsers.page(None)
    response = page.goto(f"{live_gateway.url}/flow/{link.profile_id}?t={token}")
    assert response.status == 410
    assert page.locator("h1").inner_text() == "This link has expired"
    # Still the partner's page: its name in the header, on its colour.
    assert page.locator("#brand-name").inner_text() == "Acme Bank"
    header = "getComputedStyle(document.querySelector('header')).backgroundColor"
    assert page.evaluate(header) == "rgb(11, 110, 79)"
    steps.shot(page, "expired")
    page.context.close()
    assert app.extensions["ekyc"].pb.get("profiles", link.profile_id)["status"] == "unverified"


def test_a_blurred_document_is_refused_and_retaken(
    live_gateway: LiveGateway, browsers: Browsers, tmp_path: Path
) -> None:
    steps = Steps("retake")
    blurred = write_document(tmp_path, "blurred.jpg", kind="passport", seed=5, blur_sigma_px=4.0)
    sharp = write_document(tmp_path, "sharp.jpg", kind="passport", seed=5)
    link = live_gateway.create_profile(external_ref="browser-retake")
    page = browsers.page(None)
    page.goto(link.url)
    visible(page, "#step-consent")
    # Keyboard only: tick the box with Space, move on with Tab and Enter.
    page.locator("#consent-checkbox").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "consent-continue"
    page.keyboard.press("Enter")
    visible(page, "#step-document")
    assert page.evaluate("document.activeElement.id") == "document-title"
    page.locator("#document-type-passport").check()
    page.locator("#document-country").fill("FRA")
    page.locator("#document-country").press("Enter")
    visible(page, "#step-photo")
    page.locator("#photo-file").set_input_files(str(blurred))
    visible(page, "#photo-issues")
    assert "blurry" in page.locator("#photo-issues").inner_text()
    assert page.locator("#photo-issues p").get_attribute("data-code") == "blurry"
    steps.shot(page, "blurred-refused")
    page.locator("#photo-file").set_input_files(str(sharp))
    visible(page, "#step-selfie")
    steps.shot(page, "sharp-accepted")
    page.context.close()


def patch_settings(gateway: LiveGateway, patch: dict[str, Any]) -> None:
    """The partner's settings through the partner API (``null`` restores a default)."""
    response = requests.patch(
        f"{gateway.url}/api/settings",
        json=patch,
        headers={"x-api-key": gateway.api_key},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_only_the_documents_the_partner_accepts_are_offered(
    live_gateway: LiveGateway, browsers: Browsers
) -> None:
    link = live_gateway.create_profile(country="FRA", external_ref="browser-accepted-documents")
    patch_settings(
        live_gateway, {"allowed_document_types": ["id_card"], "allowed_countries": ["IDN"]}
    )
    try:
        page = browsers.page(None)
        page.goto(link.url)
        visible(page, "#step-consent")
        page.locator("#consent-checkbox").check()
        page.locator("#consent-continue").click()
        visible(page, "#step-document")
        # One type, one country: both chosen already (the partner's FRA is not on the list).
        assert page.locator('input[name="document-type"]').count() == 1
        assert page.locator("#document-type-id_card").is_checked()
        assert page.locator("#country-list option").count() == 1
        assert page.locator("#document-country").input_value() == "Indonesia"
        # The partner narrows its choice while the page is open: the stale choice is refused
        # in plain words, and the applicant stays on the step.
        patch_settings(live_gateway, {"allowed_document_types": ["passport"]})
        page.locator("#document-continue").click()
        visible(page, "#alert")
        assert "not accepted" in page.locator("#alert").inner_text()
        assert page.evaluate("document.body.dataset.step") == "document"
        page.context.close()
    finally:
        patch_settings(live_gateway, {"allowed_document_types": None, "allowed_countries": None})


def document_by_api(
    gateway: LiveGateway, tmp_path: Path, external_ref: str
) -> tuple[Any, requests.Session, str]:
    """A profile whose passport was photographed through the flow's API, at the selfie step:
    the link, a session holding its token and the flow API's base URL."""
    link = gateway.create_profile(country="FRA", external_ref=external_ref)
    flow = requests.Session()
    flow.headers["X-Capture-Token"] = link.token
    base = f"{gateway.url}/flow/api/{link.profile_id}"
    assert flow.post(f"{base}/start", timeout=10).ok
    assert flow.post(f"{base}/consent", json={"accepted": True}, timeout=10).ok
    assert flow.post(f"{base}/document", json={"type": "passport", "country": "FRA"}).ok
    passport = write_document(tmp_path, "passport.jpg", kind="passport", seed=8)
    with passport.open("rb") as handle:
        assert flow.post(f"{base}/document/front", files={"file": handle}, timeout=30).ok
    return link, flow, base


def selfie_by_api(
    flow: requests.Session, base: str, datasets_dir: Path, challenge: dict[str, Any]
) -> requests.Response:
    """A real person's frames sent under ``challenge`` (the flow stores no selfie without a
    usable face)."""
    prompts = ["neutral"] + [p for p in challenge["prompts"] for _ in range(3)]
    faces = real_face_frames(datasets_dir, len(prompts))
    return flow.post(
        f"{base}/selfie",
        data={
            "challenge_id": challenge["id"],
            "meta": json.dumps([{"prompt": p, "t_ms": 100 * i} for i, p in enumerate(prompts)]),
        },
        files=[("frames", (f"f{i}.jpg", face, "image/jpeg")) for i, face in enumerate(faces)],
        timeout=30,
    )


def submitted_by_api(
    gateway: LiveGateway, tmp_path: Path, datasets_dir: Path, external_ref: str, submit: bool = True
) -> Any:
    """A profile captured through the flow's API (passport, a real person's selfie) and
    submitted (what a resubmission reopens), or left ready to submit."""
    link, flow, base = document_by_api(gateway, tmp_path, external_ref)
    challenge = flow.post(f"{base}/challenge", timeout=10).json()
    sent = selfie_by_api(flow, base, datasets_dir, challenge)
    assert sent.status_code == 201, sent.text
    if submit:
        assert flow.post(f"{base}/submit", timeout=10).json()["status"] == "submitted"
    flow.close()
    return link


def ask_again(gateway: LiveGateway, profile_id: str, reason: str) -> Any:
    """The worker passes it to a reviewer, who asks for a resubmission with ``reason``."""
    pb = create_app(gateway.settings).extensions["ekyc"].pb
    pb.transition(profile_id, "processing", actor="worker")
    pb.transition(profile_id, "manual_review", actor="worker")
    pb.transition(profile_id, "resubmission_requested", actor="reviewer:r1", reason=reason)
    return pb


def test_a_resubmission_reopens_at_the_failed_step_with_the_reason(
    live_gateway: LiveGateway, browsers: Browsers, tmp_path: Path, datasets_dir: Path
) -> None:
    steps = Steps("resubmission")
    link = submitted_by_api(live_gateway, tmp_path, datasets_dir, "browser-resubmission")
    reason = "The photo of your document is cut off at the bottom."
    pb = ask_again(live_gateway, link.profile_id, reason)

    page = browsers.page(None)
    page.goto(link.url)
    visible(page, "#resubmission")
    assert reason in page.locator("#resubmission").inner_text()
    assert "new photos of your document" in page.locator("#resubmission").inner_text()
    visible(page, "#step-photo")
    assert page.locator("#photo-title").inner_text() == "Photograph the front"
    steps.shot(page, "reopened")
    page.context.close()
    assert pb.get("profiles", link.profile_id)["status"] == "in_progress"


def test_a_selfie_resubmission_notice_goes_once_a_good_selfie_is_taken(
    live_gateway: LiveGateway,
    browsers: Browsers,
    face_camera: Path,
    tmp_path: Path,
    datasets_dir: Path,
) -> None:
    """It used to stay on the review page over the new selfie."""
    steps = Steps("resubmission-selfie")
    link = submitted_by_api(live_gateway, tmp_path, datasets_dir, "browser-resubmission-selfie")
    ask_again(live_gateway, link.profile_id, "Your face is hidden by your hand.")
    page = browsers.page(face_camera)
    page.goto(link.url)
    visible(page, "#resubmission")
    assert "We need a new selfie." in page.locator("#resubmission").inner_text()
    do_selfie(page, steps)
    assert page.locator("#resubmission").is_hidden()
    steps.shot(page, "review-without-notice")
    page.context.close()


def test_a_link_out_of_challenges_keeps_the_selfie_taken_and_says_what_to_do(
    live_gateway: LiveGateway,
    browsers: Browsers,
    face_camera: Path,
    tmp_path: Path,
    datasets_dir: Path,
) -> None:
    """A retake past the partner's ``liveness.max_challenges`` is refused by the gateway; the
    page goes back to the review with the selfie already taken and says so."""
    steps = Steps("challenge-limit")
    patch_settings(live_gateway, {"liveness": {"max_challenges": 1}})
    try:
        link = submitted_by_api(
            live_gateway, tmp_path, datasets_dir, "browser-challenge-limit", submit=False
        )
        page = browsers.page(face_camera)
        page.goto(link.url)
        visible(page, "#step-review")
        page.locator("#retake-selfie").click()
        visible(page, "#step-selfie")
        page.locator("#selfie-start").click()
        visible(page, "#alert", SELFIE_TIMEOUT_MS)
        assert "cannot be taken again with this link" in page.locator("#alert").inner_text()
        assert page.evaluate("document.body.dataset.step") == "review"
        steps.shot(page, "review-after-limit")
        page.locator("#submit").click()
        visible(page, "#step-done")
        page.context.close()
        history = profile(live_gateway, link.profile_id)["items"]
        assert history[-1]["to"] == "submitted"
    finally:
        patch_settings(live_gateway, {"liveness": None})


def test_a_selfie_the_upload_refuses_says_why_and_can_be_started_again(
    live_gateway: LiveGateway,
    browsers: Browsers,
    face_camera: Path,
    tmp_path: Path,
    datasets_dir: Path,
) -> None:
    """The same link on two devices: the other device sends its selfie under the challenge this
    page is filming, so this page's upload is refused (409 challenge_refused). The page says so
    and offers "Start again"; the button stayed hidden, and the applicant was stuck."""
    steps = Steps("selfie-refused")
    link, flow, base = document_by_api(live_gateway, tmp_path, "browser-selfie-refused")
    page = browsers.page(face_camera)
    page.goto(link.url)
    visible(page, "#step-selfie")
    page.locator("#selfie-start").click()
    page.locator("body[data-prompt]").wait_for(state="attached", timeout=60_000)
    handed_back = flow.post(f"{base}/challenge", timeout=10)
    assert handed_back.status_code == 200, handed_back.text  # the one this page is filming
    sent = selfie_by_api(flow, base, datasets_dir, handed_back.json())
    assert sent.status_code == 201, sent.text
    visible(page, "#alert", SELFIE_TIMEOUT_MS)
    assert "start it again" in page.locator("#alert").inner_text()
    steps.shot(page, "refused")
    visible(page, "#selfie-start")
    assert page.locator("#selfie-start").inner_text() == "Start again"
    flow.close()
    page.context.close()


def test_pages_served_from_the_partners_own_origin(
    cross_origin_gateway: LiveGateway, browsers: Browsers, tmp_path: Path
) -> None:
    """KYC_FRONTEND_URL on another origin: the pages there call the gateway's flow API across
    origins (JSON with a preflight, multipart uploads), and a dead link says why in the page."""
    gateway = cross_origin_gateway
    frontend = gateway.settings.kyc_frontend_url
    steps = Steps("cross-origin")
    passport = write_document(tmp_path, "passport.jpg", kind="passport", seed=23)
    link = gateway.create_profile(country="IDN", external_ref="browser-cross-origin")
    assert link.url.startswith(f"{frontend}/{link.profile_id}?t=")

    page = browsers.page(None)
    page.goto(link.url)
    visible(page, "#step-consent")
    assert page.locator("#brand-name").inner_text() == "Acme Bank"
    steps.shot(page, "consent")
    consent_and_choose(page, "passport")
    page.locator("#photo-file").set_input_files(str(passport))
    visible(page, "#step-selfie")
    steps.shot(page, "selfie")
    page.context.close()

    app = create_app(gateway.settings)
    nonce = app.extensions["ekyc"].pb.get("profiles", link.profile_id)["link_nonce"]
    token = links.sign_link(gateway.settings.link_secret, link.profile_id, 1_000_000, nonce)
    page = browsers.page(None)
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    page.goto(f"{frontend}/{link.profile_id}?t={token}")
    visible(page, "#step-link")
    assert page.locator("#link-title").inner_text() == "This link has expired"
    assert page.locator("#brand-name").inner_text() == "Acme Bank"
    page.wait_for_timeout(1000)
    assert len(loads) == 1  # said in the page, not a reload loop on a host that cannot say it
    steps.shot(page, "expired")
    page.context.close()

    # A link replaced while the applicant is on it: the next call says so, in the page.
    replaced = gateway.create_profile(external_ref="browser-cross-origin-replaced")
    page = browsers.page(None)
    page.goto(replaced.url)
    visible(page, "#step-consent")
    fresh = requests.post(
        f"{gateway.url}/api/profiles/{replaced.profile_id}/link",
        headers={"x-api-key": gateway.api_key},
        timeout=10,
    )
    assert fresh.status_code == 200, fresh.text
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    visible(page, "#step-link")
    assert page.locator("#alert").is_hidden()
    assert page.locator("#step-consent").is_hidden()
    steps.shot(page, "replaced")
    page.context.close()
