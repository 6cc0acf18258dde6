"""Playwright (sync API) driving Debian's chromium; never `playwright install`.

A pytest plugin (loaded by `-p tests.browser_support` in pyproject.toml), so that every
test folder shares the one session browser: two sync Playwright instances cannot run at once.

The browser starts once per session; each test gets a fresh context (cookies, language).
Without /usr/bin/chromium (or the playwright package) the browser tests skip with a
reason, except under CI=true, where they fail.

Every page a `browser` test opens, in whatever context, is watched for breaches of the
Content-Security-Policy (`csp_watch`): one fails the test.
"""

from __future__ import annotations

import os
import time

# The sync API runs an event loop in this thread; the ORM calls around it are fine.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    path = Path(settings.BASE_DIR) / "var" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        from tests.conftest import _missing  # not at import: the plugin loads before Django

        _missing(f"{CHROMIUM} is missing: install Debian's chromium (make system-packages)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        from tests.conftest import _missing

        _missing("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):
    """A fresh phone-sized context whose browser asks for Chinese, like a phone in China."""
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def browser_page(browser_context, live_server):
    """A page that records every request leaving the live server (there must be none)."""
    page = browser_context.new_page()
    page.foreign_requests = []
    page.console_errors = []

    def on_request(request):
        if not request.url.startswith((live_server.url, "data:", "blob:")):
            page.foreign_requests.append(request.url)

    page.on("request", on_request)
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    yield page
    page.close()


def wait_until(page, expression: str, timeout: float = 15.0):
    """Wait until the JavaScript `expression` is truthy in the page, and return its value.

    Playwright's own `wait_for_function` evaluates its expression with the page's `eval`,
    which the Content-Security-Policy refuses; `evaluate` goes through the browser's
    debugging protocol, which the policy does not govern.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(100)


# --- The Content-Security-Policy, watched on every page -------------------------------------

# Runs in every frame before the page's own scripts (Playwright's init scripts are not subject
# to the page's policy) and reports each violation the browser raises in the document.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__fengqiaoCspViolation({
    page: document.location.href,
    directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI,
    source: e.sourceFile ? `${e.sourceFile}:${e.lineNumber}` : "",
    sample: e.sample,
  });
});
"""


class CspWatch:
    """The breaches of the policy seen so far: `securitypolicyviolation` events of the pages
    and the browser's console messages about the policy."""

    def __init__(self):
        self.violations: list[str] = []

    def watch_context(self, context) -> None:
        context.expose_binding("__fengqiaoCspViolation", self._on_violation)
        context.add_init_script(_CSP_LISTENER)
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)

    def watch_page(self, page) -> None:
        page.on("console", self._on_console)

    def _on_violation(self, source, event) -> None:
        where = f" in {event['source']}" if event.get("source") else ""
        sample = f": {event['sample']!r}" if event.get("sample") else ""
        self.violations.append(
            f"{event['page']}: {event['directive']} refused {event['blocked']!r}{where}{sample}"
        )

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")

    def clear(self) -> None:
        self.violations.clear()


@pytest.fixture(autouse=True)
def csp_watch(request, monkeypatch):
    """Every browser context a `browser` test opens reports breaches of the policy; any one
    fails the test (at its end, or at teardown for those seen while closing)."""
    watch = CspWatch()
    if request.node.get_closest_marker("browser") is None:
        yield watch
        return
    try:
        from playwright.sync_api import Browser
    except ImportError:
        yield watch
        return
    new_context = Browser.new_context

    def watched_new_context(self, *args, **kwargs):
        context = new_context(self, *args, **kwargs)
        watch.watch_context(context)
        return context

    monkeypatch.setattr(Browser, "new_context", watched_new_context)
    request.node._csp_watch = watch
    yield watch
    assert watch.violations == [], "Content-Security-Policy violations:\n" + "\n".join(
        watch.violations
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    watch = getattr(item, "_csp_watch", None)
    if watch is not None and watch.violations:
        found = list(watch.violations)
        watch.clear()
        raise AssertionError("Content-Security-Policy violations:\n" + "\n".join(found))
    return result
