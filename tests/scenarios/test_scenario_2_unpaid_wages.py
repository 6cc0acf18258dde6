"""Scenario 2 (domain.md §4): unpaid wages in 和硕县特吾里克镇, Bayingol; both whistles.

Resident 曹某 tells his grid worker that a construction company owes him 77,000 yuan; the grid
worker reports it (Monday 2026-06-01). The case belongs to the village's centre; the township
grid centre of 特吾里克镇 acts on it as a centre above: it accepts and tries mediation, which
fails (a note: the mediation app is not there yet), and whistles vertically (纵向吹哨,
escalate) to the county centre of 和硕县. The county centre, now owning the case, whistles
horizontally (横向吹哨, dispatch) to the county labour inspection brigade, which reports in.
Three days later (Thursday 2026-06-04) the wages are paid: the brigade reports "工资已全额
支付", the county centre verifies and 曹某 rates 5 through tracking.

Two paths up to the county centre:

- `township_above_village`, as the story goes: the township centre acts on the village's case
  and its one escalation must hand the case to the county;
- `village_hands_up`: the village centre first accepts the case and hands it up to the township
  (a vertical whistle of its own), whose escalation then reaches the county.

The village and grid names and the codes below the county are illustrative; 和硕县 is
652828000000.
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
PHONE = "13999551234"
POINT = (85.6, 43.1)  # inside the grid

TOWNSHIP_ABOVE_VILLAGE = "township_above_village"
VILLAGE_HANDS_UP = "village_hands_up"


def at(day: int, hh: int, mm: int) -> datetime:
    return datetime(2026, 6, day, hh, mm, tzinfo=SH)  # 06-01 is a Monday


def iso(day: int, hh: int, mm: int) -> str:
    return at(day, hh, mm).isoformat()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def hejing():
    """巴音郭楞州 → 和硕县 → 特吾里克镇 → a village → its grid; the county's labour inspection
    brigade; one person per role."""
    prefecture = region_with_box(
        "巴音郭楞蒙古自治州", "652800000000", "city", None, (82, 40, 90, 44)
    )
    county = region_with_box("和硕县", "652828000000", "county", prefecture, (84, 42, 87, 44))
    township = region_with_box(
        "特吾里克镇", "652828100000", "township", county, (85, 42.5, 86, 43.5)
    )
    village = region_with_box(
        "特吾里克示范村", "652828100201", "village", township, (85.5, 43, 86, 43.5)
    )
    grid = region_with_box(
        "特吾里克示范村第一网格",
        "652828100201001",
        "grid",
        village,
        (85.5, 43, 86, 43.5),
        "residential",
    )
    for region in (prefecture, county, township, village, grid):
        region.refresh_from_db()
    brigade = Department.objects.create(
        name="和硕县劳动保障监察大队", code="hs-labour", region=county
    )
    brigade_staff = UserFactory(username="hj_labour_duty", full_name="监察大队值班员")
    DepartmentMembership.objects.create(user=brigade_staff, department=brigade)
    return {
        "county": county,
        "township": township,
        "village": village,
        "grid": grid,
        "brigade": brigade,
        "worker": make_member("hj_grid", grid, Role.GRID_WORKER, full_name="网格员巴特尔"),
        "village_centre": make_member(
            "cwh_station", village, Role.CENTRE_STAFF, full_name="村网格站值班员"
        ),
        "township_centre": make_member(
            "hlyg_centre", township, Role.CENTRE_STAFF, full_name="镇网格中心值班员"
        ),
        "county_centre": make_member(
            "hj_centre", county, Role.CENTRE_STAFF, full_name="县综治中心值班员"
        ),
        "brigade_staff": brigade_staff,
    }


@pytest.mark.parametrize("path", [TOWNSHIP_ABOVE_VILLAGE, VILLAGE_HANDS_UP])
def test_unpaid_wages_go_up_to_the_county_and_the_labour_brigade_gets_them_paid(hejing, path):
    worker = client_for(hejing["worker"])
    village = client_for(hejing["village_centre"])
    township = client_for(hejing["township_centre"])
    county = client_for(hejing["county_centre"])
    brigade = client_for(hejing["brigade_staff"])
    resident = APIClient()
    county_code, township_code = hejing["county"].code, hejing["township"].code

    with time_machine.travel(at(1, 9, 30), tick=False) as clock:
        # 曹某 tells the grid worker, who reports it from the village.
        r = worker.post(
            "/api/v1/grievances/",
            {
                "title": "建筑公司拖欠工资7.7万元",
                "description": "村民曹某反映某建筑公司拖欠其务工工资77000元，多次讨要未果",
                "category": "dispute.wages",
                "urgency": "normal",
                "lng": POINT[0],
                "lat": POINT[1],
                "complainants": [{"name": "曹某", "phone": PHONE}],
            },
            format="json",
        )
        assert r.status_code == 201, r.json()
        cid, code = r.json()["id"], r.json()["tracking_code"]
        assert r.json()["owning_centre"]["code"] == hejing["village"].code
        assert r.json()["region"]["code"] == hejing["grid"].code

        clock.move_to(at(1, 10, 0))
        if path == VILLAGE_HANDS_UP:
            r = village.post(f"/api/v1/grievances/{cid}/accept/", {}, format="json")
            assert r.status_code == 200, r.json()
            r = village.post(
                f"/api/v1/grievances/{cid}/escalate/",
                {"reason": "涉及企业欠薪，村级无法协调"},
                format="json",
            )
            assert r.status_code == 200, r.json()
            assert r.json()["owning_centre"]["code"] == township_code
        else:
            # The township centre accepts the village's case as a centre above.
            r = township.post(
                f"/api/v1/grievances/{cid}/accept/",
                {"complexity": "complex", "handling_level": "township"},
                format="json",
            )
            assert r.status_code == 200, r.json()
        assert r.json()["state"] == "accepted"

        # The township grid centre tries mediation; it fails.
        clock.move_to(at(1, 15, 0))
        r = township.post(
            f"/api/v1/grievances/{cid}/note/",
            {"note": "调解未成功", "public": True},
            format="json",
        )
        assert r.status_code == 200, r.json()

        # 纵向吹哨: up to the county centre.
        clock.move_to(at(1, 15, 10))
        r = township.post(
            f"/api/v1/grievances/{cid}/escalate/",
            {"reason": "镇级调解未成功，请县综治中心协调处置"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        escalated = r.json()
        assert escalated["owning_centre"]["code"] == county_code
        assert escalated["state"] == "accepted"
        assert escalated["handling_level"] == "county"
        # The township handed it up: it still sees the case but no longer acts as its centre.
        r = township.get(f"/api/v1/grievances/{cid}/")
        assert r.status_code == 200
        assert not {"dispatch", "escalate", "verify", "reject"} & set(
            r.json()["available_transitions"]
        )
        r = township.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {"departments": [hejing["brigade"].pk]},
            format="json",
        )
        assert r.status_code == 403, r.json()

        # 横向吹哨: the county centre whistles the labour inspection brigade.
        clock.move_to(at(1, 15, 40))
        r = county.get("/api/v1/departments/", {"region": county_code})
        assert [d["name"] for d in r.json()["results"]] == ["和硕县劳动保障监察大队"]
        r = county.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {"departments": [hejing["brigade"].pk], "note": "请依法督促建筑公司支付拖欠工资"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "dispatched"

        clock.move_to(at(1, 16, 0))
        inbox = brigade.get("/api/v1/assignments/", {"mine": 1}).json()["results"]
        assert [(a["grievance"], a["role"], a["status"]) for a in inbox] == [
            (cid, "lead", "pending")
        ]
        assignment_id = inbox[0]["id"]
        r = brigade.post(f"/api/v1/assignments/{assignment_id}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["case_state"] == "in_progress"

        # Three days later the wages are paid.
        clock.move_to(at(4, 11, 0))
        r = brigade.post(
            f"/api/v1/grievances/{cid}/handle/", {"result": "工资已全额支付"}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "handled"

        clock.move_to(at(4, 15, 0))
        r = township.post(f"/api/v1/grievances/{cid}/verify/", {}, format="json")
        assert r.status_code == 403, r.json()
        r = county.post(
            f"/api/v1/grievances/{cid}/verify/", {"note": "电话回访曹某，工资已到账"}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "closed"

        clock.move_to(at(4, 18, 0))
        r = resident.post(
            f"/api/v1/track/{code}/rate/",
            {"phone_last4": PHONE[-4:], "score": 5, "resolved": True, "comment": "感谢政府"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        assert r.json()["rating"]["score"] == 5

    case = county.get(f"/api/v1/grievances/{cid}/").json()
    assert case["state"] == "closed"
    assert case["result"] == "工资已全额支付"
    assert case["owning_centre"]["code"] == county_code
    assert case["rating"]["score"] == 5 and case["rating"]["resolved"] is True

    # The timeline: the escalation(s) and the dispatch, each with its time and actor.
    climb = (
        [
            ("accept", iso(1, 10, 0), "村网格站值班员", "accepted"),
            ("escalate", iso(1, 10, 0), "村网格站值班员", "accepted"),
        ]
        if path == VILLAGE_HANDS_UP
        else [("accept", iso(1, 10, 0), "镇网格中心值班员", "accepted")]
    )
    timeline = [(e["action"], e["created_at"], e["actor"], e["to_state"]) for e in case["events"]]
    assert timeline == [
        ("submit", iso(1, 9, 30), "网格员巴特尔", "submitted"),
        *climb,
        ("note", iso(1, 15, 0), "镇网格中心值班员", "accepted"),
        ("escalate", iso(1, 15, 10), "镇网格中心值班员", "accepted"),
        ("dispatch", iso(1, 15, 40), "县综治中心值班员", "dispatched"),
        ("report_in", iso(1, 16, 0), "监察大队值班员", "in_progress"),
        ("handle", iso(4, 11, 0), "监察大队值班员", "handled"),
        ("verify", iso(4, 15, 0), "县综治中心值班员", "closed"),
        ("rate", iso(4, 18, 0), None, "closed"),
    ]
    events = case["events"]
    labels = {(e["action"], e["created_at"]): e["actor_label"] for e in events}
    assert "特吾里克镇" in labels[("note", iso(1, 15, 0))]
    assert "特吾里克镇" in labels[("escalate", iso(1, 15, 10))]
    assert "和硕县" in labels[("dispatch", iso(1, 15, 40))]
    assert "和硕县" in labels[("verify", iso(4, 15, 0))]
    assert labels[("report_in", iso(1, 16, 0))] == "和硕县劳动保障监察大队"
    assert labels[("handle", iso(4, 11, 0))] == "和硕县劳动保障监察大队"
    assert next(e for e in events if e["action"] == "note")["note"] == "调解未成功"

    # The vertical whistle(s): from/to centre in the event's data.
    ups = [
        (e["data"]["from_centre_name"], e["data"]["to_centre"], e["data"]["to_centre_name"])
        for e in events
        if e["action"] == "escalate"
    ]
    to_county = ("特吾里克镇", county_code, "和硕县")
    if path == VILLAGE_HANDS_UP:
        assert ups == [("特吾里克示范村", township_code, "特吾里克镇"), to_county]
    else:
        assert ups == [to_county]
    assert case["escalation_count"] == len(ups)
    escalate = [e for e in events if e["action"] == "escalate"][-1]
    assert escalate["data"]["from_centre"] == township_code
    assert escalate["note"] == "镇级调解未成功，请县综治中心协调处置"

    # The horizontal whistle: the dispatch event and the whistle with the brigade's assignment.
    dispatch = next(e for e in events if e["action"] == "dispatch")
    assert dispatch["data"]["lead"] == "和硕县劳动保障监察大队"
    assert dispatch["data"]["whistle"]
    # Normal urgency: 5 working days from Monday 15:40, so Thursday's payment is on time.
    assert dispatch["data"]["handle_due_at"] == iso(8, 15, 40)
    assert next(e for e in events if e["action"] == "handle")["data"]["on_time"] is True
    whistles = county.get(f"/api/v1/grievances/{cid}/whistles/").json()
    assert [(w["id"], w["centre"], w["centre_name"], w["status"]) for w in whistles] == [
        (dispatch["data"]["whistle"], county_code, "和硕县", "done")
    ]
    assert [
        (a["id"], a["department"], a["role"], a["status"]) for a in whistles[0]["assignments"]
    ] == [(assignment_id, "和硕县劳动保障监察大队", "lead", "done")]
    # The township still sees the case and its whistles after handing it up.
    assert township.get(f"/api/v1/grievances/{cid}/").status_code == 200
    assert township.get(f"/api/v1/grievances/{cid}/whistles/").json() == whistles

    # Durations: wall-clock for people, working time (08:30–12:00, 14:30–18:00) for figures.
    wall = case["durations"]["wall_clock"]
    work = case["durations"]["working_time"]
    assert wall["accept"] == 30 * 60
    assert wall["dispatch"] == 5 * 3600 + 40 * 60  # 10:00 → 15:40
    assert work["dispatch"] == 3 * 3600 + 10 * 60  # 10:00–12:00, 14:30–15:40
    assert wall["report_in"] == work["report_in"] == 20 * 60
    # Monday 15:40 → Thursday 11:00: 67 h 20 min; at work 2:20 + 7:00 + 7:00 + 2:30.
    assert wall["handle"] == 67 * 3600 + 20 * 60 == 242400
    assert work["handle"] == 18 * 3600 + 50 * 60 == 67800
    assert wall["close"] == 3 * 86400 + 5 * 3600 + 30 * 60  # Monday 09:30 → Thursday 15:00

    # 曹某 follows it online: the escalation and the whistle, the result, no staff names.
    r = resident.get(f"/api/v1/track/{code}/", {"phone_last4": PHONE[-4:]})
    assert r.status_code == 200, r.json()
    public = r.json()
    assert public["state"] == "closed" and public["result"] == "工资已全额支付"
    assert [e["action"] for e in public["timeline"]][-6:] == [
        "escalate",
        "dispatch",
        "report_in",
        "handle",
        "verify",
        "rate",
    ]
    text = json.dumps(public, ensure_ascii=False)
    for secret in ("网格员巴特尔", "镇网格中心值班员", "县综治中心值班员", "监察大队值班员", PHONE):
        assert secret not in text
