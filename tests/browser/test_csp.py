"""The Content-Security-Policy in a real browser: the watch that every browser test runs
under sees a breach, and the two pages outside the tours that run scripts of their own (the
admin's boundary map and Swagger UI) work under the policy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from grids.models import User
from tests.browser.tour import PASSWORD, Tour

pytestmark = pytest.mark.browser


def _wait_for(page, condition, timeout_ms: int = 3000) -> None:
    # The browser's reports reach the test between Playwright's calls: give them the time.
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)


def test_the_watch_sees_an_injected_script(db, live_server, browser_page, csp_watch):
    page = browser_page
    page.goto(f"{live_server.url}/")
    page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.injected = true";
            document.body.append(s);
        }"""
    )
    _wait_for(page, lambda: csp_watch.violations)
    assert page.evaluate("window.injected === undefined")
    assert any("script-src" in v for v in csp_watch.violations), csp_watch.violations
    csp_watch.clear()


def test_the_boundary_map_draws_in_the_admin(tree, live_server, chromium, screenshots_dir):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    tour = Tour(chromium, live_server.url, screenshots_dir)
    try:
        url = reverse("admin:grids_regionboundary_change", args=[tree.grid_a1.pk])
        page = tour.person("root", phone=False, goto=url)
        # No internet here: the configured tile host answers nothing.
        page.context.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
        page.reload()
        # The widget's inline scripts ran: the map is drawn with the boundary on it.
        page.wait_for_selector(".boundary-widget .leaflet-container path.leaflet-interactive")
        assert page.locator(".boundary-widget .leaflet-draw-toolbar").count() >= 1
        assert tour.js_errors == []
    finally:
        tour.close()


def test_swagger_ui_runs_from_its_own_files(db, live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "fengqiao API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert page.foreign_requests == []


def test_the_public_pages_keep_the_policy_with_debug_on(db, live_server, browser_page, settings):
    # Run locally, the site has DEBUG on: the policy is the same, and Django's own page for
    # a missing one (whose inline script and styles the policy would refuse) goes without it.
    settings.DEBUG = True
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    page = browser_page
    for path in ("/", "/report/", "/track/", "/api/docs/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
    page.wait_for_selector(".swagger-ui .info .title")
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    assert "content-security-policy" not in response.headers
    assert page.foreign_requests == []
