from __future__ import annotations

import pytest

from dispatch.models import Assignment, RoutingRule, Whistle
from grievances.models import Category
from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


def _report(people, category="hazard.road"):
    r = as_user(people.grid_worker).post(
        "/api/v1/grievances/",
        {
            "title": "挡墙险情",
            "description": "路边挡墙有垮塌风险",
            "category": category,
            "lng": 91.2,
            "lat": 29.7,
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    return r.json()["id"]


def _accepted(people, category="hazard.road"):
    cid = _report(people, category)
    r = as_user(people.centre_staff).post(f"/api/v1/grievances/{cid}/accept/", {}, format="json")
    assert r.status_code == 200
    return cid


def test_whistle_to_lead_and_assisting_then_report_in_handle_verify(tree, people, depts):
    cid = _accepted(people)
    centre = as_user(people.centre_staff)
    r = centre.post(
        f"/api/v1/grievances/{cid}/dispatch/",
        {"departments": [depts.transport.pk, depts.police.pk], "note": "请立即处置"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "dispatched"
    whistles = centre.get(f"/api/v1/grievances/{cid}/whistles/").json()
    assert [(a["department"], a["role"], a["status"]) for a in whistles[0]["assignments"]] == [
        ("乃东区交通运输局", "lead", "pending"),
        ("泽当派出所", "assisting", "pending"),
    ]

    transport = as_user(depts.staff.transport)
    inbox = transport.get("/api/v1/assignments/", {"mine": 1}).json()["results"]
    assert [a["department"]["code"] for a in inbox] == ["nd-transport"]
    lead_id = inbox[0]["id"]
    # The transport bureau's staff now see the case.
    assert transport.get(f"/api/v1/grievances/{cid}/").status_code == 200
    assert as_user(depts.staff.labour).get(f"/api/v1/grievances/{cid}/").status_code == 404

    r = transport.post(f"/api/v1/assignments/{lead_id}/report_in/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "reported_in"
    assert r.json()["case_state"] == "in_progress"

    police_inbox = as_user(depts.staff.police).get("/api/v1/assignments/", {"mine": 1}).json()
    assisting_id = police_inbox["results"][0]["id"]
    r = as_user(depts.staff.police).post(
        f"/api/v1/assignments/{assisting_id}/refuse/", {"reason": "非我所职责"}, format="json"
    )
    assert r.status_code == 200 and r.json()["status"] == "refused"

    r = transport.post(f"/api/v1/grievances/{cid}/handle/", {"result": "险情排除"}, format="json")
    assert r.status_code == 200, r.json()
    r = centre.post(f"/api/v1/grievances/{cid}/verify/", {}, format="json")
    assert r.json()["state"] == "closed"
    assert Assignment.objects.get(pk=lead_id).status == "done"
    assert Whistle.objects.get(grievance_id=cid).status == "done"


def test_department_acts_are_checked_in_order(tree, people, depts):
    cid = _accepted(people)
    as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/",
        {"departments": [depts.transport.pk, depts.police.pk]},
        format="json",
    )
    lead = Assignment.objects.get(department=depts.transport)
    assisting = Assignment.objects.get(department=depts.police)
    # Another county's department staff: not in scope at all.
    assert (
        as_user(depts.staff.other).post(f"/api/v1/assignments/{lead.pk}/report_in/").status_code
        == 404
    )
    # The assisting department sees the assignment list of the case but may not act for the lead.
    r = as_user(people.centre_staff).post(f"/api/v1/assignments/{lead.pk}/report_in/")
    assert r.status_code == 403
    # The lead cannot refuse; it returns.
    r = as_user(depts.staff.transport).post(
        f"/api/v1/assignments/{lead.pk}/refuse/", {"reason": "x"}
    )
    assert r.status_code == 409
    # Missing reason is a 400 naming the field.
    r = as_user(depts.staff.police).post(
        f"/api/v1/assignments/{assisting.pk}/refuse/", {}, format="json"
    )
    assert r.status_code == 400 and "reason" in r.json()


def test_lead_return_sends_the_case_back_and_ends_the_whistle(tree, people, depts):
    cid = _accepted(people)
    as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.labour.pk]}, format="json"
    )
    lead = Assignment.objects.get(department=depts.labour)
    r = as_user(depts.staff.labour).post(
        f"/api/v1/assignments/{lead.pk}/return/", {"reason": "不属于劳动监察职责"}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "returned" and r.json()["case_state"] == "accepted"
    assert Whistle.objects.get(grievance_id=cid).status == "returned"
    # Re-dispatch to the right department: a second whistle.
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.transport.pk]}, format="json"
    )
    assert r.status_code == 200
    assert Whistle.objects.filter(grievance_id=cid).count() == 2


def test_escalation_ends_open_whistles_as_escalated(tree, people, depts):
    cid = _accepted(people)
    centre = as_user(people.centre_staff)
    centre.post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.police.pk]}, format="json"
    )
    r = centre.post(
        f"/api/v1/grievances/{cid}/escalate/", {"reason": "村级无法解决"}, format="json"
    )
    assert r.status_code == 200, r.json()
    # The township centre (acting on the village's case) hands it to the county above it.
    assert r.json()["owning_centre"]["code"] == "540502000000"
    assert Assignment.objects.get(department=depts.police).status == "escalated"


def test_proposed_dispatch_takes_the_most_specific_rule(tree, people, depts):
    road = Category.objects.get(code="hazard.road")
    hazard = Category.objects.get(code="hazard")
    RoutingRule.objects.create(category=hazard, region=tree.county, lead=depts.police)
    specific = RoutingRule.objects.create(category=road, region=tree.county, lead=depts.transport)
    specific.assisting.add(depts.police)
    cid = _accepted(people)
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"proposed": True}, format="json"
    )
    assert r.status_code == 200, r.json()
    roles = dict(
        Assignment.objects.filter(whistle__grievance_id=cid).values_list("department__code", "role")
    )
    assert roles == {"nd-transport": "lead", "zd-police": "assisting"}


def test_equally_specific_rules_are_a_configuration_error(tree, people, depts):
    road = Category.objects.get(code="hazard.road")
    RoutingRule.objects.create(category=road, region=tree.county, lead=depts.police)
    RoutingRule.objects.create(category=road, region=tree.county, lead=depts.transport)
    cid = _accepted(people)
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"proposed": True}, format="json"
    )
    assert r.status_code == 400 and "proposed" in r.json()


def test_dispatch_needs_exactly_one_target(tree, people, depts):
    cid = _accepted(people)
    r = as_user(people.centre_staff).post(f"/api/v1/grievances/{cid}/dispatch/", {}, format="json")
    assert r.status_code == 400 and "departments" in r.json()
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [999999]}, format="json"
    )
    assert r.status_code == 400 and "departments" in r.json()


def test_case_detail_query_count_does_not_grow_with_its_history(
    tree, people, depts, django_assert_max_num_queries
):
    cid = _accepted(people)
    centre = as_user(people.centre_staff)
    transport = as_user(depts.staff.transport)
    centre.post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.transport.pk]}, format="json"
    )
    with django_assert_max_num_queries(10):
        assert transport.get(f"/api/v1/grievances/{cid}/").status_code == 200
    # A longer history: returned, re-dispatched, notes from both sides.
    lead = Assignment.objects.get(department=depts.transport)
    transport.post(f"/api/v1/assignments/{lead.pk}/return/", {"reason": "非本部门"}, format="json")
    centre.post(
        f"/api/v1/grievances/{cid}/dispatch/",
        {"departments": [depts.transport.pk, depts.police.pk]},
        format="json",
    )
    for i in range(5):
        centre.post(f"/api/v1/grievances/{cid}/note/", {"note": f"进展 {i}"}, format="json")
    with django_assert_max_num_queries(10):
        body = transport.get(f"/api/v1/grievances/{cid}/").json()
    assert len(body["events"]) >= 9
    assert "report_in" in body["available_transitions"]


def test_report_in_through_the_case_signs_the_lead_assignment_and_names_the_department(
    tree, people, depts
):
    cid = _accepted(people)
    as_user(people.centre_staff).post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.transport.pk]}, format="json"
    )
    r = as_user(depts.staff.transport).post(
        f"/api/v1/grievances/{cid}/report_in/", {}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert Assignment.objects.get(department=depts.transport).status == "reported_in"
    event = [e for e in r.json()["events"] if e["action"] == "report_in"][0]
    assert event["actor_label"] == "乃东区交通运输局"


def test_a_reopened_case_goes_back_to_the_department_that_handled_it(tree, people, depts):
    cid = _accepted(people)
    centre = as_user(people.centre_staff)
    transport = as_user(depts.staff.transport)
    centre.post(
        f"/api/v1/grievances/{cid}/dispatch/", {"departments": [depts.transport.pk]}, format="json"
    )
    transport.post(f"/api/v1/grievances/{cid}/report_in/", {}, format="json")
    transport.post(f"/api/v1/grievances/{cid}/handle/", {"result": "已修复"}, format="json")
    centre.post(f"/api/v1/grievances/{cid}/verify/", {}, format="json")
    r = centre.post(
        f"/api/v1/grievances/{cid}/reopen/", {"reason": "群众反映未修好"}, format="json"
    )
    assert r.status_code == 200 and r.json()["state"] == "in_progress"
    assert Assignment.objects.get(department=depts.transport).status == "reported_in"
    body = transport.get(f"/api/v1/grievances/{cid}/").json()
    assert "handle" in body["available_transitions"]
    r = transport.post(f"/api/v1/grievances/{cid}/handle/", {"result": "已彻底修复"}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "handled"


def test_a_reporter_does_not_see_which_departments_hold_their_case(tree, people, depts):
    """A resident who reported with an account follows the case as tracking shows it: the
    whistles, the assignments and the centre's words to the departments are the staff's."""
    from django.test import Client

    from grievances import services as case_services
    from grievances.models import Source
    from tests.factories import UserFactory
    from tests.grievances.conftest import new_case

    resident = UserFactory()
    case = new_case(resident, category="hazard.road", source=Source.RESIDENT_WEB)
    case = case_services.grievance_accept(case, people.centre_staff)
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{case.pk}/dispatch/",
        {"departments": [depts.transport.pk], "note": "内部：先联系公路段"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assignment = Assignment.objects.get(whistle__grievance=case)

    api = as_user(resident)
    assert api.get(f"/api/v1/grievances/{case.pk}/whistles/").status_code == 404
    assert api.get("/api/v1/assignments/").json()["results"] == []
    assert api.get(f"/api/v1/assignments/{assignment.pk}/").status_code == 404
    page = Client()
    page.force_login(resident)
    assert page.post(f"/inbox/{assignment.pk}/note/", {"note": "x"}).status_code == 404
    assert page.get("/console/").status_code in (403, 404)
    # Their own case is still theirs to read (as tracking shows it).
    assert api.get(f"/api/v1/grievances/{case.pk}/").status_code == 200
    # The centre sees it all.
    whistles = as_user(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/whistles/").json()
    assert [a["department"] for a in whistles[0]["assignments"]] == ["乃东区交通运输局"]


@pytest.mark.parametrize(
    "by, act, data, event",
    [
        ("police", "report_in", {}, "assist_accept"),  # the assisting department's part
        ("police", "refuse", {"reason": "非我所职责"}, "assist_refuse"),
        ("police", "note", {"note": "已派警力到场"}, "note"),
        ("transport", "note", {"note": "抢修队已出发"}, "note"),
    ],
)
def test_a_departments_answer_or_note_changes_the_case_tag(
    tree, people, depts, by, act, data, event
):
    cid = _accepted(people)
    centre = as_user(people.centre_staff)
    r = centre.post(
        f"/api/v1/grievances/{cid}/dispatch/",
        {"departments": [depts.transport.pk, depts.police.pk]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    read_before = centre.get(f"/api/v1/grievances/{cid}/")["ETag"]
    assignment = Assignment.objects.get(department=getattr(depts, by))

    r = as_user(getattr(depts.staff, by)).post(
        f"/api/v1/assignments/{assignment.pk}/{act}/", data, format="json"
    )

    assert r.status_code == 200, r.json()
    shown = centre.get(f"/api/v1/grievances/{cid}/")
    assert shown.json()["events"][-1]["action"] == event
    assert shown["ETag"] != read_before
    # The centre acting on what it read before the department's answer is refused.
    r = centre.post(
        f"/api/v1/grievances/{cid}/note/",
        {"note": "请各部门协同"},
        format="json",
        HTTP_IF_MATCH=read_before,
    )
    assert r.status_code == 409, r.json()
    r = centre.post(
        f"/api/v1/grievances/{cid}/note/",
        {"note": "请各部门协同"},
        format="json",
        HTTP_IF_MATCH=shown["ETag"],
    )
    assert r.status_code == 200, r.json()
