"""Opening a mediation from the case's mediate act, sessions, failure (诉调对接) and a
withdrawn case."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from grievances import services as case_services
from grievances import sms
from grievances.labels import shown
from grievances.models import CaseEvent, Grievance, State
from mediation import services, tokens
from mediation.models import CaseStatus, MediationCase, Party, Referral, Session
from tests.grievances.conftest import POINT_A1, new_case
from tests.mediation.conftest import (
    PHONE_A,
    PHONE_B,
    URLS,
    client_for,
    detail,
    link_token,
    open_mediation,
    party_data,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

SH = ZoneInfo("Asia/Shanghai")


def mediate(client, case, data, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/api/v1/grievances/{case.pk}/mediate/", data, format="json")


def test_the_mediate_act_with_parties_opens_a_mediation(
    roster, people, django_capture_on_commit_callbacks
):
    case = new_case(people.grid_worker, category="dispute.neighbours", point=POINT_A1)
    r = mediate(
        client_for(people.centre_staff),
        case,
        {"note": "转人民调解", "parties": party_data(), "choice_days": 2},
        django_capture_on_commit_callbacks,
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "mediating"
    mcase = MediationCase.objects.get(grievance=case)
    assert mcase.status == CaseStatus.CHOOSING
    assert [(p.name, p.household) for p in mcase.parties.all()] == [
        ("甲某", "JT-001"),
        ("乙某", "JT-002"),
    ]
    event = CaseEvent.objects.filter(grievance=case).latest("id")
    assert event.action == "mediate" and event.data["mediation_case"] == mcase.pk
    # Each party got their own link by SMS; it opens their view without an account.
    assert [m.phone for m in sms.outbox] == [PHONE_A, PHONE_B]
    token = link_token(sms.outbox[1].text)
    assert tokens.party_from_token(token).name == "乙某"
    r = detail(client_for(), mcase, token=token)
    assert r.status_code == 200 and r.json()["me"]["name"] == "乙某"
    assert r.json()["available_acts"] == ["choose"]


def test_the_mediate_act_checks_the_parties(roster, people, django_capture_on_commit_callbacks):
    case = new_case(people.grid_worker, category="dispute.neighbours", point=POINT_A1)
    centre = client_for(people.centre_staff)
    r = mediate(centre, case, {"parties": [{"name": "甲某"}]}, django_capture_on_commit_callbacks)
    assert r.status_code == 400
    assert r.json() == {"parties": ["A mediation needs at least two parties."]}
    r = mediate(
        centre,
        case,
        {"parties": party_data(p1={"phone": "abc"})},
        django_capture_on_commit_callbacks,
    )
    assert r.status_code == 400 and "parties" in r.json()
    r = mediate(
        centre,
        case,
        {"parties": party_data(p1={"user": 987654})},
        django_capture_on_commit_callbacks,
    )
    assert r.status_code == 400
    # The role is checked before the fields (403 before 400).
    r = mediate(
        client_for(people.leader),
        case,
        {"parties": [{"name": "甲某"}]},
        django_capture_on_commit_callbacks,
    )
    assert r.status_code == 403
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED
    assert not MediationCase.objects.exists()


def test_the_mediate_act_without_parties_is_refused(roster, people):
    # A mediation without its parties could never be chosen, signed or ended.
    case = new_case(people.grid_worker, category="dispute.neighbours", point=POINT_A1)
    r = client_for(people.centre_staff).post(
        f"/api/v1/grievances/{case.pk}/mediate/", {"note": "转调解"}, format="json"
    )
    assert r.status_code == 400 and "parties" in r.json()
    assert not MediationCase.objects.exists()


def test_sessions_are_scheduled_and_recorded(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma)
    mediator = client_for(roster.users.zhuoma)
    starts = datetime(2026, 11, 25, 15, 0, tzinfo=SH)
    r = act(mediator, mcase, "schedule", {"starts_at": starts.isoformat()})
    assert r.status_code == 400 and set(r.json()) == {"place"}
    sms.outbox.clear()
    r = act(
        mediator,
        mcase,
        "schedule",
        {"starts_at": starts.isoformat(), "place": "江塘村村委会", "participants": "双方当事人"},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["sessions"][0]["place"] == "江塘村村委会"
    assert sorted(m.phone for m in sms.outbox) == [PHONE_A, PHONE_B]
    session = Session.objects.get()
    r = act(mediator, mcase, "record", {"session": session.pk, "record": "双方陈述了各自意见……"})
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "in_session"
    assert r.json()["sessions"][0]["record"].startswith("双方陈述")
    # A party may not write the record.
    r = act(
        client_for(),
        mcase,
        "record",
        {"record": "x"},
        token=tokens.party_token(session.case.parties.first()),
    )
    assert r.status_code == 403
    # Online (云调解), without a place.
    r = act(
        mediator,
        mcase,
        "schedule",
        {
            "starts_at": starts.isoformat(),
            "online": True,
            "online_link": "https://meet.example/abc",
        },
    )
    assert r.status_code == 200
    event = CaseEvent.objects.filter(action="mediation_schedule").latest("id")
    assert event.public and event.actor_label == "泽当街道人民调解委员会"


def test_a_failed_mediation_goes_back_to_the_centre(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.wang)
    mediator = client_for(roster.users.wang)
    r = act(mediator, mcase, "fail", {"record": ""})
    assert r.status_code == 400 and set(r.json()) == {"record"}
    r = act(
        mediator,
        mcase,
        "fail",
        {"record": "乙某拒绝赔偿，双方分歧较大", "referral": Referral.COURT},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "failed" and r.json()["referral"] == "court"
    case = Grievance.objects.get(pk=mcase.grievance_id)
    assert case.state == State.ACCEPTED
    event = CaseEvent.objects.filter(grievance=case).latest("id")
    assert (event.action, event.from_state, event.to_state) == (
        "mediation_failed",
        "mediating",
        "accepted",
    )
    assert event.actor == roster.users.wang
    assert event.actor_label == "泽当街道人民调解委员会"
    assert "乙某拒绝赔偿" in event.note and "The court" in event.note
    # The centre takes it on: the case's own acts work again; a second mediation does not.
    r = client_for(people.centre_staff).post(
        f"/api/v1/grievances/{case.pk}/mediate/",
        {"parties": party_data()},
        format="json",
    )
    assert r.status_code == 409
    assert "mediated before" in r.json()["detail"]


def test_the_centre_may_end_a_mediation_nobody_takes_up(roster, people, act):
    mcase = open_mediation(people)
    r = act(client_for(people.centre_staff), mcase, "fail", {"record": "一方拒绝调解"})
    assert r.status_code == 200, r.json()
    event = CaseEvent.objects.filter(action="mediation_failed").get()
    assert shown(event.actor_label) == "泽当街道 governance centre"
    # There is no mediator to rate.
    token = tokens.party_token(mcase.parties.first())
    r = act(client_for(), mcase, "rate", {"score": 3}, token=token)
    assert r.status_code == 409


def test_a_withdrawn_case_ends_its_mediation(roster, people):
    mcase = open_mediation(people)
    case = Grievance.objects.get(pk=mcase.grievance_id)
    case_services.grievance_withdraw(case, None, reason="已私下和解", via_tracking=True)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    assert mcase.status == CaseStatus.WITHDRAWN and mcase.closed_at
    assert Party.objects.filter(case=mcase).count() == 2
