"""A caller's earlier cases at the desk (重复来电): typing a complainant's phone on the desk's
report form lists the cases that number is on, within the user's scope only, masked as the
user's rights say, rate-limited; and the API's list answers ?phone= the same way."""

from __future__ import annotations

import pytest

from grievances import services
from grievances.models import Category, Source
from tests.grievances.conftest import POINT_B1, api_as, new_case
from tests.grievances.test_pages_intake import client_for, text

pytestmark = pytest.mark.django_db

PHONE = "13908931234"


def history(user, phone: str, **extra):
    return client_for(user).get("/desk/callers/", {"phone": phone}, HTTP_HX_REQUEST="true", **extra)


@pytest.fixture
def calls(tree, people):
    """Two earlier calls of PHONE in 泽当街道 (one typed with spaces), one in 昌珠镇 (the
    sibling township), and another number's case."""
    first = new_case(people.grid_worker, phone=PHONE, title="楼道垃圾堆积")
    second = new_case(people.grid_worker, phone="139 0893-1234", title="路灯不亮")
    sibling = new_case(people.sibling_staff, point=POINT_B1, phone=PHONE, title="校门口积水")
    other = new_case(people.grid_worker, phone="13800009999", title="井盖缺失")
    return first, second, sibling, other


def test_the_desk_form_carries_the_panel_and_the_grid_form_does_not(people):
    html = text(client_for(people.centre_staff).get("/report/"))
    assert 'id="caller-history"' in html and "js/caller_history.js" in html
    html = text(client_for(people.grid_worker).get("/report/"))
    assert "caller-history" not in html


def test_a_repeat_caller_sees_their_cases_of_the_scope_only(people, calls):
    first, second, sibling, other = calls
    r = history(people.centre_staff, "+86 139-0893-1234")
    assert r.status_code == 200
    html = text(r)
    assert "重复来电 2 次" in html
    assert first.display_code in html and second.display_code in html
    assert first.title in html and "待受理" in html
    assert first.created_at.strftime("%Y-%m-%d") in html
    # 昌珠镇's case is another centre's: neither counted nor shown.
    assert sibling.display_code not in html and sibling.title not in html
    assert other.display_code not in html
    # The township's centre sees the numbers whole.
    assert PHONE in html and "139 0893-1234" in html


def test_the_sibling_centre_sees_its_own_case_and_the_outsider_nothing(people, calls):
    _first, _second, sibling, _other = calls
    html = text(history(people.sibling_staff, PHONE))
    assert "重复来电 1 次" in html and sibling.display_code in html
    r = history(people.outsider, PHONE)
    assert r.status_code == 200 and "重复来电" not in text(r)


def test_a_leader_sees_the_cases_with_the_numbers_masked(people, calls):
    html = text(history(people.leader, PHONE))
    # The county's leader: all three of the county, no right to the numbers.
    assert "重复来电 3 次" in html
    assert PHONE not in html and "139****1234" in html


def test_the_panel_costs_the_same_for_many_cases(people, tree, django_assert_max_num_queries):
    for n in range(14):
        new_case(people.grid_worker, phone=PHONE, title=f"第{n}次来电")
    client = client_for(people.centre_staff)
    with django_assert_max_num_queries(10):
        html = text(client.get("/desk/callers/", {"phone": PHONE}, HTTP_HX_REQUEST="true"))
    assert "重复来电 14 次" in html and html.count('class="nearby__item"') == 10
    assert "最新的 10 件" in html


@pytest.mark.parametrize("phone", ["", "abc", "12", "1" * 30, "13908931234' OR 1=1", "１３９"])
def test_bad_numbers_show_nothing(people, calls, phone):
    r = history(people.centre_staff, phone)
    assert r.status_code == 200 and "重复来电" not in text(r)


def test_only_the_desk_may_ask(people, calls, depts):
    assert history(people.grid_worker, PHONE).status_code == 403
    assert history(depts.staff.transport, PHONE).status_code == 403
    anonymous = client_for().get("/desk/callers/", {"phone": PHONE})
    assert anonymous.status_code == 302


def test_the_look_ups_are_rate_limited_per_user(people, calls, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "caller_history": "2/hour",
        },
    }
    client = client_for(people.centre_staff)
    answers = [client.get("/desk/callers/", {"phone": PHONE}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    r = api_as(people.centre_staff).get("/api/v1/grievances/", {"phone": PHONE})
    assert r.status_code == 429
    # Another user keeps their own allowance.
    assert history(people.sibling_staff, PHONE).status_code == 200


def test_the_api_lists_a_callers_cases_in_scope(people, calls):
    first, second, sibling, _other = calls
    r = api_as(people.centre_staff).get("/api/v1/grievances/", {"phone": "8613908931234"})
    assert r.status_code == 200
    assert {row["id"] for row in r.json()["results"]} == {first.pk, second.pk}
    r = api_as(people.outsider).get("/api/v1/grievances/", {"phone": PHONE})
    assert r.json()["results"] == []


@pytest.mark.parametrize("phone", ["abc", "1" * 25, "13908931234' OR 1=1"])
def test_the_api_names_a_bad_number(people, phone):
    r = api_as(people.centre_staff).get("/api/v1/grievances/", {"phone": phone})
    assert r.status_code == 400 and "phone" in r.json()


def test_a_merged_or_joined_caller_counts_by_their_own_number(people, tree):
    """Each complainant of a group case is a caller of their own."""
    case = services.grievance_submit(
        user=people.centre_staff,
        title="十三名工人欠薪",
        description="工程款拖欠",
        category=Category.objects.get(code="dispute.wages"),
        source=Source.WALK_IN,
        region=tree.village_a,
        complainants=[
            services.ComplainantData(name="甲", phone="13900000001"),
            services.ComplainantData(name="乙", phone=PHONE),
        ],
    )
    html = text(history(people.centre_staff, PHONE))
    assert case.display_code in html and "乙" in html and "13900000001" not in html
