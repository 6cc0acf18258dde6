"""The console (/console/: the centre's queue, filters, bulk dispatch of routing proposals)
and the department inbox (/inbox/: four groups, report in / refuse / return / note)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from dispatch import selectors
from dispatch import services as dispatch_services
from dispatch.models import Assignment, Department, RoutingRule, Whistle
from grids.models import Role
from grids.workcalendar import WorkCalendar, set_regional_holidays
from grievances import services
from grievances.models import CaseEvent, Category, Grievance, State
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import POINT_B1, advance, at, new_case

pytestmark = pytest.mark.django_db

CONSOLE = "/console/"
BULK = "/console/dispatch/"
INBOX = "/inbox/"

_clients: dict[int, Client] = {}


@pytest.fixture(autouse=True)
def _fresh_clients():
    _clients.clear()
    yield
    _clients.clear()


def client_as(user) -> Client:
    client = _clients.get(user.pk)
    if client is None:
        client = Client()
        client.force_login(user)
        _clients[user.pk] = client
    return client


def text_of(response) -> str:
    return unescape(response.content.decode())


def codes_in(response) -> list[str]:
    """Case codes of the console's rows, in order."""
    return re.findall(
        r'class="mono" href="/cases/\d+/">([0-9A-Z]{4}-[0-9A-Z]{4})<', text_of(response)
    )


def shown_messages(response) -> str:
    return " ".join(re.findall(r'<li class="message[^"]*">(.*?)</li>', text_of(response), re.S))


def category(code: str) -> Category:
    return Category.objects.get(code=code)


def accepted(people, **kwargs) -> Grievance:
    # Reported by the grid leader of 江塘村, whose area holds both of its grids.
    return advance(new_case(people.grid_leader, **kwargs), State.ACCEPTED, people)


def whistled(people, departments, **kwargs) -> Grievance:
    """A case of 江塘村 whistled by the township centre to `departments` (lead first)."""
    case = accepted(people, **kwargs)
    dispatch_services.whistle_dispatch(case, people.centre_staff, departments=departments)
    return Grievance.objects.get(pk=case.pk)


def assignment(case, department) -> Assignment:
    return Assignment.objects.get(whistle__grievance=case, department=department)


@pytest.fixture
def county_staff(tree):
    return make_member("county_staff", tree.county, Role.CENTRE_STAFF)


# --- Who opens the console ------------------------------------------------------------------------


def test_console_is_for_centre_staff(tree, people, depts):
    r = Client().get(CONSOLE)
    assert r.status_code == 302 and "login" in r.url
    r = Client().post(BULK, {"case": [1]})
    assert r.status_code == 302 and "login" in r.url
    for user in (people.grid_worker, people.leader, depts.staff.transport):
        assert client_as(user).get(CONSOLE).status_code == 403
        assert client_as(user).post(BULK, {"case": [1]}).status_code == 403
    assert client_as(people.centre_staff).get(CONSOLE).status_code == 200
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert client_as(admin).get(CONSOLE).status_code == 200
    assert client_as(people.centre_staff).get(BULK).status_code == 405


def test_console_shows_the_centres_open_cases_only(tree, people, county_staff):
    mine = new_case(people.grid_worker, title="A江塘村积水")
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    sibling = new_case(b_worker, title="B克松村积水", point=POINT_B1)
    closed = advance(new_case(people.grid_worker, title="A已办结"), State.CLOSED, people)
    assert closed.state == State.CLOSED

    town_a = text_of(client_as(people.centre_staff).get(CONSOLE))
    assert mine.title in town_a and sibling.title not in town_a and "A已办结" not in town_a
    town_b = text_of(client_as(people.sibling_staff).get(CONSOLE))
    assert sibling.title in town_b and mine.title not in town_b
    county = text_of(client_as(county_staff).get(CONSOLE))
    assert mine.title in county and sibling.title in county
    # The other tree's centre sees neither.
    outsider = text_of(client_as(people.outsider).get(CONSOLE))
    assert mine.title not in outsider and sibling.title not in outsider


def test_an_escalated_case_moves_to_the_console_above(tree, people, county_staff):
    case = accepted(people, title="A上交县级")
    services.grievance_escalate(case, people.centre_staff, reason="乡镇无法化解")
    assert "A上交县级" in text_of(client_as(county_staff).get(CONSOLE))
    # Still in the township's scope (its region), no longer its centre's to act on.
    assert "A上交县级" not in text_of(client_as(people.centre_staff).get(CONSOLE))


# --- Filters --------------------------------------------------------------------------------------


def test_filters_overdue_due_today_department_risk_and_subtree(tree, people, depts):
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=False):
        # Report-in due within the hour (an urgent road hazard: one working hour).
        road = whistled(people, [depts.transport], category="hazard.road", title="A路面塌陷")
        # Reported in at once: the handling deadline is days away.
        calm = whistled(people, [depts.labour], category="hazard.environment", title="A垃圾堆放")
        dispatch_services.assignment_report_in(assignment(calm, depts.labour), depts.staff.labour)
        risky = accepted(
            people, title="A邻里纠纷", category="dispute.neighbours", risk_petition=True
        )
        other_grid = new_case(people.grid_leader, title="A第二网格", point=(91.2, 29.2))
    assert road.report_in_due_at.astimezone(selectors.SH).date() == date(2026, 3, 2)
    client = client_as(people.centre_staff)

    def titles(**params) -> set[str]:
        return set(
            re.findall(r'<a href="/cases/\d+/">([^<]+)</a>', text_of(client.get(CONSOLE, params)))
        )

    with time_machine.travel(at(2026, 3, 2, 10, 0), tick=False):
        assert titles() == {"A路面塌陷", "A垃圾堆放", "A邻里纠纷", "A第二网格"}
        assert titles(due_today="true") == {"A路面塌陷"}
        assert titles(overdue="true") == set()
        assert titles(department=depts.transport.pk) == {"A路面塌陷"}
        assert titles(department=depts.labour.pk) == {"A垃圾堆放"}
        assert titles(risk="petition") == {"A邻里纠纷"}
        assert titles(state="accepted") == {"A邻里纠纷"}
        assert titles(region=tree.grid_a2.code) == {"A第二网格"}
        assert titles(category="dispute") == {"A邻里纠纷"}
    # The handling deadline (one working day) is tomorrow 09:00: due today then, too.
    assert road.handle_due_at == at(2026, 3, 3, 9, 0)
    with time_machine.travel(at(2026, 3, 3, 10, 0), tick=False):
        assert titles(overdue="true") == {"A路面塌陷"}
        assert titles(due_today="true") == {"A路面塌陷"}
    with time_machine.travel(at(2026, 3, 4, 10, 0), tick=False):
        assert titles(overdue="true") == {"A路面塌陷"}
        assert titles(due_today="true") == set()
    # A department outside the centre's reach is not a choice: a form error, not a leak.
    r = client.get(CONSOLE, {"department": depts.other.pk})
    assert r.status_code == 200 and "field__errors" in text_of(r)
    assert {risky.pk, other_grid.pk}  # made above


def test_htmx_gets_the_results_only(tree, people):
    new_case(people.grid_worker, title="A随手拍")
    client = client_as(people.centre_staff)
    r = client.get(CONSOLE, {"state": "submitted"}, headers={"HX-Request": "true"})
    body = text_of(r)
    assert r.status_code == 200 and "<html" not in body and "console-table" in body
    assert "HX-Request" in r.headers["Vary"]
    page = text_of(client.get(CONSOLE))
    assert 'hx-get="/console/"' in page and 'hx-target="#console-results"' in page
    assert 'method="get"' in page


def test_the_map_shows_the_page_cases_with_a_point_and_follows_the_filters(tree, people, depts):
    import json

    pinned = new_case(people.grid_worker, title="有坐标的案件")
    late = whistled(people, [depts.police], title="超期的案件")
    Grievance.objects.filter(pk=late.pk).update(report_in_due_at=at(2020, 1, 1, 9))
    by_hand = new_case(people.grid_worker, title="手选网格的案件", region=tree.grid_a1)
    client = client_as(people.centre_staff)

    def points(response) -> dict[str, dict]:
        raw = re.search(
            r'<script id="console-map-points" type="application/json">(.*?)</script>',
            response.content.decode(),
            re.S,
        ).group(1)
        return {p["code"]: p for p in json.loads(raw)}

    page = client.get(CONSOLE)
    shown = points(page)
    assert set(shown) == {pinned.display_code, late.display_code}  # no point: not on the map
    assert by_hand.display_code not in shown
    assert shown[late.display_code]["late"] and not shown[pinned.display_code]["late"]
    assert shown[pinned.display_code]["url"] == f"/cases/{pinned.pk}/"
    assert (shown[pinned.display_code]["lng"], shown[pinned.display_code]["lat"]) == (91.2, 29.7)
    assert 'id="console-map"' in page.content.decode()
    # The htmx results carry their own points: the map follows the filters.
    r = client.get(CONSOLE, {"overdue": "true"}, headers={"HX-Request": "true"})
    assert set(points(r)) == {late.display_code}


# --- Ordering -------------------------------------------------------------------------------------


def test_needs_you_first_by_priority_then_deadlines_overdue_first(tree, people, depts):
    with time_machine.travel(at(2026, 3, 2, 8, 0), tick=True) as clock:
        slow = accepted(people, title="最早上报最后派单")  # whistled on 03-04 below
        clock.move_to(at(2026, 3, 2, 9, 0))
        early = whistled(people, [depts.transport], category="hazard.road", title="先派")
        clock.move_to(at(2026, 3, 4, 9, 0))
        late = whistled(people, [depts.labour], title="后派")
        plain = new_case(people.grid_worker, title="普通上报")
        clock.move_to(at(2026, 3, 4, 9, 20))
        dispatch_services.whistle_dispatch(slow, people.centre_staff, departments=[depts.labour])
        clock.move_to(at(2026, 3, 4, 9, 30))
        risky = new_case(people.grid_worker, title="极端风险上报", risk_extreme=True)
        handled = advance(new_case(people.grid_worker, title="待核查"), State.HANDLED, people)
    assert risky.priority > plain.priority == handled.priority
    with time_machine.travel(at(2026, 3, 4, 10, 0), tick=False):
        r = client_as(people.centre_staff).get(CONSOLE)
    # Needs you: the riskier report first although newer, then the older of equal priority.
    # Then the cases with the departments by deadline, the overdue one (its report-in was
    # missed on 03-02) first, whatever the order they were reported in.
    assert codes_in(r) == [
        c.display_code
        for c in (risky, plain, handled, early, late, Grievance.objects.get(pk=slow.pk))
    ]
    page = text_of(r)
    assert page.count("due due--overdue") == 1
    needs_you = page.index('id="console-group-needs_you"')
    assert needs_you < page.index('id="console-group-with_handlers"')


def test_countdowns_count_working_time(tree, people, depts):
    # Whistled Friday 17:30: an urgent road hazard reports in within one working hour, i.e.
    # by Monday 09:00 (half an hour on Friday, half an hour on Monday).
    with time_machine.travel(at(2026, 3, 6, 17, 30), tick=False):
        case = whistled(people, [depts.transport], category="hazard.road", title="周五派单")
    assert case.report_in_due_at == at(2026, 3, 9, 9, 0)
    calendar = WorkCalendar(case.region_id)
    with translation.override("en"):
        # Saturday: two days away on the wall clock, half an hour of working time.
        due = selectors.case_countdown(case, calendar, at(2026, 3, 7, 10, 0))
        assert (due.kind, due.text, due.at) == ("later", "Due in 30 min", case.report_in_due_at)
        # Monday 11:00: two working hours late.
        due = selectors.case_countdown(case, calendar, at(2026, 3, 9, 11, 0))
        assert (due.kind, due.text) == ("overdue", "Overdue by 2 h")
        # Monday 08:45, a quarter of an hour to go, today.
        due = selectors.case_countdown(case, calendar, at(2026, 3, 9, 8, 45))
        assert (due.kind, due.text) == ("today", "Due in 15 min")
        # Suspended: the clock stops.
        case.suspended_at = at(2026, 3, 7, 10, 0)
        assert selectors.case_countdown(case, calendar, at(2026, 3, 9, 11, 0)).kind == "paused"
    with time_machine.travel(at(2026, 3, 7, 10, 0), tick=False):
        page = text_of(client_as(people.centre_staff).get(CONSOLE, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Due in 30 min" in page


def test_working_duration_reads_in_working_days():
    with translation.override("en"):
        day = timedelta(hours=7)
        assert selectors.working_duration(timedelta(hours=16), day) == "2 working days 2 h"
        assert selectors.working_duration(timedelta(hours=7), day) == "1 working day"
        assert selectors.working_duration(timedelta(hours=3, minutes=5), day) == "3 h 5 min"


# --- Routing proposals ----------------------------------------------------------------------------


def _rule(cat: str, region, lead: Department, *assisting: Department) -> RoutingRule:
    rule = RoutingRule.objects.create(category=category(cat), region=region, lead=lead)
    rule.assisting.add(*assisting)
    return rule


def _same(a: dispatch_services.Proposal, b: dispatch_services.Proposal) -> bool:
    return (
        (a.rule and a.rule.pk) == (b.rule and b.rule.pk)
        and (a.lead and a.lead.pk) == (b.lead and b.lead.pk)
        and [d.pk for d in a.assisting] == [d.pk for d in b.assisting]
        and a.handling_level == b.handling_level
        and {r.pk for r in a.conflict} == {r.pk for r in b.conflict}
    )


def test_bulk_proposals_agree_with_propose(tree, people, depts, django_assert_max_num_queries):
    _rule("hazard", tree.county, depts.labour)
    _rule("hazard.road", tree.county, depts.transport, depts.police, depts.transport)
    _rule("hazard.road", tree.town_a, depts.police)  # deeper region wins in township A
    _rule("dispute.neighbours", tree.village_a, depts.police)
    _rule("dispute.neighbours", tree.village_a, depts.labour)  # a conflict
    _rule("hazard.road", tree.other_county, depts.other)
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    cases = [
        new_case(people.grid_worker, category="hazard.road"),
        new_case(people.grid_worker, category="hazard.environment"),
        new_case(people.grid_worker, category="dispute.neighbours"),
        new_case(people.grid_worker, category="hardship.elderly"),
        new_case(b_worker, category="hazard.road", point=POINT_B1),
        new_case(b_worker, category="dispute.neighbours", point=POINT_B1),
        new_case(people.outsider, region=tree.other_county, category="hazard.road"),
    ]
    loaded = list(
        Grievance.objects.filter(pk__in=[c.pk for c in cases]).select_related("category", "region")
    )
    with django_assert_max_num_queries(2):
        bulk = selectors.proposals_for(loaded)
    for case in loaded:
        assert _same(bulk[case.pk], dispatch_services.propose(case)), case.category.code
    # And they differ where they should: the township rule, the conflict, no rule at all.
    by_code = {(c.category.code, c.region_id): bulk[c.pk] for c in loaded}
    assert by_code[("hazard.road", tree.grid_a1.pk)].lead == depts.police
    assert by_code[("hazard.road", tree.grid_b1.pk)].lead == depts.transport
    assert by_code[("hazard.road", tree.grid_b1.pk)].assisting == [depts.police]
    assert len(by_code[("dispute.neighbours", tree.grid_a1.pk)].conflict) == 2
    assert by_code[("dispute.neighbours", tree.grid_b1.pk)].lead is None
    assert by_code[("hardship.elderly", tree.grid_a1.pk)].lead is None


def test_calendars_for_agrees_with_one_calendar_per_region(tree):
    set_regional_holidays(tree.city, [date(2026, 3, 3)], "藏历新年")
    other = WorkCalendar(tree.other_county.pk)
    regions = [tree.grid_a1, tree.grid_b1, tree.other_county, tree.county]
    shared = selectors.calendars_for(regions)
    start, end = at(2026, 3, 2, 9), at(2026, 3, 5, 9)
    for region in regions:
        expected = WorkCalendar(region.pk).working_time_between(start, end)
        assert shared[region.pk].working_time_between(start, end) == expected
    assert shared[tree.grid_a1.pk].working_time_between(start, end) < other.working_time_between(
        start, end
    )


# --- Bulk dispatch --------------------------------------------------------------------------------


def test_bulk_dispatch_of_the_proposals(tree, people, depts):
    _rule("hazard.road", tree.county, depts.transport, depts.police)
    first = accepted(people, category="hazard.road", title="A挡墙一")
    second = accepted(people, category="hazard.road", title="A挡墙二")
    no_rule = accepted(people, category="hazard.environment", title="A无规则")
    client = client_as(people.centre_staff)
    page = text_of(client.get(CONSOLE))
    # Checkboxes on the cases with a proposal only, and the proposal shown.
    assert f'name="case" value="{first.pk}"' in page and f'name="case" value="{second.pk}"' in page
    assert f'name="case" value="{no_rule.pk}"' not in page
    assert "乃东区交通运输局" in page and "泽当派出所" in page
    assert 'action="/console/dispatch/"' in page and "csrfmiddlewaretoken" in page

    r = client.post(
        BULK,
        {"case": [no_rule.pk, first.pk, second.pk], "query": "state=accepted"},
        follow=True,
    )
    assert r.redirect_chain == [("/console/?state=accepted", 302)]
    shown = shown_messages(r)
    assert no_rule.display_code in shown and "message--error" in text_of(r)
    for case in (first, second):
        case.refresh_from_db()
        assert case.state == State.DISPATCHED
        roles = dict(
            Assignment.objects.filter(whistle__grievance=case).values_list(
                "department__code", "role"
            )
        )
        assert roles == {"nd-transport": "lead", "zd-police": "assisting"}
        assert case.display_code in shown
    no_rule.refresh_from_db()
    assert no_rule.state == State.ACCEPTED and not Whistle.objects.filter(grievance=no_rule)


def test_bulk_dispatch_refuses_cases_outside_the_queue(tree, people, depts):
    _rule("hazard.road", tree.county, depts.transport)
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    theirs = new_case(b_worker, category="hazard.road", point=POINT_B1)
    services.grievance_accept(theirs, people.sibling_staff)
    mine = accepted(people, category="hazard.road")
    r = client_as(people.centre_staff).post(BULK, {"case": [theirs.pk, mine.pk, "x"]}, follow=True)
    assert f"#{theirs.pk}" in shown_messages(r)
    assert Grievance.objects.get(pk=theirs.pk).state == State.ACCEPTED
    assert Grievance.objects.get(pk=mine.pk).state == State.DISPATCHED
    # Twice: the second time the case has moved on, and says so.
    r = client_as(people.centre_staff).post(BULK, {"case": [mine.pk]}, follow=True)
    assert mine.display_code in shown_messages(r)
    assert Whistle.objects.filter(grievance=mine).count() == 1
    # Nothing ticked.
    r = client_as(people.centre_staff).post(BULK, {}, follow=True)
    assert r.redirect_chain == [("/console/", 302)] and "message--warning" in text_of(r)


def test_conflicting_rules_show_a_banner(tree, people, depts):
    _rule("hazard.road", tree.county, depts.transport)
    case = accepted(people, category="hazard.road", title="A挡墙")
    page = text_of(client_as(people.centre_staff).get(CONSOLE))
    assert "console-conflicts" not in page
    _rule("hazard.road", tree.county, depts.labour)
    page = text_of(client_as(people.centre_staff).get(CONSOLE))
    assert "console-conflicts" in page and "乃东区劳动保障监察大队" in page
    assert "route--conflict" in page and f'name="case" value="{case.pk}"' not in page
    # A conflict in the other tree is none of this centre's business.
    other = text_of(client_as(people.outsider).get(CONSOLE))
    assert "console-conflicts" not in other


# --- Query counts ---------------------------------------------------------------------------------


def _console_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(CONSOLE)
    assert r.status_code == 200
    return len(ctx.captured_queries)


def _mixed_cases(people, depts, n: int, start: int = 0) -> None:
    """n cases: accepted with a proposal, whistled, submitted, in two grids."""
    for i in range(start, start + n):
        point = (91.2, 29.7) if i % 2 else (91.2, 29.2)
        kind = i % 3
        if kind == 0:
            accepted(people, category="hazard.road", title=f"受理{i}", point=point)
        elif kind == 1:
            whistled(people, [depts.transport, depts.police], title=f"派单{i}", point=point)
        else:
            new_case(people.grid_leader, title=f"上报{i}", point=point, risk_group=True)


def test_the_console_costs_the_same_queries_for_5_or_30_cases(
    tree, people, depts, django_assert_max_num_queries
):
    _rule("hazard.road", tree.county, depts.transport, depts.labour)
    client = client_as(people.centre_staff)
    _mixed_cases(people, depts, 5)
    _console_queries(client)  # warm the calendar's year tables
    few = _console_queries(client)
    _mixed_cases(people, depts, 25, start=5)
    many = _console_queries(client)
    assert few == many
    with django_assert_max_num_queries(20):
        client.get(CONSOLE, {"state": "accepted", "department": depts.transport.pk})


def test_pages_are_bounded(tree, people):
    for i in range(27):
        new_case(people.grid_worker, title=f"上报{i:02d}")
    client = client_as(people.centre_staff)
    first = client.get(CONSOLE)
    assert len(codes_in(first)) == 25 and 'rel="next"' in text_of(first)
    second = client.get(CONSOLE, {"page": 2})
    assert len(codes_in(second)) == 2 and 'rel="prev"' in text_of(second)
    assert not set(codes_in(first)) & set(codes_in(second))
    # Past the cap or garbage: a page within the bounds, not an error.
    assert client.get(CONSOLE, {"page": 10_000}).status_code == 200
    assert codes_in(client.get(CONSOLE, {"page": "x"})) == codes_in(first)


# --- The inbox ------------------------------------------------------------------------------------


def inbox_groups(response) -> dict[str, list[str]]:
    """Case codes per inbox group."""
    page = text_of(response)
    out = {}
    for key, body in re.findall(
        r'<section class="inbox-group inbox-group--(\w+)"(.*?)</section>', page, re.S
    ):
        out[key] = re.findall(r'class="mono inbox-item__code" href="/cases/\d+/">([^<]+)<', body)
    return out


def inbox_act(assignment: Assignment, act: str) -> str:
    return f"/inbox/{assignment.pk}/{act}/"


def test_inbox_is_for_department_staff(tree, people, depts):
    r = Client().get(INBOX)
    assert r.status_code == 302 and "login" in r.url
    for user in (people.centre_staff, people.grid_worker, people.leader):
        assert client_as(user).get(INBOX).status_code == 403
    assert client_as(depts.staff.transport).get(INBOX).status_code == 200


def test_inbox_groups(tree, people, depts):
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=True) as clock:
        waiting = whistled(people, [depts.transport, depts.police], title="待签收")
        working = whistled(people, [depts.transport], title="处置中")
        dispatch_services.assignment_report_in(
            assignment(working, depts.transport), depts.staff.transport
        )
        returned = whistled(people, [depts.transport], title="已退回")
        dispatch_services.assignment_return(
            assignment(returned, depts.transport), depts.staff.transport, reason="非本部门职责"
        )
        clock.move_to(at(2026, 3, 4, 9, 0))
        late = whistled(people, [depts.transport], title="后派单")
    # Two days later, the first whistle's report-in is long missed; the last one's is not.
    with time_machine.travel(at(2026, 3, 4, 9, 10), tick=False):
        r = client_as(depts.staff.transport).get(INBOX)
        groups = inbox_groups(r)
    assert groups["overdue"] == [waiting.display_code]
    assert groups["report_in"] == [late.display_code]
    assert groups["in_progress"] == [working.display_code]
    assert groups["returned"] == [returned.display_code]
    page = text_of(r)
    assert "非本部门职责" in page and "due due--overdue" in page
    # One-click report-in and the lead's return; the lead handles on the case page.
    assert f'action="/inbox/{assignment(late, depts.transport).pk}/report_in/"' in page
    assert f'action="/inbox/{assignment(late, depts.transport).pk}/return/"' in page
    assert f'href="/cases/{working.pk}/#act-handle"' in page
    # The assisting police see their part with a refusal instead of a return.
    police = text_of(client_as(depts.staff.police).get(INBOX))
    pa = assignment(waiting, depts.police)
    assert f'action="/inbox/{pa.pk}/refuse/"' in police
    assert f'action="/inbox/{pa.pk}/return/"' not in police
    # Other departments see none of it.
    assert not any(inbox_groups(client_as(depts.staff.labour).get(INBOX)).values())


def test_report_in_refuse_and_return_through_the_page(tree, people, depts):
    case = whistled(people, [depts.transport, depts.police], title="挡墙险情")
    lead, helper = assignment(case, depts.transport), assignment(case, depts.police)
    transport, police = client_as(depts.staff.transport), client_as(depts.staff.police)

    r = transport.post(inbox_act(lead, "report_in"), {})
    assert r.status_code == 302 and r.url == INBOX
    lead.refresh_from_db()
    case.refresh_from_db()
    assert lead.status == Assignment.Status.REPORTED_IN and case.state == State.IN_PROGRESS
    # Again from a stale page: moved on, said so, nothing done twice.
    r = transport.post(inbox_act(lead, "report_in"), {}, follow=True)
    assert r.redirect_chain == [(INBOX, 302)] and "message--warning" in text_of(r)
    assert CaseEvent.objects.filter(grievance=case, action="report_in").count() == 1

    # A refusal needs a reason: the error next to the field, the form open, status 400.
    r = police.post(inbox_act(helper, "refuse"), {"reason": "  "})
    assert r.status_code == 400
    opened = rf'<details class="act act--inbox act--refuse" id="as{helper.pk}-refuse" open>'
    form = re.search(opened + r"(.*?)</details>", text_of(r), re.S)
    assert form and "field__errors" in form.group(1)
    assert f'id="as{helper.pk}-refuse-reason"' in form.group(1)
    r = police.post(inbox_act(helper, "refuse"), {"reason": "非我所职责"})
    assert r.status_code == 302
    helper.refresh_from_db()
    assert helper.status == Assignment.Status.REFUSED and helper.reason == "非我所职责"
    # The lead cannot refuse; the assisting department cannot return.
    r = transport.post(inbox_act(lead, "refuse"), {"reason": "x"}, follow=True)
    assert "message--warning" in text_of(r)
    assert assignment(case, depts.transport).status == Assignment.Status.REPORTED_IN

    r = transport.post(inbox_act(lead, "note"), {"note": "已到现场", "public": "on"})
    assert r.status_code == 302
    assert CaseEvent.objects.filter(grievance=case, action="note", public=True).exists()

    r = transport.post(inbox_act(lead, "return"), {"reason": "属于住建部门"})
    assert r.status_code == 302
    case.refresh_from_db()
    lead.refresh_from_db()
    assert case.state == State.ACCEPTED and lead.status == Assignment.Status.RETURNED
    groups = inbox_groups(transport.get(INBOX))
    assert groups["returned"] == [case.display_code]


def test_inbox_acts_are_checked(tree, people, depts):
    case = whistled(people, [depts.transport], title="挡墙险情")
    lead = assignment(case, depts.transport)
    # Another department does not find it; the centre finds it and is refused.
    assert client_as(depts.staff.labour).post(inbox_act(lead, "report_in")).status_code == 404
    assert client_as(people.centre_staff).post(inbox_act(lead, "report_in")).status_code == 403
    assert client_as(depts.staff.transport).post(inbox_act(lead, "explode")).status_code == 404
    assert client_as(depts.staff.transport).get(inbox_act(lead, "report_in")).status_code == 405
    r = Client().post(inbox_act(lead, "report_in"))
    assert r.status_code == 302 and "login" in r.url
    assert Assignment.objects.get(pk=lead.pk).status == Assignment.Status.PENDING


def _inbox_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(INBOX)
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_the_inbox_costs_the_same_queries_for_5_or_30_assignments(
    tree, people, depts, django_assert_max_num_queries
):
    def make(n, start=0):
        for i in range(start, start + n):
            point = (91.2, 29.7) if i % 2 else (91.2, 29.2)
            case = whistled(people, [depts.transport, depts.police], title=f"派单{i}", point=point)
            if i % 3 == 1:
                dispatch_services.assignment_report_in(
                    assignment(case, depts.transport), depts.staff.transport
                )
            elif i % 3 == 2:
                dispatch_services.assignment_return(
                    assignment(case, depts.transport), depts.staff.transport, reason="退回"
                )

    client = client_as(depts.staff.transport)
    make(5)
    _inbox_queries(client)
    few = _inbox_queries(client)
    make(25, start=5)
    many = _inbox_queries(client)
    assert few == many
    with django_assert_max_num_queries(15):
        client.get(INBOX)
