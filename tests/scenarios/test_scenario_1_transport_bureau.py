"""Scenario 1 (domain.md §4) as it happened: the county transport bureau answers the whistle.

Monday 2023-07-31, 乡城县. 11:14 grid worker 割绒彭措 of 黑达村 reports a retaining wall about
to collapse on a road; 11:23 the county centre accepts it and whistles (横向吹哨) the county
transport bureau, which reports in (报到) at once; 11:30 its crew is on site (a public note);
14:24 repaired: the bureau reports "险情排除". The county centre verifies. The timeline shows
each step with its time and actor (the bureau's steps under the bureau's name), and the
response and handling durations; the villager who gave his phone follows the case online.

Everything goes through the REST API, each actor logged in as themselves. The township and
the village/grid codes are illustrative; 乡城县 is 513336000000.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from dispatch.models import Department, DepartmentMembership
from grids.models import Role
from tests.factories import UserFactory, make_member, region_with_box

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
VILLAGER_PHONE = "13908361234"


def at(hh: int, mm: int) -> datetime:
    return datetime(2023, 7, 31, hh, mm, tzinfo=SH)  # a Monday


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def xiangcheng():
    """甘孜州 → 乡城县 → a township → 黑达村 → its grid, and the county transport bureau."""
    prefecture = region_with_box("甘孜藏族自治州", "513300000000", "city", None, (99, 28, 101, 31))
    county = region_with_box("乡城县", "513336000000", "county", prefecture, (99, 28, 101, 31))
    township = region_with_box("青德镇", "513336101000", "township", county, (99, 28, 101, 31))
    village = region_with_box("黑达村", "513336101201", "village", township, (99, 28, 101, 31))
    grid = region_with_box(
        "黑达村网格", "513336101201001", "grid", village, (99, 28, 101, 31), "residential"
    )
    for region in (prefecture, county, township, village, grid):
        region.refresh_from_db()
    bureau = Department.objects.create(
        name="乡城县交通运输局", code="xc-transport", region=county, phone="0836-5822000"
    )
    bureau_staff = UserFactory(username="xc_transport_duty", full_name="交通局值班员洛绒")
    DepartmentMembership.objects.create(user=bureau_staff, department=bureau)
    return {
        "county": county,
        "village": village,
        "grid": grid,
        "bureau": bureau,
        "worker": make_member("gerong", grid, Role.GRID_WORKER, full_name="割绒彭措"),
        "centre": make_member("xc_centre", county, Role.CENTRE_STAFF, full_name="县综治中心值班员"),
        "bureau_staff": bureau_staff,
    }


def test_county_centre_whistles_the_transport_bureau_which_clears_the_hazard(xiangcheng):
    worker = client_for(xiangcheng["worker"])
    centre = client_for(xiangcheng["centre"])
    bureau = client_for(xiangcheng["bureau_staff"])
    resident = APIClient()
    bureau_id = xiangcheng["bureau"].pk

    with time_machine.travel(at(11, 14), tick=False) as clock:
        r = worker.post(
            "/api/v1/grievances/",
            {
                "title": "挡墙垮塌险情",
                "description": "黑达村通村公路旁挡墙出现裂缝，随时可能垮塌，威胁过往车辆",
                "category": "hazard.road",
                "lng": 100.0,
                "lat": 29.5,
                "address": "黑达村通村公路",
                "complainants": [{"name": "村民扎西", "phone": VILLAGER_PHONE}],
            },
            format="json",
        )
        assert r.status_code == 201, r.json()
        case = r.json()
        cid, code = case["id"], case["tracking_code"]
        assert case["region"]["code"] == xiangcheng["grid"].code
        assert case["owning_centre"]["code"] == xiangcheng["village"].code
        assert case["source"] == "grid_worker"

        # 11:23 the county centre (a centre above the village's) accepts and whistles.
        clock.move_to(at(11, 23))
        r = centre.post(
            f"/api/v1/grievances/{cid}/accept/",
            {"complexity": "complex", "handling_level": "county"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        r = centre.get("/api/v1/departments/", {"region": xiangcheng["grid"].code})
        assert r.status_code == 200
        assert [d["name"] for d in r.json()["results"]] == ["乡城县交通运输局"]
        r = centre.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {"departments": [bureau_id], "note": "挡墙险情，请立即组织抢险"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "dispatched"

        # The bureau finds the assignment in its inbox and reports in at once.
        inbox = bureau.get("/api/v1/assignments/", {"mine": 1}).json()["results"]
        assert [(a["grievance"], a["role"], a["status"]) for a in inbox] == [
            (cid, "lead", "pending")
        ]
        assignment_id = inbox[0]["id"]
        r = bureau.post(f"/api/v1/assignments/{assignment_id}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "reported_in"
        assert r.json()["case_state"] == "in_progress"

        # 11:30 the crew is on site: a public progress note from the bureau.
        clock.move_to(at(11, 30))
        r = bureau.post(
            f"/api/v1/assignments/{assignment_id}/note/",
            {"note": "抢险队伍已到达现场", "public": True},
            format="json",
        )
        assert r.status_code == 200, r.json()

        # 14:24 repaired.
        clock.move_to(at(14, 24))
        r = bureau.post(f"/api/v1/grievances/{cid}/handle/", {"result": "险情排除"}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "handled"

        clock.move_to(at(15, 0))
        r = centre.post(
            f"/api/v1/grievances/{cid}/verify/", {"note": "现场核查，道路恢复通行"}, format="json"
        )
        assert r.status_code == 200, r.json()

    case = centre.get(f"/api/v1/grievances/{cid}/").json()
    assert case["state"] == "closed"
    assert case["result"] == "险情排除"

    # The timeline: each step with its time, its actor and whom the actor acted for.
    timeline = [
        (e["action"], e["created_at"], e["actor"], e["to_state"], e["public"])
        for e in case["events"]
    ]
    assert timeline == [
        ("submit", "2023-07-31T11:14:00+08:00", "割绒彭措", "submitted", True),
        ("accept", "2023-07-31T11:23:00+08:00", "县综治中心值班员", "accepted", True),
        ("dispatch", "2023-07-31T11:23:00+08:00", "县综治中心值班员", "dispatched", True),
        ("report_in", "2023-07-31T11:23:00+08:00", "交通局值班员洛绒", "in_progress", True),
        ("note", "2023-07-31T11:30:00+08:00", "交通局值班员洛绒", "in_progress", True),
        ("handle", "2023-07-31T14:24:00+08:00", "交通局值班员洛绒", "handled", True),
        ("verify", "2023-07-31T15:00:00+08:00", "县综治中心值班员", "closed", True),
    ]
    labels = [e["actor_label"] for e in case["events"]]
    # The county centre acted, so its events name the county centre (not the village's).
    for label in (labels[1], labels[2], labels[6]):
        assert "乡城县" in label and "黑达村" not in label
    # The bureau's steps are labelled with the bureau's name.
    assert labels[3:6] == ["乡城县交通运输局"] * 3
    events = {e["action"]: e for e in case["events"]}
    assert events["note"]["note"] == "抢险队伍已到达现场"
    assert events["note"]["data"]["department"] == "乡城县交通运输局"
    assert events["dispatch"]["data"]["lead"] == "乡城县交通运输局"
    assert events["dispatch"]["data"]["assisting"] == []
    assert events["dispatch"]["note"] == "挡墙险情，请立即组织抢险"
    assert events["report_in"]["data"]["on_time"] is True
    assert events["handle"]["data"]["on_time"] is True
    assert events["handle"]["note"] == "险情排除"

    # The whistle: from the county centre to the bureau, its one assignment done.
    r = centre.get(f"/api/v1/grievances/{cid}/whistles/")
    assert r.status_code == 200
    whistles = r.json()
    assert len(whistles) == 1
    whistle = whistles[0]
    assert whistle["status"] == "done"
    assert whistle["instructions"] == "挡墙险情，请立即组织抢险"
    assert whistle["created_at"] == "2023-07-31T11:23:00+08:00"
    assert whistle["ended_at"] == "2023-07-31T15:00:00+08:00"
    assert [
        (a["id"], a["department"], a["department_id"], a["role"], a["status"])
        for a in whistle["assignments"]
    ] == [(assignment_id, "乡城县交通运输局", bureau_id, "lead", "done")]
    lead = whistle["assignments"][0]
    # (The assignments' times come in UTC, the rest in Beijing time: compare instants.)
    assert datetime.fromisoformat(lead["reported_in_at"]) == at(11, 23)
    assert datetime.fromisoformat(lead["finished_at"]) == at(14, 24)
    # The bureau sees the same whistle of a case it handled.
    assert bureau.get(f"/api/v1/grievances/{cid}/whistles/").json() == whistles

    # Durations: wall-clock for people, working time for figures.
    wall = case["durations"]["wall_clock"]
    work = case["durations"]["working_time"]
    assert wall["accept"] == 9 * 60
    assert wall["dispatch"] == 0
    assert wall["report_in"] == 0
    assert wall["handle"] == 3 * 3600 + 60 == 10860
    assert wall["close"] == 3 * 3600 + 46 * 60
    assert work["report_in"] == 0
    # 11:23 → 12:00 counts; the midday break does not, and 14:24 is before 14:30.
    assert work["handle"] == 37 * 60 == 2220

    # The villager follows the case online: the result, and no staff names.
    r = resident.get(f"/api/v1/track/{code}/", {"phone_last4": VILLAGER_PHONE[-4:]})
    assert r.status_code == 200, r.json()
    public = r.json()
    assert public["state"] == "closed"
    assert public["result"] == "险情排除"
    assert [(e["action"], e["created_at"][11:16]) for e in public["timeline"]] == [
        ("submit", "11:14"),
        ("accept", "11:23"),
        ("dispatch", "11:23"),
        ("report_in", "11:23"),
        ("note", "11:30"),
        ("handle", "14:24"),
        ("verify", "15:00"),
    ]
    assert public["timeline"][4]["note"] == "抢险队伍已到达现场"
    text = json.dumps(public, ensure_ascii=False)
    for secret in (
        "割绒彭措",
        "gerong",
        "县综治中心值班员",
        "xc_centre",
        "交通局值班员洛绒",
        "xc_transport_duty",
        VILLAGER_PHONE,
    ):
        assert secret not in text
    # A wrong phone finds nothing.
    assert resident.get(f"/api/v1/track/{code}/", {"phone_last4": "0000"}).status_code == 404


def test_the_whistle_names_the_county_centre_that_blew_it(xiangcheng):
    """The county centre, acting above the village centre that owns the case, whistles: the
    whistle is the county centre's, as the dispatch event's actor label already says."""
    centre = client_for(xiangcheng["centre"])
    with time_machine.travel(at(11, 14), tick=False) as clock:
        r = client_for(xiangcheng["worker"]).post(
            "/api/v1/grievances/",
            {
                "title": "挡墙垮塌险情",
                "description": "黑达村通村公路旁挡墙出现裂缝",
                "category": "hazard.road",
                "lng": 100.0,
                "lat": 29.5,
            },
            format="json",
        )
        cid = r.json()["id"]
        clock.move_to(at(11, 23))
        assert (
            centre.post(f"/api/v1/grievances/{cid}/accept/", {}, format="json").status_code == 200
        )
        r = centre.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {"departments": [xiangcheng["bureau"].pk]},
            format="json",
        )
        assert r.status_code == 200, r.json()
    dispatch = next(e for e in r.json()["events"] if e["action"] == "dispatch")
    assert "乡城县" in dispatch["actor_label"]
    whistle = centre.get(f"/api/v1/grievances/{cid}/whistles/").json()[0]
    assert (whistle["centre"], whistle["centre_name"]) == ("513336000000", "乡城县")
