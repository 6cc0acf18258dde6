"""The knowledge base (知识库): kept per county by its centre, searched from a case page
(the case's county, its category and the category's ancestors, published answers only),
and, for a consultation (咨询) in the centre's hands, 以此答复并办结: the answer becomes the
case's public result and the case is closed through grievances' `answer` act."""

from __future__ import annotations

import pytest

from desk.models import KnowledgeEntry
from grids.models import Role
from grievances.models import CaseEvent, Category, Grievance, State
from tests.desk.conftest import client_as, consultation, text_of
from tests.factories import make_member
from tests.grievances.conftest import PHONE, new_case

pytestmark = pytest.mark.django_db

SEARCH = "/desk/knowledge/search/"
MANAGE = "/desk/knowledge/manage/"
ANSWER = "申请低保需准备户口簿、身份证和收入证明，交到村委会。"


def entry(region, title="低保申请材料", category="hardship.assistance", **extra):
    return KnowledgeEntry.objects.create(
        region=region,
        title=title,
        question=extra.pop("question", "申请低保要什么材料"),
        answer=extra.pop("answer", ANSWER),
        category=Category.objects.get(code=category) if category else None,
        **extra,
    )


def test_the_county_centre_keeps_the_knowledge_base(tree, people):
    keeper = make_member("county_centre", tree.county, Role.CENTRE_STAFF)
    client = client_as(keeper)
    data = {
        "region": tree.county.pk,
        "title": "高龄津贴",
        "question": "怎么领",
        "answer": "到村委会登记",
        "category": "hardship",
        "published": "on",
    }
    assert client.post(MANAGE, data).status_code == 302
    made = KnowledgeEntry.objects.get()
    assert made.published and made.category.code == "hardship"
    r = client.post(MANAGE, {**data, "answer": ""})
    assert r.status_code == 400 and 'id="id_answer_error"' in text_of(r)
    assert client_as(people.centre_staff).get(MANAGE).status_code == 403
    assert client_as(people.outsider).get(f"/desk/knowledge/{made.pk}/").status_code == 404


def test_search_finds_the_cases_family_in_its_county_published_only(tree, people):
    case = consultation(people.grid_worker)
    entry(tree.county)
    entry(tree.county, title="救助总则", category="hardship")
    entry(tree.county, title="通用答复", category=None)
    entry(tree.county, title="工资纠纷", category="dispute.wages")
    entry(tree.county, title="草稿", published=False)
    entry(tree.other_county, title="别县的低保")
    client = client_as(people.centre_staff)
    page = text_of(client.get(SEARCH, {"case": case.pk}))
    for shown in ("低保申请材料", "救助总则", "通用答复"):
        assert shown in page, shown
    for hidden in ("工资纠纷", "草稿", "别县的低保"):
        assert hidden not in page, hidden
    page = text_of(client.get(SEARCH, {"case": case.pk, "q": "户口簿"}))
    assert "低保申请材料" in page and "救助总则" in page  # the answer holds the word
    page = text_of(client.get(SEARCH, {"case": case.pk, "q": "不存在的词"}))
    assert "低保申请材料" not in page


def test_search_is_scoped_and_checks_its_input(tree, people):
    case = consultation(people.grid_worker)
    assert client_as(people.outsider).get(SEARCH, {"case": case.pk}).status_code == 404
    r = client_as(people.centre_staff).get(SEARCH, {"case": "x"})
    assert r.status_code == 400 and "case" in r.json()


def test_answer_and_close_a_consultation(tree, people):
    case = consultation(people.grid_worker, phone=PHONE)
    entry(tree.county)
    client = client_as(people.centre_staff)
    page = text_of(client.get(SEARCH, {"case": case.pk}))
    assert f'action="/cases/{case.pk}/act/answer/"' in page
    r = client.post(
        f"/cases/{case.pk}/act/answer/", {"answer": ANSWER, "version": str(case.version)}
    )
    assert r.status_code == 302
    case = Grievance.objects.get(pk=case.pk)
    assert case.state == State.CLOSED and case.result == ANSWER
    assert case.accepted_at and case.handled_at and case.closed_at
    actions = list(CaseEvent.objects.filter(grievance=case).values_list("action", "public"))
    assert actions == [("submit", True), ("accept", True), ("answer", True), ("verify", True)]
    # The resident sees the answer on the tracking page.
    from django.test import Client

    resident = Client()
    r = resident.post("/track/", {"code": case.tracking_code, "last4": PHONE[-4:]})
    tracked = text_of(resident.get(r.url) if r.status_code == 302 else r)
    assert ANSWER in tracked


def test_no_answer_button_where_the_act_is_not_open(tree, people):
    complaint = new_case(people.grid_worker, category="hardship.assistance")
    entry(tree.county)
    page = text_of(client_as(people.centre_staff).get(SEARCH, {"case": complaint.pk}))
    assert "低保申请材料" in page and "/act/answer/" not in page
    # The grid worker reads the answers but does not close the consultation.
    asked = consultation(people.grid_worker, title="另一件咨询")
    page = text_of(client_as(people.grid_worker).get(SEARCH, {"case": asked.pk}))
    assert "低保申请材料" in page and "/act/answer/" not in page
    r = client_as(people.grid_worker).post(f"/cases/{asked.pk}/act/answer/", {"answer": "x"})
    assert r.status_code == 403


def test_search_costs_the_same_for_many_entries(tree, people, django_assert_max_num_queries):
    case = consultation(people.grid_worker)
    client = client_as(people.centre_staff)
    for i in range(12):
        entry(tree.county, title=f"条目{i}")
    with django_assert_max_num_queries(12):
        r = client.get(SEARCH, {"case": case.pk})
    assert text_of(r).count("knowledge-entry__title") == 12
