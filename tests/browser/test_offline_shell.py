"""The phone app without a connection, in a real browser (Chromium, phone viewport).

A grid worker in a mountain village signed in once while the connection was there; later,
with none, the report form still opens (categories, the map with their grid's boundary,
though no tile loads), even though they never opened it before: the service worker fetched
it ahead. After log out the next person on the phone finds none of it. A new release of a
shell file reaches the phone through its changed revision.

Playwright's `set_offline` also cuts the service worker's own requests in this Chromium
(checked here: the server's session is deleted once offline, so a page that came from the
network would be the sign-in page, not the form).
"""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from tests.browser_support import PHONE, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "pass-word-123"
NO_TILES = "/no-tiles-here/{z}/{x}/{y}.png"


def phone(chromium):
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    return context


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{base}/", page.url


KEPT = (
    "((name, path) => caches.open(name)"
    ".then(c => c.match(path, {ignoreVary: true})).then(r => !!r))"
)


def kept(page, cache: str, path: str) -> bool:
    return page.evaluate(f"{KEPT}({cache!r}, {path!r})")


def wait_for_the_worker(page) -> None:
    wait_until(page, "navigator.serviceWorker.controller !== null", 20)


def test_the_report_form_opens_offline_for_a_worker_who_signed_in_before(
    tree, people, live_server, chromium, settings
):
    settings.MAP_TILE_URL = NO_TILES
    context = phone(chromium)
    try:
        page = context.new_page()
        sign_in(page, live_server.url, "grid_worker")  # lands on the home, not /report/
        wait_for_the_worker(page)
        # Fetched ahead after the signed-in page loaded: the report page and the map's grids.
        wait_until(page, f"{KEPT}('fengqiao-pages', '/report/')", 20)
        wait_until(page, f"{KEPT}('fengqiao-api', '/api/v1/regions/mine/')")

        context.set_offline(True)
        Session.objects.all().delete()  # from the network this would be the sign-in page
        page.goto(f"{live_server.url}/report/")

        assert page.locator("#report-form").is_visible()
        assert page.locator("h1").first.inner_text().strip() == "我要反映"
        options = page.eval_on_selector_all("#id_category option[value]", "o => o.length")
        assert options > 5
        # The grid's boundary drawn from the kept API answer, no tile at all.
        wait_until(page, "document.querySelectorAll('.leaflet-overlay-pane path').length === 1")
        assert page.locator(".leaflet-tile-loaded").count() == 0
        assert page.locator("#id_grid option[value='540502001001001']").count() == 1
    finally:
        context.close()


def test_after_log_out_the_phone_keeps_none_of_the_former_users_pages(
    tree, people, live_server, chromium, settings
):
    settings.MAP_TILE_URL = NO_TILES
    context = phone(chromium)
    try:
        page = context.new_page()
        sign_in(page, live_server.url, "grid_worker")
        wait_for_the_worker(page)
        page.goto(f"{live_server.url}/report/")
        wait_until(page, f"{KEPT}('fengqiao-pages', '/report/')")
        wait_until(page, f"{KEPT}('fengqiao-api', '/api/v1/regions/mine/')")

        page.goto(f"{live_server.url}/")
        page.click(".site-menu__toggle")  # on a phone, log out is in the menu
        with page.expect_navigation():
            page.click(".site-menu__logout button")
        wait_until(page, f"{KEPT}('fengqiao-pages', '/report/').then(found => !found)")
        assert not kept(page, "fengqiao-api", "/api/v1/regions/mine/")
        # The shell itself stays: it holds nothing personal.
        assert page.evaluate(
            "caches.keys().then(k => k.some(n => n.startsWith('fengqiao-precache')))"
        )

        context.set_offline(True)
        page.goto(f"{live_server.url}/report/")
        assert page.locator("#report-form").count() == 0
        assert page.locator("[data-offline]").is_visible()
        assert "离线" in page.locator("h1").first.inner_text()
        assert "grid_worker" not in page.content()
    finally:
        context.close()


QUEUE = "self.FengqiaoQueue = { version: %d, flush: function () { return Promise.resolve(); } };"
QUEUE_V1 = QUEUE % 1
QUEUE_V2 = QUEUE % 2


def test_a_new_release_of_a_shell_file_is_fetched_anew(
    tree, live_server, chromium, settings, tmp_path
):
    """The reports' queue script stands for any shell file: present, it is precached and
    imported by the worker; changed, its new revision makes the browser install the new
    worker, which fetches it again and drops the old copy."""
    settings.MAP_TILE_URL = NO_TILES
    queue = tmp_path / "js" / "report_queue.js"
    queue.parent.mkdir()
    queue.write_text(QUEUE_V1)
    settings.STATICFILES_DIRS = [tmp_path, *settings.STATICFILES_DIRS]
    precached = (
        "caches.keys().then(names => caches.open(names.find(n => n.startsWith("
        "'fengqiao-precache')))).then(c => c.keys().then(keys => {"
        "  const k = keys.find(r => r.url.includes('/static/js/report_queue.js'));"
        "  return k ? c.match(k).then(r => r.text()) : '';"
        "}))"
    )
    context = phone(chromium)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")  # anonymous: the worker serves everyone
        wait_for_the_worker(page)
        assert "version: 1" in wait_until(page, precached)
        worker = context.service_workers[0]
        assert worker.evaluate("self.FengqiaoQueue.version") == 1
        assert worker.evaluate("typeof self.FengqiaoQueue.flush") == "function"

        queue.write_text(QUEUE_V2)
        page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        wait_until(page, f"({precached}).then(text => text.includes('version: 2'))", 20)
        page.reload()
        wait_until(page, "navigator.serviceWorker.controller !== null")
        assert page.evaluate("fetch('/static/js/report_queue.js').then(r => r.text())").startswith(
            "self.FengqiaoQueue = { version: 2"
        )
    finally:
        context.close()


def test_another_sign_in_without_log_out_finds_nothing_of_the_one_before(
    tree, people, live_server, chromium, settings
):
    """A shared phone: the grid worker does not log out, the next person signs in over their
    session. The worker's kept case list is forgotten, and the report they left waiting shows
    to the next person as a count only: no title, nothing to delete it with."""
    settings.MAP_TILE_URL = NO_TILES
    context = phone(chromium)
    try:
        page = context.new_page()
        sign_in(page, live_server.url, "grid_worker")
        wait_for_the_worker(page)
        page.goto(f"{live_server.url}/cases/")
        wait_until(page, f"{KEPT}('fengqiao-pages', '/cases/')", 20)
        # A report that cannot leave (the server unreachable for it): it waits on the phone.
        context.route(
            "**/report/",
            lambda route: route.abort() if route.request.method == "POST" else route.fallback(),
        )
        page.goto(f"{live_server.url}/report/")
        page.select_option("#id_category", "hazard.road")
        page.fill("#id_title", "王大妈家的私事")
        page.fill("#id_description", "村道旁挡墙开裂")
        page.click("[data-submit]")
        wait_until(page, "FengqiaoQueue.count().then((n) => n === 1)")

        sign_in(page, live_server.url, "centre_staff")  # no log out before
        wait_until(page, f"{KEPT}('fengqiao-pages', '/cases/').then(found => !found)", 20)
        page.goto(f"{live_server.url}/report/")
        wait_until(page, "document.querySelector('[data-outbox-others]') !== null")
        outbox = page.inner_text("[data-outbox]")
        assert "王大妈家的私事" not in outbox
        assert "其他账号" in outbox
        assert page.locator("[data-outbox-delete], [data-outbox-edit]").count() == 0
    finally:
        context.close()
