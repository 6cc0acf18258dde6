"""The desk's API of joins: list a case's joins, confirm or decline one (its centre only,
404 outside the scope, If-Match on confirmation)."""

from __future__ import annotations

import pytest

from duplicates import services
from duplicates.models import Join
from grievances.models import Complainant, Grievance
from tests.grievances.conftest import advance, api_as, new_case

pytestmark = pytest.mark.django_db


def _pending(people, phone="13911112222"):
    case = new_case(people.grid_worker)
    join = services.join_submit(case, name="李四", phone=phone)
    return Grievance.objects.get(pk=case.pk), join


def test_the_centre_lists_and_confirms_a_join(people):
    case, join = _pending(people)
    client = api_as(people.centre_staff)
    listed = client.get(f"/api/v1/grievances/{case.pk}/joins/")
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "id": join.pk,
            "name": "李四",
            "phone": "13911112222",
            "state": "pending",
            "created_at": listed.json()[0]["created_at"],
            "decided_at": None,
            "complainant": None,
            "submitted_by_staff": False,
        }
    ]
    stale = client.post(
        f"/api/v1/grievances/{case.pk}/joins/{join.pk}/confirm/", HTTP_IF_MATCH='"999"'
    )
    assert stale.status_code == 409
    answer = client.post(
        f"/api/v1/grievances/{case.pk}/joins/{join.pk}/confirm/",
        HTTP_IF_MATCH=f'"{case.version}"',
    )
    assert answer.status_code == 200
    body = answer.json()
    person = Complainant.objects.get(grievance=case, phone="13911112222")
    assert body["state"] == "confirmed" and body["complainant"] == person.pk
    assert answer["ETag"] == f'"{Grievance.objects.get(pk=case.pk).version}"'
    again = client.post(f"/api/v1/grievances/{case.pk}/joins/{join.pk}/confirm/")
    assert again.status_code == 409


def test_the_centre_declines_a_join(people):
    case, join = _pending(people)
    answer = api_as(people.centre_staff).post(
        f"/api/v1/grievances/{case.pk}/joins/{join.pk}/decline/"
    )
    assert answer.status_code == 200 and answer.json()["state"] == "declined"
    assert Complainant.objects.filter(grievance=case).count() == 1


def test_other_regions_and_departments_are_kept_out(people, depts):
    case, join = _pending(people)
    advance(case, "dispatched", people)
    for user, status in (
        (people.outsider, 404),
        (people.sibling_staff, 404),
        (depts.staff.labour, 404),
        (people.grid_worker, 403),
        (people.leader, 403),
    ):
        client = api_as(user)
        assert client.get(f"/api/v1/grievances/{case.pk}/joins/").status_code == status
        for act in ("confirm", "decline"):
            url = f"/api/v1/grievances/{case.pk}/joins/{join.pk}/{act}/"
            assert client.post(url).status_code == status
    assert Join.objects.get().state == "pending"
    other, other_join = _pending(people, phone="13922223333")
    # A join of another case through this case's address: 404.
    client = api_as(people.centre_staff)
    assert (
        client.post(f"/api/v1/grievances/{case.pk}/joins/{other_join.pk}/confirm/").status_code
        == 404
    )
    assert client.get("/api/v1/grievances/99999999/joins/").status_code == 404


def test_anonymous_callers_are_refused(api, people):
    case, join = _pending(people)
    assert api.get(f"/api/v1/grievances/{case.pk}/joins/").status_code in (401, 403)
    assert api.post(f"/api/v1/grievances/{case.pk}/joins/{join.pk}/confirm/").status_code in (
        401,
        403,
    )
