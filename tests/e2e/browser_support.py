"""What the browser tests share: Chromium launched per fake camera at a 360 px phone's size with
every host but loopback blocked, numbered screenshots that check each step fits the width and
labels every control, and waits that work under the flow's CSP."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-output" / "flow"
CAMERA_DIR = SCREENSHOTS / "camera"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RETURN_PREFIX = "https://partner.example/kyc/done"
PHONE = {"width": 360, "height": 780}
BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
]
STEP_TIMEOUT_MS = 15_000


class Browsers:
    """Chromium processes by fake camera file (None: no camera at all), launched on first use."""

    def __init__(self, playwright: Any) -> None:
        self.playwright = playwright
        self.launched: dict[Path | None, Any] = {}

    def page(self, camera: Path | None) -> Any:
        if camera not in self.launched:
            args = list(BASE_ARGS)
            if camera:
                args += [
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={camera}",
                ]
            self.launched[camera] = self.playwright.chromium.launch(
                executable_path=CHROMIUM, args=args, headless=True
            )
        context = self.launched[camera].new_context(viewport=PHONE, locale="en-GB")
        context.route(
            "https://partner.example/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body="partner"),
        )
        # Anything else off loopback would be a page loading from outside: refuse it loudly.
        context.route(
            lambda url: not url.startswith(("http://127.0.0.1", "https://partner.example")),
            lambda route: route.abort(),
        )
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        return page

    def close(self) -> None:
        for browser in self.launched.values():
            browser.close()


# Visible controls a screen reader could not name: inputs without a <label>, buttons and links
# without text or aria-label.
UNLABELLED_CONTROLS = """
[...document.querySelectorAll('input, button, a, select, textarea')]
  .filter(el => el.getClientRects().length > 0 || el.type === 'file')
  .filter(el => el.closest('[hidden]') === null)
  .filter(el => el.matches('input, select, textarea')
      ? el.labels.length === 0 && !el.getAttribute('aria-label')
      : !(el.textContent.trim() || el.getAttribute('aria-label')))
  .map(el => el.id || el.outerHTML.slice(0, 60))
"""


class Steps:
    """Numbered screenshots of one journey."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shot(self, page: Any, label: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.name}-{self.count:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        # Every step fits a 360 px phone: nothing scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), label
        assert page.evaluate(UNLABELLED_CONTROLS) == [], label
        return path


def wait_js(page: Any, expression: str, timeout_ms: int = STEP_TIMEOUT_MS) -> None:
    """Poll ``expression`` until truthy. Playwright's ``wait_for_function`` evaluates strings
    inside the page, which the flow's CSP (no 'unsafe-eval') rightly refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)


def visible(page: Any, selector: str, timeout_ms: int = STEP_TIMEOUT_MS) -> None:
    page.locator(selector).wait_for(state="visible", timeout=timeout_ms)
