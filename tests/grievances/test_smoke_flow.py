from __future__ import annotations

import pytest

from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


def test_full_loop_through_the_api(tree, people, road_category):
    worker = as_user(people.grid_worker)
    r = worker.post(
        "/api/v1/grievances/",
        {
            "title": "挡墙垮塌风险",
            "description": "路边挡墙有垮塌风险",
            "category": "hazard.road",
            "lng": 91.2,
            "lat": 29.7,
            "complainants": [{"name": "张三", "phone": "13800001234"}],
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    case = r.json()
    assert case["region"]["code"] == "540502001001001"
    assert case["owning_centre"]["code"] == "540502001001"
    centre = as_user(people.centre_staff)
    cid = case["id"]
    r = centre.post(f"/api/v1/grievances/{cid}/accept/", {"complexity": "simple"}, format="json")
    assert r.status_code == 200, r.json()
    r = centre.post(
        f"/api/v1/grievances/{cid}/dispatch/", {"to_region": "540502001001001"}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert r.json()["handle_due_at"]
    r = worker.post(f"/api/v1/grievances/{cid}/report_in/", {}, format="json")
    assert r.status_code == 200, r.json()
    r = worker.post(f"/api/v1/grievances/{cid}/handle/", {"result": "已修复"}, format="json")
    assert r.status_code == 200, r.json()
    r = centre.post(f"/api/v1/grievances/{cid}/verify/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "closed"
    code = r.json()["tracking_code"]
    from rest_framework.test import APIClient

    anon = APIClient()
    r = anon.get(f"/api/v1/track/{code}/", {"phone_last4": "1234"})
    assert r.status_code == 200, r.json()
    r = anon.post(
        f"/api/v1/track/{code}/rate/",
        {"phone_last4": "1234", "score": 5, "resolved": True},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["rating"]["score"] == 5
    assert [e["action"] for e in r.json()["timeline"]] == [
        "submit",
        "accept",
        "dispatch",
        "report_in",
        "handle",
        "verify",
        "rate",
    ]
