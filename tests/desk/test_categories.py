"""The categories a county configures: the admin pages, the centre administrator's page
/desk/categories/ (add, edit, regions' limits, scope) and the category API's writes."""

from __future__ import annotations

import pytest
from django.test import Client

from dispatch.models import RoutingRule
from grids.models import Role
from grievances.models import Category, CategoryLimit
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(tree):
    """A centre administrator of 乃东区 (tree.county) and one of 乡城县 (another tree)."""
    here = make_member("nd_admin", tree.county, Role.CENTRE_ADMIN)
    there = make_member("xc_admin", tree.other_county, Role.CENTRE_ADMIN)
    return here, there


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _category_post(**overrides) -> dict:
    data = {
        "parent": Category.objects.get(code="dispute").pk,
        "code": "dispute.cordyceps",
        "name": "虫草采集纠纷",
        "name_en": "Cordyceps collection",
        "kind": "dispute",
        "region": "540502000000",
        "default_urgency": "urgent",
        "default_handling_level": "township",
        "is_dispute": "on",
        "active": "on",
        "report_in_most_urgent_minutes": 30,
        "report_in_urgent_hours": 1,
        "report_in_normal_hours": 4,
        "handle_most_urgent_hours": 4,
        "handle_urgent_days": 2,
        "handle_normal_days": 7,
    }
    data.update(overrides)
    return data


# --- The admin ---------------------------------------------------------------------------


def test_the_category_admin_pages_load_with_limits_and_routing_rules(tree, depts):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = browser(superuser)
    road = Category.objects.get(code="hazard.road")
    RoutingRule.objects.create(category=road, region=tree.county, lead=depts.transport)
    assert client.get("/admin/grievances/category/").status_code == 200
    page = client.get(f"/admin/grievances/category/{road.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "limits-TOTAL_FORMS" in html  # the regions' own limits
    assert "routingrule_set-TOTAL_FORMS" in html  # dispatch's inline
    assert depts.transport.name in html
    assert client.get("/admin/grievances/category/add/").status_code == 200


def test_a_category_saved_in_the_admin_with_a_regions_limit(tree):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = browser(superuser)
    data = {
        "code": "hazard.lift",
        "name": "加装电梯",
        "name_en": "Lift retrofits",
        "kind": "hazard",
        "parent": Category.objects.get(code="hazard").pk,
        "region": "",
        "is_dispute": "",
        "active": "on",
        "default_urgency": "normal",
        "default_handling_level": "township",
        "report_in_most_urgent_minutes": 30,
        "report_in_urgent_hours": 1,
        "report_in_normal_hours": 4,
        "handle_most_urgent_hours": 4,
        "handle_urgent_days": 1,
        "handle_normal_days": 10,
        "limits-TOTAL_FORMS": 1,
        "limits-INITIAL_FORMS": 0,
        "limits-0-region": tree.county.pk,
        "limits-0-urgency": "normal",
        "limits-0-report_in": 2,
        "limits-0-handling": 5,
        "routingrule_set-TOTAL_FORMS": 0,
        "routingrule_set-INITIAL_FORMS": 0,
    }
    r = client.post("/admin/grievances/category/add/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    lift = Category.objects.get(code="hazard.lift")
    assert lift.default_handling_level == "township"
    assert lift.limits.get().handling == 5


# --- The centre administrator's page -------------------------------------------------------


def test_only_centre_administrators_and_the_superuser_open_the_page(tree, people, admins):
    assert browser(people.centre_staff).get("/desk/categories/").status_code == 403
    anonymous = Client().get("/desk/categories/")
    assert anonymous.status_code == 302
    page = browser(admins[0]).get("/desk/categories/")
    assert page.status_code == 200
    assert "拖欠工资" in page.content.decode()
    superuser = UserFactory(username="root", is_superuser=True)
    assert browser(superuser).get("/desk/categories/").status_code == 200


def test_the_nav_offers_the_page_to_a_centre_administrator(tree, people, admins):
    assert 'href="/desk/categories/"' in browser(admins[0]).get("/").content.decode()
    assert 'href="/desk/categories/"' not in browser(people.centre_staff).get("/").content.decode()


def test_the_page_lists_within_a_constant_number_of_queries(
    tree, admins, django_assert_max_num_queries
):
    client = browser(admins[0])
    client.get("/desk/categories/")
    with django_assert_max_num_queries(14):
        assert client.get("/desk/categories/").status_code == 200


def test_a_centre_administrator_adds_and_edits_their_countys_category(tree, admins):
    client = browser(admins[0])
    r = client.post("/desk/categories/new/", _category_post())
    assert r.status_code == 302, r.content.decode()
    added = Category.objects.get(code="dispute.cordyceps")
    assert (added.region, added.parent.code, added.default_handling_level) == (
        tree.county,
        "dispute",
        "township",
    )
    assert r.url == f"/desk/categories/{added.pk}/"
    changed = _category_post(name="虫草松茸采集纠纷", handle_normal_days=5)
    r = client.post(f"/desk/categories/{added.pk}/", changed)
    assert r.status_code == 302
    added.refresh_from_db()
    assert (added.name, added.handle_normal_days) == ("虫草松茸采集纠纷", 5)


def test_field_errors_name_the_field(tree, admins):
    client = browser(admins[0])
    # Another county's region, a code that does not follow its parent, a kind unlike it.
    r = client.post(
        "/desk/categories/new/",
        _category_post(region="513336000000", code="cordyceps", kind="hazard"),
    )
    assert r.status_code == 400
    errors = r.context["form"].errors
    assert "region" in errors
    r = client.post("/desk/categories/new/", _category_post(code="hazard", kind="hazard"))
    assert r.status_code == 400
    assert set(r.context["form"].errors) >= {"code", "kind"}
    r = client.post("/desk/categories/new/", _category_post(region="", handle_normal_days="x"))
    assert r.status_code == 400
    assert set(r.context["form"].errors) >= {"region", "handle_normal_days"}
    assert not Category.objects.filter(name="虫草采集纠纷").exists()


def test_another_countys_administrator_gets_404_or_403(tree, admins):
    here, there = admins
    browser(here).post("/desk/categories/new/", _category_post())
    ours = Category.objects.get(code="dispute.cordyceps")
    other = browser(there)
    # Another county's category: not found, neither to read nor to change nor for limits.
    assert other.get(f"/desk/categories/{ours.pk}/").status_code == 404
    assert other.post(f"/desk/categories/{ours.pk}/", _category_post()).status_code == 404
    limit = {"region": "513336000000", "urgency": "normal", "report_in": 1, "handling": 1}
    assert other.post(f"/desk/categories/{ours.pk}/limits/", limit).status_code == 404
    # A category for everywhere: seen, its own values not changed by a county (403).
    wages = Category.objects.get(code="dispute.wages")
    assert other.get(f"/desk/categories/{wages.pk}/").status_code == 200
    r = other.post(f"/desk/categories/{wages.pk}/", _category_post(code="dispute.wages"))
    assert r.status_code == 403
    wages.refresh_from_db()
    assert wages.name == "拖欠工资"


def test_regions_limits_for_the_countys_subtree_only(tree, admins):
    here, there = admins
    wages = Category.objects.get(code="dispute.wages")
    client = browser(here)
    data = {"region": tree.town_a.code, "urgency": "urgent", "report_in": 2, "handling": 3}
    r = client.post(f"/desk/categories/{wages.pk}/limits/", data)
    assert r.status_code == 302
    limit = CategoryLimit.objects.get(category=wages)
    assert (limit.region, limit.report_in, limit.handling) == (tree.town_a, 2, 3)
    # The same region and urgency again replaces it.
    client.post(f"/desk/categories/{wages.pk}/limits/", {**data, "handling": 4})
    assert CategoryLimit.objects.get(category=wages).handling == 4
    # Another county's region, a limit of 0: errors by field.
    r = client.post(
        f"/desk/categories/{wages.pk}/limits/", {**data, "region": "513336000000", "handling": 0}
    )
    assert r.status_code == 400
    assert set(r.context["limit_form"].errors) == {"region", "handling"}
    # The other county sees neither the limit on its page nor may remove it.
    page = browser(there).get(f"/desk/categories/{wages.pk}/")
    assert f"limit-{limit.pk}" not in page.content.decode()
    r = browser(there).post(f"/desk/categories/limits/{limit.pk}/delete/")
    assert r.status_code == 404
    assert client.post(f"/desk/categories/limits/{limit.pk}/delete/").status_code == 302
    assert not CategoryLimit.objects.exists()


# --- The API --------------------------------------------------------------------------------


def _api_body(**overrides) -> dict:
    body = {
        "parent": "dispute",
        "code": "dispute.pasture",
        "name": "草场放牧纠纷",
        "name_en": "Grassland and grazing",
        "kind": "dispute",
        "region": "540502000000",
        "is_dispute": True,
    }
    body.update(overrides)
    return body


def test_the_api_reads_for_everyone_and_writes_for_administrators(tree, people, admins):
    from rest_framework.test import APIClient

    listed = APIClient().get("/api/v1/categories/")
    assert listed.status_code == 200
    assert "region" in listed.json()[0]
    assert APIClient().post("/api/v1/categories/", _api_body(), format="json").status_code in (
        401,
        403,
    )
    staff = as_user(people.centre_staff)
    assert staff.post("/api/v1/categories/", _api_body(), format="json").status_code == 403
    here, there = admins
    r = as_user(here).post("/api/v1/categories/", _api_body(), format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["region"] == "540502000000"
    r = as_user(here).patch(
        "/api/v1/categories/dispute.pasture/", {"handle_normal_days": 8}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert Category.objects.get(code="dispute.pasture").handle_normal_days == 8
    # Another county: 404 for ours, 403 for one for everywhere, 400 naming the field.
    other = as_user(there)
    patch = {"name": "x"}
    ours = "/api/v1/categories/dispute.pasture/"
    assert other.patch(ours, patch, format="json").status_code == 404
    assert other.patch("/api/v1/categories/dispute.wages/", patch, format="json").status_code == 403
    r = other.post("/api/v1/categories/", _api_body(code="dispute.grass"), format="json")
    assert r.status_code == 400
    assert "region" in r.json()
    r = as_user(here).post(
        "/api/v1/categories/", _api_body(code="dispute.pasture", kind="hazard"), format="json"
    )
    assert r.status_code == 400
    assert "code" in r.json()
    # A parent under the category itself is refused, not a server error.
    r = as_user(here).post(
        "/api/v1/categories/",
        _api_body(code="dispute.pasture.summer", parent="dispute.pasture"),
        format="json",
    )
    assert r.status_code == 201, r.json()
    r = as_user(here).patch(
        "/api/v1/categories/dispute.pasture/", {"parent": "dispute.pasture.summer"}, format="json"
    )
    assert r.status_code == 400
    assert "parent" in r.json()


def test_the_superuser_writes_any_category(tree):
    root = UserFactory(username="root", is_superuser=True)
    r = as_user(root).patch(
        "/api/v1/categories/dispute.wages/", {"handle_urgent_days": 3}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert Category.objects.get(code="dispute.wages").handle_urgent_days == 3
    r = as_user(root).post(
        "/api/v1/categories/",
        _api_body(code="dispute.forest", name="林草纠纷", region=None),
        format="json",
    )
    assert r.status_code == 201, r.json()


def test_a_countys_own_category_takes_cases_of_its_subtree_only(tree, people):
    own = Category.objects.create(
        code="dispute.cordyceps",
        name="虫草采集纠纷",
        kind="dispute",
        parent=Category.objects.get(code="dispute"),
        region=tree.other_county,
        is_dispute=True,
    )
    body = {"title": "挖虫草起争执", "description": "两村村民争挖虫草", "category": own.code}
    worker = as_user(people.grid_worker)  # in 乃东区, not 乡城县
    r = worker.post("/api/v1/grievances/", {**body, "lng": 91.2, "lat": 29.7}, format="json")
    assert r.status_code == 400
    assert "category" in r.json()
    own.region = tree.county
    own.save()
    r = worker.post("/api/v1/grievances/", {**body, "lng": 91.2, "lat": 29.7}, format="json")
    assert r.status_code == 201, r.json()
