"""The evaluation API: figures within scope, the public red/black list, return visits."""

from __future__ import annotations

import json

import pytest
import time_machine
from rest_framework.test import APIClient

from dispatch import services as dispatch_services
from evaluation import figures
from evaluation.models import ReturnVisit
from grids.models import Role
from grievances import services
from tests.evaluation.conftest import NOW, step
from tests.factories import make_member
from tests.grievances.conftest import PHONE, api_as, at, new_case

pytestmark = pytest.mark.django_db

OCT = {"from": "2026-10-01", "to": "2026-11-01"}


def get_figures(user, **params):
    return api_as(user).get("/api/v1/figures/", {**OCT, **params})


def test_login_required(tree):
    assert APIClient().get("/api/v1/figures/", OCT).status_code in (401, 403)


def test_a_township_leader_sees_only_their_subtree(tree, october):
    figures.rebuild(now=NOW)
    leader = make_member("town_leader", tree.town_a, Role.LEADER)
    r = get_figures(leader, region=tree.town_a.code)
    assert r.status_code == 200, r.json()
    assert r.json()["intake"]["total"] == 4
    assert r.json()["rates"]["response"] == {"value": 1.0, "numerator": 3, "denominator": 3}
    # Without a region: their own area.
    assert get_figures(leader).json()["region"]["code"] == tree.town_a.code
    assert get_figures(leader, region=tree.village_a.code).status_code == 200
    # The sibling township, the county above and another city: 404.
    for outside in (tree.town_b, tree.county, tree.other_city):
        assert get_figures(leader, region=outside.code).status_code == 404, outside


def test_the_county_leader_sees_both_townships(tree, people, october):
    figures.rebuild(now=NOW)
    r = get_figures(people.leader, region=tree.town_b.code)
    assert r.status_code == 200
    assert r.json()["rates"]["on_time"]["value"] is None
    assert get_figures(people.leader).json()["intake"]["total"] == 5


def test_bad_parameters_name_the_field(tree, people):
    staff = people.centre_staff
    assert "region" in get_figures(staff, region="999999999999").json()
    assert "from" in get_figures(staff, **{"from": "2026-13-01"}).json()
    assert "to" in get_figures(staff, **{"to": "2026-09-01"}).json()
    assert "department" in get_figures(staff, department="x").json()
    assert "department" in get_figures(staff, department="999999").json()
    assert get_figures(staff, region="999999999999").status_code == 400


def test_department_figures(tree, people, depts):
    with time_machine.travel(at(2026, 10, 12, 9), tick=False):
        case = new_case(people.grid_worker, category="hazard.road")
        case = services.grievance_accept(case, people.centre_staff)
        case = dispatch_services.whistle_dispatch(
            case, people.centre_staff, departments=[depts.police, depts.transport]
        )
    lead = case.whistles.get().assignments.get(role="lead")
    step(at(2026, 10, 12, 9, 15), dispatch_services.assignment_report_in, lead, depts.staff.police)
    figures.rebuild(now=NOW)
    r = get_figures(depts.staff.police, department=depts.police.pk)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["department"]["name"] == "泽当派出所"
    assert body["region"] is None
    assert body["rates"]["response"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert body["intake"]["total"] == 1
    # The assisting department leads nothing.
    transport = figures.figures(
        department=depts.transport,
        start=NOW.date().replace(day=1),
        end=NOW.date().replace(month=11, day=1),
    )
    assert transport["intake"]["total"] == 0
    # Another department's staff: 404; the township centre (it serves the township): 200.
    assert get_figures(depts.staff.transport, department=depts.police.pk).status_code == 404
    assert get_figures(people.centre_staff, department=depts.police.pk).status_code == 200
    assert get_figures(people.sibling_staff, department=depts.police.pk).status_code == 404


def test_the_public_ranking(tree, people, depts, october, settings):
    settings.RANKING_WEIGHTS = {
        "response": 0.3,
        "on_time": 0.3,
        "resolution": 0.2,
        "satisfaction": 0.2,
    }
    figures.rebuild(now=NOW)
    r = APIClient().get("/api/v1/rankings/", {"month": "2026-10", "size": 1})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["weights"] == settings.RANKING_WEIGHTS
    red, black = body["townships"]["red"], body["townships"]["black"]
    assert [e["name"] for e in red] == ["泽当街道"]
    assert [e["name"] for e in black] == ["昌珠镇"]
    # 0.3·1 + 0.3·2/3 + 0.2·2/3 + 0.2·0.5
    assert red[0]["score"] == pytest.approx(0.7333, abs=1e-4)
    # Only the response rate has data in 昌珠镇: it alone makes the score.
    assert black[0]["score"] == 0.0
    text = json.dumps(body, ensure_ascii=False)
    for personal in ("张三", PHONE, PHONE[-4:], "grid_worker", "centre_staff"):
        assert personal not in text
    assert "title" not in text  # no case titles either


def test_the_ranking_checks_its_parameters(tree):
    client = APIClient()
    assert "month" in client.get("/api/v1/rankings/").json()
    assert "month" in client.get("/api/v1/rankings/", {"month": "2026-13"}).json()
    assert "month" in client.get("/api/v1/rankings/", {"month": "10/2026"}).json()
    assert "region" in client.get("/api/v1/rankings/", {"month": "2026-10", "region": "1"}).json()
    assert "size" in client.get("/api/v1/rankings/", {"month": "2026-10", "size": "0"}).json()
    r = client.get("/api/v1/rankings/", {"month": "2026-10", "region": tree.county.code})
    assert r.status_code == 200
    assert {e["code"] for e in r.json()["townships"]["unranked"]} == {
        tree.town_a.code,
        tree.town_b.code,
    }


@pytest.fixture
def visit(tree, people, october):
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        october.a,
        None,
        score=1,
        resolved=False,
        via_tracking=True,
    )
    from evaluation.returnvisits import return_visit_schedule

    return step(at(2026, 10, 12, 11), return_visit_schedule, october.a.pk)


def post_visit(user, visit, data):
    return api_as(user).post(f"/api/v1/return-visits/{visit.pk}/", data, format="json")


def test_recording_a_return_visit_through_the_api(tree, people, visit):
    answer = {"reached": True, "satisfied": False, "resolved": False, "note": "还没修好"}
    assert post_visit(people.outsider, visit, answer).status_code == 404
    assert post_visit(people.sibling_staff, visit, answer).status_code == 404
    assert post_visit(people.grid_worker, visit, answer).status_code == 403
    r = post_visit(people.centre_staff, visit, {"satisfied": True})
    assert r.status_code == 400 and "reached" in r.json()
    r = post_visit(people.centre_staff, visit, {"reached": True})
    assert r.status_code == 400 and "satisfied" in r.json()
    with time_machine.travel(at(2026, 10, 13, 9), tick=False):
        r = post_visit(people.centre_staff, visit, {**answer, "reopen": True})
    assert r.status_code == 200, r.json()
    assert r.json()["resolved"] is False
    assert r.json()["case"]["state"] == "in_progress"
    assert post_visit(people.centre_staff, visit, answer).status_code == 409


def test_the_return_visit_work_list(tree, people, visit):
    r = api_as(people.centre_staff).get("/api/v1/return-visits/")
    assert r.status_code == 200
    assert [v["id"] for v in r.json()["results"]] == [visit.pk]
    assert api_as(people.sibling_staff).get("/api/v1/return-visits/").json()["results"] == []
    r = api_as(people.centre_staff).get("/api/v1/return-visits/", {"status": "recorded"})
    assert [v["id"] for v in r.json()["results"]] == [
        v.pk for v in ReturnVisit.objects.exclude(recorded_at=None)
    ]
    assert (
        "status"
        in api_as(people.centre_staff).get("/api/v1/return-visits/", {"status": "x"}).json()
    )


def test_the_schema_lists_the_paths(tree):
    r = APIClient().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = json.loads(r.content)["paths"]
    for path in (
        "/api/v1/figures/",
        "/api/v1/rankings/",
        "/api/v1/return-visits/{id}/",
        "/api/v1/exports/",
        "/api/v1/exports/{id}/",
    ):
        assert path in paths, path


def test_a_reporter_does_not_read_the_return_visits_of_their_case(tree, people, visit):
    """The call to the reporter, its notes and who made it, are the staff's records."""
    from grievances.models import Grievance
    from tests.factories import UserFactory

    resident = UserFactory()
    Grievance.objects.filter(pk=visit.grievance_id).update(reporter=resident)
    answer = {"reached": True, "satisfied": False, "resolved": False, "note": "内部：电话回访"}
    assert post_visit(people.centre_staff, visit, answer).status_code == 200
    for wanted in ("pending", "recorded", "all"):
        r = api_as(resident).get("/api/v1/return-visits/", {"status": wanted})
        assert r.status_code == 200 and r.json()["results"] == [], wanted
    assert post_visit(resident, visit, answer).status_code == 404
    r = api_as(people.centre_staff).get("/api/v1/return-visits/", {"status": "recorded"})
    assert "内部：电话回访" in [v["note"] for v in r.json()["results"]]
