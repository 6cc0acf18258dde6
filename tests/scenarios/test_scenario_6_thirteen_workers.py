"""Scenario 6 (domain.md §4): wage arrears of 13 workers at the 和静县 county centre.

Tuesday 2026-01-20. Thirteen workers owed about 200,000 yuan on a road job come to the county
mediation centre's window together. The centre's staff take it as one walk-in case with 13
complainants (the first, who speaks for them, is the reporter), whistle the county transport
bureau (lead, it owns the road contract) with the labour inspection brigade assisting; the
bureau reports in, convenes the contractor and the subcontractor, and the wages are paid on
the spot the same day. The centre verifies.

One case, many complainants: each person's phone is masked for a leader but shown in full to
the centre, each worker's own phone opens the tracking page, and the case counts once in
every list. The township and the boxes are illustrative; 和静县 is 652827000000.
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
from grievances.privacy import mask_phone
from tests.factories import UserFactory, make_member, region_with_box

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
NAMES = ["马某", "李某", "王某", "张某", "刘某", "陈某", "杨某", "赵某", "黄某", "周某", "吴某"]
NAMES += ["徐某", "孙某"]
PHONES = [f"1399027{n:04d}" for n in range(2001, 2014)]  # last four digits 2001 … 2013


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 1, 20, hh, mm, tzinfo=SH)  # a Tuesday


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def hejing():
    prefecture = region_with_box(
        "巴音郭楞蒙古自治州", "652800000000", "city", None, (82, 40, 90, 44)
    )
    county = region_with_box("和静县", "652827000000", "county", prefecture, (84, 42, 87, 44))
    township = region_with_box("和静镇", "652827100000", "township", county, (86, 42, 87, 43))
    for region in (prefecture, county, township):
        region.refresh_from_db()
    transport = Department.objects.create(
        name="和静县交通运输局", code="hj-transport", region=county
    )
    brigade = Department.objects.create(
        name="和静县劳动保障监察大队", code="hj-labour", region=county
    )
    transport_staff = UserFactory(username="hj_transport_duty", full_name="交通局值班员")
    brigade_staff = UserFactory(username="hj_labour_duty", full_name="监察大队值班员")
    DepartmentMembership.objects.create(user=transport_staff, department=transport)
    DepartmentMembership.objects.create(user=brigade_staff, department=brigade)
    return {
        "county": county,
        "transport": transport,
        "brigade": brigade,
        "transport_staff": transport_staff,
        "brigade_staff": brigade_staff,
        "centre": make_member(
            "hj_mediation", county, Role.CENTRE_STAFF, full_name="县调解中心值班员"
        ),
        "leader": make_member("hj_leader", county, Role.LEADER, full_name="分管县领导"),
        "township_centre": make_member("hj_town", township, Role.CENTRE_STAFF),
    }


def test_thirteen_workers_one_case_paid_on_the_spot(hejing):
    centre = client_for(hejing["centre"])
    leader = client_for(hejing["leader"])
    transport = client_for(hejing["transport_staff"])
    brigade = client_for(hejing["brigade_staff"])
    resident = APIClient()

    with time_machine.travel(at(9, 0), tick=False) as clock:
        r = centre.post(
            "/api/v1/grievances/",
            {
                "title": "13名务工人员被拖欠工资约20万元",
                "description": "13名务工人员反映在县内道路工程务工，承包方、分包方拖欠工资约20万元",
                "category": "dispute.wages",
                "source": "walk_in",
                "region": hejing["county"].code,
                "address": "和静县矛盾纠纷调解中心接待窗口",
                "risk_group": True,
                "complainants": [
                    {"name": name, "phone": phone}
                    for name, phone in zip(NAMES, PHONES, strict=True)
                ],
            },
            format="json",
        )
        assert r.status_code == 201, r.json()
        created = r.json()
        cid, code = created["id"], created["tracking_code"]
        assert created["source"] == "walk_in"
        assert created["region"]["code"] == created["owning_centre"]["code"] == "652827000000"
        assert "group" in created["risk_flags"]

        clock.move_to(at(9, 20))
        r = centre.post(
            f"/api/v1/grievances/{cid}/accept/",
            {"complexity": "difficult", "handling_level": "county"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        r = centre.post(
            f"/api/v1/grievances/{cid}/dispatch/",
            {
                "departments": [hejing["transport"].pk, hejing["brigade"].pk],
                "note": "请交通运输局召集承包方、分包方到中心协调，当场解决欠薪",
            },
            format="json",
        )
        assert r.status_code == 200, r.json()

        clock.move_to(at(9, 40))
        assignments = {
            a["department"]["code"]: a for a in centre.get("/api/v1/assignments/").json()["results"]
        }
        assert {k: (a["role"], a["status"]) for k, a in assignments.items()} == {
            "hj-transport": ("lead", "pending"),
            "hj-labour": ("assisting", "pending"),
        }
        lead_id, assisting_id = assignments["hj-transport"]["id"], assignments["hj-labour"]["id"]
        r = transport.post(f"/api/v1/assignments/{lead_id}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["case_state"] == "in_progress"
        # The lead handler calls the workers back while it handles the case.
        r = transport.get(f"/api/v1/grievances/{cid}/")
        assert [p["phone"] for p in r.json()["complainants"]] == PHONES
        r = brigade.post(f"/api/v1/assignments/{assisting_id}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()

        clock.move_to(at(10, 30))
        r = transport.post(
            f"/api/v1/assignments/{lead_id}/note/",
            {"note": "已召集承包方、分包方到中心现场协调", "public": True},
            format="json",
        )
        assert r.status_code == 200, r.json()

        clock.move_to(at(16, 30))
        r = transport.post(
            f"/api/v1/grievances/{cid}/handle/",
            {"result": "承包方当场支付13名务工人员工资共计20万元"},
            format="json",
        )
        assert r.status_code == 200, r.json()

        clock.move_to(at(17, 0))
        r = centre.post(
            f"/api/v1/grievances/{cid}/verify/", {"note": "13人均确认工资到账"}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "closed"

    # One case with 13 complainants, in the order given; the first is the reporter.
    case = centre.get(f"/api/v1/grievances/{cid}/").json()
    people = case["complainants"]
    assert [p["name"] for p in people] == NAMES
    assert [p["is_reporter"] for p in people] == [True] + [False] * 12
    # The centre sees every phone in full (it calls them back).
    assert [p["phone"] for p in people] == PHONES
    # A leader sees the same people with masked phones.
    r = leader.get(f"/api/v1/grievances/{cid}/")
    assert r.status_code == 200
    masked = [p["phone"] for p in r.json()["complainants"]]
    assert masked == [mask_phone(p) for p in PHONES]
    assert masked[0] == "139****2001"
    assert not set(PHONES) & set(masked)

    # The timeline of the one case.
    events = case["events"]
    assert [(e["action"], e["created_at"][11:16]) for e in events] == [
        ("submit", "09:00"),
        ("accept", "09:20"),
        ("dispatch", "09:20"),
        ("report_in", "09:40"),
        ("assist_accept", "09:40"),
        ("note", "10:30"),
        ("handle", "16:30"),
        ("verify", "17:00"),
    ]
    labels = [e["actor_label"] for e in events]
    # The county centre's steps carry its label; the departments' steps their names.
    assert labels[0] == labels[1] == labels[2] == labels[7]
    assert "和静县" in labels[0] and "局" not in labels[0] and "大队" not in labels[0]
    assert labels[3:7] == [
        "和静县交通运输局",
        "和静县劳动保障监察大队",
        "和静县交通运输局",
        "和静县交通运输局",
    ]
    assert events[2]["data"]["lead"] == "和静县交通运输局"
    assert events[2]["data"]["assisting"] == ["和静县劳动保障监察大队"]
    assert case["durations"]["wall_clock"]["handle"] == 7 * 3600 + 10 * 60  # 09:20 → 16:30
    whistles = centre.get(f"/api/v1/grievances/{cid}/whistles/").json()
    assert [(a["department"], a["role"], a["status"]) for a in whistles[0]["assignments"]] == [
        ("和静县交通运输局", "lead", "done"),
        ("和静县劳动保障监察大队", "assisting", "done"),
    ]

    # Every worker follows the case with the last four digits of their own phone, and reads
    # nobody's name or phone, nor the staff's.
    for phone in PHONES:
        r = resident.get(f"/api/v1/track/{code}/", {"phone_last4": phone[-4:]})
        assert r.status_code == 200, (phone, r.json())
        public = r.json()
        assert public["state"] == "closed"
        assert public["result"] == "承包方当场支付13名务工人员工资共计20万元"
        assert public["handler"] == "和静县交通运输局"
        text = json.dumps(public, ensure_ascii=False)
        for secret in (*PHONES, *NAMES, "县调解中心值班员", "交通局值班员", "hj_mediation"):
            assert secret not in text
    # Digits of nobody in the case open nothing.
    r = resident.get(f"/api/v1/track/{code}/", {"phone_last4": "0000"})
    assert r.status_code == 404

    # The case counts once in every list, whatever the number of complainants or assignments.
    for client in (centre, leader, transport, brigade):
        r = client.get("/api/v1/grievances/")
        assert r.status_code == 200
        assert [c["id"] for c in r.json()["results"]] == [cid]
    r = centre.get("/api/v1/grievances/", {"source": "walk_in", "state": "closed"})
    assert [c["id"] for c in r.json()["results"]] == [cid]
    r = centre.get("/api/v1/grievances/", {"risk": "group", "category": "dispute"})
    assert [c["id"] for c in r.json()["results"]] == [cid]
    # A township centre below the county does not see the county's walk-in case.
    assert client_for(hejing["township_centre"]).get("/api/v1/grievances/").json()["results"] == []
