"""The likely duplicate (疑似重复): found by the relay once a report is in, stored on the new
case, flagged in the centre's queues without a query per row, compared side by side."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from duplicates import services
from grievances.models import CaseEvent, Grievance
from grievances.relay import relay_batch
from tests.duplicates.conftest import east
from tests.grievances.conftest import POINT_B1, advance, new_case

pytestmark = pytest.mark.django_db


def fresh(case) -> Grievance:
    return Grievance.objects.get(pk=case.pk)


def test_a_new_report_next_to_an_open_case_is_flagged_by_the_relay(people):
    first = new_case(people.grid_worker, point=east(10))
    second = new_case(people.grid_worker, point=east(40), category="hazard.road")
    # Not in the intake request: the relay finds it.
    assert fresh(second).likely_duplicate_of_id is None
    relay_batch()
    second = fresh(second)
    assert second.likely_duplicate_of_id == first.pk
    assert second.likely_duplicate_m == 30
    # The earlier case duplicates nothing reported before it.
    assert fresh(first).likely_duplicate_of_id is None


def test_the_nearest_earlier_open_case_of_the_family_within_100_m(people):
    far = new_case(people.grid_worker, point=east(90))
    near = new_case(people.grid_worker, point=east(20))
    new_case(people.grid_worker, point=east(5), category="dispute.neighbours")  # other family
    closed = advance(new_case(people.grid_worker, point=east(2)), "closed", people)
    old = new_case(people.grid_worker, point=east(1))
    Grievance.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    relay_batch()
    case = new_case(people.grid_worker)
    relay_batch()
    assert fresh(case).likely_duplicate_of_id == near.pk
    assert fresh(near).likely_duplicate_of_id == far.pk
    assert closed.pk != near.pk


def test_no_point_no_comparison_and_nothing_near_no_flag(tree, people):
    new_case(people.grid_worker)
    by_hand = new_case(people.grid_worker, region=tree.grid_a1)
    alone = new_case(None, point=POINT_B1)
    relay_batch()
    assert fresh(by_hand).likely_duplicate_of_id is None
    assert fresh(alone).likely_duplicate_of_id is None


def test_handing_the_report_over_twice_flags_it_once(people):
    first = new_case(people.grid_worker)
    second = new_case(people.grid_worker, point=east(30))
    relay_batch()
    flagged = fresh(second)
    event = CaseEvent.objects.get(grievance=second, action="submit")
    # A relay chunk that runs again (its first run's commit lost, say).
    assert services.flag_likely_duplicates([event.pk]) == 0
    again = fresh(second)
    assert again.likely_duplicate_of_id == first.pk
    assert again.version == flagged.version


def _flagged_pair(people, metres=30):
    first = new_case(people.grid_worker, title="路灯不亮", point=east(0))
    second = new_case(people.grid_worker, title="路灯坏了", point=east(metres), phone="13955556666")
    relay_batch()
    return first, fresh(second)


@pytest.mark.parametrize("url", ["/console/", "/cases/", "/"])
def test_the_queues_show_the_flag_with_a_constant_number_of_queries(
    people, url, django_assert_max_num_queries
):
    client = Client()
    client.force_login(people.centre_staff)
    first, second = _flagged_pair(people)
    client.get(url)  # warm the per-process caches
    with CaptureQueriesContext(connection) as one:
        response = client.get(url)
    html = response.content.decode()
    assert f"/cases/{second.pk}/compare/{first.pk}/" in html
    assert "Likely duplicate" in html or "疑似重复" in html
    for i in range(4):
        new_case(people.grid_worker, title=f"路灯{i}", point=east(31 + i))
    relay_batch()
    assert Grievance.objects.filter(likely_duplicate_of__isnull=False).count() == 5
    with django_assert_max_num_queries(len(one)):
        html = client.get(url).content.decode()
    assert html.count("dup-flag") >= 2


def test_the_comparison_shows_both_cases_side_by_side(people, django_assert_max_num_queries):
    first, second = _flagged_pair(people)
    client = Client()
    client.force_login(people.centre_staff)
    client.get(f"/cases/{second.pk}/compare/{first.pk}/")
    with django_assert_max_num_queries(12):
        response = client.get(f"/cases/{second.pk}/compare/{first.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "路灯不亮" in html and "路灯坏了" in html
    assert "30" in html  # metres apart
    assert "139****6666" in html and "13955556666" not in html  # the reporter masked
    # The case page offers it too.
    page = client.get(f"/cases/{second.pk}/").content.decode()
    assert f"/cases/{second.pk}/compare/{first.pk}/" in page


def test_a_comparison_outside_the_scope_is_a_404(tree, people, depts):
    first, second = _flagged_pair(people)
    elsewhere = new_case(None, point=POINT_B1)  # 克松村: another township
    for user in (people.outsider, people.sibling_staff, depts.staff.transport):
        client = Client()
        client.force_login(user)
        assert client.get(f"/cases/{second.pk}/compare/{first.pk}/").status_code == 404
    client = Client()
    client.force_login(people.centre_staff)
    assert client.get(f"/cases/{second.pk}/compare/{elsewhere.pk}/").status_code == 404
    assert client.get(f"/cases/{second.pk}/compare/{second.pk}/").status_code == 404
    anonymous = Client().get(f"/cases/{second.pk}/compare/{first.pk}/")
    assert anonymous.status_code == 302
