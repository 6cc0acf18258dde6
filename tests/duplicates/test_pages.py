"""The join button of the report page's nearby list, its form and its limits; the centre's
card of joins on the case page with its confirm and decline buttons."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from duplicates.models import Join
from grievances.models import Complainant, Grievance
from tests.duplicates.conftest import east, flush, texts
from tests.grievances.conftest import POINT_A1, advance, new_case

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def nearby(client, category="hazard.environment"):
    return client.get(
        "/report/nearby/", {"lng": POINT_A1[0], "lat": POINT_A1[1], "category": category}, **HTMX
    ).content.decode()


def join_url(html: str) -> str:
    return re.search(r'hx-get="(/report/join/[^"]+/)"', html).group(1)


def test_a_resident_joins_a_nearby_case_without_seeing_its_id_or_code(people):
    case = new_case(people.grid_worker, point=east(30), title="三楼水管爆裂")
    client = Client()
    html = nearby(client)
    assert "这就是我要反映的" in html or "This is what I want to report" in html
    assert case.display_code not in html and case.tracking_code not in html
    assert f"/cases/{case.pk}/" not in html and "三楼水管爆裂" not in html
    url = join_url(html)

    form = client.get(url, **HTMX).content.decode()
    assert 'name="join_phone"' in form and 'name="join_name"' in form
    # The phone is required of a resident.
    answer = client.post(url, {"join_name": "李四"}, **HTMX)
    assert answer.status_code == 200
    assert "field--error" in answer.content.decode()
    assert not Join.objects.exists()

    answer = client.post(url, {"join_name": "李四", "join_phone": "13911112222"}, **HTMX)
    body = answer.content.decode()
    assert "综治中心确认后" in body or "once the governance centre confirms" in body
    assert "data-join-discard" in body
    join = Join.objects.get()
    assert join.grievance == case and join.state == "pending" and join.submitted_by is None
    assert join.client_address == "127.0.0.1"
    # The same phone again: answered as the first (the answer tells nobody whether a phone
    # follows the case), and no second join.
    again = client.post(url, {"join_name": "李四", "join_phone": "13911112222"}, **HTMX)
    assert again.status_code == 200 and "data-join-discard" in again.content.decode()
    assert Join.objects.count() == 1


def test_a_grid_worker_joins_for_the_resident_before_them(people):
    case = new_case(people.grid_worker, point=east(30))
    client = Client()
    client.force_login(people.grid_worker)
    html = nearby(client)
    assert case.display_code in html  # their own scope: the code and a link
    url = join_url(html)
    # The resident's name is needed; a phone only if they have one.
    assert (
        "field--error" in client.post(url, {"join_phone": "13911112222"}, **HTMX).content.decode()
    )
    client.post(url, {"join_name": "王奶奶"}, **HTMX)
    join = Join.objects.get()
    assert join.submitted_by == people.grid_worker and join.name == "王奶奶" and join.phone == ""


def test_bad_input_is_a_form_error_never_a_500(people):
    new_case(people.grid_worker, point=east(30))
    client = Client()
    url = join_url(nearby(client))
    for data in ({"join_phone": "x" * 500}, {"join_phone": "abc"}, {"join_name": "n" * 500}, {}):
        assert client.post(url, data, **HTMX).status_code == 200
        assert client.post(url, data).status_code == 400
    assert not Join.objects.exists()
    # A made-up token: the list is out of date.
    gone = client.post("/report/join/not-a-token/", {"join_phone": "13911112222"}, **HTMX)
    assert gone.status_code == 200 and "join__problem" in gone.content.decode()
    assert client.get("/report/join/not-a-token/").status_code == 404


def test_a_closed_case_cannot_be_joined_with_a_clear_message(people):
    case = new_case(people.grid_worker, point=east(30))
    url = join_url(nearby(Client()))
    advance(case, "closed", people)
    answer = Client().post(url, {"join_phone": "13911112222"}, **HTMX).content.decode()
    assert "已办结" in answer or "Closed" in answer
    assert not Join.objects.exists()


def test_joins_per_client_address_are_limited(people, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "join": "2/hour",
        },
    }
    new_case(people.grid_worker, point=east(30))
    client = Client()
    url = join_url(nearby(client))
    for phone in ("13900000001", "13900000002"):
        client.post(url, {"join_phone": phone}, **HTMX)
    limited = client.post(url, {"join_phone": "13900000003"})
    assert limited.status_code == 429
    assert Join.objects.count() == 2


def _pending(people):
    case = new_case(people.grid_worker, point=east(30))
    client = Client()
    client.post(
        join_url(nearby(client)), {"join_name": "李四", "join_phone": "13911112222"}, **HTMX
    )
    return Grievance.objects.get(pk=case.pk), Join.objects.get()


def test_the_centre_confirms_a_join_on_the_case_page(people):
    case, join = _pending(people)
    flush()
    client = Client()
    client.force_login(people.centre_staff)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert "李四" in page and "13911112222" in page
    assert f"/cases/{case.pk}/joins/{join.pk}/confirm/" in page
    answer = client.post(
        f"/cases/{case.pk}/joins/{join.pk}/confirm/", {"version": case.version}, follow=True
    )
    assert answer.status_code == 200
    assert Complainant.objects.filter(grievance=case, phone="13911112222").exists()
    page = answer.content.decode()
    assert "加入反映人" in page or "Complainant joined" in page
    assert f"/joins/{join.pk}/confirm/" not in page
    flush()
    assert len(texts("13911112222")) == 1


def test_a_confirmation_on_an_old_page_does_nothing(people):
    case, join = _pending(people)
    client = Client()
    client.force_login(people.centre_staff)
    client.post(
        f"/cases/{case.pk}/joins/{join.pk}/confirm/", {"version": case.version - 1}, follow=True
    )
    assert Join.objects.get().state == "pending"
    client.post(f"/cases/{case.pk}/joins/{join.pk}/decline/")
    assert Join.objects.get().state == "declined"
    assert not Complainant.objects.filter(phone="13911112222").exists()


def test_others_see_no_joins_and_cannot_decide(people, depts):
    case, join = _pending(people)
    services_case = advance(case, "dispatched", people)
    assert services_case.state == "dispatched"
    for user, status in (
        (people.outsider, 404),
        (people.sibling_staff, 404),
        (people.grid_worker, 403),
    ):
        client = Client()
        client.force_login(user)
        answer = client.post(f"/cases/{case.pk}/joins/{join.pk}/confirm/")
        assert answer.status_code == status, user
        if status == 403:
            assert "13911112222" not in client.get(f"/cases/{case.pk}/").content.decode()
    assert Join.objects.get().state == "pending"
