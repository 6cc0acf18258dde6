"""这就是我要反映的 on a phone: a resident puts the pin next to an open case of the same kind,
sees it listed under the map, says it is theirs and joins it instead of sending a second
report; the centre then finds the join on the case page and confirms it, and the resident
is a complainant of the case."""

from __future__ import annotations

import pytest

from duplicates.models import Join
from grievances.models import Complainant
from tests.browser_support import DESKTOP, wait_until
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser


def test_a_resident_joins_the_open_case_at_the_pin_and_the_centre_confirms(
    tree, people, live_server, chromium, resident_phone, screenshots_dir
):
    case = new_case(
        people.grid_worker, category="hazard.utilities", point=(91.2003, 29.7), title="三楼水管爆裂"
    )
    page = resident_phone.new_page()
    page.goto(f"{live_server.url}/report/")
    # What the resident typed of their own report so far is offered to the join form.
    page.fill("#id_name", "李四")
    page.fill("#id_phone", "13911112222")
    page.fill("#category-filter", "供水")
    page.click("[data-locate-me]")
    wait_until(page, "document.querySelectorAll('.nearby__item').length === 1")
    assert "三楼水管爆裂" not in page.inner_text("#nearby")

    page.get_by_role("button", name="这就是我要反映的").click()
    wait_until(page, "!!document.querySelector('[data-join-form]')")
    assert page.input_value("[data-join-form] input[name=join_phone]") == "13911112222"
    assert page.input_value("[data-join-form] input[name=join_name]") == "李四"
    page.get_by_role("button", name="加入此事项").click()
    wait_until(page, "!!document.querySelector('.join__done')")
    assert "已提交：综治中心确认后，您会收到短信" in page.inner_text(".join__done")
    page.screenshot(path=str(screenshots_dir / "resident-join-phone.png"), full_page=True)
    join = Join.objects.get()
    assert join.grievance_id == case.pk and join.phone == "13911112222"
    assert page.url.endswith("/report/")  # the report itself was not sent
    assert Complainant.objects.filter(grievance=case).count() == 1

    # The draft is not needed any more.
    with page.expect_navigation():
        page.get_by_role("button", name="放弃草稿").click()
    assert page.input_value("#id_phone") == ""
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes('report-draft'))") == []

    desk = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    desk.set_default_timeout(15_000)
    try:
        page = desk.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/cases/{case.pk}/")
        page.fill("#id_username", people.centre_staff.username)
        page.fill("#id_password", "pass-word-123")
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        card = page.locator(".case-card--joins")
        assert "李四" in card.inner_text() and "待中心处理" in card.inner_text()
        with page.expect_navigation():
            card.get_by_role("button", name="确认加入").click()
        assert "李四" in page.inner_text(".case-card--people")
        assert "加入反映人" in page.inner_text("body")
        assert Complainant.objects.filter(grievance=case, phone="13911112222").exists()
        assert Join.objects.get().state == "confirmed"
    finally:
        desk.close()
