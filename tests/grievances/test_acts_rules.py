"""The rules of the special moves and of the acts that keep the state: escalate, suspend and
resume, extend, reopen, mediate, urge, supervise, note; what each role is offered; and the
report settled on the spot."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from grids.models import Role
from grievances.models import CaseEvent, Grievance, State
from tests.factories import make_member
from tests.grievances.conftest import PHONE, advance, api_as, at, new_case, post_act

pytestmark = pytest.mark.django_db


def fresh(case: Grievance) -> Grievance:
    return Grievance.objects.get(pk=case.pk)


def actions(case: Grievance) -> list[str]:
    return list(
        CaseEvent.objects.filter(grievance=case).order_by("id").values_list("action", flat=True)
    )


def detail(client: APIClient, case: Grievance) -> dict:
    r = client.get(f"/api/v1/grievances/{case.pk}/")
    assert r.status_code == 200
    return r.json()


def track(case: Grievance, last4: str = PHONE[-4:]) -> dict:
    r = APIClient().get(f"/api/v1/track/{case.tracking_code}/", {"phone_last4": last4})
    assert r.status_code == 200, r.json()
    return r.json()


# --- escalate (纵向吹哨) --------------------------------------------------------------------------


def test_escalate_climbs_one_centre_at_a_time_up_to_the_top(tree, people):
    village_staff = make_member("village_staff", tree.village_a, Role.CENTRE_STAFF)
    county_staff = make_member("county_staff", tree.county, Role.CENTRE_STAFF)
    city_staff = make_member("city_staff", tree.city, Role.CENTRE_STAFF)
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    assert case.owning_centre == tree.village_a
    village = api_as(village_staff)
    town = api_as(people.centre_staff)

    r = post_act(village, case, "escalate", {})
    assert r.status_code == 400 and "reason" in r.json()

    # The village centre cannot resolve it: the township centre above owns it now.
    r = post_act(village, case, "escalate", {"reason": "村级无法协调"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["state"] == "accepted"
    assert body["owning_centre"]["code"] == tree.town_a.code
    assert body["escalation_count"] == 1
    assert body["handling_level"] == "township"
    event = CaseEvent.objects.filter(grievance=case).latest("id")
    assert (event.action, event.from_state, event.to_state) == ("escalate", "accepted", "accepted")
    assert event.data["from_centre"] == tree.village_a.code
    assert event.data["to_centre"] == tree.town_a.code
    # The village handed it up: it may no longer act as its centre.
    assert post_act(village, case, "dispatch", {"to_region": tree.grid_a1.code}).status_code == 403

    r = post_act(town, case, "escalate", {"reason": "街道无法协调"})
    assert r.status_code == 200
    assert r.json()["owning_centre"]["code"] == tree.county.code
    assert r.json()["escalation_count"] == 2
    assert "dispatch" not in detail(town, case)["available_transitions"]
    assert post_act(town, case, "dispatch", {"to_region": tree.grid_a1.code}).status_code == 403
    assert "dispatch" in detail(api_as(county_staff), case)["available_transitions"]

    r = post_act(api_as(county_staff), case, "escalate", {"reason": "需市级协调"})
    assert r.status_code == 200
    assert r.json()["owning_centre"]["code"] == tree.city.code
    assert r.json()["handling_level"] == "city"

    # The city is the top: a further escalation is a conflict with the case as it stands.
    r = post_act(api_as(city_staff), case, "escalate", {"reason": "再上报"})
    assert r.status_code == 409
    assert r.json()["state"] == "accepted"
    assert fresh(case).escalation_count == 3
    assert actions(case).count("escalate") == 3
    # Each escalation is labelled with the centre that handed the case up.
    labels = [
        e.actor_label
        for e in CaseEvent.objects.filter(grievance=case, action="escalate").order_by("id")
    ]
    assert [("江塘村" in x, "泽当街道" in x, "乃东区" in x) for x in labels] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]


def test_a_centre_above_the_owner_escalates_to_the_centre_above_itself(tree, people):
    # The township centre works on a village's case; when it cannot resolve it, the case
    # goes to the county, not to the township itself.
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    r = post_act(api_as(people.centre_staff), case, "escalate", {"reason": "街道无法协调"})
    assert r.status_code == 200, r.json()
    assert r.json()["owning_centre"]["code"] == tree.county.code
    event = CaseEvent.objects.filter(grievance=case).latest("id")
    assert event.data["from_centre"] == tree.town_a.code


def test_escalate_a_dispatched_case_takes_it_back_from_the_handler(tree, people):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    r = post_act(api_as(people.centre_staff), case, "escalate", {"reason": "需街道协调"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["state"] == "accepted"
    assert body["handler_region"] is None
    assert body["handle_due_at"] is None and body["report_in_due_at"] is None
    # The grid worker no longer handles it.
    assert post_act(api_as(people.grid_worker), case, "handle", {"result": "x"}).status_code == 403


def test_escalate_before_accept_is_409_and_not_for_grid_staff(tree, people):
    case = new_case(people.grid_worker)
    r = post_act(api_as(people.centre_staff), case, "escalate", {"reason": "x"})
    assert r.status_code == 409 and r.json()["state"] == "submitted"
    case = advance(case, State.ACCEPTED, people)
    assert (
        post_act(api_as(people.grid_leader), case, "escalate", {"reason": "x"}).status_code == 403
    )


# --- suspend / resume (挂起 / 解挂) ---------------------------------------------------------------


def test_suspend_stops_the_clock_and_resume_moves_the_deadline_by_working_time(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:  # Monday
        case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
        # hazard.environment: normal urgency, 5 working days.
        assert case.handle_due_at == at(2026, 3, 9, 10)
        centre = api_as(people.centre_staff)

        clock.move_to(at(2026, 3, 3, 10))  # Tuesday
        assert post_act(centre, case, "suspend", {}).status_code == 400
        assert (
            post_act(api_as(people.grid_worker), case, "suspend", {"reason": "x"}).status_code
            == 403
        )
        r = post_act(centre, case, "suspend", {"reason": "等待法院判决"})
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "dispatched"
        assert r.json()["suspended_at"]
        r = post_act(centre, case, "suspend", {"reason": "again"})
        assert r.status_code == 409 and r.json()["state"] == "dispatched"
        # The handler cannot move a suspended case on.
        r = post_act(api_as(people.grid_worker), case, "report_in")
        assert r.status_code == 409

        clock.move_to(at(2026, 3, 5, 10))  # Thursday: two working days later
        r = post_act(centre, case, "resume", {"note": "判决已出"})
        assert r.status_code == 200, r.json()
        assert r.json()["suspended_at"] is None
        case = fresh(case)
        assert case.handle_due_at == at(2026, 3, 11, 10)
        assert post_act(centre, case, "resume").status_code == 409
    assert actions(case) == ["submit", "accept", "dispatch", "suspend", "resume"]


def test_a_suspension_over_the_weekend_costs_only_its_working_hours(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
        centre = api_as(people.centre_staff)
        clock.move_to(at(2026, 3, 6, 17))  # Friday 17:00
        assert post_act(centre, case, "suspend", {"reason": "等待物业答复"}).status_code == 200
        clock.move_to(at(2026, 3, 9, 9, 30))  # Monday 09:30: 64.5 hours later
        assert post_act(centre, case, "resume").status_code == 200
    # One working hour on Friday and one on Monday morning: due Monday 10:00 + 2 h.
    assert fresh(case).handle_due_at == at(2026, 3, 9, 12)


def test_suspend_needs_an_open_accepted_case(tree, people):
    case = new_case(people.grid_worker)
    r = post_act(api_as(people.centre_staff), case, "suspend", {"reason": "x"})
    assert r.status_code == 409 and r.json()["state"] == "submitted"


# --- extend (延期) ------------------------------------------------------------------------------


def test_extension_asked_by_the_handler_and_approved_or_refused_by_the_centre(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
        assert case.handle_due_at == at(2026, 3, 9, 10)
        worker, centre = api_as(people.grid_worker), api_as(people.centre_staff)
        clock.move_to(at(2026, 3, 5, 9))

        r = post_act(centre, case, "extend", {"approve": True})
        assert r.status_code == 409  # nothing to decide yet
        assert post_act(worker, case, "extend", {"reason": "需等待配件"}).status_code == 400
        assert post_act(worker, case, "extend", {"days": 2}).status_code == 400
        for days in (0, 61, "x"):
            r = post_act(worker, case, "extend", {"days": days, "reason": "x"})
            assert r.status_code == 400 and "days" in r.json()
        assert (
            post_act(api_as(people.leader), case, "extend", {"days": 2, "reason": "x"}).status_code
            == 403
        )

        r = post_act(worker, case, "extend", {"days": 2, "reason": "需等待配件"})
        assert r.status_code == 200, r.json()
        assert r.json()["extension_requested_days"] == 2
        assert r.json()["extension_reason"] == "需等待配件"
        assert fresh(case).handle_due_at == at(2026, 3, 9, 10)  # not before the centre says so
        r = post_act(worker, case, "extend", {"days": 3, "reason": "再延"})
        assert r.status_code == 409  # one pending request at a time

        r = post_act(centre, case, "extend", {"approve": True})
        assert r.status_code == 200, r.json()
        assert r.json()["extension_requested_days"] is None
        assert fresh(case).handle_due_at == at(2026, 3, 11, 10)  # two working days later

        assert (
            post_act(worker, case, "extend", {"days": 1, "reason": "天气原因"}).status_code == 200
        )
        r = post_act(centre, case, "extend", {"approve": False, "reason": "时限充足"})
        assert r.status_code == 200
        assert r.json()["extension_requested_days"] is None
        assert fresh(case).handle_due_at == at(2026, 3, 11, 10)

        decisions = [
            e.data["decision"]
            for e in CaseEvent.objects.filter(grievance=case, action="extend").order_by("id")
        ]
        assert decisions == ["requested", "approved", "requested", "refused"]

        clock.move_to(at(2026, 3, 11, 10, 1))  # past the deadline
        r = post_act(worker, case, "extend", {"days": 1, "reason": "来不及"})
        assert r.status_code == 409
        assert fresh(case).extension_requested_days is None


def test_the_centre_may_grant_days_without_a_request(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
        r = post_act(api_as(people.centre_staff), case, "extend", {"days": 3, "reason": "雨天"})
    assert r.status_code == 200, r.json()
    assert fresh(case).handle_due_at == at(2026, 3, 12, 10)
    event = CaseEvent.objects.filter(grievance=case, action="extend").get()
    assert event.data["decision"] == "granted"
    assert event.actor_id == people.centre_staff.pk


def test_extend_is_for_running_deadlines_only(tree, people):
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    r = post_act(api_as(people.centre_staff), case, "extend", {"days": 2, "reason": "x"})
    assert r.status_code == 409 and r.json()["state"] == "accepted"


# --- reopen -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "status"), [(29, 200), (30, 200), (31, 409)])
def test_reopen_within_30_days_of_closing(tree, people, days, status):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.CLOSED, people)
        clock.move_to(at(2026, 3, 2, 10) + timedelta(days=days))
        centre = api_as(people.centre_staff)
        assert ("reopen" in detail(centre, case)["available_transitions"]) == (status == 200)
        r = post_act(centre, case, "reopen", {"reason": "回访不满意"})
    assert r.status_code == status, r.json()
    assert fresh(case).state == (State.IN_PROGRESS if status == 200 else State.CLOSED)


# --- mediate ----------------------------------------------------------------------------------


PARTIES = [{"name": "张三", "phone": "13800000001"}, {"name": "李四", "phone": "13800000002"}]


def test_a_dispute_goes_to_mediation_from_submitted_or_accepted(tree, people):
    submitted = new_case(people.grid_worker, category="dispute.neighbours", title="邻里噪音纠纷")
    r = post_act(
        api_as(people.centre_staff),
        submitted,
        "mediate",
        {"note": "转人民调解", "parties": PARTIES},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "mediating"

    accepted = advance(
        new_case(people.grid_worker, category="dispute.neighbours"), State.ACCEPTED, people
    )
    # Grid staff of the case's area may send a dispute to mediation too.
    r = post_act(api_as(people.grid_worker), accepted, "mediate", {"parties": PARTIES})
    assert r.status_code == 200, r.json()
    event = CaseEvent.objects.filter(grievance=accepted).latest("id")
    assert (event.action, event.from_state, event.to_state) == ("mediate", "accepted", "mediating")

    r = post_act(api_as(people.leader), new_case(people.grid_worker, category="dispute"), "mediate")
    assert r.status_code == 403


def test_mediation_needs_the_parties_of_the_dispute(tree, people):
    case = new_case(people.grid_worker, category="dispute.neighbours")
    r = post_act(api_as(people.centre_staff), case, "mediate", {"note": "转人民调解"})
    assert r.status_code == 400 and "parties" in r.json()
    assert fresh(case).state == State.SUBMITTED


def test_only_disputes_go_to_mediation(tree, people):
    hazard = new_case(people.grid_worker, category="hazard.road")
    r = post_act(api_as(people.centre_staff), hazard, "mediate")
    assert r.status_code == 409 and r.json()["state"] == "submitted"
    assert fresh(hazard).state == State.SUBMITTED


def test_a_dispatched_dispute_is_not_sent_to_mediation(tree, people):
    case = advance(
        new_case(people.grid_worker, category="dispute.neighbours"), State.DISPATCHED, people
    )
    r = post_act(api_as(people.centre_staff), case, "mediate")
    assert r.status_code == 409 and r.json()["state"] == "dispatched"


# --- urge (催办) and supervise (督办) -------------------------------------------------------------


def test_urge_by_the_reporter_and_by_a_leader_is_counted(tree, people):
    case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
    r = post_act(api_as(people.grid_worker), case, "urge", {"note": "请加快"})
    assert r.status_code == 200, r.json()
    assert r.json()["urge_count"] == 1
    r = post_act(api_as(people.leader), case, "urge")
    assert r.status_code == 200
    assert r.json()["urge_count"] == 2
    assert post_act(api_as(people.centre_staff), case, "urge").status_code == 403
    assert [e.data["count"] for e in CaseEvent.objects.filter(grievance=case, action="urge")] == [
        1,
        2,
    ]
    assert fresh(case).state == State.DISPATCHED


def test_urge_a_closed_case_is_409(tree, people):
    case = advance(new_case(people.grid_worker), State.CLOSED, people)
    r = post_act(api_as(people.leader), case, "urge")
    assert r.status_code == 409 and r.json()["state"] == "closed"


def test_supervise_only_an_overdue_case(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
        centre = api_as(people.centre_staff)
        r = post_act(centre, case, "supervise", {"note": "请按时办结"})
        assert r.status_code == 409 and r.json()["state"] == "in_progress"

        clock.move_to(at(2026, 3, 9, 10, 1))  # one minute past the deadline
        assert detail(centre, case)["is_overdue"] is True
        assert post_act(api_as(people.grid_worker), case, "supervise").status_code == 403
        r = post_act(centre, case, "supervise", {"note": "已超期，请立即办结"})
        assert r.status_code == 200, r.json()
        assert r.json()["supervise_count"] == 1
        r = post_act(api_as(people.leader), case, "supervise")
        assert r.status_code == 200
        assert r.json()["supervise_count"] == 2


def test_a_suspended_case_is_not_overdue_and_not_supervised(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
        centre = api_as(people.centre_staff)
        assert post_act(centre, case, "suspend", {"reason": "等待鉴定"}).status_code == 200
        clock.move_to(at(2026, 3, 20, 10))
        assert detail(centre, case)["is_overdue"] is False
        assert post_act(centre, case, "supervise").status_code == 409


# --- note -------------------------------------------------------------------------------------


def test_a_public_note_shows_in_tracking_and_an_internal_one_does_not(tree, people):
    case = advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    centre = api_as(people.centre_staff)
    assert post_act(centre, case, "note", {}).status_code == 400
    r = post_act(api_as(people.grid_worker), case, "note", {"note": "施工队已到场", "public": True})
    assert r.status_code == 200, r.json()
    r = post_act(centre, case, "note", {"note": "当事人情绪激动，注意稳控"})
    assert r.status_code == 200
    assert r.json()["state"] == "in_progress"
    notes = [e["note"] for e in r.json()["events"] if e["action"] == "note"]
    assert notes == ["施工队已到场", "当事人情绪激动，注意稳控"]
    public = [e["note"] for e in track(case)["timeline"] if e["action"] == "note"]
    assert public == ["施工队已到场"]
    # A leader in scope may add a note; an outsider does not find the case.
    assert post_act(api_as(people.leader), case, "note", {"note": "已阅"}).status_code == 200
    assert post_act(api_as(people.outsider), case, "note", {"note": "x"}).status_code == 404


def test_a_note_on_a_closed_case_keeps_it_closed(tree, people):
    case = advance(new_case(people.grid_worker), State.CLOSED, people)
    r = post_act(api_as(people.centre_staff), case, "note", {"note": "回访：群众满意"})
    assert r.status_code == 200
    assert r.json()["state"] == "closed"


# --- what each role is offered ----------------------------------------------------------------


def test_available_transitions_differ_per_role(tree, people):
    case = new_case(people.grid_worker)

    def offered(user) -> set[str]:
        return set(detail(api_as(user), case)["available_transitions"])

    assert offered(people.centre_staff) == {"accept", "reject", "triage", "note"}
    # The grid worker reported it: withdraw and urge, and notes as staff of the area.
    assert offered(people.grid_worker) == {"withdraw", "urge", "note"}
    assert offered(people.leader) == {"urge", "note"}
    assert api_as(people.outsider).get(f"/api/v1/grievances/{case.pk}/").status_code == 404

    case = advance(case, State.IN_PROGRESS, people)
    assert offered(people.centre_staff) == {
        "return",  # the township centre counts as a handler of its own grids
        "handle",
        "escalate",
        "suspend",
        "extend",
        "triage",
        "note",
    }
    assert offered(people.grid_worker) == {"return", "handle", "withdraw", "urge", "extend", "note"}
    assert offered(people.leader) == {"urge", "note"}

    case = advance(case, State.HANDLED, people)
    assert offered(people.centre_staff) == {"redo", "verify", "triage", "note"}
    assert offered(people.grid_worker) == {"note"}


def test_a_dispute_offers_mediation_to_the_centre_and_grid_staff(tree, people):
    case = new_case(people.grid_worker, category="dispute.neighbours")
    assert "mediate" in detail(api_as(people.centre_staff), case)["available_transitions"]
    assert "mediate" in detail(api_as(people.grid_leader), case)["available_transitions"]
    assert "mediate" not in detail(api_as(people.leader), case)["available_transitions"]


# --- settled on the spot ----------------------------------------------------------------------


REPORT = {
    "title": "路灯不亮",
    "description": "巷口路灯不亮",
    "category": "hazard.environment",
    "lng": 91.2,
    "lat": 29.7,
    "complainants": [{"name": "王五", "phone": "13700007777"}],
}


def test_a_grid_worker_settles_on_the_spot_and_the_case_enters_handled(tree, people):
    r = api_as(people.grid_worker).post(
        "/api/v1/grievances/", {**REPORT, "settled_note": "已现场更换灯泡"}, format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["state"] == "handled"
    assert body["result"] == "已现场更换灯泡"
    assert body["handled_at"]
    assert body["source"] == "grid_worker"
    assert [(e["action"], e["to_state"]) for e in body["events"]] == [
        ("submit", "submitted"),
        ("handle", "handled"),
    ]
    assert body["events"][1]["data"] == {"on_the_spot": True}
    case = Grievance.objects.get(pk=body["id"])
    r = post_act(api_as(people.centre_staff), case, "verify")
    assert r.status_code == 200 and r.json()["state"] == "closed"


def test_only_grid_staff_settle_on_the_spot(tree, people):
    r = api_as(people.centre_staff).post(
        "/api/v1/grievances/", {**REPORT, "settled_note": "已处理"}, format="json"
    )
    assert r.status_code == 403
    assert not Grievance.objects.exists()


def test_a_resident_cannot_settle_on_the_spot(tree, people):
    r = APIClient().post(
        "/api/v1/public/grievances/", {**REPORT, "settled_note": "我自己修好了"}, format="json"
    )
    assert r.status_code == 201, r.json()
    case = Grievance.objects.get()
    assert case.state == State.SUBMITTED
    assert case.result == ""
    assert actions(case) == ["submit"]


def test_a_grid_worker_reports_only_in_their_own_area(tree, people):
    r = api_as(people.grid_worker).post(
        "/api/v1/grievances/", {**REPORT, "lng": 91.7, "lat": 29.5}, format="json"
    )
    assert r.status_code == 403
    assert not Grievance.objects.exists()
