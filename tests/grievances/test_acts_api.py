"""Every move through the API: who may, in which state, with which input, and in which order
the refusals come (404 outside scope, 403 wrong role, 409 wrong state, 400 bad input)."""

from __future__ import annotations

import pytest

from grids.models import Role
from grievances import services
from grievances.models import CaseEvent, Complainant, Grievance, Source, State
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import advance, api_as, new_case, post_act

pytestmark = pytest.mark.django_db


def last_event(case: Grievance) -> CaseEvent:
    return CaseEvent.objects.filter(grievance=case).order_by("-id").first()


def events(case: Grievance) -> list[str]:
    return list(
        CaseEvent.objects.filter(grievance=case).order_by("id").values_list("action", flat=True)
    )


def assert_event(case, action, user, from_state, to_state):
    event = last_event(case)
    assert (event.action, event.actor_id, event.from_state, event.to_state) == (
        action,
        user.pk,
        from_state,
        to_state,
    )
    return event


def assert_409(response, state):
    assert response.status_code == 409, response.json()
    body = response.json()
    assert set(body) == {"detail", "state"}
    assert body["detail"]
    assert body["state"] == state


def assert_400(response, field):
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()


@pytest.fixture
def case(tree, people):
    return new_case(people.grid_worker)


# --- accept -----------------------------------------------------------------------------------


def test_accept_by_the_centre_sets_triage_and_records_it(case, people):
    r = post_act(
        api_as(people.centre_staff),
        case,
        "accept",
        {"complexity": "complex", "handling_level": "township", "note": "转街道"},
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["state"] == "accepted"
    assert body["complexity"] == "complex"
    assert body["handling_level"] == "township"
    assert body["accepted_at"]
    event = assert_event(case, "accept", people.centre_staff, "submitted", "accepted")
    assert event.note == "转街道"
    assert event.public
    assert body["events"][-1]["action"] == "accept"


def test_accept_defaults_to_simple_matters_staying_in_the_village(case, people):
    r = post_act(api_as(people.centre_staff), case, "accept")
    assert r.status_code == 200
    assert (r.json()["complexity"], r.json()["handling_level"]) == ("simple", "village")


@pytest.mark.parametrize("who", ["grid_worker", "grid_leader", "leader"])
def test_accept_by_someone_who_is_not_the_centre_is_403(case, people, who):
    r = post_act(api_as(getattr(people, who)), case, "accept")
    assert r.status_code == 403
    assert r.json()["detail"]
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED
    assert events(case) == ["submit"]


@pytest.mark.parametrize("who", ["outsider", "sibling_staff"])
def test_staff_of_another_tree_or_a_sibling_township_do_not_find_the_case(case, people, who):
    # The sibling township (昌珠镇) is centre staff too, but of another subtree: the case is
    # outside its scope, which is 404, not 403 (it must not learn that the case exists).
    client = api_as(getattr(people, who))
    assert client.get(f"/api/v1/grievances/{case.pk}/").status_code == 404
    r = post_act(client, case, "accept")
    assert r.status_code == 404
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED


def test_accept_twice_is_409(case, people):
    centre = api_as(people.centre_staff)
    assert post_act(centre, case, "accept").status_code == 200
    assert_409(post_act(centre, case, "accept"), "accepted")
    assert events(case) == ["submit", "accept"]


def test_accept_with_a_bad_complexity_names_the_field(case, people):
    assert_400(
        post_act(api_as(people.centre_staff), case, "accept", {"complexity": "huge"}), "complexity"
    )
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED


def test_county_centre_may_act_on_a_village_case(case, tree, people):
    county_staff = make_member("county_staff", tree.county, Role.CENTRE_STAFF)
    assert post_act(api_as(county_staff), case, "accept").status_code == 200


# --- the order of refusals --------------------------------------------------------------------


def test_outside_scope_is_404_before_role_state_or_input(case, people):
    # The outsider is no centre of this case, the case is not handled, the input is empty:
    # still only 404.
    r = post_act(api_as(people.outsider), case, "verify")
    assert r.status_code == 404


def test_wrong_role_is_403_before_wrong_state(case, people):
    # A grid worker may not verify, and the case is not handled either.
    r = post_act(api_as(people.grid_worker), case, "verify")
    assert r.status_code == 403


def test_wrong_role_is_403_before_bad_input(case, people):
    r = post_act(api_as(people.grid_worker), case, "reject", {})
    assert r.status_code == 403


def test_wrong_state_is_409_before_bad_input(case, people):
    # redo needs a reason and a handled case: the state is reported first.
    assert_409(post_act(api_as(people.centre_staff), case, "redo", {}), "submitted")


# --- reject -----------------------------------------------------------------------------------


def test_reject_with_a_reason_shown_to_the_reporter(case, people):
    r = post_act(
        api_as(people.centre_staff),
        case,
        "reject",
        {"reason_code": "out_of_scope", "reason": "不属于综治中心受理范围"},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "rejected"
    assert r.json()["reject_reason_code"] == "out_of_scope"
    event = assert_event(case, "reject", people.centre_staff, "submitted", "rejected")
    assert event.public and event.note == "不属于综治中心受理范围"


def test_reject_input_errors_name_their_field(case, people):
    centre = api_as(people.centre_staff)
    assert_400(post_act(centre, case, "reject", {"reason": "x"}), "reason_code")
    assert_400(post_act(centre, case, "reject", {"reason_code": "nonsense"}), "reason_code")
    assert_400(post_act(centre, case, "reject", {"reason_code": "invalid"}), "reason")
    assert_400(post_act(centre, case, "reject", {"reason_code": "duplicate"}), "duplicate_of")
    assert_400(
        post_act(
            centre, case, "reject", {"reason_code": "duplicate", "duplicate_of": case.tracking_code}
        ),
        "duplicate_of",
    )
    assert_400(
        post_act(centre, case, "reject", {"reason_code": "duplicate", "duplicate_of": "ZZZZ-ZZZZ"}),
        "duplicate_of",
    )
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED
    assert events(case) == ["submit"]


def test_reject_as_duplicate_links_the_original_and_moves_the_complainants(tree, people):
    original = new_case(people.grid_worker, name="张三", phone="13800001234")
    duplicate = new_case(people.grid_worker, name="李四", phone="13900005678")
    r = post_act(
        api_as(people.centre_staff),
        duplicate,
        "reject",
        # The code as people read it aloud: lower case, with the dash.
        {"reason_code": "duplicate", "duplicate_of": original.display_code.lower()},
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "rejected"
    assert r.json()["duplicate_of"] == original.display_code
    assert Grievance.objects.get(pk=duplicate.pk).duplicate_of_id == original.pk
    moved = list(Complainant.objects.filter(grievance=original).order_by("position"))
    assert [(c.name, c.is_reporter, c.merged_from_id) for c in moved] == [
        ("张三", True, None),
        ("李四", False, duplicate.pk),
    ]
    assert not Complainant.objects.filter(grievance=duplicate).exists()
    assert last_event(duplicate).data["duplicate_of"] == original.tracking_code
    detail = api_as(people.centre_staff).get(f"/api/v1/grievances/{original.pk}/").json()
    assert [c["name"] for c in detail["complainants"]] == ["张三", "李四"]


def test_reject_as_duplicate_of_a_case_outside_scope_is_400(tree, people):
    elsewhere = new_case(people.outsider, region=tree.other_county)
    case = new_case(people.grid_worker)
    r = post_act(
        api_as(people.centre_staff),
        case,
        "reject",
        {"reason_code": "duplicate", "duplicate_of": elsewhere.tracking_code},
    )
    assert_400(r, "duplicate_of")


def test_reject_after_accept_is_409(case, people):
    advance(case, State.ACCEPTED, people)
    r = post_act(api_as(people.centre_staff), case, "reject", {"reason_code": "invalid"})
    assert_409(r, "accepted")


# --- dispatch ---------------------------------------------------------------------------------


def test_dispatch_down_to_the_grid_starts_the_clock(case, tree, people):
    advance(case, State.ACCEPTED, people)
    r = post_act(
        api_as(people.centre_staff),
        case,
        "dispatch",
        {"to_region": tree.grid_a1.code, "note": "请网格员现场处置"},
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["state"] == "dispatched"
    assert body["handler_region"]["code"] == tree.grid_a1.code
    assert body["dispatched_at"] and body["report_in_due_at"] and body["handle_due_at"]
    event = assert_event(case, "dispatch", people.centre_staff, "accepted", "dispatched")
    assert event.data["to_region"] == tree.grid_a1.code
    assert event.data["handle_due_at"]


def test_dispatch_input_errors(case, tree, people):
    advance(case, State.ACCEPTED, people)
    centre = api_as(people.centre_staff)
    # No target at all (neither departments nor a region): the dispatch app names its field.
    assert post_act(centre, case, "dispatch", {}).status_code == 400
    assert_400(post_act(centre, case, "dispatch", {"to_region": "999999999999"}), "to_region")
    # Outside the owning centre's area (江塘村): the sibling township's grid.
    assert_400(post_act(centre, case, "dispatch", {"to_region": tree.grid_b1.code}), "to_region")
    # Not down to a grid or a village.
    assert_400(post_act(centre, case, "dispatch", {"to_region": tree.town_a.code}), "to_region")
    assert Grievance.objects.get(pk=case.pk).state == State.ACCEPTED


def test_dispatch_before_accept_is_409_and_by_a_grid_worker_403(case, tree, people):
    data = {"to_region": tree.grid_a1.code}
    assert_409(post_act(api_as(people.centre_staff), case, "dispatch", data), "submitted")
    advance(case, State.ACCEPTED, people)
    assert post_act(api_as(people.grid_worker), case, "dispatch", data).status_code == 403


# --- report_in, return, handle ----------------------------------------------------------------


def test_report_in_by_the_handler(case, people):
    advance(case, State.DISPATCHED, people)
    r = post_act(api_as(people.grid_worker), case, "report_in", {"note": "已签收"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "in_progress"
    assert r.json()["reported_in_at"]
    event = assert_event(case, "report_in", people.grid_worker, "dispatched", "in_progress")
    assert event.data == {"on_time": True}


def test_report_in_by_someone_who_is_not_the_handler_is_403(case, people):
    advance(case, State.DISPATCHED, people)
    # The county leader sees the case but does not handle it.
    assert post_act(api_as(people.leader), case, "report_in").status_code == 403
    assert_409(post_act(api_as(people.grid_worker), case, "handle", {"result": "x"}), "dispatched")


def test_return_by_the_handler_needs_a_reason(case, people):
    advance(case, State.IN_PROGRESS, people)
    worker = api_as(people.grid_worker)
    assert_400(post_act(worker, case, "return", {}), "reason")
    assert_400(post_act(worker, case, "return", {"reason": ""}), "reason")
    r = post_act(worker, case, "return", {"reason": "不属于网格处置范围"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["state"] == "accepted"
    assert body["return_count"] == 1
    assert body["handler_region"] is None
    assert body["handle_due_at"] is None and body["report_in_due_at"] is None
    assert_event(case, "return", people.grid_worker, "in_progress", "accepted")
    # The centre may dispatch it again.
    assert (
        "dispatch"
        in api_as(people.centre_staff)
        .get(f"/api/v1/grievances/{case.pk}/")
        .json()["available_transitions"]
    )


def test_return_before_dispatch_has_no_handler_and_after_handle_is_409(case, people):
    case = advance(case, State.ACCEPTED, people)
    # Nobody handles an undispatched case, so nobody may return it.
    assert post_act(api_as(people.grid_worker), case, "return", {"reason": "x"}).status_code == 403
    advance(case, State.HANDLED, people)
    assert_409(post_act(api_as(people.grid_worker), case, "return", {"reason": "x"}), "handled")


def test_handle_records_the_result(case, people):
    advance(case, State.IN_PROGRESS, people)
    worker = api_as(people.grid_worker)
    assert_400(post_act(worker, case, "handle", {}), "result")
    assert_400(
        post_act(worker, case, "handle", {"result": "x", "attachments": [999999]}), "attachments"
    )
    r = post_act(worker, case, "handle", {"result": "垃圾已清运"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "handled"
    assert r.json()["result"] == "垃圾已清运"
    assert r.json()["handled_at"]
    assert_event(case, "handle", people.grid_worker, "in_progress", "handled")
    assert post_act(api_as(people.leader), case, "handle", {"result": "x"}).status_code == 403


# --- redo, verify, reopen ---------------------------------------------------------------------


def test_redo_sends_it_back_with_a_reason(case, people):
    advance(case, State.HANDLED, people)
    centre = api_as(people.centre_staff)
    assert_400(post_act(centre, case, "redo", {}), "reason")
    r = post_act(centre, case, "redo", {"reason": "现场仍有垃圾"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "in_progress"
    assert r.json()["redo_count"] == 1
    assert r.json()["handled_at"] is None
    assert_event(case, "redo", people.centre_staff, "handled", "in_progress")
    assert post_act(api_as(people.grid_worker), case, "redo", {"reason": "x"}).status_code == 403


def test_verify_closes(case, people):
    advance(case, State.HANDLED, people)
    assert post_act(api_as(people.grid_worker), case, "verify").status_code == 403
    r = post_act(api_as(people.centre_staff), case, "verify", {"note": "核查属实"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "closed"
    assert r.json()["closed_at"]
    assert_event(case, "verify", people.centre_staff, "handled", "closed")
    assert_409(post_act(api_as(people.centre_staff), case, "verify"), "closed")


def test_reopen_needs_a_reason(case, people):
    advance(case, State.CLOSED, people)
    centre = api_as(people.centre_staff)
    assert_400(post_act(centre, case, "reopen", {}), "reason")
    assert post_act(api_as(people.grid_worker), case, "reopen", {"reason": "x"}).status_code == 403
    r = post_act(centre, case, "reopen", {"reason": "回访不满意"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "in_progress"
    assert r.json()["closed_at"] is None
    assert r.json()["handle_due_at"]
    assert_event(case, "reopen", people.centre_staff, "closed", "in_progress")


# --- withdraw ---------------------------------------------------------------------------------


def test_withdraw_by_the_reporter(case, people):
    assert post_act(api_as(people.centre_staff), case, "withdraw").status_code == 403
    r = post_act(api_as(people.grid_worker), case, "withdraw", {"reason": "已自行解决"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "withdrawn"
    assert_event(case, "withdraw", people.grid_worker, "submitted", "withdrawn")


@pytest.mark.parametrize("state", [State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS])
def test_withdraw_any_time_before_handled(case, people, state):
    advance(case, state, people)
    r = post_act(api_as(people.grid_worker), case, "withdraw")
    assert r.status_code == 200
    assert r.json()["state"] == "withdrawn"


@pytest.mark.parametrize("state", [State.HANDLED, State.CLOSED])
def test_withdraw_after_handled_is_409(case, people, state):
    advance(case, state, people)
    assert_409(post_act(api_as(people.grid_worker), case, "withdraw"), state)


# --- every act: 404 outside scope, 403 wrong role, 409 wrong state ----------------------------

ALL_ACTS = [
    "accept",
    "reject",
    "dispatch",
    "report_in",
    "return",
    "handle",
    "answer",
    "redo",
    "verify",
    "reopen",
    "escalate",
    "withdraw",
    "mediate",
    "suspend",
    "resume",
    "extend",
    "urge",
    "supervise",
    "note",
    "triage",
]

# Enough input for each act to pass validation, so that only the refusal under test shows.
GOOD_INPUT = {
    "reject": {"reason_code": "invalid", "reason": "无效"},
    "dispatch": {"to_region": "540502001001001"},
    "return": {"reason": "x"},
    "handle": {"result": "x"},
    "answer": {"answer": "x"},
    "redo": {"reason": "x"},
    "reopen": {"reason": "x"},
    "escalate": {"reason": "x"},
    "suspend": {"reason": "x"},
    "extend": {"days": 1, "reason": "x"},
    "note": {"note": "x"},
    "triage": {"urgency": "urgent", "reason": "x"},
}


def test_the_act_list_is_complete():
    from grievances.api import ACTS

    assert set(ACTS) == set(ALL_ACTS)


@pytest.mark.parametrize("action", ALL_ACTS)
@pytest.mark.parametrize("who", ["outsider", "sibling_staff"])
def test_every_act_is_404_outside_scope(tree, people, action, who):
    case = advance(
        new_case(people.grid_worker, category="dispute.neighbours"), State.ACCEPTED, people
    )
    r = post_act(api_as(getattr(people, who)), case, action, GOOD_INPUT.get(action, {}))
    assert r.status_code == 404
    assert events(case) == ["submit", "accept"]


# action -> (the state to bring the case to, a role in scope that may not do it)
FORBIDDEN = {
    "accept": (State.SUBMITTED, "grid_worker"),
    "reject": (State.SUBMITTED, "leader"),
    "dispatch": (State.ACCEPTED, "grid_leader"),
    "report_in": (State.DISPATCHED, "leader"),
    "return": (State.IN_PROGRESS, "leader"),
    "handle": (State.IN_PROGRESS, "leader"),
    "answer": (State.SUBMITTED, "grid_worker"),
    "redo": (State.HANDLED, "grid_worker"),
    "verify": (State.HANDLED, "grid_leader"),
    "reopen": (State.CLOSED, "grid_worker"),
    "escalate": (State.ACCEPTED, "grid_worker"),
    "withdraw": (State.SUBMITTED, "centre_staff"),
    "mediate": (State.SUBMITTED, "leader"),
    "suspend": (State.ACCEPTED, "grid_worker"),
    "resume": (State.ACCEPTED, "grid_leader"),
    "extend": (State.IN_PROGRESS, "leader"),
    "urge": (State.DISPATCHED, "centre_staff"),
    "supervise": (State.IN_PROGRESS, "grid_worker"),
    "note": (State.IN_PROGRESS, "resident"),
    "triage": (State.SUBMITTED, "grid_worker"),
}


@pytest.mark.parametrize("action", ALL_ACTS)
def test_every_act_is_403_for_a_role_that_may_not(tree, people, action):
    state, who = FORBIDDEN[action]
    # A resident with an account who reported the case sees it, but is no staff.
    people.resident = UserFactory(username="resident")
    case = new_case(
        people.resident if who == "resident" else people.grid_worker,
        category="dispute.neighbours",
        source=Source.RESIDENT_WEB if who == "resident" else None,
    )
    case = advance(case, state, people)
    if action == "resume":
        services.grievance_suspend(case, people.centre_staff, reason="等待鉴定")
    before = events(case)
    r = post_act(api_as(getattr(people, who)), case, action, GOOD_INPUT.get(action, {}))
    assert r.status_code == 403, r.json()
    assert set(r.json()) == {"detail"}
    assert events(case) == before


# action -> a state in which the act is not possible (for a role that may do it otherwise)
WRONG_STATE = {
    "accept": (State.ACCEPTED, "centre_staff"),
    "reject": (State.DISPATCHED, "centre_staff"),
    "dispatch": (State.SUBMITTED, "centre_staff"),
    "report_in": (State.IN_PROGRESS, "grid_worker"),
    "return": (State.HANDLED, "grid_worker"),
    "handle": (State.HANDLED, "grid_worker"),
    "answer": (State.DISPATCHED, "centre_staff"),
    "redo": (State.CLOSED, "centre_staff"),
    "verify": (State.IN_PROGRESS, "centre_staff"),
    "reopen": (State.HANDLED, "centre_staff"),
    "escalate": (State.HANDLED, "centre_staff"),
    "withdraw": (State.CLOSED, "grid_worker"),
    "mediate": (State.DISPATCHED, "centre_staff"),
    "suspend": (State.HANDLED, "centre_staff"),
    "resume": (State.IN_PROGRESS, "centre_staff"),  # not suspended
    "extend": (State.HANDLED, "grid_worker"),
    "urge": (State.CLOSED, "grid_worker"),
    "supervise": (State.IN_PROGRESS, "centre_staff"),  # not overdue
    "triage": (State.CLOSED, "centre_staff"),
}


@pytest.mark.parametrize("action", sorted(WRONG_STATE))
def test_every_act_is_409_in_a_state_that_does_not_allow_it(tree, people, action):
    state, who = WRONG_STATE[action]
    case = new_case(people.grid_worker, category="dispute.neighbours")
    case = advance(case, state, people)
    before = events(case)
    r = post_act(api_as(getattr(people, who)), case, action, GOOD_INPUT.get(action, {}))
    assert_409(r, state)
    assert events(case) == before


def test_a_superuser_may_act_anywhere(tree, people):
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    case = new_case(people.outsider, region=tree.other_county)
    r = post_act(api_as(admin), case, "accept")
    assert r.status_code == 200
    assert r.json()["state"] == "accepted"
