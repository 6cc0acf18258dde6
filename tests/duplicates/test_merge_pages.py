"""The centre's merge buttons: "merge into this one" on the comparison page and on the case
page's likely-duplicate card, the undo button on both cases' pages, both timelines."""

from __future__ import annotations

import pytest
from django.test import Client

from grievances.models import Complainant, Grievance
from grievances.relay import relay_batch
from tests.duplicates.conftest import east
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def flagged_pair(people):
    """An earlier case and a later one 30 m away, flagged as its likely duplicate."""
    first = new_case(people.grid_worker, title="路灯坏了", phone="13911112222")
    second = new_case(people.grid_worker, title="路灯不亮", point=east(30), phone="13955556666")
    relay_batch()
    second = Grievance.objects.get(pk=second.pk)
    assert second.likely_duplicate_of_id == first.pk
    return first, second


def test_merge_into_this_one_from_the_comparison_and_undo_it(people, django_assert_max_num_queries):
    first, second = flagged_pair(people)
    client = login(people.centre_staff)
    url = f"/cases/{second.pk}/compare/{first.pk}/"
    client.get(url)
    with django_assert_max_num_queries(13):
        html = client.get(url).content.decode()
    # Under each side: merge the other one into it.
    assert f'action="/cases/{second.pk}/merge/"' in html
    assert f'action="/cases/{first.pk}/merge/"' in html

    answer = client.post(
        f"/cases/{second.pk}/merge/",
        {"into": first.pk, "version": second.version, "next": url},
    )
    assert answer.status_code == 302 and answer["Location"] == f"/cases/{first.pk}/"
    assert Grievance.objects.get(pk=second.pk).state == "rejected"
    assert Complainant.objects.get(phone="13955556666").grievance_id == first.pk

    staying = client.get(f"/cases/{first.pk}/").content.decode()
    assert f"合并了 {second.display_code}" in staying
    assert "已并入本案" in staying and f'action="/cases/{second.pk}/unmerge/"' in staying
    merged = client.get(f"/cases/{second.pk}/").content.decode()
    assert f"已合并到 {first.display_code}" in merged
    assert f'action="/cases/{second.pk}/unmerge/"' in merged

    back = client.post(f"/cases/{second.pk}/unmerge/", {"next": f"/cases/{first.pk}/"})
    assert back.status_code == 302 and back["Location"] == f"/cases/{second.pk}/"
    assert Grievance.objects.get(pk=second.pk).state == "submitted"
    assert Complainant.objects.get(phone="13955556666").grievance_id == second.pk
    merged = client.get(f"/cases/{second.pk}/").content.decode()
    assert f"撤销合并到 {first.display_code}" in merged


def test_the_case_page_merges_into_the_likely_duplicate(people):
    first, second = flagged_pair(people)
    client = login(people.centre_staff)
    page = client.get(f"/cases/{second.pk}/").content.decode()
    assert f"合并到 {first.display_code}" in page
    answer = client.post(f"/cases/{second.pk}/merge/", {"into": first.pk, "version": "999"})
    # The page's version is stale: nothing done, the page says why.
    assert answer.status_code == 302 and answer["Location"] == f"/cases/{second.pk}/"
    assert Grievance.objects.get(pk=second.pk).state == "submitted"
    answer = client.post(
        f"/cases/{second.pk}/merge/", {"into": first.pk, "version": second.version}
    )
    assert answer["Location"] == f"/cases/{first.pk}/"
    assert Grievance.objects.get(pk=second.pk).state == "rejected"


def test_others_see_no_button_and_are_refused(people, depts):
    first, second = flagged_pair(people)
    for user in (people.grid_worker, people.leader):
        client = login(user)
        page = client.get(f"/cases/{second.pk}/").content.decode()
        assert "/merge/" not in page
        post = client.post(f"/cases/{second.pk}/merge/", {"into": first.pk})
        assert post.status_code == 403
    for user in (people.outsider, people.sibling_staff, depts.staff.transport):
        assert login(user).post(f"/cases/{second.pk}/merge/", {"into": first.pk}).status_code == 404
    # The case that stays must be in the user's scope, and be named.
    client = login(people.centre_staff)
    assert client.post(f"/cases/{second.pk}/merge/", {"into": "x"}).status_code == 404
    itself = client.post(f"/cases/{second.pk}/merge/", {"into": second.pk}, follow=True)
    assert "不能合并到自身" in itself.content.decode()
    assert Grievance.objects.get(pk=second.pk).state == "submitted"
