"""Playwright (sync API) driving Debian's chromium; never `playwright install`.

A pytest plugin (loaded by `-p tests.browser_support` in pyproject.toml), so that every
test folder shares the one session browser: two sync Playwright instances cannot run at once.

The browser starts once per session; each test gets a fresh context (cookies, language).
Without /usr/bin/chromium (or the playwright package) the browser tests skip with a
reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os

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
