"""研判 on the case page: the centre corrects a grid worker's report (its category and title),
gives the reason, and the timeline shows each change with its old and new value."""

from __future__ import annotations

import pytest

from grievances.models import Grievance
from tests.browser.tour import Tour, open_act, submit_act
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser


def test_the_centre_corrects_a_report_on_the_case_page(
    tree, people, live_server, chromium, screenshots_dir, settings
):
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    case = new_case(people.grid_worker, category="hazard.road", title="路面塌陷")
    tour = Tour(chromium, live_server.url, screenshots_dir)
    try:
        page = tour.person(people.centre_staff.username, phone=False, goto=f"/cases/{case.pk}/")
        open_act(page, "triage")
        # The reason is required: the form says so and nothing changes.
        page.select_option("#act-triage select[name=category]", "hazard.utilities")
        page.fill("#act-triage input[name=title]", "供水管道破裂致路面塌陷")
        page.fill("#act-triage textarea[name=reason]", "")
        page.click("#act-triage button[type=submit]")
        assert Grievance.objects.get(pk=case.pk).title == "路面塌陷"

        page.goto(f"{live_server.url}/cases/{case.pk}/")
        open_act(page, "triage")
        page.select_option("#act-triage select[name=category]", "hazard.utilities")
        page.fill("#act-triage input[name=title]", "供水管道破裂致路面塌陷")
        page.fill("#act-triage textarea[name=reason]", "现场照片显示为供水管道破裂")
        submit_act(page, live_server.url, case.pk, "triage")
        case.refresh_from_db()
        assert (case.category.code, case.title) == ("hazard.utilities", "供水管道破裂致路面塌陷")
        timeline = page.inner_text(".case-card--timeline")
        assert "路面塌陷 → 供水管道破裂致路面塌陷" in timeline
        assert "现场照片显示为供水管道破裂" in timeline
        assert tour.js_errors == []
    finally:
        tour.close()
