"""Every page of the hosted flow checked with axe-core in real Chromium, in both languages, on a
360 px phone and at desktop width: no serious or critical violation. On the way, the issuing
country is chosen by its name in the page's language.

axe-core is the npm package ``scripts/install --dev`` fetches with a pinned sha512 into the
virtualenv; it is injected from that file by the browser itself (an init script, which the
flow's CSP does not govern), never loaded from a network. One walk per language, each page
checked at both widths, on a fast path: the captures are written straight into PocketBase, as the
camera steps are the other browser tests' subject (the capture pages themselves are checked,
the selfie page with its no-camera panel).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway import create_app
from gateway.services import selfie_capture
from tests.e2e.browser_support import PHONE, Browsers, visible, wait_js
from tests.e2e.flow_gateway import LiveGateway
from tests.e2e.flow_support import document_rgb, jpeg_bytes, read_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE_JS = Path(sys.prefix) / "share" / "ekyc" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
# What the applicant types, in the page's language, and the country it must name.
GERMANY = {"en": "Germany", "fr": "Allemagne"}
COUNTRY_ERROR = {"en": "from the list", "fr": "dans la liste"}

FITS_THE_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth"
# Serious and critical violations only, each with the elements it was found on.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
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
    """axe on each page of one walk at each width; violations are gathered, so one run shows
    them all."""

    def __init__(self, page: Any, lang: str) -> None:
        self.page = page
        self.lang = lang
        self.found: list[str] = []
        self.checked: list[str] = []

    def check(self, name: str) -> None:
        assert self.page.evaluate("document.documentElement.lang") == self.lang, name
        for viewport in (DESKTOP, PHONE):
            self.page.set_viewport_size(viewport)
            where = f"[{self.lang} {viewport['width']}px] {name}"
            assert self.page.evaluate(FITS_THE_WIDTH), where
            self.found += [f"{where}: {v}" for v in self.page.evaluate(RUN_AXE)]
        self.checked.append(name)


def partner_link(gateway: LiveGateway) -> Any:
    """A profile with the partner's country and no return URL (the done page stays on screen)."""
    response = requests.post(
        f"{gateway.url}/api/profiles",
        json={"country": "FRA", "external_ref": f"a11y-{len(gateway.enqueued)}-{id(object())}"},
        headers={"x-api-key": gateway.api_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return read_link(response.json()["redirect_url"])


def captured(pb: Any, profile_id: str, field: str) -> None:
    """A capture step's outcome written directly (any image does for the pages)."""
    image = jpeg_bytes(document_rgb("passport", seed=3)[:480, :640])
    data = {}
    if field == "selfie":
        capture = pb.get("profiles", profile_id)["capture"]
        capture["frames"] = [{"prompt": "neutral", "t_ms": 0, "filename": "frame0.jpg"}]
        data["capture"] = capture
    pb.update("profiles", profile_id, data, files={field: [(f"{field}.jpg", image, "image/jpeg")]})


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_page_passes_axe(
    live_gateway: LiveGateway, browsers: Browsers, axe_source: str, pb: Any, lang: str
) -> None:
    link = partner_link(live_gateway)
    page = browsers.page(None)
    page.context.add_init_script(script=axe_source)
    audit = Audit(page, lang)

    page.goto(f"{link.url}&lang={lang}")
    visible(page, "#step-consent")
    audit.check("consent")
    page.locator("#consent-checkbox").check()
    page.locator("#consent-continue").click()
    visible(page, "#step-document")
    country = page.locator("#document-country")
    assert country.input_value() == "France"  # the partner's country, by name
    # A name that is not on the list is refused with the hint's own words; nothing is sent.
    country.fill("Atlantis")
    page.locator("#document-continue").click()
    visible(page, "#alert")
    assert COUNTRY_ERROR[lang] in page.locator("#alert").inner_text()
    assert COUNTRY_ERROR[lang] in page.locator("#country-hint").inner_text()
    assert country.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "document-country"
    audit.check("document-country-refused")
    country.fill(GERMANY[lang].lower())
    page.locator("#document-type-passport").check()
    page.locator("#document-continue").click()
    visible(page, "#step-photo")
    assert pb.get("profiles", link.profile_id)["capture"]["document"]["country"] == "DEU"
    wait_js(page, "document.querySelector('#photo-status').textContent.length > 0")
    # With a refused file, so the page is checked with its error box too.
    page.locator("#photo-file").set_input_files(
        {"name": "note.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}
    )
    visible(page, "#photo-issues")
    audit.check("document-photo-refused")
    captured(pb, link.profile_id, "document_front")
    page.reload()
    visible(page, "#step-selfie")
    audit.check("selfie")
    page.locator("#selfie-start").click()
    visible(page, "#no-camera")
    wait_js(page, "document.querySelector('#qr-code').naturalWidth > 0")
    audit.check("selfie-no-camera")

    captured(pb, link.profile_id, "selfie")
    page.reload()
    visible(page, "#step-review")
    wait_js(page, "[...document.querySelectorAll('#review-thumbs img')].every(i => i.complete)")
    audit.check("review")
    page.locator("#submit").click()
    visible(page, "#step-done")
    audit.check("done")

    # The gateway's own pages for links that cannot be used: the partner's (finished) and a
    # neutral one (no profile in the link).
    assert page.goto(f"{link.url}&lang={lang}").status == 409
    audit.check("link-finished")
    assert page.goto(f"{live_gateway.url}/flow/?lang={lang}").status == 401
    audit.check("link-neutral")
    page.context.close()
    assert len(audit.checked) == 9
    assert audit.found == []
