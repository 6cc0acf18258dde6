"""Scenario 5 (domain.md §4): a snap report from a city flat.

A resident photographs a leaking water pipe in a stairwell and reports it from the phone
(the public API, multipart with the photo); the community centre accepts it and dispatches it
down to the grid; the grid worker receives it (reports in), calls the property company, and
two hours later it is fixed; the centre verifies; the resident follows the status online at
each step and rates the result.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from grids.models import Role
from grievances.models import Attachment, Grievance
from tests.factories import make_member, region_with_box

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
PHONE = "13989012345"


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 17, hh, mm, tzinfo=SH)  # a Tuesday


def photo(name: str, colour: tuple[int, int, int]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def city(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # uploaded photos go to a temporary folder
    cache.clear()  # fresh throttle counters
    city = region_with_box("山南市", "540500000000", "city", None, (91, 29, 92, 30))
    district = region_with_box("乃东区", "540502000000", "county", city, (91, 29, 92, 30))
    street = region_with_box("泽当街道", "540502001000", "township", district, (91, 29, 92, 30))
    community = region_with_box("琼嘎顶社区", "540502001002", "village", street, (91, 29, 92, 30))
    grid = region_with_box(
        "琼嘎顶社区第三网格", "540502001002003", "grid", community, (91, 29, 92, 30), "residential"
    )
    for region in (city, district, street, community, grid):
        region.refresh_from_db()
    yield {
        "community": community,
        "grid": grid,
        "centre": make_member("qgd_centre", community, Role.CENTRE_STAFF, full_name="社区值班员"),
        "worker": make_member("qgd_grid3", grid, Role.GRID_WORKER, full_name="次仁卓玛"),
    }
    cache.clear()


def test_leaking_pipe_reported_by_phone_fixed_in_two_hours_and_rated(city):
    resident = APIClient()
    centre = client_for(city["centre"])
    worker = client_for(city["worker"])

    def track() -> dict:
        r = resident.get(f"/api/v1/track/{code}/", {"phone_last4": PHONE[-4:]})
        assert r.status_code == 200, r.json()
        body = r.json()
        # Nothing of the staff ever reaches the resident.
        text = json.dumps(body, ensure_ascii=False)
        for secret in ("qgd_centre", "qgd_grid3", "社区值班员", "次仁卓玛"):
            assert secret not in text
        return body

    with time_machine.travel(at(9, 5), tick=False) as clock:
        r = resident.post(
            "/api/v1/public/grievances/",
            {
                "title": "楼道水管漏水",
                "description": "5号楼2单元三楼楼道水管破裂漏水，楼梯积水",
                "category": "hazard.utilities",
                "lng": "91.77",
                "lat": "29.24",
                "address": "琼嘎顶社区5号楼2单元",
                "complainants[0]name": "央金",
                "complainants[0]phone": PHONE,
                "photos": [photo("pipe.jpg", (40, 90, 160))],
            },
            format="multipart",
        )
        assert r.status_code == 201, r.json()
        code = r.json()["tracking_code"]
        case = Grievance.objects.get()
        assert case.display_code == code
        assert case.region == city["grid"]
        assert case.owning_centre == city["community"]
        assert case.source == "resident_web"
        cid = case.pk
        assert track()["state"] == "submitted"

        # The centre sees the photo on the case, attached to the report.
        detail = centre.get(f"/api/v1/grievances/{cid}/").json()
        assert [(a["original_name"], a["content_type"]) for a in detail["attachments"]] == [
            ("pipe.jpg", "image/jpeg")
        ]
        assert detail["events"][0]["attachments"] == [detail["attachments"][0]["id"]]
        assert detail["complainants"][0]["phone"] == PHONE  # the centre may call back
        stored = Attachment.objects.get()
        assert stored.size > 0 and not stored.file.name.endswith("pipe.jpg")

        clock.move_to(at(9, 20))
        r = centre.post(f"/api/v1/grievances/{cid}/accept/", {}, format="json")
        assert r.status_code == 200, r.json()
        assert track()["state"] == "accepted"
        r = centre.post(
            f"/api/v1/grievances/{cid}/dispatch/", {"to_region": city["grid"].code}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert track()["state"] == "dispatched"

        clock.move_to(at(9, 25))
        r = worker.post(f"/api/v1/grievances/{cid}/report_in/", {}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["complainants"][0]["phone"] == PHONE  # the handler may call back
        r = worker.post(
            f"/api/v1/grievances/{cid}/note/",
            {"note": "已联系物业公司，维修师傅正在赶来", "public": True},
            format="json",
        )
        assert r.status_code == 200, r.json()
        status = track()
        assert status["state"] == "in_progress"
        assert status["timeline"][-1]["note"] == "已联系物业公司，维修师傅正在赶来"

        clock.move_to(at(11, 25))  # two hours later
        r = worker.post(
            f"/api/v1/grievances/{cid}/attachments/",
            {"photos": [photo("fixed.jpg", (200, 200, 200))], "public": "true"},
            format="multipart",
        )
        assert r.status_code == 201, r.json()
        after = r.json()[0]["id"]
        r = worker.post(
            f"/api/v1/grievances/{cid}/handle/",
            {"result": "物业已更换破裂水管，恢复供水，楼道积水已清理", "attachments": [after]},
            format="json",
        )
        assert r.status_code == 200, r.json()
        status = track()
        assert status["state"] == "handled"
        assert status["result"] == "物业已更换破裂水管，恢复供水，楼道积水已清理"
        assert not status["can_withdraw"]

        clock.move_to(at(14, 40))
        r = centre.post(f"/api/v1/grievances/{cid}/verify/", {}, format="json")
        assert r.status_code == 200, r.json()
        status = track()
        assert status["state"] == "closed"
        assert status["can_rate"] is True

        clock.move_to(at(19, 30))
        r = resident.post(
            f"/api/v1/track/{code}/rate/",
            {"phone_last4": PHONE[-4:], "score": 5, "resolved": True, "comment": "修得很快"},
            format="json",
        )
        assert r.status_code == 200, r.json()

    status = track()
    assert status["rating"]["score"] == 5 and status["rating"]["resolved"] is True
    assert [(e["action"], e["created_at"][11:16]) for e in status["timeline"]] == [
        ("submit", "09:05"),
        ("accept", "09:20"),
        ("dispatch", "09:20"),
        ("report_in", "09:25"),
        ("note", "09:25"),
        ("handle", "11:25"),
        ("verify", "14:40"),
        ("rate", "19:30"),
    ]
    detail = centre.get(f"/api/v1/grievances/{cid}/").json()
    handle = next(e for e in detail["events"] if e["action"] == "handle")
    assert handle["attachments"] == [after]
    assert handle["data"]["on_time"] is True
    assert detail["durations"]["wall_clock"]["report_in"] == 5 * 60
    assert detail["durations"]["wall_clock"]["handle"] == 2 * 3600 + 5 * 60
    assert detail["rating"]["score"] == 5
