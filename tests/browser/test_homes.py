"""Every role's home page in a real browser, with cases in every list: it fits a 375 px
phone, the tiles lead to their lists, the keyboard reaches the main action first, and no
request leaves the server. The screenshots are the README's pictures of each role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.services import whistle_dispatch
from grids.models import User
from grievances.models import Grievance, State
from mediation import services as mediation_services
from mediation.models import MediationCase
from tests.browser.tour import PASSWORD, Tour
from tests.grievances.conftest import advance, new_case
from tests.mediation import conftest as mediation_fixtures
from tests.mediation.conftest import open_mediation

pytestmark = pytest.mark.browser
roster = mediation_fixtures.roster


@pytest.fixture
def work(tree, people, depts, roster, settings):
    """Cases in each list a home page shows, and a mediation with a session and a draft."""
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    new_case(people.grid_worker, title="村道边坡落石", urgency="urgent")
    new_case(people.grid_worker, title="楼道堆放杂物")
    advance(new_case(people.grid_worker, title="路灯不亮"), State.HANDLED, people)
    advance(new_case(people.grid_worker, title="楼道水管漏水"), State.IN_PROGRESS, people)
    for title, department in (("挡墙有垮塌危险", depts.transport), ("拖欠工资", depts.labour)):
        case = advance(new_case(people.grid_worker, title=title), State.ACCEPTED, people)
        whistle_dispatch(case, people.centre_staff, departments=[department])
    late = Grievance.objects.get(title="拖欠工资")
    Grievance.objects.filter(pk=late.pk).update(
        report_in_due_at=timezone.now() - timedelta(hours=5),
        handle_due_at=timezone.now() - timedelta(hours=1),
    )
    late.whistles.get().assignments.update(report_in_due_at=timezone.now() - timedelta(hours=5))
    mcase = open_mediation(people)
    MediationCase.objects.filter(pk=mcase.pk).update(choice_deadline=timezone.now() - timedelta(1))
    mcase.refresh_from_db()
    centre = mediation_services.Actor.of(people.centre_staff)
    zhuoma = mediation_services.Actor.of(roster.users.zhuoma)
    mcase = mediation_services.mediation_assign(mcase, centre, mediator=roster.zhuoma)
    mediation_services.mediation_schedule(
        mcase, zhuoma, starts_at=timezone.now() + timedelta(days=1), place="江塘村村委会"
    )
    mediation_services.mediation_agreement(mcase, zhuoma, text="乙某三日内修好院墙")
    for user in User.objects.all():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return {"people": people, "depts": depts, "roster": roster}


def _count(page, element_id: str) -> int:
    return int(page.locator(f"#{element_id}").inner_text())


# role -> (username getter, viewport, screenshot, the main link a keyboard user reaches)
ROLES = {
    "grid": (lambda w: w["people"].grid_worker, True, "home-grid-phone", "/report/"),
    "centre": (lambda w: w["people"].centre_staff, False, "home-centre", "/console/"),
    "department": (lambda w: w["depts"].staff.labour, False, "home-department", "/inbox/"),
    "leader": (lambda w: w["people"].leader, False, "home-leader", "/dashboard/"),
    "mediator": (lambda w: w["roster"].users.zhuoma, False, "home-mediator", None),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_home_shows_its_work(role, work, live_server, chromium, screenshots_dir):
    who, phone, shot, main_link = ROLES[role]
    base = live_server.url
    tour = Tour(chromium, base, screenshots_dir)
    try:
        page = tour.person(who(work).username, phone=phone)
        assert page.locator("h1").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        if role == "grid":
            assert _count(page, "count-open") == 7  # 4 of theirs, 2 whistled, 1 in mediation
            assert _count(page, "count-to-handle") == 1
            assert page.locator("#to-handle").get_by_text("楼道水管漏水").is_visible()
        elif role == "centre":
            assert _count(page, "count-submitted") == 2
            assert _count(page, "count-to-verify") == 1
            assert _count(page, "count-overdue") == 1
            assert page.locator("#centre-overdue").get_by_text("拖欠工资").is_visible()
        elif role == "department":
            assert _count(page, "count-overdue") == 1
            assert page.locator("#home-overdue").get_by_text("拖欠工资").is_visible()
            assert page.get_by_text("挡墙有垮塌危险").count() == 0  # another department's
        elif role == "leader":
            assert page.locator("#rate-response").is_visible()
            assert _count(page, "count-overdue") == 1
        elif role == "mediator":
            assert page.locator("#mediator-sessions").get_by_text("江塘村村委会").is_visible()
            assert page.locator("#mediator-to-sign a").count() == 1
        tour.shot(page, shot)

        # The keyboard: the skip link first, then the site's links; Enter follows a tile.
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.className")
        assert "skip-link" in focused
        if main_link:
            link = page.locator(f"main a[href^='{main_link}']").first
            link.focus()
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.url.startswith(f"{base}{main_link}")
            assert page.locator("h1").count() == 1
        else:
            with page.expect_navigation():
                page.locator("#mediator-to-sign a").first.click()
            assert "/mediation/" in page.url
        assert tour.foreign == [] and tour.js_errors == []
    finally:
        tour.close()


def test_admin_home_and_the_django_admin(work, live_server, chromium, screenshots_dir):
    from grids.models import User as UserModel

    UserModel.objects.create_superuser("root", "root@example.com", PASSWORD, full_name="管理员")
    base = live_server.url
    tour = Tour(chromium, base, screenshots_dir)
    try:
        page = tour.person("root", phone=False)
        assert page.locator("h1").inner_text().strip() == "系统管理"
        with page.expect_navigation():
            page.locator("main a[href='/admin/']").first.click()
        assert page.url == f"{base}/admin/"
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        tour.shot(page, "admin", full_page=False)
        # The regions' tree in the admin opens too.
        page.goto(f"{base}/admin/grids/region/")
        assert page.locator("#result_list").is_visible()
        assert tour.foreign == [] and tour.js_errors == []
    finally:
        tour.close()


def test_a_resident_sees_my_reports_on_the_phone(
    tree, people, live_server, chromium, screenshots_dir
):
    """A resident who reported with their account signs in on the phone and finds 我的反映:
    their cases with the code and the state, the result waiting for their rating, nothing of
    another resident's; the rating link opens the case as tracking shows it."""
    from grievances.models import Source
    from tests.factories import UserFactory

    resident = UserFactory(username="caomou", full_name="曹某")
    neighbour = UserFactory(username="neighbour", full_name="邻居")
    waiting = new_case(resident, title="小区门口积水", source=Source.RESIDENT_WEB)
    closed = advance(
        new_case(resident, title="楼道水管漏水", source=Source.RESIDENT_WEB), State.CLOSED, people
    )
    new_case(neighbour, title="邻居反映的噪音", source=Source.RESIDENT_WEB)
    for user in (resident, neighbour):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])

    base = live_server.url
    tour = Tour(chromium, base, screenshots_dir)
    try:
        page = tour.person("caomou", phone=True)
        assert page.locator("h1").inner_text().strip() == "我的反映"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        cases = page.locator("#resident-cases")
        for case in (waiting, closed):
            row = cases.locator(f"[data-case='{case.display_code}']")
            assert row.get_by_text(case.title).is_visible()
        assert cases.locator(f"[data-case='{waiting.display_code}']").get_by_text("待受理").count()
        assert page.get_by_text("邻居反映的噪音").count() == 0
        tour.shot(page, "home-resident-phone")

        with page.expect_navigation():
            page.locator("#resident-waiting a").first.click()
        assert page.url.startswith(f"{base}/track/")
        assert page.locator("#rate").is_visible()
        assert closed.display_code in page.locator(".track-head__code").inner_text()
        assert tour.foreign == [] and tour.js_errors == []
    finally:
        tour.close()
