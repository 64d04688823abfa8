"""Every page of the hosted flow checked with axe-core in real Chromium, in both languages, on a
360 px phone and at desktop width: no serious or critical violation. On the way, the issuing
country is chosen by its name in the page's language.

axe-core is the npm package ``scripts/install --dev`` fetches with a pinned sha512 into the
virtualenv; it is injected from that file by the browser itself (an init script, which the
flow's CSP does not govern), never loaded from a network. One walk, on a fast path: each page is
checked in the language it is in at both widths, then loaded again in the other language and
checked the same way; the captures are written straight into PocketBase, as the camera steps are
the other browser tests' subject (the capture pages themselves are checked, the selfie page with
its no-camera panel). The rules are axe's WCAG 2.0-2.2 A/AA and best-practice ones.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway import create_app
from gateway.services import selfie_capture
from gateway.services.pb_time import pb_datetime
from tests.e2e.browser_support import PHONE, Browsers, visible, wait_js
from tests.e2e.flow_gateway import LiveGateway
from tests.e2e.flow_support import document_rgb, jpeg_bytes, read_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE_JS = Path(sys.prefix) / "share" / "ekyc" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
OTHER = {"en": "fr", "fr": "en"}
# What the applicant types, in the page's language, and the country it must name.
GERMANY = {"en": "Germany", "fr": "Allemagne"}
COUNTRY_ERROR = {"en": "from the list", "fr": "dans la liste"}

FITS_THE_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth"
# Serious and critical violations only, each with the start of the elements it was found on (no
# CSS selectors: computing them for every node took a third of the run).
RUN_AXE = """async () => {
  const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    selectors: false,
    runOnly: { type: "tag", values: tags },
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.html.slice(0, 80)).join(", ")}`);
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.skip(f"axe-core is not installed at {AXE_JS} (scripts/install --dev, needs npm)")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pb(live_gateway: LiveGateway) -> Any:
    return create_app(live_gateway.settings).extensions["ekyc"].pb


@pytest.fixture(scope="module", autouse=True)
def without_face_models() -> Iterator[None]:
    """No framing check happens on this walk, so opening a link need not load the face models
    in the background (seconds of CPU in this very process, the gateway's threads' too). Put
    back afterwards for the tests that take a selfie."""
    already = selfie_capture._warm_up_started.is_set()
    selfie_capture._warm_up_started.set()
    yield
    if not already:
        selfie_capture._warm_up_started.clear()


class Audit:
    """axe on each page of one walk, in both languages at both widths; violations are gathered,
    so one run shows them all."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.lang = "en"
        self.url = ""
        self.found: list[str] = []
        self.checked: list[str] = []

    def open(self, url: str, lang: str) -> Any:
        self.url, self.lang = url, lang
        return self.page.goto(f"{url}{'&' if '?' in url else '?'}lang={lang}")

    def both(self, name: str, ready: str, prepare: Callable[[str], None] | None = None) -> None:
        """Check the page shown now, then the same page in the other language (loaded again);
        ``prepare`` brings each to the state checked (an error shown, a panel opened)."""
        first = self.lang
        for lang in (first, OTHER[first]):
            if lang != self.lang:
                self.open(self.url, lang)
            visible(self.page, ready)
            if prepare:
                prepare(lang)
            self.check(f"{name} [{lang}]")

    def check(self, name: str) -> None:
        assert self.page.evaluate("document.documentElement.lang") == self.lang, name
        for viewport in (DESKTOP, PHONE):
            self.page.set_viewport_size(viewport)
            where = f"{name} {viewport['width']}px"
            assert self.page.evaluate(FITS_THE_WIDTH), where
            self.found += [f"{where}: {v}" for v in self.page.evaluate(RUN_AXE)]
        self.checked.append(name)


def partner_link(gateway: LiveGateway) -> Any:
    """A profile with the partner's country and no return URL (the done page stays on screen)."""
    response = requests.post(
        f"{gateway.url}/api/profiles",
        json={"country": "FRA", "external_ref": f"a11y-{uuid.uuid4().hex}"},
        headers={"x-api-key": gateway.api_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return read_link(response.json()["redirect_url"])


def captured(pb: Any, profile_id: str, *fields: str, **data: Any) -> None:
    """Capture steps' outcomes written directly (any image does for the pages)."""
    image = jpeg_bytes(document_rgb("passport", seed=3)[:480, :640])
    if "selfie" in fields:
        capture = data.setdefault("capture", pb.get("profiles", profile_id)["capture"] or {})
        capture["frames"] = [{"prompt": "neutral", "t_ms": 0, "filename": "frame0.jpg"}]
    files = {field: [(f"{field}.jpg", image, "image/jpeg")] for field in fields}
    pb.update("profiles", profile_id, data, files=files)


def test_every_page_passes_axe_in_both_languages_at_both_widths(
    live_gateway: LiveGateway, browsers: Browsers, axe_source: str, pb: Any
) -> None:
    page = browsers.page(None)
    page.context.add_init_script(script=axe_source)
    audit = Audit(page)
    country = page.locator("#document-country")

    def refuse_country(lang: str) -> None:
        # Prefilled with the partner's country, by name; one not on the list is refused in the
        # hint's own words, and nothing is sent.
        assert country.input_value() == "France"
        country.fill("Atlantis")
        page.locator("#document-continue").click()
        visible(page, "#alert")
        assert COUNTRY_ERROR[lang] in page.locator("#alert").inner_text()
        assert COUNTRY_ERROR[lang] in page.locator("#country-hint").inner_text()
        assert country.get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == "document-country"

    def refuse_photo(lang: str) -> None:
        wait_js(page, "document.querySelector('#photo-status').textContent.length > 0")
        page.locator("#photo-file").set_input_files(
            {"name": "note.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}
        )
        visible(page, "#photo-issues")

    def open_no_camera_panel(lang: str) -> None:
        page.locator("#selfie-start").click()
        visible(page, "#no-camera")
        wait_js(page, "document.querySelector('#qr-code').naturalWidth > 0")

    def thumbnails_loaded(lang: str) -> None:
        wait_js(page, "[...document.querySelectorAll('#review-thumbs img')].every(i => i.complete)")

    link = partner_link(live_gateway)
    audit.open(link.url, "en")
    audit.both("consent", "#step-consent")
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    audit.both("document-country-refused", "#step-document", refuse_country)
    country.fill(GERMANY[audit.lang].lower())
    page.locator("#document-type-passport").check()
    page.locator("#document-continue").click()
    visible(page, "#step-photo")
    assert pb.get("profiles", link.profile_id)["capture"]["document"]["country"] == "DEU"
    audit.both("document-photo-refused", "#step-photo", refuse_photo)
    captured(pb, link.profile_id, "document_front")
    audit.open(link.url, audit.lang)
    audit.both("selfie", "#step-selfie")
    audit.both("selfie-no-camera", "#step-selfie", open_no_camera_panel)
    captured(pb, link.profile_id, "selfie")
    audit.open(link.url, audit.lang)
    audit.both("review", "#step-review", thumbnails_loaded)
    page.locator("#submit").click()
    visible(page, "#step-done")
    audit.check(f"done [{audit.lang}]")
    # The done page in the other language: a second link, captured directly, submitted.
    second = partner_link(live_gateway)
    captured(
        pb,
        second.profile_id,
        "document_front",
        "selfie",
        consent_at=pb_datetime(datetime.now(UTC)),
        capture={"document": {"type": "passport", "country": "FRA"}},
    )
    audit.open(second.url, OTHER[audit.lang])
    visible(page, "#step-review")
    page.locator("#submit").click()
    visible(page, "#step-done")
    audit.check(f"done [{audit.lang}]")

    # The gateway's own pages for links that cannot be used: the partner's (finished) and a
    # neutral one (no profile in the link).
    assert audit.open(link.url, audit.lang).status == 409
    audit.both("link-finished", "h1")
    assert audit.open(f"{live_gateway.url}/flow/", audit.lang).status == 401
    audit.both("link-neutral", "h1")
    page.context.close()
    assert len(audit.checked) == 18
    assert audit.found == []
