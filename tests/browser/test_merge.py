"""The centre merges a flagged duplicate from the comparison page: the later report moves
into the earlier case, both timelines say so, and the merge is undone from the case page."""

from __future__ import annotations

import pytest

from grievances.models import Complainant, Grievance
from grievances.relay import relay_batch
from tests.browser_support import DESKTOP
from tests.duplicates.conftest import east
from tests.grievances.conftest import advance, new_case

pytestmark = pytest.mark.browser


def test_the_centre_merges_a_flagged_duplicate_and_undoes_it(
    tree, people, live_server, chromium, settings, screenshots_dir
):
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    first = advance(new_case(people.grid_worker, title="路灯坏了"), "dispatched", people)
    second = new_case(people.grid_worker, title="路灯不亮", point=east(30), phone="13955556666")
    relay_batch()
    assert Grievance.objects.get(pk=second.pk).likely_duplicate_of_id == first.pk

    desk = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    desk.set_default_timeout(15_000)
    try:
        page = desk.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/cases/{second.pk}/")
        page.fill("#id_username", people.centre_staff.username)
        page.fill("#id_password", "pass-word-123")
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        with page.expect_navigation():
            page.get_by_role("link", name="并排对比").click()
        assert "/compare/" in page.url

        # Under the earlier case: merge the later one into it.
        with page.expect_navigation():
            page.get_by_role("button", name=f"将 {second.display_code} 合并到这一件").click()
        assert page.url.endswith(f"/cases/{first.pk}/")
        assert "已合并" in page.inner_text(".messages, [role=status], body")
        timeline = page.inner_text(".case-card--timeline")
        assert f"合并了 {second.display_code}" in timeline
        assert second.display_code in page.inner_text(".case-card--merged-in")
        page.screenshot(path=str(screenshots_dir / "case-merged-in.png"), full_page=True)
        assert Complainant.objects.get(phone="13955556666").grievance_id == first.pk

        page.click(f"a[href='/cases/{second.pk}/']")
        page.wait_for_url(f"**/cases/{second.pk}/")
        assert f"已合并到 {first.display_code}" in page.inner_text(".case-card--timeline")
        with page.expect_navigation():
            page.locator(".case-card--merged").get_by_role("button", name="撤销合并").click()
        assert f"撤销合并到 {first.display_code}" in page.inner_text(".case-card--timeline")
        assert Grievance.objects.get(pk=second.pk).state == "submitted"
        assert Complainant.objects.get(phone="13955556666").grievance_id == second.pk
    finally:
        desk.close()
