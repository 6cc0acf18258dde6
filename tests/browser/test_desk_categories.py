"""A county's centre administrator on a phone: from the menu to the categories page, a
category of the county's own added with a field error first, then the county's own limits
for it; no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest

from grids.models import Role
from grievances.models import Category, CategoryLimit
from tests.factories import make_member

pytestmark = pytest.mark.browser

PASSWORD = "pass-Word-123"


def test_a_centre_administrator_adds_a_category_and_its_countys_limits(
    tree, live_server, browser_page
):
    admin = make_member("nd_admin", tree.county, Role.CENTRE_ADMIN)
    admin.set_password(PASSWORD)
    admin.save()
    page, base = browser_page, live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "nd_admin")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    page.goto(f"{base}/desk/categories/")
    assert "事项类别与时限" in page.inner_text("h1")
    assert "拖欠工资" in page.inner_text("table")

    page.click("text=添加类别")
    page.select_option("#id_parent", label="矛盾纠纷")
    page.fill("#id_code", "grazing")  # not under the parent's code: refused
    page.fill("#id_name", "草场边界纠纷")
    page.select_option("#id_kind", "dispute")
    assert page.input_value("#id_region") == "540502000000"  # the county, offered
    with page.expect_navigation():
        page.click("form.card button[type=submit]")
    assert "dispute." in page.inner_text(".field--error")
    page.fill("#id_code", "dispute.pasture_border")
    with page.expect_navigation():
        page.click("form.card button[type=submit]")
    added = Category.objects.get(code="dispute.pasture_border")
    assert page.url == f"{base}/desk/categories/{added.pk}/"

    page.fill("#limit_region", tree.town_a.code)
    page.select_option("#limit_urgency", "normal")
    page.fill("#limit_report_in", "2")
    page.fill("#limit_handling", "3")
    with page.expect_navigation():
        page.click("#limit-form button[type=submit]")
    assert "泽当街道" in page.inner_text("#limits table")
    limit = CategoryLimit.objects.get(category=added)
    assert (limit.region_id, limit.handling) == (tree.town_a.pk, 3)
