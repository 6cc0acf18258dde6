"""The department's named officer (承办人): set when the department reports in, named or
changed by the department's head (an event on the case's timeline, a notice to the new
officer), first in their inbox (我承办的), exposed by the API and scoped like every other act."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dispatch import services as dispatch_services
from dispatch.models import Assignment, DepartmentMembership, DepartmentRole
from grievances.models import CaseEvent, Grievance, State
from grievances.relay import relay_batch
from notifications.models import Notification
from tests.factories import UserFactory
from tests.grievances.conftest import advance, as_user, new_case

pytestmark = pytest.mark.django_db

INBOX = "/inbox/"


@pytest.fixture
def bureau(depts):
    """The transport bureau: its head 李局, and two more officers besides transport_staff."""
    head = UserFactory(username="transport_head", full_name="李局")
    DepartmentMembership.objects.create(
        user=head, department=depts.transport, role=DepartmentRole.HEAD
    )
    officers = []
    for username, name in (("zhangsan", "张三"), ("lisi", "李四")):
        user = UserFactory(username=username, full_name=name)
        DepartmentMembership.objects.create(user=user, department=depts.transport)
        officers.append(user)
    return type("Bureau", (), {"head": head, "zhang": officers[0], "li": officers[1]})


def whistled(people, depts, title="挡墙险情", departments=None) -> Grievance:
    case = advance(new_case(people.grid_leader, title=title), State.ACCEPTED, people)
    dispatch_services.whistle_dispatch(
        case, people.centre_staff, departments=departments or [depts.transport, depts.police]
    )
    return Grievance.objects.get(pk=case.pk)


def lead_of(case) -> Assignment:
    return Assignment.objects.get(whistle__grievance=case, role=Assignment.Role.LEAD)


def officer_url(assignment) -> str:
    return f"/api/v1/assignments/{assignment.pk}/officer/"


def client_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_text(response) -> str:
    return unescape(response.content.decode())


# --- Set at report-in ----------------------------------------------------------------------------


def test_the_member_who_reports_in_becomes_the_officer(tree, people, depts, bureau):
    case = whistled(people, depts)
    lead = lead_of(case)
    r = as_user(bureau.zhang).post(f"/api/v1/assignments/{lead.pk}/report_in/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert (r.json()["officer"], r.json()["officer_name"]) == (bureau.zhang.pk, "张三")
    # The assisting police's report-in names theirs too.
    helper = Assignment.objects.get(whistle__grievance=case, department=depts.police)
    dispatch_services.assignment_report_in(helper, depts.staff.police)
    helper.refresh_from_db()
    assert helper.officer == depts.staff.police
    whistles = as_user(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/whistles/").json()
    assert [(a["department"], a["officer_name"]) for a in whistles[0]["assignments"]] == [
        ("乃东区交通运输局", "张三"),
        ("泽当派出所", str(depts.staff.police)),
    ]


def test_report_in_through_the_case_names_the_member_too(tree, people, depts, bureau):
    case = whistled(people, depts)
    r = as_user(bureau.li).post(f"/api/v1/grievances/{case.pk}/report_in/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert lead_of(case).officer == bureau.li


def test_the_head_names_another_officer_at_report_in_a_plain_member_may_not(
    tree, people, depts, bureau
):
    case = whistled(people, depts)
    lead = lead_of(case)
    url = f"/api/v1/assignments/{lead.pk}/report_in/"
    r = as_user(bureau.zhang).post(url, {"officer": bureau.li.pk}, format="json")
    assert r.status_code == 403
    # A member of another department is no officer of this one: 400 naming the field.
    r = as_user(bureau.head).post(url, {"officer": depts.staff.police.pk}, format="json")
    assert r.status_code == 400 and "officer" in r.json()
    assert lead_of(case).status == Assignment.Status.PENDING
    r = as_user(bureau.head).post(url, {"officer": bureau.li.pk}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["officer"] == bureau.li.pk


def test_an_officer_named_before_report_in_stays_the_officer(tree, people, depts, bureau):
    case = whistled(people, depts)
    lead = lead_of(case)
    r = as_user(bureau.head).post(officer_url(lead), {"officer": bureau.li.pk}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    dispatch_services.assignment_report_in(lead, bureau.zhang)
    assert lead_of(case).officer == bureau.li


# --- Changed by the head -------------------------------------------------------------------------


def test_the_head_reassigns_with_an_event_on_the_timeline_and_a_notice(tree, people, depts, bureau):
    case = whistled(people, depts)
    lead = lead_of(case)
    dispatch_services.assignment_report_in(lead, bureau.zhang)
    r = as_user(bureau.head).post(officer_url(lead), {"officer": bureau.li.pk}, format="json")
    assert r.status_code == 200, r.json()
    assert (r.json()["officer"], r.json()["officer_name"]) == (bureau.li.pk, "李四")
    event = CaseEvent.objects.get(grievance=case, action="officer")
    assert event.actor == bureau.head and event.actor_label == "乃东区交通运输局"
    assert (event.data["previous"], event.data["officer"]) == ("张三", "李四")
    assert not event.public  # the resident follows the department, not its staff
    # Naming the same officer again writes nothing.
    as_user(bureau.head).post(officer_url(lead), {"officer": bureau.li.pk}, format="json")
    assert CaseEvent.objects.filter(grievance=case, action="officer").count() == 1

    relay_batch()
    assert set(
        Notification.objects.filter(event=event).values_list("recipient__username", flat=True)
    ) == {"lisi"}

    page = page_text(client_as(people.centre_staff).get(f"/cases/{case.pk}/"))
    assert "Officer assigned" in page or "承办人" in page
    assert "乃东区交通运输局: 张三 → 李四" in page or "乃东区交通运输局：张三 → 李四" in page
    assert re.search(r'class="assignment__officer">[^<]*李四', page)


def test_only_the_head_reassigns_and_only_inside_the_scope(tree, people, depts, bureau):
    case = whistled(people, depts)
    lead = lead_of(case)
    data = {"officer": bureau.li.pk}
    # A plain officer of the department, and the centre (which chooses departments, not
    # people): found, refused.
    assert as_user(bureau.zhang).post(officer_url(lead), data, format="json").status_code == 403
    r = as_user(people.centre_staff).post(officer_url(lead), data, format="json")
    assert r.status_code == 403
    # Another department does not find it.
    r = as_user(depts.staff.labour).post(officer_url(lead), data, format="json")
    assert r.status_code == 404
    # The head of another department neither.
    other_head = UserFactory(username="labour_head")
    DepartmentMembership.objects.create(
        user=other_head, department=depts.labour, role=DepartmentRole.HEAD
    )
    assert as_user(other_head).post(officer_url(lead), data, format="json").status_code == 404
    # Bad input: a field error, never a 500.
    head = as_user(bureau.head)
    for bad in ({}, {"officer": "x"}, {"officer": 0}, {"officer": 2**70}):
        r = head.post(officer_url(lead), bad, format="json")
        assert r.status_code == 400 and "officer" in r.json(), bad
    r = head.post(officer_url(lead), {"officer": people.grid_worker.pk}, format="json")
    assert r.status_code == 400 and "officer" in r.json()
    assert lead_of(case).officer_id is None
    # A closed assignment keeps its officer.
    dispatch_services.assignment_return(lead, bureau.zhang, reason="非本部门职责")
    r = head.post(officer_url(lead), data, format="json")
    assert r.status_code == 409


# --- The inbox -----------------------------------------------------------------------------------


def inbox_codes(response) -> dict[str, list[str]]:
    out = {}
    for key, body in re.findall(
        r'<section class="inbox-group inbox-group--(\w+)"(.*?)</section>',
        page_text(response),
        re.S,
    ):
        out[key] = re.findall(r'class="mono inbox-item__code" href="/cases/\d+/">([^<]+)<', body)
    return out


def test_the_inbox_shows_mine_first_then_the_departments(tree, people, depts, bureau):
    first = whistled(people, depts, title="先派", departments=[depts.transport])
    second = whistled(people, depts, title="后派", departments=[depts.transport])
    third = whistled(people, depts, title="再派", departments=[depts.transport])
    dispatch_services.assignment_set_officer(lead_of(third), bureau.head, officer_id=bureau.li.pk)
    for case in (first, second):
        dispatch_services.assignment_report_in(lead_of(case), bureau.zhang)
    dispatch_services.assignment_set_officer(lead_of(second), bureau.head, officer_id=bureau.li.pk)

    li = client_as(bureau.li)
    r = li.get(INBOX)
    groups = inbox_codes(r)
    assert groups["report_in"] == [third.display_code]
    # Both in progress: 李四's own first though it was dispatched later.
    assert groups["in_progress"] == [second.display_code, first.display_code]
    page = page_text(r)
    assert page.count("badge badge--officer") == 2
    assert "Officer: 张三" in page or "承办人：张三" in page
    # 我承办的 only.
    groups = inbox_codes(li.get(INBOX, {"officer": "me"}))
    assert groups["in_progress"] == [second.display_code]
    assert groups["report_in"] == [third.display_code]
    # 张三 sees the same cases in the other order.
    groups = inbox_codes(client_as(bureau.zhang).get(INBOX))
    assert groups["in_progress"] == [first.display_code, second.display_code]


def test_the_head_reassigns_from_the_inbox_a_member_has_no_such_form(tree, people, depts, bureau):
    case = whistled(people, depts, departments=[depts.transport])
    lead = lead_of(case)
    dispatch_services.assignment_report_in(lead, bureau.zhang)
    form_action = f'action="/inbox/{lead.pk}/officer/"'
    assert form_action not in page_text(client_as(bureau.zhang).get(INBOX))
    head = client_as(bureau.head)
    page = page_text(head.get(INBOX))
    assert form_action in page and f'<option value="{bureau.li.pk}">李四</option>' in page

    assert client_as(bureau.zhang).post(f"/inbox/{lead.pk}/officer/", {}).status_code == 403
    assert client_as(depts.staff.labour).post(f"/inbox/{lead.pk}/officer/").status_code == 404
    r = head.post(f"/inbox/{lead.pk}/officer/", {"officer": depts.staff.police.pk})
    assert r.status_code == 400 and "field__errors" in page_text(r)
    r = head.post(f"/inbox/{lead.pk}/officer/", {"officer": bureau.li.pk})
    assert r.status_code == 302 and r.url == INBOX
    assert lead_of(case).officer == bureau.li


def _inbox_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(INBOX).status_code == 200
    return len(ctx.captured_queries)


def test_the_heads_inbox_costs_the_same_queries_for_few_or_many(
    tree, people, depts, bureau, django_assert_max_num_queries
):
    def make(n):
        for i in range(n):
            case = whistled(people, depts, title=f"派单{i}")
            if i % 2:
                dispatch_services.assignment_report_in(lead_of(case), bureau.zhang)

    head = client_as(bureau.head)
    make(3)
    _inbox_queries(head)
    few = _inbox_queries(head)
    make(12)
    assert _inbox_queries(head) == few
    with django_assert_max_num_queries(16):
        head.get(INBOX)


# --- The API's list ------------------------------------------------------------------------------


def test_the_api_lists_mine_first_and_filters_my_own(tree, people, depts, bureau):
    first = whistled(people, depts, title="先派", departments=[depts.transport])
    second = whistled(people, depts, title="后派", departments=[depts.transport])
    dispatch_services.assignment_set_officer(lead_of(second), bureau.head, officer_id=bureau.li.pk)
    li = as_user(bureau.li)
    rows = li.get("/api/v1/assignments/", {"mine": 1}).json()["results"]
    assert [r["grievance"] for r in rows] == [second.pk, first.pk]
    rows = li.get("/api/v1/assignments/", {"assigned_to_me": "true"}).json()["results"]
    assert [r["grievance"] for r in rows] == [second.pk]
