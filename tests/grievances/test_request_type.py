"""The request type of a case (诉求类型: 咨询, 求助, 投诉, 举报, 建议): chosen on the report
form (staff and resident) and through the API, 投诉 when not given, shown on the case page,
filterable on /cases/ and in the API."""

from __future__ import annotations

import pytest
from django.test import Client

from grievances.models import Grievance, RequestType
from tests.grievances.conftest import POINT_A1, api_as, new_case

pytestmark = pytest.mark.django_db


def _report(**extra) -> dict:
    return {
        "title": "咨询低保政策",
        "description": "想了解低保申请需要哪些材料",
        "category": "hardship.assistance",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        **extra,
    }


def test_the_api_takes_the_type_and_defaults_to_complaint(tree, people):
    api = api_as(people.grid_worker)
    r = api.post("/api/v1/grievances/", _report(request_type="consultation"), format="json")
    assert r.status_code == 201, r.content
    case = Grievance.objects.get(pk=r.json()["id"])
    assert case.request_type == RequestType.CONSULTATION
    r = api.post("/api/v1/grievances/", _report(title="另一件"), format="json")
    assert Grievance.objects.get(pk=r.json()["id"]).request_type == RequestType.COMPLAINT
    detail = api.get(f"/api/v1/grievances/{case.pk}/").json()
    assert detail["request_type"] == "consultation"


def test_an_unknown_type_is_a_field_error(tree, people):
    r = api_as(people.grid_worker).post(
        "/api/v1/grievances/", _report(request_type="gossip"), format="json"
    )
    assert r.status_code == 400
    assert "request_type" in r.json()


def test_staff_and_residents_choose_the_type_on_the_report_form(tree, people):
    from tests.grievances.test_pages_intake import resident_report, staff_report

    client = Client()
    assert 'name="request_type"' in client.get("/report/").content.decode()
    r = client.post("/report/", resident_report(request_type="suggestion"))
    assert r.status_code == 302
    assert Grievance.objects.get(title="楼道水管漏水").request_type == RequestType.SUGGESTION
    staff = Client()
    staff.force_login(people.grid_worker)
    r = staff.post("/report/", staff_report(request_type="tip_off"))
    assert r.status_code == 302
    assert Grievance.objects.get(title="挡墙垮塌隐患").request_type == RequestType.TIP_OFF
    r = staff.post("/report/", staff_report(title="另一件", request_type="gossip"))
    assert r.status_code == 200
    assert 'id="id_request_type_error"' in r.content.decode()


def test_the_public_api_takes_the_type(tree):
    from rest_framework.test import APIClient

    r = APIClient().post(
        "/api/v1/public/grievances/",
        _report(request_type="help", complainants=[{"name": "王五", "phone": "13800001111"}]),
        format="json",
    )
    assert r.status_code == 201, r.content
    assert Grievance.objects.get(title="咨询低保政策").request_type == RequestType.HELP


def test_shown_on_the_case_page_and_filtered_on_the_list(tree, people):
    asked = new_case(people.grid_worker, title="咨询政策", request_type=RequestType.CONSULTATION)
    complaint = new_case(people.grid_worker, title="噪音扰民")
    client = Client()
    client.force_login(people.centre_staff)
    page = client.get(f"/cases/{asked.pk}/").content.decode()
    assert "咨询" in page
    listed = client.get("/cases/", {"request_type": "consultation"}).content.decode()
    assert asked.display_code in listed and complaint.display_code not in listed
    api = api_as(people.centre_staff)
    found = api.get("/api/v1/grievances/", {"request_type": "complaint"}).json()["results"]
    assert [c["id"] for c in found] == [complaint.pk]
    assert api.get("/api/v1/grievances/", {"request_type": "gossip"}).status_code == 400
