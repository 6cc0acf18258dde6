"""Lists a case request may carry are capped, and a request over a cap answers 400 naming
the field: complainants (MAX_COMPLAINANTS), departments of a dispatch, parties of a
mediation, attachment ids; ids that do not fit the database are refused by name too."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from dispatch.models import Department
from grievances.api import MAX_DEPARTMENTS, MAX_PARTIES
from grievances.models import Complainant, Grievance, State
from notifications.models import Notification
from tests.grievances.conftest import advance, api_as, new_case, post_act

pytestmark = pytest.mark.django_db

REPORT = {
    "title": "征地补偿款未发放",
    "description": "村民集体反映补偿款迟迟未发放",
    "category": "hazard.utilities",
    "lng": 91.2,
    "lat": 29.7,
}
HUGE_ID = 99999999999999999999


def people_list(n: int) -> list[dict]:
    return [{"name": f"村民{i}", "phone": f"1390000{i:04d}"} for i in range(n)]


def test_a_report_with_1000_complainants_is_refused_by_name_and_30_are_taken(tree):
    r = APIClient().post(
        "/api/v1/public/grievances/", {**REPORT, "complainants": people_list(1000)}, format="json"
    )
    assert r.status_code == 400
    assert list(r.json()) == ["complainants"]
    assert "100" in str(r.json()["complainants"])
    assert not Grievance.objects.exists()
    # A group case (群体) of a few dozen people still fits.
    r = APIClient().post(
        "/api/v1/public/grievances/", {**REPORT, "complainants": people_list(30)}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert Complainant.objects.filter(grievance__isnull=False).count() == 30


def test_the_complainant_cap_is_100_on_the_staff_api_too(people):
    client = api_as(people.grid_worker)
    body = {**REPORT, "category": "hazard.road"}
    r = client.post(
        "/api/v1/grievances/", {**body, "complainants": people_list(101)}, format="json"
    )
    assert r.status_code == 400
    assert list(r.json()) == ["complainants"]
    r = client.post(
        "/api/v1/grievances/", {**body, "complainants": people_list(100)}, format="json"
    )
    assert r.status_code == 201, r.json()


@pytest.fixture
def accepted(people):
    return advance(new_case(people.grid_worker), State.ACCEPTED, people)


def test_a_dispatch_to_more_than_20_departments_is_refused(tree, people, accepted):
    departments = Department.objects.bulk_create(
        Department(name=f"乃东区第{i}局", code=f"nd-{i}", region=tree.county)
        for i in range(MAX_DEPARTMENTS + 1)
    )
    ids = [d.pk for d in departments]
    r = post_act(api_as(people.centre_staff), accepted, "dispatch", {"departments": ids})
    assert r.status_code == 400
    assert list(r.json()) == ["departments"]
    assert Grievance.objects.get(pk=accepted.pk).state == State.ACCEPTED
    r = post_act(api_as(people.centre_staff), accepted, "dispatch", {"departments": ids[:20]})
    assert r.status_code == 200, r.json()


def test_a_department_id_too_large_for_the_database_is_refused(people, accepted, depts):
    r = post_act(
        api_as(people.centre_staff),
        accepted,
        "dispatch",
        {"departments": [depts.transport.pk, HUGE_ID]},
    )
    assert r.status_code == 400
    assert list(r.json()) == ["departments"]


def test_a_mediation_with_more_than_30_parties_is_refused(people):
    case = advance(new_case(people.grid_worker, category="dispute.neighbours"), "accepted", people)
    parties = [{"name": f"当事人{i}"} for i in range(MAX_PARTIES + 1)]
    r = post_act(api_as(people.centre_staff), case, "mediate", {"parties": parties})
    assert r.status_code == 400
    assert list(r.json()) == ["parties"]


def test_more_attachment_ids_than_photos_a_case_holds_are_refused(people):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    r = post_act(
        api_as(people.grid_worker), case, "handle", {"result": "已处理", "attachments": [1] * 10}
    )
    assert r.status_code == 400
    assert list(r.json()) == ["attachments"]
    r = post_act(
        api_as(people.grid_worker), case, "handle", {"result": "已处理", "attachments": [HUGE_ID]}
    )
    assert r.status_code == 400
    assert list(r.json()) == ["attachments"]


def test_a_duplicate_reference_in_other_digits_is_a_field_error(people):
    r = post_act(
        api_as(people.centre_staff),
        new_case(people.grid_worker),
        "reject",
        {"reason_code": "duplicate", "duplicate_of": "²"},
    )
    assert r.status_code == 400
    assert list(r.json()) == ["duplicate_of"]


def test_marking_notifications_read_takes_at_most_200_ids(people):
    client = api_as(people.centre_staff)
    r = client.post("/api/v1/notifications/read/", {"ids": list(range(1, 202))}, format="json")
    assert r.status_code == 400
    assert list(r.json()) == ["ids"]
    r = client.post("/api/v1/notifications/read/", {"ids": [HUGE_ID]}, format="json")
    assert r.status_code == 400
    assert list(r.json()) == ["ids"]


# --- The pages that post lists of ids


def test_the_dispatch_page_refuses_too_many_or_too_large_assisting_ids(
    client, people, accepted, depts
):
    client.force_login(people.centre_staff)
    url = f"/cases/{accepted.pk}/act/dispatch/"
    base = {"mode": "departments", "lead": depts.transport.pk}
    for assisting in ([str(depts.labour.pk)] * MAX_DEPARTMENTS, [str(HUGE_ID)], ["²"]):
        r = client.post(url, {**base, "assisting": assisting})
        assert r.status_code == 400, (assisting[:1], r.status_code)
        assert Grievance.objects.get(pk=accepted.pk).state == State.ACCEPTED
    r = client.post(url, {**base, "assisting": [str(depts.labour.pk)]})
    assert r.status_code == 302
    assert Grievance.objects.get(pk=accepted.pk).state == State.DISPATCHED


def test_the_notifications_page_ignores_ids_that_are_not_ids(client, people):
    case = new_case(people.grid_worker)
    note = Notification.objects.create(
        recipient=people.centre_staff,
        grievance=case,
        event=case.events.first(),
        kind="t",
        title="通知",
    )
    client.force_login(people.centre_staff)
    r = client.post("/notifications/", {"ids": ["²", str(HUGE_ID), str(note.pk)]})
    assert r.status_code == 302
    note.refresh_from_db()
    assert note.read_at is not None
    r = client.post("/notifications/", {"ids": [str(note.pk)] * 201}, follow=True)
    assert r.status_code == 200
    assert "200" in r.content.decode()


def test_the_console_refuses_more_than_100_ticked_cases(client, people):
    client.force_login(people.centre_staff)
    r = client.post("/console/dispatch/", {"case": [str(HUGE_ID), "²"]}, follow=True)
    assert r.status_code == 200
    r = client.post("/console/dispatch/", {"case": ["1"] * 101}, follow=True)
    assert r.status_code == 200
    assert "100" in r.content.decode()


def _page_report(n: int) -> dict:
    data = {
        "category": "hazard.road",
        "title": "征地补偿款未发放",
        "description": "村民集体反映补偿款迟迟未发放",
        "urgency": "",
        "lng": "91.2",
        "lat": "29.7",
        "address": "",
        "people-TOTAL_FORMS": str(n),
        "people-INITIAL_FORMS": "0",
        "people-MIN_NUM_FORMS": "0",
        "people-MAX_NUM_FORMS": "1000",
    }
    for i in range(n):
        data[f"people-{i}-name"] = f"村民{i}"
        data[f"people-{i}-phone"] = f"1390000{i:04d}"
        data[f"people-{i}-id_number"] = ""
    return data


def test_the_report_page_takes_a_group_of_40_and_refuses_more_than_100(client, people):
    client.force_login(people.grid_worker)
    r = client.post("/report/", _page_report(150))
    assert r.status_code == 200
    assert "100" in r.content.decode()
    assert not Grievance.objects.exists()
    # 1,000 rows are more fields than Django reads from one form post.
    assert client.post("/report/", _page_report(1000)).status_code == 400
    r = client.post("/report/", _page_report(40))
    assert r.status_code == 302
    assert Grievance.objects.get().complainants.count() == 40
