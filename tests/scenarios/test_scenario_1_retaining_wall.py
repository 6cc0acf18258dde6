"""Scenario 1 (domain.md §4): the retaining-wall hazard of 黑达村, 乡城县, Monday 2023-07-31.

11:14 grid worker 割绒彭措 reports a retaining wall about to collapse on a road; 11:23 the
county centre accepts and pushes it out, and the handler replies (reports in) at once; 11:30
the crew is on site; 14:24 repaired, "险情排除". The centre verifies. The timeline shows each
step with its time and actor, and the response and handling durations.

For now the county centre dispatches down to the village (黑达村) for handling on the spot,
and the village's grid leader stands in for the county transport bureau of the real story:
whistles to departments are exercised in tests/dispatch/.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from grids.models import Role
from tests.factories import make_member, region_with_box

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int) -> datetime:
    return datetime(2023, 7, 31, hh, mm, tzinfo=SH)  # a Monday


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def xiangcheng():
    """甘孜州 → 乡城县 → a township → 黑达村 → its grid (the township and the codes are
    illustrative; the boxes tile each parent)."""
    prefecture = region_with_box("甘孜藏族自治州", "513300000000", "city", None, (99, 28, 101, 31))
    county = region_with_box("乡城县", "513336000000", "county", prefecture, (99, 28, 101, 31))
    township = region_with_box("青德镇", "513336101000", "township", county, (99, 28, 101, 31))
    village = region_with_box("黑达村", "513336101201", "village", township, (99, 28, 101, 31))
    grid = region_with_box(
        "黑达村网格", "513336101201001", "grid", village, (99, 28, 101, 31), "residential"
    )
    for region in (prefecture, county, township, village, grid):
        region.refresh_from_db()
    return {
        "county": county,
        "village": village,
        "grid": grid,
        "worker": make_member("gerong", grid, Role.GRID_WORKER, full_name="割绒彭措"),
        "centre": make_member("xc_centre", county, Role.CENTRE_STAFF, full_name="县综治中心值班员"),
        "handler": make_member("heida_leader", village, Role.GRID_LEADER, full_name="黑达村网格长"),
    }


def test_retaining_wall_hazard_is_cleared_the_same_day(xiangcheng):
    worker = client_for(xiangcheng["worker"])
    centre = client_for(xiangcheng["centre"])
    handler = client_for(xiangcheng["handler"])

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
            },
            format="json",
        )
        assert r.status_code == 201, r.json()
        case = r.json()
        cid = case["id"]
        assert case["region"]["code"] == xiangcheng["grid"].code
        assert case["source"] == "grid_worker"

        clock.move_to(at(11, 23))
        r = centre.post(
            f"/api/v1/grievances/{cid}/accept/", {"complexity": "simple"}, format="json"
        )
        assert r.status_code == 200, r.json()
        r = centre.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {"to_region": xiangcheng["village"].code, "note": "立即组织抢修"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        r = handler.post(f"/api/v1/grievances/{cid}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()

        clock.move_to(at(11, 30))
        r = handler.post(
            f"/api/v1/grievances/{cid}/note/",
            {"note": "抢修队伍已到达现场", "public": True},
            format="json",
        )
        assert r.status_code == 200, r.json()

        clock.move_to(at(14, 24))
        r = handler.post(f"/api/v1/grievances/{cid}/handle/", {"result": "险情排除"}, format="json")
        assert r.status_code == 200, r.json()

        clock.move_to(at(15, 0))
        r = centre.post(
            f"/api/v1/grievances/{cid}/verify/", {"note": "现场核查通过"}, format="json"
        )
        assert r.status_code == 200, r.json()

    case = centre.get(f"/api/v1/grievances/{cid}/").json()
    assert case["state"] == "closed"
    assert case["result"] == "险情排除"

    # The timeline: each step with its time and actor.
    timeline = [(e["action"], e["created_at"], e["actor"], e["to_state"]) for e in case["events"]]
    assert timeline == [
        ("submit", "2023-07-31T11:14:00+08:00", "割绒彭措", "submitted"),
        ("accept", "2023-07-31T11:23:00+08:00", "县综治中心值班员", "accepted"),
        ("dispatch", "2023-07-31T11:23:00+08:00", "县综治中心值班员", "dispatched"),
        ("report_in", "2023-07-31T11:23:00+08:00", "黑达村网格长", "in_progress"),
        ("note", "2023-07-31T11:30:00+08:00", "黑达村网格长", "in_progress"),
        ("handle", "2023-07-31T14:24:00+08:00", "黑达村网格长", "handled"),
        ("verify", "2023-07-31T15:00:00+08:00", "县综治中心值班员", "closed"),
    ]
    labels = {e["action"]: e["actor_label"] for e in case["events"]}
    # The county centre acted, so the timeline names the county centre, not the village
    # centre that owns the case.
    for action in ("accept", "dispatch", "verify"):
        assert "乡城县" in labels[action]
        assert "黑达村" not in labels[action]
    assert str(Role.GRID_LEADER.label) == labels["handle"] == labels["report_in"]
    handle = next(e for e in case["events"] if e["action"] == "handle")
    assert handle["data"]["on_time"] is True

    # Response and handling durations: wall-clock for people, working time for figures.
    wall = case["durations"]["wall_clock"]
    work = case["durations"]["working_time"]
    assert wall["accept"] == 9 * 60
    assert wall["report_in"] == 0
    assert wall["handle"] == 3 * 3600 + 60 == 10860
    assert wall["close"] == 3 * 3600 + 46 * 60
    assert work["report_in"] == 0
    # 11:23 → 12:00 counts; the midday break does not, and 14:24 is before 14:30.
    assert work["handle"] == 37 * 60 == 2220
