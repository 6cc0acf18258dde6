"""点单式调解: the parties pick from the roster; the mediator all of them chose is appointed;
with none in common, or after the choice deadline, the centre assigns one by dispute type
(派单), automatically once the deadline has passed."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from grievances.labels import shown
from grievances.models import CaseEvent
from mediation import selectors, services, tasks
from mediation.models import CaseStatus, ChosenBy, MediationCase, PartyChoice
from tests.mediation.conftest import (
    URLS,
    client_for,
    make_mediator,
    open_mediation,
    party_data,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def choose(act, mcase, index, mediators):
    return act(
        client_for(),
        mcase,
        "choose",
        {"mediators": [m.pk for m in mediators]},
        token=token_of(mcase, index),
    )


def fresh(mcase) -> MediationCase:
    return MediationCase.objects.get(pk=mcase.pk)


def lead_of(mcase):
    return selectors.lead_appointment(fresh(mcase)).mediator


def actions(mcase) -> list[str]:
    return list(
        CaseEvent.objects.filter(grievance=mcase.grievance_id)
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_the_mediator_both_sides_chose_is_appointed(roster, people, act):
    mcase = open_mediation(people)
    r = choose(act, mcase, 0, [roster.zhuoma, roster.wang, roster.ciren])
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "choosing"
    assert r.json()["me"]["choices"] == [roster.zhuoma.pk, roster.wang.pk, roster.ciren.pk]
    r = choose(act, mcase, 1, [roster.labour, roster.ciren, roster.wang])
    assert r.status_code == 200, r.json()
    body = r.json()
    # 王建国 (ranks 2 + 3) and 次仁 (3 + 2) tie on the sum and the worst rank, and neither
    # has a case: the one on the roster first (test_ties_go_to_the_least_loaded shows load).
    assert body["status"] == "scheduled"
    assert body["chosen_by"] == "parties"
    assert body["org"] == "泽当街道人民调解委员会"
    assert lead_of(mcase) == roster.wang
    assert actions(mcase)[-3:] == ["mediation_choose", "mediation_choose", "mediation_appoint"]
    appoint = CaseEvent.objects.filter(grievance=mcase.grievance_id).latest("id")
    assert appoint.public and shown(appoint.actor_label) == "Parties' choice"
    assert appoint.data["chosen_by"] == ChosenBy.PARTIES


def test_the_best_combined_rank_wins(roster, people, act):
    mcase = open_mediation(people)
    choose(act, mcase, 0, [roster.ciren, roster.wang, roster.zhuoma])
    r = choose(act, mcase, 1, [roster.zhuoma, roster.wang])
    assert r.status_code == 200
    # 王建国 2 + 2 = 4 beats 卓玛 3 + 1 = 4 on the worst rank (2 < 3).
    assert lead_of(mcase) == roster.wang


def test_ties_go_to_the_least_loaded(roster, people, act):
    busy = open_mediation(people)
    choose(act, busy, 0, [roster.zhuoma])
    choose(act, busy, 1, [roster.zhuoma])
    assert lead_of(busy) == roster.zhuoma
    mcase = open_mediation(people)
    choose(act, mcase, 0, [roster.zhuoma, roster.wang])
    choose(act, mcase, 1, [roster.wang, roster.zhuoma])
    assert lead_of(mcase) == roster.wang


def test_a_party_may_choose_again_until_the_appointment(roster, people, act):
    mcase = open_mediation(people)
    choose(act, mcase, 0, [roster.zhuoma])
    r = choose(act, mcase, 0, [roster.ciren, roster.wang])
    assert r.status_code == 200
    first = mcase.parties.get(position=0)
    assert list(first.choices.values_list("mediator", "rank")) == [
        (roster.ciren.pk, 1),
        (roster.wang.pk, 2),
    ]
    choose(act, mcase, 1, [roster.wang])
    assert lead_of(mcase) == roster.wang
    r = choose(act, mcase, 0, [roster.zhuoma])
    assert r.status_code == 409 and r.json()["state"] == "scheduled"


def test_three_parties_need_a_mediator_all_three_chose(roster, people, act):
    parties = [*party_data(), {"name": "丙某", "phone": "13800000003"}]
    mcase = open_mediation(people, parties=parties)
    choose(act, mcase, 0, [roster.zhuoma, roster.wang])
    choose(act, mcase, 1, [roster.zhuoma, roster.ciren])
    assert fresh(mcase).status == CaseStatus.CHOOSING  # two of three have chosen
    r = choose(act, mcase, 2, [roster.ciren, roster.wang])
    assert r.status_code == 200
    # No mediator all three chose.
    assert r.json()["status"] == "choosing"
    assert actions(mcase)[-1] == "mediation_no_common_choice"
    r = choose(act, mcase, 2, [roster.ciren, roster.zhuoma])
    assert r.json()["status"] == "scheduled"
    assert lead_of(mcase) == roster.zhuoma


def test_no_common_choice_the_centre_assigns_by_dispute_type(roster, people, act):
    mcase = open_mediation(people, category="dispute.wages")
    centre = client_for(people.centre_staff)
    # Before everyone has chosen (and before the deadline) the parties are still choosing.
    r = act(centre, mcase, "assign", {})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("The parties may choose their mediator until")
    choose(act, mcase, 0, [roster.zhuoma])
    choose(act, mcase, 1, [roster.wang])
    assert fresh(mcase).status == CaseStatus.CHOOSING
    r = act(centre, mcase, "assign", {})
    assert r.status_code == 200, r.json()
    body = r.json()
    # Wages go to the labour dispute organisation.
    assert body["status"] == "scheduled" and body["chosen_by"] == "centre"
    assert body["mediators"][0]["name"] == "李劳动"
    assert body["org"] == "乃东区劳动争议调解中心"
    event = CaseEvent.objects.filter(grievance=mcase.grievance_id).latest("id")
    assert event.action == "mediation_appoint"
    assert shown(event.actor_label) == "泽当街道 governance centre"


def test_the_centre_names_the_mediator_and_assisting_ones(roster, people, act):
    mcase = open_mediation(people, choice_days=0)
    r = act(
        client_for(people.centre_staff),
        mcase,
        "assign",
        {"mediator": roster.ciren.pk, "assisting": [roster.wang.pk], "note": "茶会现场调解"},
    )
    assert r.status_code == 200, r.json()
    assert [(m["name"], m["role"]) for m in r.json()["mediators"]] == [
        ("次仁", "lead"),
        ("王建国", "assisting"),
    ]


def test_assignment_by_type_prefers_the_specialised_then_the_least_loaded(roster, people):
    mcase = open_mediation(people, category="dispute.neighbours")
    candidates = selectors.assignment_candidates(mcase)
    # 卓玛 is specialised in neighbours; the committee's others are general; the county's
    # labour and family organisations do not take neighbours' disputes.
    assert candidates[0] == roster.zhuoma
    assert set(candidates) == {roster.zhuoma, roster.wang, roster.ciren}
    family = open_mediation(people, category="dispute.family")
    assert selectors.assignment_candidates(family)[0] == roster.family
    extra = make_mediator("第二位劳动调解员", roster.labour_org, specialties=["dispute.wages"])
    wages = open_mediation(people, category="dispute.wages", choice_days=0)
    busy = open_mediation(people, category="dispute.wages", choice_days=0)
    services.mediation_assign(busy, services.Actor.of(people.centre_staff), mediator=roster.labour)
    assert selectors.assignment_candidates(wages)[0] == extra


def test_the_sweep_assigns_after_the_choice_deadline(roster, people, act):
    mcase = open_mediation(people, category="dispute.wages", choice_days=3)
    choose(act, mcase, 0, [roster.zhuoma])
    assert tasks.assign_overdue_choices.apply().get() == {
        "assigned": 0,
        "no_mediator": 0,
        "skipped": 0,
    }
    with time_machine.travel(fresh(mcase).choice_deadline + timedelta(minutes=1)):
        assert tasks.assign_overdue_choices.apply().get()["assigned"] == 1
        assert tasks.assign_overdue_choices.apply().get()["assigned"] == 0  # twice: harmless
    mcase = fresh(mcase)
    assert mcase.status == CaseStatus.SCHEDULED and mcase.chosen_by == ChosenBy.CENTRE
    assert lead_of(mcase) == roster.labour
    event = CaseEvent.objects.filter(grievance=mcase.grievance_id).latest("id")
    assert (event.action, shown(event.actor_label), event.actor_id) == (
        "mediation_appoint",
        "System",
        None,
    )


def test_the_sweep_records_once_when_no_mediator_fits(roster, people):
    mcase = open_mediation(people, category="dispute.wages", choice_days=1)
    roster.labour.active = False
    roster.labour.save()
    roster.committee.active = False
    roster.committee.save()
    with time_machine.travel(fresh(mcase).choice_deadline + timedelta(minutes=1)):
        assert tasks.assign_overdue_choices.apply().get()["no_mediator"] == 1
        assert tasks.assign_overdue_choices.apply().get()["no_mediator"] == 0
    assert actions(mcase).count("mediation_no_mediator") == 1
    assert fresh(mcase).status == CaseStatus.CHOOSING


def test_choices_are_checked(roster, people, act):
    mcase = open_mediation(people)
    r = choose(act, mcase, 0, [roster.zhuoma, roster.wang, roster.ciren, roster.labour])
    assert r.status_code == 400 and "mediators" in r.json()
    r = choose(act, mcase, 0, [roster.far])
    assert r.status_code == 400
    assert r.json() == {"mediators": ["扎西 does not serve 江塘村第一网格."]}
    roster.wang.active = False
    roster.wang.save()
    r = choose(act, mcase, 0, [roster.wang])
    assert r.status_code == 400
    r = act(client_for(), mcase, "choose", {"mediators": [999999]}, token=token_of(mcase, 0))
    assert r.status_code == 400
    assert not PartyChoice.objects.exists()


def test_who_may_choose(roster, people, act):
    mcase = open_mediation(people)
    # A mediator on the roster who sees the case through its region is not a party.
    r = act(client_for(people.grid_worker), mcase, "choose", {"mediators": [roster.wang.pk]})
    assert r.status_code == 403
    # The centre enters a choice made at its window, naming the party.
    centre = client_for(people.centre_staff)
    r = act(centre, mcase, "choose", {"mediators": [roster.wang.pk]})
    assert r.status_code == 400 and "party" in r.json()
    first = mcase.parties.get(position=0)
    r = act(centre, mcase, "choose", {"mediators": [roster.wang.pk], "party": first.pk})
    assert r.status_code == 200, r.json()
    event = CaseEvent.objects.filter(grievance=mcase.grievance_id).latest("id")
    assert event.data["on_behalf"] is True
    assert shown(event.actor_label) == "泽当街道 governance centre"
    assert not event.public
    # The centre sees everyone's choices; a party sees only their own.
    assert r.json()["choices"] == [{"party": first.pk, "mediator": roster.wang.pk, "rank": 1}]
    r = choose(act, mcase, 1, [roster.zhuoma])
    assert r.json()["choices"] == [] and r.json()["me"]["choices"] == [roster.zhuoma.pk]


def test_the_choice_deadline_counts_working_days(roster, people):
    with time_machine.travel(datetime(2026, 9, 30, 10, tzinfo=ZoneInfo("Asia/Shanghai"))):
        mcase = open_mediation(people, choice_days=3)
    # Wed 09-30 10:00 + 3 working days: the National Day holiday (10-01..10-07) does not
    # count, Thu 10-08, Fri 10-09 and the make-up Saturday 10-10 (调休) do.
    local = fresh(mcase).choice_deadline.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.month, local.day, local.hour) == (10, 10, 10)


def test_a_partys_choice_changes_the_case_tag(roster, people, act):
    mcase = open_mediation(people)
    centre = client_for(people.centre_staff)
    case_url = f"/api/v1/grievances/{mcase.grievance_id}/"
    read_before = centre.get(case_url)["ETag"]

    r = choose(act, mcase, 0, [roster.zhuoma, roster.wang])

    assert r.status_code == 200, r.json()
    shown = centre.get(case_url)
    assert shown.json()["events"][-1]["action"] == "mediation_choose"
    assert shown["ETag"] != read_before
    # The centre acting on the case as it read it before the choice is refused.
    note = {"note": "已电话联系双方"}
    r = centre.post(f"{case_url}note/", note, format="json", HTTP_IF_MATCH=read_before)
    assert r.status_code == 409, r.json()
    r = centre.post(f"{case_url}note/", note, format="json", HTTP_IF_MATCH=shown["ETag"])
    assert r.status_code == 200, r.json()
