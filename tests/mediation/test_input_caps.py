"""The lists a mediation act may carry are capped (assisting mediators, agreement terms,
chosen mediators, attachment ids) and over a cap answer 400 naming the field."""

from __future__ import annotations

import pytest

from mediation import services
from mediation.models import MediationCase
from tests.mediation.conftest import URLS, client_for, make_mediator, open_mediation

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

HUGE_ID = 99999999999999999999


def test_more_than_10_assisting_mediators_are_refused(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    centre = client_for(people.centre_staff)
    helpers = [make_mediator(f"调解员{i}", roster.committee) for i in range(11)]
    body = {"mediator": roster.ciren.pk, "assisting": [m.pk for m in helpers]}
    r = act(centre, mcase, "assign", body)
    assert r.status_code == 400
    assert list(r.json()) == ["assisting"]
    r = act(centre, mcase, "assign", {"mediator": roster.ciren.pk, "assisting": [HUGE_ID]})
    assert r.status_code == 400
    assert list(r.json()) == ["assisting"]
    body = {"mediator": roster.ciren.pk, "assisting": [m.pk for m in helpers[:10]]}
    r = act(centre, mcase, "assign", body)
    assert r.status_code == 200, r.json()


def test_an_agreement_of_more_than_30_terms_is_refused(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(
        mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma, assisting=[]
    )
    mcase = MediationCase.objects.get(pk=mcase.pk)
    terms = [{"obligation": f"第{i}项"} for i in range(services.MAX_TERMS + 1)]
    r = act(client_for(roster.users.zhuoma), mcase, "agreement", {"text": "协议", "terms": terms})
    assert r.status_code == 400
    assert list(r.json()) == ["terms"]
    r = act(
        client_for(roster.users.zhuoma), mcase, "agreement", {"text": "协议", "terms": terms[:30]}
    )
    assert r.status_code == 200, r.json()


def test_settling_with_more_attachment_ids_than_a_case_holds_is_refused(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(
        mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma, assisting=[]
    )
    mcase = MediationCase.objects.get(pk=mcase.pk)
    client = client_for(roster.users.zhuoma)
    r = act(client, mcase, "agreement", {"text": "协议", "terms": [{"obligation": "道歉"}]})
    assert r.status_code == 200, r.json()
    r = act(client, mcase, "settle", {"paper_signed": True, "attachments": [1] * 10})
    assert r.status_code == 400
    assert list(r.json()) == ["attachments"]
    r = act(client, mcase, "settle", {"paper_signed": True, "attachments": [HUGE_ID]})
    assert r.status_code == 400
    assert list(r.json()) == ["attachments"]
