"""The case list: filters, scoping, a query count that does not grow with the cases, and
personal data masked for those who do not need it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import time_machine

from grids.models import Role, User
from grievances.models import Grievance, Source, State
from tests.factories import make_member
from tests.grievances.conftest import (
    POINT_A1,
    POINT_B1,
    advance,
    api_as,
    as_user,
    at,
    new_case,
    post_act,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/grievances/"


def titles(client, **params) -> list[str]:
    r = client.get(LIST, params)
    assert r.status_code == 200, r.json()
    return sorted(row["title"] for row in r.json()["results"])


@pytest.fixture
def cases(tree, people):
    """Cases in both townships and in the other tree, at known instants."""
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        road = new_case(people.grid_worker, category="hazard.road", title="A路面塌陷")
        dispute = new_case(
            people.grid_worker,
            category="dispute.neighbours",
            title="A邻里纠纷",
            risk_petition=True,
        )
        clock.move_to(at(2026, 3, 3, 10))
        resident = new_case(None, title="A居民来信", point=POINT_A1)
        grid_a2 = new_case(None, title="A第二网格积水", point=(91.2, 29.2))
        clock.move_to(at(2026, 3, 4, 10))
        town_b = new_case(b_worker, title="B校门口积水", point=POINT_B1, risk_group=True)
        outside = new_case(people.outsider, region=tree.other_county, title="X乡城县案件")
        # The road case runs late: dispatched on 03-04 with an urgent 2-day limit.
        road = advance(road, State.DISPATCHED, people)
        dispute = advance(dispute, State.ACCEPTED, people)
    return SimpleNamespace(
        road=road,
        dispute=dispute,
        resident=resident,
        grid_a2=grid_a2,
        town_b=town_b,
        outside=outside,
    )


A_TITLES = ["A居民来信", "A第二网格积水", "A路面塌陷", "A邻里纠纷"]


def test_scoping_each_sees_their_own_subtree(tree, people, cases):
    assert titles(api_as(people.centre_staff)) == sorted(A_TITLES)
    assert titles(api_as(people.sibling_staff)) == ["B校门口积水"]
    assert titles(api_as(people.leader)) == sorted([*A_TITLES, "B校门口积水"])
    assert titles(api_as(people.outsider)) == ["X乡城县案件"]
    # A grid worker sees their grid's cases (and nothing of the next grid).
    assert titles(api_as(people.grid_worker)) == ["A居民来信", "A路面塌陷", "A邻里纠纷"]


def test_a_user_without_any_membership_sees_nothing(tree, cases):
    from tests.factories import UserFactory

    assert titles(api_as(UserFactory(username="nobody"))) == []


def test_the_api_needs_a_login(tree, cases, api):
    assert api.get(LIST).status_code in (401, 403)


def test_filter_by_state(people, cases):
    client = api_as(people.leader)
    assert titles(client, state="dispatched") == ["A路面塌陷"]
    assert titles(client, state=["accepted", "dispatched"]) == ["A路面塌陷", "A邻里纠纷"]
    assert client.get(LIST, {"state": "nonsense"}).status_code == 400


def test_filter_by_category_takes_the_subtree(people, cases):
    client = api_as(people.leader)
    assert titles(client, category="hazard.road") == ["A路面塌陷"]
    assert titles(client, category="dispute") == ["A邻里纠纷"]
    assert titles(client, category="hazard") == [
        "A居民来信",
        "A第二网格积水",
        "A路面塌陷",
        "B校门口积水",
    ]
    assert titles(client, category="no.such") == []


def test_filter_by_region_takes_the_subtree(tree, people, cases):
    client = api_as(people.leader)
    assert titles(client, region=tree.town_b.code) == ["B校门口积水"]
    assert titles(client, region=tree.village_a.code) == sorted(A_TITLES)
    assert titles(client, region=tree.grid_a2.code) == ["A第二网格积水"]
    assert titles(client, region=tree.county.code) == sorted([*A_TITLES, "B校门口积水"])
    # A region outside the caller's scope adds nothing.
    assert titles(client, region=tree.other_county.code) == []
    assert titles(client, region="000000000000") == []


def test_filter_overdue(people, cases):
    client = api_as(people.leader)
    with time_machine.travel(at(2026, 3, 4, 11), tick=False):
        assert titles(client, overdue="true") == []
    # The road case's report-in (1 working hour from 03-04 10:00) has run out.
    with time_machine.travel(at(2026, 3, 4, 11, 1), tick=False):
        assert titles(client, overdue="true") == ["A路面塌陷"]
        assert "A路面塌陷" not in titles(client, overdue="false")
        assert len(titles(client, overdue="false")) == 4


def test_filter_by_source_and_risk(people, cases):
    client = api_as(people.leader)
    assert titles(client, source=Source.RESIDENT_WEB) == ["A居民来信", "A第二网格积水"]
    assert titles(client, risk="petition") == ["A邻里纠纷"]
    assert titles(client, risk=["petition", "group"]) == ["A邻里纠纷", "B校门口积水"]


def test_filter_by_created_range(people, cases):
    client = api_as(people.leader)
    assert titles(client, created_after="2026-03-03T00:00:00+08:00") == [
        "A居民来信",
        "A第二网格积水",
        "B校门口积水",
    ]
    assert titles(
        client,
        created_after="2026-03-03T00:00:00+08:00",
        created_before="2026-03-04T00:00:00+08:00",
    ) == ["A居民来信", "A第二网格积水"]
    assert client.get(LIST, {"created_after": "yesterday"}).status_code == 400


def test_search_by_text_and_by_tracking_code(people, cases):
    client = api_as(people.leader)
    assert titles(client, q="积水") == ["A第二网格积水", "B校门口积水"]
    assert titles(client, q="纠纷") == ["A邻里纠纷"]
    code = cases.town_b.display_code
    for written in (code, code.lower(), code.replace("-", "")):
        assert titles(client, q=written) == ["B校门口积水"]
    # A case outside the caller's scope is not found by its code either.
    assert titles(client, q=cases.outside.display_code) == []


def test_results_come_newest_first(people, cases):
    rows = api_as(people.leader).get(LIST).json()["results"]
    created = [row["created_at"] for row in rows]
    assert created == sorted(created, reverse=True)


# --- query count

# The memberships, the category and the region of the filters, the page of cases: the
# same for 5 cases or 30, whatever their categories, regions and flags.
LIST_QUERY_BOUND = 4


@pytest.mark.parametrize("n", [5, 30])
def test_the_list_costs_the_same_queries_for_5_or_30_cases(
    tree, people, n, django_assert_max_num_queries
):
    for i in range(n):
        new_case(
            people.grid_worker if i % 2 else None,
            title=f"案件{i}",
            category=["hazard.road", "dispute.neighbours", "hardship.elderly"][i % 3],
            point=[(91.2, 29.2), POINT_A1][i % 2],
            risk_group=bool(i % 2),
        )
    for params in ({}, {"category": "hazard", "region": tree.town_a.code, "q": "案件"}):
        # A fresh user object, as in a real request: the memberships are read again.
        client = as_user(User.objects.get(pk=people.leader.pk))
        with django_assert_max_num_queries(LIST_QUERY_BOUND):
            r = client.get(LIST, params)
        assert r.status_code == 200
        if not params:
            assert len(r.json()["results"]) == min(n, 25)


@pytest.mark.parametrize("n", [5, 30])
def test_a_reporters_list_costs_the_same_queries_for_5_or_30_cases(
    tree, people, n, django_assert_max_num_queries
):
    """Which rows a resident sees only as their reporter (and reads blanked) is found with
    one query for the page."""
    from tests.factories import UserFactory

    resident = UserFactory()
    for i in range(n):
        new_case(resident, title=f"案件{i}", source=Source.RESIDENT_WEB, risk_group=True)
    client = as_user(User.objects.get(pk=resident.pk))
    with django_assert_max_num_queries(LIST_QUERY_BOUND + 1):
        r = client.get(LIST)
    rows = r.json()["results"]
    assert len(rows) == min(n, 25)
    assert all(row["risk_flags"] == [] and row["priority"] == 0 for row in rows)


def test_the_list_pages_with_a_cursor(tree, people):
    for i in range(30):
        new_case(people.grid_worker, title=f"案件{i:02d}")
    client = api_as(people.leader)
    first = client.get(LIST).json()
    assert len(first["results"]) == 25 and first["next"]
    second = client.get(first["next"]).json()
    seen = {row["id"] for row in first["results"]} | {row["id"] for row in second["results"]}
    assert len(second["results"]) == 5
    assert seen == set(Grievance.objects.values_list("pk", flat=True))


# --- personal data


def phones(client, case) -> list[str]:
    r = client.get(f"/api/v1/grievances/{case.pk}/")
    assert r.status_code == 200
    return [c["phone"] for c in r.json()["complainants"]]


def test_phone_numbers_are_masked_for_those_who_do_not_handle_the_case(tree, people):
    case = new_case(None, phone="13812341234")
    assert phones(api_as(people.centre_staff), case) == ["13812341234"]
    assert phones(api_as(people.leader), case) == ["138****1234"]
    assert phones(api_as(people.grid_worker), case) == ["138****1234"]
    assert phones(api_as(people.grid_leader), case) == ["138****1234"]
    # Once the grid handles it, its worker may call the reporter back.
    advance(case, State.DISPATCHED, people)
    assert phones(api_as(people.grid_worker), case) == ["13812341234"]
    assert phones(api_as(people.leader), case) == ["138****1234"]


def test_the_reporter_sees_their_own_numbers(tree, people):
    case = new_case(people.grid_worker, phone="13812341234")
    assert phones(api_as(people.grid_worker), case) == ["13812341234"]


def test_id_numbers_are_masked_too(tree, people):
    r = api_as(people.grid_worker).post(
        LIST,
        {
            "title": "低保申请",
            "description": "申请低保",
            "category": "hardship.assistance",
            "lng": 91.2,
            "lat": 29.7,
            "complainants": [
                {"name": "赵六", "phone": "13812341234", "id_number": "54010219800101123X"}
            ],
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    case = Grievance.objects.get(pk=r.json()["id"])
    detail = api_as(people.leader).get(f"/api/v1/grievances/{case.pk}/").json()
    assert detail["complainants"][0]["id_number"] == "540***********123X"
    detail = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").json()
    assert detail["complainants"][0]["id_number"] == "54010219800101123X"


def test_the_act_response_masks_like_the_detail(tree, people):
    case = new_case(None, phone="13812341234")
    r = post_act(api_as(people.leader), case, "urge")
    assert r.status_code == 200
    assert [c["phone"] for c in r.json()["complainants"]] == ["138****1234"]
    assert "13812341234" not in r.content.decode()
