"""The public roster with its figures and filters, the organisations, and the parties'
ratings of the mediator (评单), once each."""

from __future__ import annotations

import pytest

from grievances.labels import shown
from grievances.models import CaseEvent
from mediation import services
from mediation.models import MediationCase, MediatorRating
from tests.factories import UserFactory
from tests.mediation.conftest import (
    URLS,
    client_for,
    make_mediator,
    open_mediation,
    party_data,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def settled_case(people, roster, mediator, *, parties=None):
    mcase = open_mediation(people, choice_days=0, parties=parties)
    centre = services.Actor.of(people.centre_staff)
    services.mediation_assign(mcase, centre, mediator=mediator)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    actor = services.Actor.of(mediator.user)
    services.mediation_agreement(mcase, actor, text="协议", terms=[])
    from grievances.models import Attachment

    scan = Attachment.objects.create(grievance_id=mcase.grievance_id, file="cases/scan.jpg")
    services.mediation_settle(mcase, actor, paper_signed=True, attachments=[scan])
    return MediationCase.objects.get(pk=mcase.pk)


def failed_case(people, roster, mediator):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=mediator)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    services.mediation_fail(mcase, services.Actor.of(mediator.user), record="未达成一致")
    return MediationCase.objects.get(pk=mcase.pk)


def rate(act, mcase, index, score, comment=""):
    return act(
        client_for(),
        mcase,
        "rate",
        {"score": score, "comment": comment},
        token=token_of(mcase, index),
    )


def roster_rows(**params) -> dict[str, dict]:
    r = client_for().get("/api/v1/mediators/", params)
    assert r.status_code == 200, r.json()
    return {m["name"]: m for m in r.json()["results"]}


def test_each_party_rates_once(roster, people, act):
    mcase = settled_case(people, roster, roster.zhuoma)
    r = rate(act, mcase, 0, 5, "很公道")
    assert r.status_code == 200, r.json()
    assert r.json()["me"]["rated"] is True
    r = rate(act, mcase, 0, 1)
    assert r.status_code == 409
    assert r.json()["detail"] == "You have already rated this mediation."
    r = rate(act, mcase, 1, 0)
    assert r.status_code == 400 and set(r.json()) == {"score"}
    assert rate(act, mcase, 1, 4).status_code == 200
    assert list(MediatorRating.objects.values_list("mediator", "score").order_by("score")) == [
        (roster.zhuoma.pk, 4),
        (roster.zhuoma.pk, 5),
    ]
    event = CaseEvent.objects.filter(action="mediation_rate").first()
    assert shown(event.actor_label) == "Party 甲某" and not event.public


def test_no_rating_before_the_mediation_ends(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.wang)
    r = rate(act, mcase, 0, 5)
    assert r.status_code == 409


def test_a_party_with_an_account_rates_logged_in(roster, people, act):
    resident = UserFactory(username="rater")
    mcase = settled_case(people, roster, roster.wang, parties=party_data(p1={"user": resident.pk}))
    r = act(client_for(resident), mcase, "rate", {"score": 3})
    assert r.status_code == 200, r.json()
    # Not a party: the centre sees the case but may not rate.
    r = act(client_for(people.centre_staff), mcase, "rate", {"score": 5})
    assert r.status_code == 403


def test_the_figures_come_from_the_cases_and_the_ratings(roster, people, act):
    first = settled_case(people, roster, roster.zhuoma)
    second = settled_case(people, roster, roster.zhuoma)
    failed_case(people, roster, roster.zhuoma)
    open_one = open_mediation(people, choice_days=0)
    services.mediation_assign(
        open_one, services.Actor.of(people.centre_staff), mediator=roster.zhuoma
    )
    for mcase, scores in ((first, (5, 4)), (second, (3,))):
        for index, score in enumerate(scores):
            assert rate(act, mcase, index, score).status_code == 200
    rows = roster_rows()
    zhuoma = rows["卓玛"]
    assert zhuoma["cases_handled"] == 3
    assert zhuoma["cases_settled"] == 2
    assert zhuoma["open_cases"] == 1
    assert zhuoma["success_rate"] == 0.6667
    assert zhuoma["average_rating"] == 4.0
    assert zhuoma["rating_count"] == 3
    assert rows["王建国"]["cases_handled"] == 0
    assert rows["王建国"]["success_rate"] is None and rows["王建国"]["average_rating"] is None
    # What the roster shows publicly, and what it keeps private.
    assert set(zhuoma) >= {"organisation", "specialties", "regions_served", "languages", "bio"}
    assert not {"phone", "household", "work_unit", "user"} & set(zhuoma)
    assert zhuoma["languages"] == ["zh", "bo"]


def test_the_roster_filters(roster, people, tree):
    assert set(roster_rows(specialty="dispute.wages")) == {"李劳动"}
    assert set(roster_rows(specialty="dispute")) == {"卓玛", "王建国", "李劳动"}
    assert set(roster_rows(language="bo")) == {"卓玛", "次仁", "扎西"}
    assert set(roster_rows(org=roster.labour_org.pk)) == {"李劳动"}
    assert set(roster_rows(q="劳动")) == {"李劳动"}
    # Served regions, their ancestors included: 次仁 serves 江塘村 only; the committee's
    # others serve 泽当街道 (their organisation's region); the county's organisations serve
    # the whole county.
    assert set(roster_rows(region=tree.grid_a1.code)) == {
        "卓玛",
        "王建国",
        "次仁",
        "李劳动",
        "张家和",
    }
    assert set(roster_rows(region=tree.village_b.code)) == {"李劳动", "张家和"}
    assert set(roster_rows(region=tree.other_county.code)) == {"扎西"}
    assert roster_rows(region="000000000000") == {}
    # Inactive mediators are off the roster.
    roster.far.active = False
    roster.far.save()
    assert "扎西" not in roster_rows()


def test_the_roster_costs_the_same_few_queries_for_any_length(
    roster, people, django_assert_max_num_queries
):
    for i in range(30):
        make_mediator(
            f"调解员{i}",
            roster.committee,
            specialties=["dispute.land", "dispute.family"],
            regions=[people.grid_worker.memberships.first().region],
        )
    settled_case(people, roster, roster.zhuoma)
    with django_assert_max_num_queries(6):
        r = client_for().get("/api/v1/mediators/", {"limit": 100})
    assert r.status_code == 200 and r.json()["count"] == 36


def test_the_organisations_are_public(roster, tree):
    r = client_for().get("/api/v1/mediation-orgs/")
    assert r.status_code == 200
    assert {o["name"] for o in r.json()["results"]} == {
        "泽当街道人民调解委员会",
        "乃东区劳动争议调解中心",
        "乃东区婚姻家庭纠纷调解委员会",
        "乡城县人民调解委员会",
    }
    r = client_for().get("/api/v1/mediation-orgs/", {"region": tree.village_a.code})
    assert {o["name"] for o in r.json()["results"]} == {
        "泽当街道人民调解委员会",
        "乃东区劳动争议调解中心",
        "乃东区婚姻家庭纠纷调解委员会",
    }
    r = client_for().get("/api/v1/mediation-orgs/", {"one_stop_centre": True})
    assert [o["kind"] for o in r.json()["results"]] == ["labour"]


def test_the_schema_has_the_mediation_paths():
    r = client_for().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/api/v1/mediators/",
        "/api/v1/mediation-orgs/",
        "/api/v1/mediation-cases/",
        "/api/v1/mediation-cases/{id}/",
        *(
            f"/api/v1/mediation-cases/{{id}}/{name}/"
            for name in (
                "choose",
                "assign",
                "schedule",
                "record",
                "agreement",
                "send_code",
                "sign",
                "settle",
                "fail",
                "rate",
            )
        ),
    ):
        assert path in paths, path
    mediate = paths["/api/v1/grievances/{id}/mediate/"]["post"]
    assert mediate["requestBody"]
