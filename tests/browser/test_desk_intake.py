"""The desk registers a call (登记): choosing 12345转办 asks for the ticket number, and typing
the caller's phone lists their earlier cases (重复来电) before the new one is saved."""

from __future__ import annotations

import pytest
from django.test import Client

from grievances.models import Grievance, Source
from tests.browser_support import DESKTOP, wait_until
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser

CALLER = "13908931234"


def test_a_repeat_caller_transferred_by_12345(
    tree, people, live_server, chromium, settings, screenshots_dir
):
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    earlier = new_case(people.grid_worker, phone=CALLER, title="夜间施工噪音")
    new_case(people.sibling_staff, point=(91.7, 29.5), phone=CALLER, title="校门口积水")
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(15_000)
    client = Client()
    client.force_login(people.centre_staff)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    errors = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/")
        page.click(".site-nav a[href='/report/']")
        page.wait_for_url("**/report/")

        # The ticket number is asked for with the sources that carry one.
        assert page.locator("#field-external_id").is_hidden()
        page.select_option("#id_source", Source.HOTLINE_12345)
        assert page.locator("#field-external_id").is_visible()
        page.select_option("#id_source", Source.WALK_IN)
        assert page.locator("#field-external_id").is_hidden()
        page.select_option("#id_source", Source.HOTLINE_12345)
        page.fill("#id_external_id", "GD20260512-0042")

        # The caller's phone: their earlier case of this centre, not the other centre's.
        page.fill("#id_people-0-name", "王女士")
        page.locator("#id_people-0-phone").press_sequentially(CALLER, delay=20)
        wait_until(page, "document.querySelectorAll('#caller-history .nearby__item').length")
        panel = page.inner_text("#caller-history")
        assert "重复来电 1 次" in panel and earlier.display_code in panel
        assert "校门口积水" not in panel
        page.screenshot(path=str(screenshots_dir / "desk-repeat-caller.png"), full_page=True)

        page.select_option("#id_category", "hazard.environment")
        page.fill("#id_title", "夜间施工噪音又起")
        page.fill("#id_description", "12345转来：夜间施工噪音")
        page.select_option("#id_grid", tree.grid_a1.code)
        page.click("[data-submit]")
        page.wait_for_url("**/report/done/")
        case = Grievance.objects.exclude(pk=earlier.pk).get(title="夜间施工噪音又起")
        assert (case.source, case.external_system, case.external_id) == (
            Source.HOTLINE_12345,
            "12345",
            "GD20260512-0042",
        )
    finally:
        context.close()
    assert errors == []
