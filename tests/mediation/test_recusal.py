"""The recusal rule (回避): a mediator with a conflict of interest is out, with the reason;
a choice or an assignment that breaks the rule is refused; the roster for a case shows who
is out and why."""

from __future__ import annotations

import pytest

from mediation import selectors
from mediation.models import CaseStatus, ConflictDeclaration, MediationCase, Relation
from tests.factories import UserFactory
from tests.mediation.conftest import (
    PHONE_A,
    URLS,
    client_for,
    open_mediation,
    party_data,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def reasons(mediator, mcase) -> list[str]:
    return selectors.recusal_reasons(mediator, MediationCase.objects.get(pk=mcase.pk))


def test_a_free_mediator_has_no_reason(roster, people):
    mcase = open_mediation(people)
    assert reasons(roster.zhuoma, mcase) == []


def test_a_declared_relative_by_name_and_phone_is_out(roster, people):
    mcase = open_mediation(people)
    ConflictDeclaration.objects.create(
        mediator=roster.zhuoma,
        person_name="甲某",
        person_phone="138-0000-0001",  # written differently: digits count
        relation=Relation.RELATIVE,
    )
    assert reasons(roster.zhuoma, mcase) == ["Declared: Relative of party 甲某."]
    # Same name, another phone: another person.
    ConflictDeclaration.objects.create(
        mediator=roster.wang, person_name="乙某", person_phone="13999999999", relation="relative"
    )
    assert reasons(roster.wang, mcase) == []


def test_a_declared_conflict_with_a_party_account_is_out(roster, people):
    resident = UserFactory(username="party_b")
    mcase = open_mediation(people, parties=party_data(p1={"user": resident.pk, "phone": ""}))
    ConflictDeclaration.objects.create(
        mediator=roster.wang, person_user=resident, relation=Relation.BUSINESS
    )
    assert reasons(roster.wang, mcase) == ["Declared: Business interest of party 乙某."]


def test_the_same_household_is_out(roster, people):
    mcase = open_mediation(people)
    roster.ciren.household = " jt-001 "
    roster.ciren.save()
    assert reasons(roster.ciren, mcase) == ["Same household as party 甲某."]


def test_the_same_work_unit_is_out(roster, people):
    mcase = open_mediation(people)
    roster.wang.work_unit = "乃东区供销社"
    roster.wang.save()
    assert reasons(roster.wang, mcase) == ["Same work unit as party 乙某."]


def test_a_conflict_declared_on_the_case_is_out(roster, people):
    mcase = open_mediation(people)
    ConflictDeclaration.objects.create(
        mediator=roster.zhuoma, case=mcase, relation=Relation.OTHER, note="曾为一方代理"
    )
    assert reasons(roster.zhuoma, mcase) == [
        "Declared a conflict of interest on this case (Other interest)."
    ]
    # …on this case only.
    other = open_mediation(people)
    assert reasons(roster.zhuoma, other) == []


def test_a_mediator_who_is_a_party_is_out(roster, people):
    mcase = open_mediation(
        people, parties=party_data(p0={"user": roster.users.wang.pk, "name": "王建国"})
    )
    assert reasons(roster.wang, mcase) == ["Is a party to this dispute (王建国)."]


def test_several_reasons_are_all_given(roster, people):
    mcase = open_mediation(people)
    roster.ciren.household = "JT-002"
    roster.ciren.work_unit = "乃东区供销社"
    roster.ciren.save()
    assert reasons(roster.ciren, mcase) == [
        "Same household as party 乙某.",
        "Same work unit as party 乙某.",
    ]


def test_a_party_cannot_choose_a_recused_mediator(roster, people, act):
    mcase = open_mediation(people)
    ConflictDeclaration.objects.create(
        mediator=roster.zhuoma, person_name="甲某", person_phone=PHONE_A, relation="relative"
    )
    r = act(
        client_for(),
        mcase,
        "choose",
        {"mediators": [roster.wang.pk, roster.zhuoma.pk]},
        token=token_of(mcase, 1),
    )
    assert r.status_code == 400
    assert r.json() == {
        "mediators": ["卓玛 must withdraw (回避): Declared: Relative of party 甲某."]
    }
    assert not mcase.parties.filter(chose_at__isnull=False).exists()


def test_the_centre_cannot_assign_a_recused_mediator(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    roster.wang.work_unit = "江塘村合作社"
    roster.wang.save()
    centre = client_for(people.centre_staff)
    r = act(centre, mcase, "assign", {"mediator": roster.wang.pk})
    assert r.status_code == 400
    assert r.json() == {"mediator": ["王建国 must withdraw (回避): Same work unit as party 甲某."]}
    r = act(centre, mcase, "assign", {"mediator": roster.zhuoma.pk, "assisting": [roster.wang.pk]})
    assert r.status_code == 400 and "assisting" in r.json()
    mcase.refresh_from_db()
    assert mcase.status == CaseStatus.CHOOSING and not mcase.appointments.exists()


def test_the_roster_for_a_case_shows_who_is_out_and_why(roster, people):
    mcase = open_mediation(people)
    roster.ciren.household = "JT-001"
    roster.ciren.save()
    r = client_for().get("/api/v1/mediators/", {"case": mcase.pk, "token": token_of(mcase, 0)})
    assert r.status_code == 200
    rows = {m["name"]: m for m in r.json()["results"]}
    # Serving 江塘村 (in 泽当街道): the committee and the county's organisations; not 扎西.
    assert set(rows) == {"卓玛", "王建国", "次仁", "李劳动", "张家和"}
    assert rows["次仁"]["recused"] is True
    assert rows["次仁"]["recusal_reasons"] == ["Same household as party 甲某."]
    assert rows["卓玛"]["recused"] is False and rows["卓玛"]["recusal_reasons"] == []
    # Without a case the roster says nothing about recusal.
    r = client_for().get("/api/v1/mediators/")
    assert {m["recused"] for m in r.json()["results"]} == {None}
