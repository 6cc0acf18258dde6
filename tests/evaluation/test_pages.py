"""The evaluation pages: the dashboard (access, scope, periods, exports, map data, query
counts), the public red/black list and the centre's return visits.

The cases are those of tests/evaluation/conftest.py (October 2026 around National Day);
every request is made at NOW (Tue 2026-10-20 12:00) unless a test travels elsewhere.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from openpyxl import load_workbook

from config.urls import handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urls
from dispatch.models import Department, DepartmentMembership
from evaluation import figures, returnvisits
from evaluation.dashboard import resolve_period, working_time
from evaluation.models import Export, ReturnVisit
from evaluation.tasks import run_export
from grids.models import Role
from grievances.models import Grievance, State
from tests import browser_support as browser_fixtures
from tests.evaluation.conftest import NOW, step
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import PHONE, POINT_B1, at, new_case

pytestmark = pytest.mark.django_db


# The pages at the site root, until config.urls includes them (then this is harmless).
urlpatterns = [
    path("", include("evaluation.urls")),
    path("api/v1/", include("evaluation.urls_api")),
    *project_urls,
]


@pytest.fixture(autouse=True)
def _page_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.MAP_TILE_URL = ""


@pytest.fixture
def now():
    """Requests at NOW (figures refreshed then)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page(user, url, **params):
    return client_for(user).get(url, params)


OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}


# --- The dashboard: who ---------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in(tree):
    r = Client().get("/dashboard/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/?next=/dashboard/")
    assert Client().get("/dashboard/map/").status_code == 302
    assert Client().post("/dashboard/export/").status_code == 302


def test_grid_staff_and_departments_are_refused(tree, people):
    department = Department.objects.create(
        name="乃东区交通运输局", code="nd-jt", region=tree.county
    )
    dept_user = UserFactory(username="dept")
    DepartmentMembership.objects.create(user=dept_user, department=department)
    for user in (people.grid_worker, people.grid_leader, dept_user):
        r = page(user, "/dashboard/")
        assert r.status_code == 403, user
        assert "403" in r.content.decode()  # the site's 403 page
        assert page(user, "/dashboard/map/").status_code == 403


def test_the_county_leader_sees_the_figures(tree, people, october, now):
    figures.rebuild(now=NOW)
    r = page(people.leader, "/dashboard/")
    assert r.status_code == 200
    html = r.content.decode()
    ctx = r.context
    # This month so far: 10-01 .. 10-20, compared with 09-01 .. 09-20.
    assert (ctx["period"].start, ctx["period"].last) == (date(2026, 10, 1), date(2026, 10, 20))
    assert ctx["selection"].region == tree.county
    primary = {tile["key"]: tile for tile in ctx["primary"]}
    assert list(primary) == ["response", "resolution", "satisfaction"]
    # D (昌珠镇) never reported in: 3 of 4 report-ins on time.
    assert (primary["response"]["numerator"], primary["response"]["denominator"]) == (3, 4)
    assert primary["response"]["text"] == "75.0%"
    # A closed unresolved, B resolved by rating, C resolved by the return visit.
    assert (primary["resolution"]["numerator"], primary["resolution"]["denominator"]) == (2, 3)
    assert (primary["satisfaction"]["numerator"], primary["satisfaction"]["denominator"]) == (1, 2)
    assert ctx["intake"]["value"] == 5
    for text in ("75.0%", "66.7%", "50.0%", "3 / 4", "响应率", "解决率", "满意率"):
        assert text in html
    # The 三率 come first, in Beijing's order.
    assert html.index("响应率") < html.index("解决率") < html.index("满意率")
    # Trend: twelve months up to October, from the figures module per month.
    trend = ctx["trend"]
    assert len(trend["labels"]) == 12 and trend["labels"][-1] == "2026-10"
    assert trend["intake"][-1] == 5 and trend["rates"]["response"][-1] == 75.0
    assert 'id="dash-trend-data"' in html
    # By area: the two townships, one query for both.
    assert [row["region"].name for row in ctx["areas"]] == ["泽当街道", "昌珠镇"]
    assert [row["intake"] for row in ctx["areas"]] == [4, 1]
    # D is overdue: dispatched 10-14, report in by 16:30 the same day.
    assert [c.pk for c in ctx["overdue"]] == [october.d.pk]
    assert f'href="/cases/{october.d.pk}/"' in html
    # Durations are working time, readable.
    durations = {row["key"]: row for row in ctx["durations"]}
    assert durations["accept"]["count"] == 3


def test_a_superuser_sees_everywhere(tree, people, october, now):
    from grids.models import User

    root = User.objects.create_superuser("root", "root@example.com", "pass-word-123")
    figures.rebuild(now=NOW)
    r = page(root, "/dashboard/")
    assert r.status_code == 200
    assert r.context["selection"].region is None and r.context["intake"]["value"] == 5
    assert [row["region"].name for row in r.context["areas"]] == ["甘孜州", "山南市"]  # by code
    assert page(root, "/dashboard/", region=tree.other_county.code).status_code == 200


def test_working_time_reads_like_people_talk():
    assert working_time(None) == "—"
    assert working_time(45 * 60) in ("45 min", "45分钟")
    day = 7 * 3600
    assert "1.5" in working_time(int(1.5 * day))


def test_a_township_leader_stays_in_their_township(tree, people, october, now):
    figures.rebuild(now=NOW)
    leader = make_member("town_leader", tree.town_a, Role.LEADER)
    r = page(leader, "/dashboard/")
    assert r.status_code == 200
    assert r.context["selection"].region == tree.town_a
    assert r.context["intake"]["value"] == 4
    # Only their subtree in the picker.
    codes = {o["code"] for o in r.context["region_options"]}
    assert tree.town_a.code in codes and tree.grid_a1.code in codes
    assert tree.town_b.code not in codes and tree.county.code not in codes
    # The sibling township, the county above, another city: 404, as for cases.
    for outside in (tree.town_b, tree.county, tree.other_city):
        assert page(leader, "/dashboard/", region=outside.code).status_code == 404, outside
        assert page(leader, "/dashboard/map/", region=outside.code).status_code == 404
    assert page(leader, "/dashboard/", region="999999999999").status_code == 404
    # A village and a grid inside: fine (a grid's figures come from its cases).
    assert page(leader, "/dashboard/", region=tree.village_a.code).status_code == 200
    r = page(leader, "/dashboard/", region=tree.grid_a1.code)
    assert r.status_code == 200 and r.context["intake"]["value"] == 4


def test_centre_staff_may_use_the_dashboard_and_pick_their_departments(
    tree, people, depts, october, now
):
    figures.rebuild(now=NOW)
    r = page(people.centre_staff, "/dashboard/")
    assert r.status_code == 200
    assert [d.code for d in r.context["departments"]] == ["zd-police"]
    assert page(people.centre_staff, "/dashboard/", department=depts.police.pk).status_code == 200
    # A county department lies outside the township's area.
    assert (
        page(people.centre_staff, "/dashboard/", department=depts.transport.pk).status_code == 404
    )
    assert page(people.centre_staff, "/dashboard/", department="x").status_code == 404


# --- The dashboard: periods -----------------------------------------------------------------


def test_periods_and_what_they_compare_with():
    today = date(2026, 10, 20)
    p = resolve_period("this_month", None, None, today)
    assert (p.start, p.end, p.prev_start, p.prev_end) == (
        date(2026, 10, 1),
        date(2026, 10, 21),
        date(2026, 9, 1),
        date(2026, 9, 21),
    )
    p = resolve_period("last_month", None, None, today)
    assert (p.start, p.end, p.prev_start, p.prev_end) == (
        date(2026, 9, 1),
        date(2026, 10, 1),
        date(2026, 8, 1),
        date(2026, 9, 1),
    )
    p = resolve_period("this_year", None, None, today)
    assert (p.start, p.prev_start, p.days) == (date(2026, 1, 1), date(2025, 1, 1), 293)
    assert p.prev_end == date(2025, 10, 21)
    # A custom period compares with as many days just before it.
    p = resolve_period("custom", date(2026, 10, 1), date(2026, 10, 31), today)
    assert (p.start, p.end, p.prev_start, p.prev_end) == (
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 8, 31),
        date(2026, 10, 1),
    )
    # On 31 March, "this month" compares with the whole of February (no 31 February).
    p = resolve_period("this_month", None, None, date(2026, 3, 31))
    assert (p.prev_start, p.prev_end) == (date(2026, 2, 1), date(2026, 3, 1))
    # January's "last month" is December.
    p = resolve_period("last_month", None, None, date(2027, 1, 5))
    assert (p.start, p.prev_start) == (date(2026, 12, 1), date(2026, 11, 1))


def test_the_dashboard_compares_with_the_period_before(tree, people, october, now):
    # One case in September, in 泽当街道: October's five compare with it.
    step(at(2026, 9, 15, 9), new_case, people.grid_worker, title="九月的案件")
    figures.rebuild(now=NOW)
    r = page(people.leader, "/dashboard/", **OCTOBER)
    assert r.status_code == 200
    ctx = r.context
    assert (ctx["period"].prev_start, ctx["period"].prev_last) == (
        date(2026, 8, 31),
        date(2026, 9, 30),
    )
    assert ctx["intake"]["value"] == 5 and ctx["intake"]["previous"] == 1
    assert ctx["intake"]["delta"]["direction"] == "up"
    assert ctx["intake"]["delta"]["text"] == "+4 (+400%)"
    # No report-in was due in September: the rate has nothing to compare with.
    response = ctx["primary"][0]
    assert response["previous"] == "—" and response["delta"]["direction"] == "none"
    html = r.content.decode()
    assert "2026-08-31 – 2026-09-30" in html and "▲" in html
    # Last month (September) compares with August.
    r = page(people.leader, "/dashboard/", period="last_month")
    assert r.context["intake"]["value"] == 1 and r.context["intake"]["previous"] == 0


def test_a_bad_period_says_why_and_shows_this_month(tree, people, now):
    r = page(
        people.leader, "/dashboard/", period="custom", **{"from": "2026-10-10", "to": "2026-10-01"}
    )
    assert r.status_code == 400
    assert r.context["period"].kind == "this_month"
    assert "alert--error" in r.content.decode()
    # Through htmx the partial carries the errors (htmx does not swap a 400).
    r = client_for(people.leader).get(
        "/dashboard/",
        {"period": "custom", "from": "bad", "to": ""},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "alert--error" in html and "<html" not in html and 'id="dash-filters"' not in html


def test_htmx_gets_the_results_only(tree, people, october, now):
    figures.rebuild(now=NOW)
    r = client_for(people.leader).get(
        "/dashboard/", {"region": tree.town_b.code}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html and 'id="dash-trend-data"' in html and "昌珠镇" in html
    assert r["Vary"] and "HX-Request" in r["Vary"]


# --- The dashboard: the map's data ----------------------------------------------------------


def test_the_map_data_is_bounded_and_scoped(tree, people, october, now):
    r = page(people.leader, "/dashboard/map/", **OCTOBER)
    assert r.status_code == 200
    data = r.json()
    areas = data["areas"]["features"]
    assert [f["properties"]["name"] for f in areas] == ["泽当街道", "昌珠镇"]
    assert areas[0]["geometry"]["type"] == "Polygon"
    assert f"region={tree.town_a.code}" in areas[0]["properties"]["url"]
    assert len(data["points"]) == 5 and data["capped"] is False
    assert [round(POINT_B1[1], 5), round(POINT_B1[0], 5)] in data["points"]
    # A grid shows its own outline and its cases.
    r = page(people.leader, "/dashboard/map/", region=tree.grid_b1.code, **OCTOBER)
    assert [f["properties"]["code"] for f in r.json()["areas"]["features"]] == [tree.grid_b1.code]
    assert len(r.json()["points"]) == 1
    # Nothing personal in it.
    assert "张三" not in r.content.decode() and PHONE not in r.content.decode()


def test_the_map_caps_its_points(tree, people, october, now, monkeypatch):
    monkeypatch.setattr("evaluation.views_dashboard.MAX_POINTS", 2)
    r = page(people.leader, "/dashboard/map/", **OCTOBER)
    assert len(r.json()["points"]) == 2


# --- The dashboard: exports -----------------------------------------------------------------


def export(user, query: dict, **data):
    from urllib.parse import urlencode

    return client_for(user).post(f"/dashboard/export/?{urlencode(query)}", data)


def test_a_small_csv_export_downloads_at_once(tree, people, october, now):
    r = export(people.leader, OCTOBER, export="cases.csv")  # the button
    assert r.status_code == 302
    made = Export.objects.get(owner=people.leader)
    assert r["Location"] == f"/dashboard/exports/{made.pk}/file/"
    assert made.params["from"] == "2026-10-01" and made.params["to"] == "2026-11-01"
    assert made.params["region"] == tree.county.code
    r = client_for(people.leader).get(r["Location"])
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 1 + 5
    assert october.a.display_code in {row[0] for row in rows[1:]}
    # A leader is not the case's centre: the reporter's phone stays masked.
    assert PHONE not in "".join(",".join(row) for row in rows)


def test_an_xlsx_of_the_figures_opens_in_openpyxl(tree, people, october, now):
    figures.rebuild(now=NOW)
    r = export(people.leader, OCTOBER, kind="figures", file_type="xlsx")
    assert r.status_code == 302
    r = client_for(people.leader).get(r["Location"])
    assert r["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True).active
    rows = list(sheet.values)
    assert [row[0] for row in rows[1:]] == [tree.county.code, tree.town_a.code, tree.town_b.code]
    assert rows[1][3] == 5


def test_a_large_export_shows_its_progress_then_a_link(tree, people, october, now, settings):
    settings.EXPORT_INLINE_MAX = 1
    r = export(people.centre_staff, OCTOBER, kind="cases", file_type="xlsx")
    made = Export.objects.get(owner=people.centre_staff)
    assert made.status == "pending"
    assert r.status_code == 302 and r["Location"] == f"/dashboard/exports/{made.pk}/"
    staff = client_for(people.centre_staff)
    html = staff.get(r["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in html and "<progress" in html
    # The file is not there yet.
    assert staff.get(f"/dashboard/exports/{made.pk}/file/")["Location"] == r["Location"]
    run_export(made.pk)  # the Celery task, run here
    poll = staff.get(r["Location"], headers={"HX-Request": "true"})
    html = poll.content.decode()
    assert "<html" not in html and "every 2s" not in html
    assert f'href="/dashboard/exports/{made.pk}/file/"' in html
    download = staff.get(f"/dashboard/exports/{made.pk}/file/")
    assert download.status_code == 200
    rows = list(load_workbook(io.BytesIO(b"".join(download.streaming_content))).active.values)
    assert len(rows) == 1 + 4  # 泽当街道's four cases
    # Someone else's export: 404, file and page alike.
    for url in (r["Location"], f"/dashboard/exports/{made.pk}/file/"):
        assert page(people.leader, url).status_code == 404


def test_an_export_checks_its_choices_and_scope(tree, people, now):
    r = export(people.leader, {}, kind="pdf", file_type="csv")
    assert r.status_code == 302 and r["Location"].startswith("/dashboard/?")
    assert not Export.objects.exists()
    assert (
        export(
            people.centre_staff, {"region": tree.town_b.code}, kind="cases", file_type="csv"
        ).status_code
        == 404
    )
    assert export(people.grid_worker, {}, kind="cases", file_type="csv").status_code == 403


# --- The dashboard: bounded queries ---------------------------------------------------------

DASHBOARD_MAX_QUERIES = 70


def _count_queries(user, url, **params) -> int:
    client = client_for(user)
    client.get(url, params)  # warm: sessions, content types
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


def test_the_dashboard_costs_the_same_whatever_the_number_of_cases(
    tree, people, october, now, django_assert_max_num_queries
):
    figures.rebuild(now=NOW)
    few = _count_queries(people.leader, "/dashboard/")
    for i in range(6):
        step(at(2026, 10, 16, 9 + i), new_case, people.grid_worker, title=f"更多案件{i}")
    figures.rebuild(now=NOW)
    many = _count_queries(people.leader, "/dashboard/")
    assert many == few
    client = client_for(people.leader)  # signing in is not the dashboard's cost
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        client.get("/dashboard/")
    assert _count_queries(people.leader, "/dashboard/map/") <= 12
    assert _count_queries(people.centre_staff, "/return-visits/", status="all") <= 12


# --- The red/black list ---------------------------------------------------------------------


def test_the_rankings_are_public_and_show_the_weights(tree, people, depts, october, now, settings):
    settings.RANKING_SIZE = 1  # two townships: one red, one black
    figures.rebuild(now=NOW)
    r = Client().get("/rankings/", {"month": "2026-10"})
    assert r.status_code == 200
    html = r.content.decode()
    for weight in ("30%", "20%"):
        assert weight in html
    for label in ("响应率", "解决率", "满意率"):
        assert label in html
    # 泽当街道 leads (red), 昌珠镇 trails (black).
    red = r.context["townships"]["red"]
    assert red[0]["name"] == "泽当街道" and red[0]["score_text"] == "73.3%"
    assert r.context["townships"]["black"][0]["name"] == "昌珠镇"
    # Nothing about any person: no resident, no phone, no staff name, no case title.
    for personal in ("张三", PHONE, PHONE[-4:], "挡墙垮塌", "楼道垃圾"):
        assert personal not in html
    for user in vars(people).values():
        assert user.display_name not in html and user.username not in html


def test_the_rankings_default_to_the_last_full_month(tree, now):
    r = Client().get("/rankings/")
    assert r.status_code == 200 and r.context["month_value"] == "2026-09"
    assert 'value="2026-09"' in r.content.decode()


def test_the_rankings_check_the_month(tree, now):
    for bad in ("2026-13", "10/2026", "2026-11"):
        r = Client().get("/rankings/", {"month": bad})
        assert r.status_code == 400, bad
        assert r.context["month_value"] == "2026-09"
    assert Client().get("/rankings/", {"month": "2026-10", "region": "1"}).status_code == 400
    r = Client().get("/rankings/", {"month": "2026-10", "region": tree.county.code})
    assert r.status_code == 200 and r.context["within"] == tree.county


# --- Return visits --------------------------------------------------------------------------


@pytest.fixture
def visit_a(october, now):
    """Case A's visit: rated 2 and "not resolved", so it is always visited."""
    return returnvisits.return_visit_schedule(october.a.pk)


def test_return_visits_are_for_centre_staff(tree, people, visit_a):
    assert Client().get("/return-visits/").status_code == 302
    for user in (people.grid_worker, people.leader):
        assert page(user, "/return-visits/").status_code == 403
    r = page(people.centre_staff, "/return-visits/")
    assert r.status_code == 200
    html = r.content.decode()
    assert visit_a.grievance.display_code in html
    # The centre calls the reporter: name and phone in full.
    assert PHONE in html and "张三" in html
    # The sibling township's centre sees nothing of it.
    assert (
        visit_a.grievance.display_code
        not in page(people.sibling_staff, "/return-visits/").content.decode()
    )


def test_recording_a_call(tree, people, visit_a):
    staff = client_for(people.centre_staff)
    prefix = f"visit-{visit_a.pk}"
    r = staff.post(
        f"/return-visits/{visit_a.pk}/record/",
        {f"{prefix}-reached": "yes", f"{prefix}-satisfied": "yes", f"{prefix}-resolved": "yes"},
    )
    assert r.status_code == 302 and r["Location"] == "/return-visits/"
    visit = ReturnVisit.objects.get(pk=visit_a.pk)
    assert (visit.reached, visit.satisfied, visit.resolved) == (True, True, True)
    assert visit.recorded_by == people.centre_staff
    assert visit.grievance.events.filter(action="return_visit").exists()
    # Twice: it has moved on, nothing changes.
    r = staff.post(
        f"/return-visits/{visit_a.pk}/record/",
        {f"{prefix}-reached": "no"},
        follow=True,
    )
    assert "已经" in r.content.decode() or "already" in r.content.decode()
    assert ReturnVisit.objects.get(pk=visit_a.pk).reached is True


def test_a_call_needs_its_answers(tree, people, visit_a):
    prefix = f"visit-{visit_a.pk}"
    r = client_for(people.centre_staff).post(
        f"/return-visits/{visit_a.pk}/record/", {f"{prefix}-reached": "yes"}
    )
    assert r.status_code == 400
    assert 'class="field__errors"' in r.content.decode()
    assert not ReturnVisit.objects.get(pk=visit_a.pk).is_recorded
    # "Not reached" needs nothing more.
    r = client_for(people.centre_staff).post(
        f"/return-visits/{visit_a.pk}/record/", {f"{prefix}-reached": "no"}
    )
    assert r.status_code == 302
    assert ReturnVisit.objects.get(pk=visit_a.pk).reached is False


def test_record_and_reopen_in_one_go(tree, people, visit_a):
    prefix = f"visit-{visit_a.pk}"
    data = {
        f"{prefix}-reached": "yes",
        f"{prefix}-satisfied": "no",
        f"{prefix}-resolved": "no",
        f"{prefix}-note": "挡墙还在漏水",
        "reopen": "1",
    }
    r = client_for(people.centre_staff).post(f"/return-visits/{visit_a.pk}/record/", data)
    assert r.status_code == 302
    case = Grievance.objects.get(pk=visit_a.grievance_id)
    assert case.state == State.IN_PROGRESS and case.redo_count == 1
    assert ReturnVisit.objects.get(pk=visit_a.pk).resolved is False


def test_reopen_only_when_not_resolved(tree, people, visit_a):
    prefix = f"visit-{visit_a.pk}"
    data = {
        f"{prefix}-reached": "yes",
        f"{prefix}-satisfied": "yes",
        f"{prefix}-resolved": "yes",
        "reopen": "1",
    }
    r = client_for(people.centre_staff).post(f"/return-visits/{visit_a.pk}/record/", data)
    assert r.status_code == 400
    assert not ReturnVisit.objects.get(pk=visit_a.pk).is_recorded
    assert Grievance.objects.get(pk=visit_a.grievance_id).state == State.CLOSED


def test_reopen_after_the_call(tree, people, visit_a):
    staff = client_for(people.centre_staff)
    prefix = f"visit-{visit_a.pk}"
    staff.post(
        f"/return-visits/{visit_a.pk}/record/",
        {f"{prefix}-reached": "yes", f"{prefix}-satisfied": "no", f"{prefix}-resolved": "no"},
    )
    html = staff.get("/return-visits/", {"status": "recorded"}).content.decode()
    assert f'action="/return-visits/{visit_a.pk}/reopen/"' in html
    # A reason is needed.
    r = staff.post(f"/return-visits/{visit_a.pk}/reopen/", {f"reopen-{visit_a.pk}-reason": ""})
    assert r.status_code == 400
    r = staff.post(
        f"/return-visits/{visit_a.pk}/reopen/", {f"reopen-{visit_a.pk}-reason": "回访说没解决"}
    )
    assert r.status_code == 302
    assert Grievance.objects.get(pk=visit_a.grievance_id).state == State.IN_PROGRESS
    # Again: the case has moved on (no longer closed) — said, nothing done.
    r = staff.post(
        f"/return-visits/{visit_a.pk}/reopen/",
        {f"reopen-{visit_a.pk}-reason": "再次"},
        follow=True,
    )
    assert r.status_code == 200 and "message--warning" in r.content.decode()
    assert Grievance.objects.get(pk=visit_a.grievance_id).redo_count == 1


def test_reopen_too_late_is_said_and_saves_nothing(tree, people, visit_a):
    prefix = f"visit-{visit_a.pk}"
    with time_machine.travel(at(2026, 11, 20, 10), tick=False):
        r = client_for(people.centre_staff).post(
            f"/return-visits/{visit_a.pk}/record/",
            {
                f"{prefix}-reached": "yes",
                f"{prefix}-satisfied": "no",
                f"{prefix}-resolved": "no",
                "reopen": "1",
            },
            follow=True,
        )
    assert "message--warning" in r.content.decode()
    assert not ReturnVisit.objects.get(pk=visit_a.pk).is_recorded
    assert Grievance.objects.get(pk=visit_a.grievance_id).state == State.CLOSED


def test_a_visit_outside_the_area_is_404(tree, people, visit_a):
    prefix = f"visit-{visit_a.pk}"
    r = client_for(people.sibling_staff).post(
        f"/return-visits/{visit_a.pk}/record/", {f"{prefix}-reached": "no"}
    )
    assert r.status_code == 404
    assert not ReturnVisit.objects.get(pk=visit_a.pk).is_recorded


# --- In a real browser: the charts draw, the map works without tiles, screenshots ---------


def _seed_months(people) -> None:
    """A few cases in each month from May to September, some rated, for the trend."""
    from tests.evaluation.conftest import walk

    for month, count in ((5, 2), (6, 4), (7, 3), (8, 6), (9, 5)):
        for i in range(count):
            day = 4 + i * 3
            case = step(
                at(2026, month, day, 9),
                new_case,
                people.grid_worker,
                title=f"{month}月第{i + 1}件",
                category=("hazard.environment", "hazard.road", "dispute.neighbours")[i % 3],
            )
            if case.category.is_dispute:
                continue
            case = walk(
                people,
                case,
                accepted=at(2026, month, day, 9, 30),
                dispatched=at(2026, month, day, 10),
                reported_in=at(2026, month, day, 10, 30),
                handled=at(2026, month, day + 1, 11),
                closed=at(2026, month, day + 1, 15),
            )
            step(
                at(2026, month, day + 1, 16),
                returnvisits.services.grievance_rate,
                case,
                None,
                score=5 - (i % 3),
                resolved=i % 4 != 3,
                via_tracking=True,
            )


def _canvas_pixels(page, selector: str) -> int:
    return page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector + " canvas");
            if (!canvas) return 0;
            const context = canvas.getContext("2d");
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
            return painted;
        }""",
        selector,
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_and_rankings_in_a_browser(
    tree, people, depts, october, settings, live_server, browser_page, screenshots_dir
):
    _seed_months(people)
    # Tiles that never load (no internet here): the map must still draw areas and heat.
    settings.MAP_TILE_URL = f"{live_server.url}/no-tiles/{{z}}/{{x}}/{{y}}.png"
    settings.RANKING_SIZE = 1
    page = browser_page
    with time_machine.travel(NOW, tick=True):
        figures.rebuild(now=NOW)
        staff = Client()
        staff.force_login(people.leader)
        page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": staff.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        page.goto(f"{live_server.url}/dashboard/?period=this_year")
        page.wait_for_selector("#dash-chart-rates canvas")
        page.wait_for_selector("#dash-map path.leaflet-interactive")
        page.wait_for_selector("#dash-map .leaflet-heatmap-layer")
        assert page.locator("h1").first.inner_text().strip() == "数据看板"
        assert _canvas_pixels(page, "#dash-chart-intake") > 1000
        assert _canvas_pixels(page, "#dash-chart-rates") > 1000
        assert page.locator("#dash-map path.leaflet-interactive").count() == 2
        page.wait_for_selector("#dash-map-note:not([hidden])")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshots_dir / "dashboard-375.png"), full_page=True)

        # htmx: choosing a township swaps the results and draws again.
        page.select_option("#dash-region", tree.town_a.code)
        browser_fixtures.wait_until(
            page,
            "document.querySelector('.dash-scope [aria-current]').textContent.includes('泽当街道')",
        )
        page.wait_for_selector("#dash-chart-rates canvas")
        assert _canvas_pixels(page, "#dash-chart-rates") > 1000
        assert f"region={tree.town_a.code}" in page.url

        page.set_viewport_size(browser_fixtures.DESKTOP)
        page.goto(f"{live_server.url}/dashboard/?period=this_year")
        page.wait_for_selector("#dash-map .leaflet-heatmap-layer")
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshots_dir / "dashboard-1280.png"), full_page=True)

        # The centre's return visits: the call recorded in the page.
        visit = returnvisits.return_visit_schedule(october.a.pk)
        centre = Client()
        centre.force_login(people.centre_staff)
        page.context.clear_cookies()
        page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": centre.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        page.set_viewport_size({"width": 375, "height": 812})
        page.goto(f"{live_server.url}/return-visits/")
        page.click(f"#visit-{visit.pk} .act__button")
        page.screenshot(path=str(screenshots_dir / "return-visits-375.png"), full_page=True)
        page.check(f"#visit-{visit.pk} input[name$='-reached'][value='yes']")
        page.check(f"#visit-{visit.pk} input[name$='-satisfied'][value='no']")
        page.check(f"#visit-{visit.pk} input[name$='-resolved'][value='no']")
        with page.expect_navigation():
            page.click(f"#visit-{visit.pk} button[name='reopen'][value='1']")
        assert page.locator(".message--success").count() == 1
        assert Grievance.objects.get(pk=october.a.pk).state == State.IN_PROGRESS

        page.set_viewport_size(browser_fixtures.DESKTOP)
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/rankings/?month=2026-10")
        assert page.locator("h1").first.inner_text().strip()
        assert "泽当街道" in page.locator(".rank-list--red").inner_text()
        page.screenshot(path=str(screenshots_dir / "rankings-1280.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 812})
        page.goto(f"{live_server.url}/rankings/?month=2026-10")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshots_dir / "rankings-375.png"), full_page=True)
    # The only requests that left the page went to this server; the only errors are the
    # tiles that could not load.
    assert page.foreign_requests == []
    assert all("404" in e or "Failed to load resource" in e for e in page.console_errors), (
        page.console_errors
    )
