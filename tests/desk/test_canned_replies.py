"""Canned replies (常用语): kept per county by its centre (list, add, change, delete, each
checked against the county), offered on the act forms of a case (data attributes the
case page's script reads) and served for a case as JSON: its county's replies of the kind,
for its category, the category's ancestors, or every category."""

from __future__ import annotations

import re

import pytest

from desk.models import CannedKind, CannedReply
from grids.models import Role
from grievances.models import Category
from tests.desk.conftest import client_as, text_of
from tests.factories import make_member
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.django_db

MANAGE = "/desk/canned/manage/"


@pytest.fixture
def keeper(tree):
    """Centre staff of the county (乃东区): keeps its libraries."""
    return make_member("county_centre", tree.county, Role.CENTRE_STAFF)


def reply(region, kind=CannedKind.REJECTION, text="不属于受理范围", category=None):
    return CannedReply.objects.create(
        region=region,
        kind=kind,
        text=text,
        category=Category.objects.get(code=category) if category else None,
    )


def test_the_county_centre_adds_changes_and_deletes(tree, keeper):
    client = client_as(keeper)
    assert client.get(MANAGE).status_code == 200
    r = client.post(
        MANAGE,
        {"region": tree.county.pk, "kind": "result", "text": "已处理完毕", "category": "hazard"},
    )
    assert r.status_code == 302
    made = CannedReply.objects.get()
    assert (made.kind, made.category.code, made.updated_by) == ("result", "hazard", keeper)
    assert "已处理完毕" in text_of(client.get(MANAGE))
    r = client.post(
        f"/desk/canned/{made.pk}/",
        {"region": tree.county.pk, "kind": "result", "text": "已修复", "category": ""},
    )
    assert r.status_code == 302
    made.refresh_from_db()
    assert (made.text, made.category) == ("已修复", None)
    assert client.post(f"/desk/canned/{made.pk}/delete/").status_code == 302
    assert not CannedReply.objects.exists()


def test_field_errors_name_the_field(tree, keeper):
    client = client_as(keeper)
    r = client.post(MANAGE, {"region": tree.county.pk, "kind": "gossip", "text": ""})
    assert r.status_code == 400
    page = text_of(r)
    assert 'id="id_kind_error"' in page and 'id="id_text_error"' in page
    # Another county is not among the choices: an error next to the county, nothing saved.
    r = client.post(MANAGE, {"region": tree.other_county.pk, "kind": "result", "text": "x"})
    assert r.status_code == 400 and 'id="id_region_error"' in text_of(r)
    bad = {"region": tree.county.pk, "kind": "result", "text": "x", "category": "nope"}
    r = client.post(MANAGE, bad)
    assert r.status_code == 400 and 'id="id_category_error"' in text_of(r)
    assert not CannedReply.objects.exists()


def test_others_may_not_keep_the_library(tree, people, keeper):
    mine = reply(tree.county)
    theirs = reply(tree.other_county, text="乡城县的")
    # A township centre uses the county's replies but does not keep them; a grid worker
    # neither.
    for user in (people.centre_staff, people.grid_worker):
        client = client_as(user)
        assert client.get(MANAGE).status_code == 403
        assert client.post(f"/desk/canned/{mine.pk}/delete/").status_code == 403
    # Another county's centre: its own list only, and a 404 for ours.
    client = client_as(people.outsider)
    page = text_of(client.get(MANAGE))
    assert "乡城县的" in page and "不属于受理范围" not in page
    assert client.get(f"/desk/canned/{mine.pk}/").status_code == 404
    assert client.post(f"/desk/canned/{mine.pk}/delete/").status_code == 404
    assert CannedReply.objects.filter(pk=mine.pk).exists()
    # And we do not reach theirs.
    assert client_as(keeper).get(f"/desk/canned/{theirs.pk}/").status_code == 404
    assert client_as(keeper).get("/desk/nothing/manage/").status_code == 404


def test_a_case_gets_its_countys_replies_for_its_category_family(tree, people, keeper):
    case = new_case(people.grid_worker, category="hazard.road")
    reply(tree.county, text="通用")
    reply(tree.county, text="隐患类", category="hazard")
    reply(tree.county, text="道路类", category="hazard.road")
    reply(tree.county, text="纠纷类", category="dispute.wages")
    reply(tree.county, kind=CannedKind.RESULT, text="另一种用途")
    reply(tree.other_county, text="别的县")
    r = client_as(people.centre_staff).get("/desk/canned/", {"kind": "rejection", "case": case.pk})
    assert r.status_code == 200
    texts = [row["text"] for row in r.json()["replies"]]
    assert sorted(texts) == sorted(["通用", "隐患类", "道路类"])


def test_the_json_endpoint_refuses_bad_input_and_foreign_cases(tree, people):
    case = new_case(people.grid_worker)
    client = client_as(people.centre_staff)
    r = client.get("/desk/canned/", {"kind": "gossip", "case": case.pk})
    assert r.status_code == 400 and "kind" in r.json()
    for bad in ("", "abc", "99999999999999999999"):
        r = client.get("/desk/canned/", {"kind": "result", "case": bad})
        assert r.status_code == 400 and "case" in r.json(), bad
    r = client_as(people.outsider).get("/desk/canned/", {"kind": "result", "case": case.pk})
    assert r.status_code == 404


def test_the_act_forms_name_their_kind_and_case(tree, people):
    case = new_case(people.grid_worker)
    page = text_of(client_as(people.centre_staff).get(f"/cases/{case.pk}/"))
    area = re.search(r'<textarea name="reason"[^>]*id="act-reject-reason"', page).group(0)
    assert 'data-canned="rejection"' in area and f'data-canned-case="{case.pk}"' in area
    assert "js/canned.js" in page
    assert 'id="case-knowledge-card"' in page


def test_the_json_costs_the_same_for_many_replies(tree, people, django_assert_max_num_queries):
    case = new_case(people.grid_worker)
    client = client_as(people.centre_staff)
    for i in range(10):
        reply(tree.county, text=f"常用语{i}")
    with django_assert_max_num_queries(8):
        r = client.get("/desk/canned/", {"kind": "rejection", "case": case.pk})
    assert len(r.json()["replies"]) == 10
