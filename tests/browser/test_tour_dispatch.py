"""Scenarios 1, 2 and 6 of domain.md §4 through the pages, with a real Celery worker.

Each person signs in as themselves on the live server and acts only through the pages: the
grid workers and the resident on a 375 px phone, the centres, the departments and the
leader at a desk. The worker (a separate process on a private Redis) runs the routing
proposals, the notifications and, with beat, the figures of the dashboard. The tour runs in
real time, so the timeline's times are today's and the durations are short; the pages show
them all the same. Every step leaves a screenshot in var/screenshots/.

1. 乡城县: grid worker 割绒彭措 reports the retaining wall about to collapse; the county
   centre accepts it, and dispatches the routing proposal (the county transport bureau)
   from the console; the bureau reports in from its inbox, notes its crew on site and
   reports "险情排除" on the case page; the centre verifies.
2. 和静县: 曹某 tells grid worker 巴特尔 that a construction company owes him 77,000 yuan;
   the township grid centre of 哈拉玉宫镇 accepts, its mediation fails, it whistles up to the
   county centre (escalate); the county centre whistles the labour inspection brigade,
   which gets the wages paid; 曹某 follows the case on his phone and rates it.
3. (scenario 6) 和静县: 13 workers come to the county mediation centre's window; one case,
   13 complainants; the transport bureau leads with the labour brigade assisting; paid on
   the spot. The leader sees the people with masked phones, then the dashboard.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from PIL import Image

from dispatch.models import Assignment, Department, DepartmentMembership, RoutingRule
from evaluation.models import FigureState
from grids.models import Role
from grievances import sms
from grievances.labels import shown as shown_label
from grievances.models import CaseEvent, Category, Grievance, State
from notifications.models import Delivery, Notification
from tests.browser.tour import (
    Tour,
    acts_offered,
    case_act,
    durations,
    fits_the_phone,
    inbox_item,
    open_act,
    open_case,
    submit_act,
    success,
    timeline,
)
from tests.browser_support import wait_until
from tests.factories import UserFactory, make_member, region_with_box
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SH = ZoneInfo("Asia/Shanghai")
WALL = {"longitude": 100.0, "latitude": 29.5}  # 黑达村网格
CAO_HOME = {"longitude": 85.6, "latitude": 43.1}  # 察汗乌苏村第一网格
COUNTY_WINDOW = {"longitude": 86.5, "latitude": 42.3}  # 和静县, outside every township here
CAO_PHONE = "13999551234"
NAMES = ["马某", "李某", "王某", "张某", "刘某", "陈某", "杨某", "赵某", "黄某", "周某", "吴某"]
NAMES += ["徐某", "孙某"]
PHONES = [f"1399027{n:04d}" for n in range(2001, 2014)]
# A duration as the case page shows it in Chinese ("不到1分钟", "3分钟", "1小时2分钟").
DURATION = re.compile(r"^(不到1分钟|\d+分钟|\d+小时(\d+分钟)?|\d+天(\d+小时)?)$")


def department(name: str, code: str, region, username: str, full_name: str):
    dept = Department.objects.create(name=name, code=code, region=region)
    staff = UserFactory(username=username, full_name=full_name)
    DepartmentMembership.objects.create(user=staff, department=dept)
    return dept, staff


@pytest.fixture
def places():
    """乡城县 (scenario 1) and 和静县 (scenarios 2 and 6), their departments, routing rules and
    one person per role; the townships and villages are illustrative."""
    ganzi = region_with_box("甘孜藏族自治州", "513300000000", "city", None, (99, 28, 101, 31))
    xiangcheng = region_with_box("乡城县", "513336000000", "county", ganzi, (99, 28, 101, 31))
    qingde = region_with_box("青德镇", "513336101000", "township", xiangcheng, (99, 28, 101, 31))
    heida = region_with_box("黑达村", "513336101201", "village", qingde, (99, 28, 101, 31))
    heida_grid = region_with_box(
        "黑达村网格", "513336101201001", "grid", heida, (99, 28, 101, 31), "residential"
    )
    bayingol = region_with_box("巴音郭楞蒙古自治州", "652800000000", "city", None, (82, 40, 90, 44))
    hejing = region_with_box("和静县", "652827000000", "county", bayingol, (84, 42, 87, 44))
    halayugong = region_with_box(
        "哈拉玉宫镇", "652827104000", "township", hejing, (85, 42.5, 86, 43.5)
    )
    chahan = region_with_box(
        "察汗乌苏村", "652827104201", "village", halayugong, (85.5, 43, 86, 43.5)
    )
    chahan_grid = region_with_box(
        "察汗乌苏村第一网格", "652827104201001", "grid", chahan, (85.5, 43, 86, 43.5), "residential"
    )
    for region in (ganzi, xiangcheng, qingde, heida, heida_grid):
        region.refresh_from_db()
    for region in (bayingol, hejing, halayugong, chahan, chahan_grid):
        region.refresh_from_db()

    xc_transport, xc_transport_staff = department(
        "乡城县交通运输局", "xc-transport", xiangcheng, "xc_transport_duty", "交通局值班员洛绒"
    )
    hj_transport, hj_transport_staff = department(
        "和静县交通运输局", "hj-transport", hejing, "hj_transport_duty", "交通局值班员"
    )
    hj_labour, hj_labour_staff = department(
        "和静县劳动保障监察大队", "hj-labour", hejing, "hj_labour_duty", "监察大队值班员"
    )
    RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=xiangcheng,
        lead=xc_transport,
        handling_level="county",
    )
    RoutingRule.objects.create(
        category=Category.objects.get(code="dispute.wages"), region=hejing, lead=hj_labour
    )
    return {
        "xiangcheng": xiangcheng,
        "heida_grid": heida_grid,
        "hejing": hejing,
        "halayugong": halayugong,
        "chahan": chahan,
        "chahan_grid": chahan_grid,
        "xc_transport": xc_transport,
        "hj_transport": hj_transport,
        "hj_labour": hj_labour,
        "gerong": make_member("gerong", heida_grid, Role.GRID_WORKER, full_name="割绒彭措"),
        "xc_centre": make_member(
            "xc_centre", xiangcheng, Role.CENTRE_STAFF, full_name="县综治中心值班员"
        ),
        "xc_transport_staff": xc_transport_staff,
        "bateer": make_member("hj_grid", chahan_grid, Role.GRID_WORKER, full_name="网格员巴特尔"),
        "township_centre": make_member(
            "hlyg_centre", halayugong, Role.CENTRE_STAFF, full_name="镇网格中心值班员"
        ),
        "hj_centre": make_member(
            "hj_centre", hejing, Role.CENTRE_STAFF, full_name="县综治中心值班员"
        ),
        "hj_mediation": make_member(
            "hj_mediation", hejing, Role.CENTRE_STAFF, full_name="县调解中心值班员"
        ),
        "hj_transport_staff": hj_transport_staff,
        "hj_labour_staff": hj_labour_staff,
        "hj_leader": make_member("hj_leader", hejing, Role.LEADER, full_name="分管县领导"),
    }


def photo(path, colour=(120, 110, 100)) -> str:
    Image.new("RGB", (1200, 900), colour).save(path, "JPEG", quality=85)
    return str(path)


def local(instant) -> str:
    return timezone.localtime(instant, SH).strftime("%Y-%m-%d %H:%M")


def assert_timeline_matches_the_events(shown: list[dict], case: Grievance) -> None:
    """Each step on the page with its Beijing time and its actor, as recorded."""
    events = list(CaseEvent.objects.filter(grievance=case).select_related("actor").order_by("id"))
    assert [s["action"] for s in shown] == [e.action for e in events]
    for step, event in zip(shown, events, strict=True):
        assert step["time"] == local(event.created_at), (step, event.created_at)
        if event.actor is not None:
            assert event.actor.full_name in step["actor"], step
            with translation.override("zh-hans"):
                assert shown_label(event.actor_label) in step["actor"], step


def assert_durations_shown(page, *labels: str) -> dict[str, str]:
    shown = durations(page)
    for label in labels:
        assert DURATION.match(shown[label]), shown
    return shown


def wait_for_notice(user, case: Grievance, action: str) -> Notification:
    """The worker's relay writes the notice of the event (a separate process)."""
    return wait_for(
        lambda: Notification.objects.filter(
            recipient=user, grievance=case, event__action=action
        ).first(),
        30,
        what=f"the worker's {action} notice to {user.username}",
    )


def report_in_from_the_inbox(tour: Tour, page, case: Grievance, *shot_names: str) -> int:
    """The department finds the case in its inbox and reports in (签收); returns the
    assignment's id."""
    page.goto(f"{tour.base}/inbox/")
    item = inbox_item(page, case.display_code)
    assert item.count() == 1
    assert page.locator("#inbox-report_in .inbox-item").filter(has_text=case.title).count() == 1
    assignment_id = int(item.get_attribute("id").removeprefix("assignment-"))
    if shot_names:
        tour.shot(page, *shot_names)
    with page.expect_navigation():
        item.locator("form.inbox-acts__main button[type=submit]").click()
    assert case.display_code in success(page)
    return assignment_id


def inbox_note(page, assignment_id: int, note: str) -> None:
    form = f"#as{assignment_id}-note"
    page.click(f"{form} summary")
    page.fill(f"{form}-note", note)
    page.check(f"{form}-public")
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")
    success(page)


def report_from_the_phone(tour, page, *, category_search, category, title, description, address):
    page.fill("#category-filter", category_search)
    assert page.input_value("#id_category") == category
    page.fill("#id_title", title)
    page.fill("#id_description", description)
    page.click("[data-locate-me]")


@pytest.fixture
def tour(chromium, live_server, screenshots_dir, settings, broker, worker, beat):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    # No internet: the map tiles come from a path of the live server that answers 404.
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    sms.outbox.clear()
    t = Tour(chromium=chromium, base=live_server.url, shots=screenshots_dir)
    yield t
    t.close()


def test_scenarios_1_2_and_6_through_the_pages(tour, places, tmp_path):
    scenario_1_retaining_wall(tour, places, tmp_path)
    scenario_2_unpaid_wages(tour, places)
    scenario_6_thirteen_workers(tour, places)
    assert tour.foreign == []
    assert tour.js_errors == []


# --- Scenario 1 ------------------------------------------------------------------------------


def scenario_1_retaining_wall(tour: Tour, places: dict, tmp_path) -> None:
    base = tour.base

    # Grid worker 割绒彭措 reports the wall from the road, on his phone.
    gerong = tour.person(
        "gerong", phone=True, goto="/report/", geolocation=WALL, permissions=["geolocation"]
    )
    report_from_the_phone(
        tour,
        gerong,
        category_search="道路",
        category="hazard.road",
        title="挡墙垮塌险情",
        description="黑达村通村公路旁挡墙出现裂缝，随时可能垮塌，威胁过往车辆",
        address="黑达村通村公路",
    )
    wait_until(
        gerong, "document.querySelector('[data-located]').textContent.includes('黑达村网格')"
    )
    assert gerong.locator(".leaflet-marker-icon").count() == 1
    gerong.fill("#id_address", "黑达村通村公路")
    gerong.set_input_files("#id_photos", photo(tmp_path / "wall.jpg"))
    assert fits_the_phone(gerong)
    tour.shot(gerong, "s1-01-report-phone")
    # For the README: one screen of the form, down to the map and the located grid.
    gerong.evaluate(
        "window.scrollTo(0, document.querySelector('[data-located]').getBoundingClientRect()"
        ".bottom + window.scrollY - window.innerHeight + 16)"
    )
    tour.shot(gerong, "report-phone", full_page=False)
    with gerong.expect_navigation():
        gerong.click("[data-submit]")
    assert gerong.url == f"{base}/report/done/"
    case = Grievance.objects.get(title="挡墙垮塌险情")
    assert gerong.inner_text("#case-code").strip() == case.display_code
    assert case.region == places["heida_grid"]
    assert case.state == State.SUBMITTED
    assert case.attachments.count() == 1
    tour.shot(gerong, "s1-02-report-done-phone")

    # The worker proposes the handling level of the routing rule.
    wait_for(
        lambda: Grievance.objects.get(pk=case.pk).handling_level == "county",
        30,
        what="the routing proposal's handling level",
    )

    # 11:23 The county centre sees it in its console, accepts it on the case page …
    centre = tour.person("xc_centre", phone=False, goto="/console/")
    row = centre.locator(".console-group--needs_you .console-row").filter(has_text=case.title)
    assert row.count() == 1
    assert "待受理" in row.inner_text()
    tour.shot(centre, "s1-03-console")
    with centre.expect_navigation():
        row.locator("a[href$='#act-accept']").click()
    assert centre.url == f"{base}/cases/{case.pk}/#act-accept"
    open_act(centre, "accept")
    centre.check("#act-accept input[name=complexity][value=complex]")
    centre.fill("#act-accept-note", "挡墙险情，由县级处置")
    tour.shot(centre, "s1-04-accept")
    submit_act(centre, base, case.pk, "accept")
    case.refresh_from_db()
    assert (case.state, case.handling_level) == (State.ACCEPTED, "county")

    # … and dispatches the routing proposal (the county transport bureau) from the console.
    centre.goto(f"{base}/console/")
    row = centre.locator(".console-group--needs_you .console-row").filter(has_text=case.title)
    assert "乡城县交通运输局" in row.locator(".console-row__route").inner_text()
    centre.check(f"#pick-{case.pk}")
    tour.shot(centre, "s1-05-console-proposal", "console")
    with centre.expect_navigation():
        centre.click(".console-group--needs_you .console-bulk__bar button[type=submit]")
    assert case.display_code in success(centre)
    row = centre.locator(".console-group--with_handlers .console-row").filter(has_text=case.title)
    assert "乡城县交通运输局" in row.inner_text()
    case.refresh_from_db()
    assert case.state == State.DISPATCHED

    # The bureau hears of it (the worker's notice) and reports in from its inbox at once.
    bureau_user = places["xc_transport_staff"]
    wait_for_notice(bureau_user, case, "dispatch")
    bureau = tour.person("xc_transport_duty", phone=False, goto="/notifications/")
    notice = bureau.locator(".notification--unread")
    assert notice.count() == 1
    assert case.display_code in notice.inner_text()
    assert bureau.locator(".account__badge").inner_text().strip() == "1"
    tour.shot(bureau, "s1-06-notifications")
    assignment_id = report_in_from_the_inbox(tour, bureau, case, "s1-07-inbox", "inbox")
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS

    # 11:30 The crew is on site: a note the villagers can see.
    inbox_note(bureau, assignment_id, "抢险队伍已到达现场")
    item = bureau.locator(f"#assignment-{assignment_id}")
    assert item.locator("a.inbox-acts__main").count() == 1
    tour.shot(bureau, "s1-08-inbox-in-progress")

    # 14:24 Repaired: the bureau reports the result on the case page.
    with bureau.expect_navigation():
        item.locator("a.inbox-acts__main").click()
    open_act(bureau, "handle")
    bureau.fill("#act-handle-result", "险情排除")
    bureau.set_input_files(
        "#act-handle input[type=file]", photo(tmp_path / "repaired.jpg", (90, 140, 90))
    )
    tour.shot(bureau, "s1-09-handle")
    submit_act(bureau, base, case.pk, "handle")
    case.refresh_from_db()
    assert (case.state, case.result) == (State.HANDLED, "险情排除")

    # The centre verifies from its console and closes the case.
    centre.goto(f"{base}/console/")
    row = centre.locator(".console-group--needs_you .console-row").filter(has_text=case.title)
    tour.shot(centre, "s1-10-console-verify")
    with centre.expect_navigation():
        row.locator("a[href$='#act-verify']").click()
    open_act(centre, "verify")
    centre.fill("#act-verify-note", "现场核查，道路恢复通行")
    submit_act(centre, base, case.pk, "verify")
    case.refresh_from_db()
    assert case.state == State.CLOSED

    # The timeline: each step with its time and actor; the durations.
    shown = timeline(centre)
    assert [s["action"] for s in shown] == [
        "submit",
        "accept",
        "dispatch",
        "report_in",
        "note",
        "handle",
        "verify",
    ]
    assert_timeline_matches_the_events(shown, case)
    steps = {s["action"]: s for s in shown}
    assert "割绒彭措" in steps["submit"]["actor"]
    for action in ("accept", "dispatch", "verify"):
        assert "乡城县" in steps[action]["actor"] and "县综治中心值班员" in steps[action]["actor"]
    for action in ("report_in", "note", "handle"):
        assert steps[action]["actor"].startswith("乡城县交通运输局"), steps[action]
        assert "交通局值班员洛绒" in steps[action]["actor"]
    assert "乡城县交通运输局" in steps["dispatch"]["details"]
    assert steps["note"]["note"] == "抢险队伍已到达现场"
    assert steps["handle"]["note"] == "险情排除"
    assert_durations_shown(centre, "反映 → 受理", "派单 → 报到", "派单 → 反馈", "反映 → 办结")
    whistle = centre.locator(".case-card--whistles .whistle")
    assert whistle.count() == 1
    assert "乡城县" in whistle.locator(".whistle__head").inner_text()
    assert "乡城县交通运输局" in whistle.locator(".assignment").inner_text()
    assert "险情排除" in centre.inner_text(".case-card--description")
    tour.shot(centre, "s1-11-case-timeline", "case-detail")
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.DONE


# --- Scenario 2 ------------------------------------------------------------------------------


def scenario_2_unpaid_wages(tour: Tour, places: dict) -> None:
    base = tour.base

    # 曹某 tells grid worker 巴特尔, who reports it from the village on his phone.
    bateer = tour.person(
        "hj_grid", phone=True, goto="/report/", geolocation=CAO_HOME, permissions=["geolocation"]
    )
    report_from_the_phone(
        tour,
        bateer,
        category_search="工资",
        category="dispute.wages",
        title="建筑公司拖欠工资7.7万元",
        description="村民曹某反映某建筑公司拖欠其务工工资77000元，多次讨要未果",
        address="察汗乌苏村",
    )
    wait_until(
        bateer,
        "document.querySelector('[data-located]').textContent.includes('察汗乌苏村第一网格')",
    )
    bateer.fill("#id_people-0-name", "曹某")
    bateer.fill("#id_people-0-phone", CAO_PHONE)
    assert fits_the_phone(bateer)
    tour.shot(bateer, "s2-01-report-phone")
    with bateer.expect_navigation():
        bateer.click("[data-submit]")
    case = Grievance.objects.get(title="建筑公司拖欠工资7.7万元")
    code = bateer.inner_text("#case-code").strip()
    assert code == case.display_code
    assert case.owning_centre == places["chahan"]
    assert [(p.name, p.phone) for p in case.complainants.all()] == [("曹某", CAO_PHONE)]
    # The worker relays the report and sends the code by SMS (its own gateway: the record).
    wait_for(
        lambda: Delivery.objects.filter(
            notification__grievance=case, address=CAO_PHONE, status="sent"
        ).exists(),
        30,
        what="the tracking code to go out by SMS",
    )
    tour.shot(bateer, "s2-02-report-done-phone")

    # The township grid centre accepts the village's case; its mediation fails.
    township = tour.person("hlyg_centre", phone=False, goto="/console/")
    row = township.locator(".console-row").filter(has_text=case.title)
    with township.expect_navigation():
        row.locator("a[href$='#act-accept']").click()

    def triage(p):
        p.check("#act-accept input[name=complexity][value=complex]")
        p.select_option("#act-accept-handling_level", "township")

    case_act(township, base, case.pk, "accept", triage)

    def mediation_failed(p):
        p.fill("#act-note-note", "镇网格中心组织双方调解，建筑公司拒不支付，调解未成功")
        p.check("#act-note-public")

    case_act(township, base, case.pk, "note", mediation_failed)

    # 纵向吹哨: up to the county centre.
    open_act(township, "escalate")
    township.fill("#act-escalate-reason", "镇级调解未成功，请县综治中心协调处置")
    tour.shot(township, "s2-03-township-escalate")
    submit_act(township, base, case.pk, "escalate")
    case.refresh_from_db()
    assert (case.state, case.owning_centre) == (State.ACCEPTED, places["hejing"])
    # The township still sees the case, but no longer acts as its centre.
    assert not {"dispatch", "escalate", "verify", "reject"} & set(acts_offered(township))
    tour.shot(township, "s2-04-township-after-escalation")

    # The county centre hears of it and finds it in its console with the routing proposal.
    county_user = places["hj_centre"]
    wait_for_notice(county_user, case, "escalate")
    county = tour.person("hj_centre", phone=False, goto="/console/")
    row = county.locator(".console-group--needs_you .console-row").filter(has_text=case.title)
    assert "和静县劳动保障监察大队" in row.locator(".console-row__route").inner_text()
    tour.shot(county, "s2-05-county-console")

    # 横向吹哨: the county centre whistles the labour inspection brigade.
    with county.expect_navigation():
        row.locator(".case-row__title a").click()
    open_act(county, "dispatch")
    assert county.is_checked("#act-dispatch input[name=mode][value=proposed]")
    county.fill("#act-dispatch-note", "请依法督促建筑公司支付拖欠工资")
    tour.shot(county, "s2-06-county-dispatch")
    submit_act(county, base, case.pk, "dispatch")
    case.refresh_from_db()
    assert case.state == State.DISPATCHED

    # The brigade reports in from its inbox; three days later the wages are paid.
    wait_for_notice(places["hj_labour_staff"], case, "dispatch")
    brigade = tour.person("hj_labour_duty", phone=False, goto="/inbox/")
    report_in_from_the_inbox(tour, brigade, case, "s2-07-brigade-inbox")

    def paid(p):
        p.fill("#act-handle-result", "经劳动保障监察大队督促，建筑公司已向曹某全额支付工资77000元")

    open_case(brigade, base, case.pk)
    open_act(brigade, "handle")
    paid(brigade)
    tour.shot(brigade, "s2-08-brigade-handle")
    submit_act(brigade, base, case.pk, "handle")

    wait_for_notice(county_user, case, "handle")
    case_act(
        county,
        base,
        case.pk,
        "verify",
        lambda p: p.fill("#act-verify-note", "电话回访曹某，工资已到账"),
    )
    case.refresh_from_db()
    assert case.state == State.CLOSED

    # 曹某 follows the case on his phone and rates it.
    cao = tour.page(phone=True)
    cao.goto(f"{base}/track/?code={code}")
    cao.fill("#id_last4", CAO_PHONE[-4:])
    with cao.expect_navigation():
        cao.click("form.form button[type=submit]")
    assert cao.get_attribute("#case-state", "data-state") == State.CLOSED
    actions = cao.eval_on_selector_all(
        ".public-timeline__item", "items => items.map(i => i.dataset.action)"
    )
    assert {"escalate", "dispatch", "report_in", "handle", "verify"} <= set(actions)
    assert "77000" in cao.inner_text(".track-result")
    cao.click("label[for='id_score_0']")  # the fifth star: the choices run 5…1
    cao.check("#id_resolved_0")
    cao.fill("#id_comment", "工资拿到了，感谢政府")
    with cao.expect_navigation():
        cao.click(".rate-form button[type=submit]")
    success(cao)
    html = cao.content()
    for secret in (
        "网格员巴特尔",
        "镇网格中心值班员",
        "县综治中心值班员",
        "监察大队值班员",
        CAO_PHONE,
    ):
        assert secret not in html
    assert fits_the_phone(cao)
    tour.shot(cao, "s2-09-track-rated-phone")

    # The timeline shows the escalation and both whistles.
    open_case(county, base, case.pk)
    shown = timeline(county)
    assert [s["action"] for s in shown] == [
        "submit",
        "accept",
        "note",
        "escalate",
        "dispatch",
        "report_in",
        "handle",
        "verify",
        "rate",
    ]
    assert_timeline_matches_the_events(shown, case)
    steps = {s["action"]: s for s in shown}
    assert "网格员巴特尔" in steps["submit"]["actor"]
    for action in ("accept", "note", "escalate"):
        assert "哈拉玉宫镇" in steps[action]["actor"], steps[action]
    assert "和静县" in steps["escalate"]["details"]  # up to the county centre
    assert "和静县" in steps["dispatch"]["actor"]
    assert "和静县劳动保障监察大队" in steps["dispatch"]["details"]  # across to the brigade
    for action in ("report_in", "handle"):
        assert steps[action]["actor"].startswith("和静县劳动保障监察大队")
    assert "已上报" in county.inner_text(".case-card--deadlines .counters")
    assert_durations_shown(county, "反映 → 受理", "受理 → 派单", "派单 → 反馈", "反映 → 办结")
    assert "和静县" in county.inner_text(".case-card--whistles .whistle__head")
    tour.shot(county, "s2-10-case-timeline")


# --- Scenario 6 ------------------------------------------------------------------------------


def scenario_6_thirteen_workers(tour: Tour, places: dict) -> None:
    base = tour.base

    # Thirteen workers at the county mediation centre's window: one walk-in case.
    desk = tour.person(
        "hj_mediation",
        phone=False,
        goto="/report/",
        geolocation=COUNTY_WINDOW,
        permissions=["geolocation"],
    )
    desk.select_option("#id_category", "dispute.wages")
    desk.fill("#id_title", "13名务工人员被拖欠工资约20万元")
    desk.fill(
        "#id_description", "13名务工人员反映在县内道路工程务工，承包方、分包方拖欠工资约20万元"
    )
    desk.click("[data-locate-me]")
    wait_until(desk, "document.querySelector('[data-located]').textContent.includes('和静县')")
    desk.fill("#id_address", "和静县矛盾纠纷调解中心接待窗口")
    desk.check("#id_risk_group")
    assert desk.input_value("#id_source") == "walk_in"
    for n, (name, phone) in enumerate(zip(NAMES, PHONES, strict=True)):
        if n:
            desk.click("[data-add-person]")
        desk.fill(f"#id_people-{n}-name", name)
        desk.fill(f"#id_people-{n}-phone", phone)
    tour.shot(desk, "s6-01-walk-in")
    with desk.expect_navigation():
        desk.click("[data-submit]")
    assert desk.url == f"{base}/report/done/"
    case = Grievance.objects.get(title="13名务工人员被拖欠工资约20万元")
    assert (case.region, case.owning_centre) == (places["hejing"], places["hejing"])
    assert case.source == "walk_in" and case.risk_group
    assert [p.name for p in case.complainants.order_by("id")] == NAMES

    # Accepted as difficult, whistled to the transport bureau (lead) with the brigade.
    def triage(p):
        p.check("#act-accept input[name=complexity][value=difficult]")
        p.select_option("#act-accept-handling_level", "county")

    case_act(desk, base, case.pk, "accept", triage)
    open_act(desk, "dispatch")
    desk.check("#act-dispatch input[name=mode][value=departments]")
    desk.select_option("#act-dispatch-lead", str(places["hj_transport"].pk))
    desk.check(f"#act-dispatch input[name=assisting][value='{places['hj_labour'].pk}']")
    desk.fill("#act-dispatch-note", "请交通运输局召集承包方、分包方到中心协调，当场解决欠薪")
    tour.shot(desk, "s6-02-dispatch")
    submit_act(desk, base, case.pk, "dispatch")

    # Both departments report in from their inboxes.
    wait_for_notice(places["hj_transport_staff"], case, "dispatch")
    transport = tour.person("hj_transport_duty", phone=False, goto="/inbox/")
    lead_id = report_in_from_the_inbox(tour, transport, case, "s6-03-transport-inbox")
    wait_for_notice(places["hj_labour_staff"], case, "dispatch")
    brigade = tour.person("hj_labour_duty", phone=False, goto="/inbox/")
    report_in_from_the_inbox(tour, brigade, case, "s6-04-brigade-inbox")
    assert Assignment.objects.filter(whistle__grievance=case, status="reported_in").count() == 2
    transport.goto(f"{base}/inbox/")
    inbox_note(transport, lead_id, "已召集承包方、分包方到中心现场协调")

    # The lead handler calls the workers back: it sees their phones in full.
    open_case(transport, base, case.pk)
    assert transport.locator(".person__phone a[href^='tel:']").count() == 13
    open_act(transport, "handle")
    transport.fill("#act-handle-result", "承包方当场支付13名务工人员工资共计20万元")
    submit_act(transport, base, case.pk, "handle")

    wait_for_notice(places["hj_mediation"], case, "handle")
    case_act(
        desk, base, case.pk, "verify", lambda p: p.fill("#act-verify-note", "13人均确认工资到账")
    )
    case.refresh_from_db()
    assert case.state == State.CLOSED

    # One case, many complainants: the centre sees every phone in full …
    people = desk.locator(".case-card--people .person")
    assert people.locator(".person__name").all_inner_texts() == NAMES
    assert desk.locator(".case-card--people .person__phone").all_inner_texts() == PHONES
    assert people.first.locator(".badge").inner_text().strip() == "反映人"
    shown = timeline(desk)
    assert [s["action"] for s in shown] == [
        "submit",
        "accept",
        "dispatch",
        "report_in",
        "assist_accept",
        "note",
        "handle",
        "verify",
    ]
    assert_timeline_matches_the_events(shown, case)
    steps = {s["action"]: s for s in shown}
    assert "和静县交通运输局" in steps["dispatch"]["details"]
    assert "和静县劳动保障监察大队" in steps["dispatch"]["details"]
    assert steps["assist_accept"]["actor"].startswith("和静县劳动保障监察大队")
    assert_durations_shown(desk, "派单 → 报到", "派单 → 反馈", "反映 → 办结")
    tour.shot(desk, "s6-05-case-timeline")

    # … a leader sees the same people with masked phones.
    leader = tour.person("hj_leader", phone=False, goto=f"/cases/{case.pk}/")
    masked = leader.locator(".case-card--people .person__phone").all_inner_texts()
    assert masked == [f"{p[:3]}****{p[-4:]}" for p in PHONES]
    assert leader.locator(".case-card--people a[href^='tel:']").count() == 0
    html = leader.content()
    assert not any(p in html for p in PHONES)
    tour.shot(leader, "s6-06-leader-case")

    # The leader's dashboard, once beat's figure refresh has counted the day's cases.
    last = CaseEvent.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    wait_for(
        lambda: (
            (FigureState.objects.filter(pk=1).values_list("last_run_at", flat=True).first())
            and FigureState.objects.get(pk=1).last_run_at > last + timedelta(seconds=1)
        ),
        60,
        what="beat's figure refresh",
    )
    leader.goto(f"{base}/dashboard/")
    leader.wait_for_selector("#dash-chart-intake canvas")
    leader.wait_for_selector("#dash-map path.leaflet-interactive")
    assert leader.locator("h1").first.inner_text().strip() == "数据看板"
    leader.wait_for_timeout(500)  # the charts' entry animation
    tour.shot(leader, "s6-07-dashboard", "dashboard")
