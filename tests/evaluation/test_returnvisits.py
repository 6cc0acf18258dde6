"""Return visits: who is visited, when, and recording the call (reopening after it)."""

from __future__ import annotations

import pytest
import time_machine

from evaluation import returnvisits
from evaluation.models import ReturnVisit
from grids.models import Role
from grievances import services
from grievances.models import CaseEvent, State
from grievances.relay import relay_batch
from tests.evaluation.conftest import step
from tests.factories import make_member
from tests.grievances.conftest import advance, api_as, at, new_case

pytestmark = pytest.mark.django_db


def closed_case(people, when=None, **kwargs):
    when = when or at(2026, 10, 12, 9)
    case = step(when, new_case, people.grid_worker, **kwargs)
    with time_machine.travel(at(2026, 10, 12, 10), tick=False):
        return advance(case, State.CLOSED, people)


def test_an_unsatisfied_rating_is_always_visited(tree, people):
    case = closed_case(people)
    relay_batch()
    assert not ReturnVisit.objects.exists()  # sample 0: nothing at closing
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=3,
        resolved=True,
        via_tracking=True,
    )
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    assert visit.reason == "unsatisfied"
    # Due by the end of the next working day (Tue).
    assert visit.due_at == at(2026, 10, 13, 18)


def test_not_resolved_is_unsatisfied_even_with_five_stars(tree, people):
    case = closed_case(people)
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=5,
        resolved=False,
        via_tracking=True,
    )
    relay_batch()
    assert ReturnVisit.objects.get(grievance=case).reason == "unsatisfied"


def test_a_satisfied_rating_outside_the_sample_is_not_visited(tree, people):
    case = closed_case(people)
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=4,
        resolved=True,
        via_tracking=True,
    )
    relay_batch()
    assert not ReturnVisit.objects.filter(grievance=case).exists()


def test_closing_before_a_holiday_is_due_after_it(tree, people):
    case = step(at(2026, 9, 30, 9), new_case, people.grid_worker)
    with time_machine.travel(at(2026, 9, 30, 10), tick=False):
        case = advance(case, State.CLOSED, people)
    step(
        at(2026, 9, 30, 11),
        services.grievance_rate,
        case,
        None,
        score=1,
        resolved=False,
        via_tracking=True,
    )
    relay_batch()
    # National Day 10-01..10-07: the next working day is Thu 10-08.
    assert ReturnVisit.objects.get(grievance=case).due_at == at(2026, 10, 8, 18)


def test_an_escalated_case_is_always_visited(tree, people):
    county_staff = make_member("county_staff", tree.county, Role.CENTRE_STAFF)
    with time_machine.travel(at(2026, 10, 12, 9), tick=False):
        case = new_case(people.grid_worker)
        case = services.grievance_accept(case, people.centre_staff)
        case = services.grievance_escalate(case, people.centre_staff, reason="村里解决不了")
        assert case.owning_centre == tree.county
        case = services.grievance_dispatch(case, county_staff, to_region=case.region)
        case = services.grievance_report_in(case, people.grid_worker)
        case = services.grievance_handle(case, people.grid_worker, result="已处理")
        case = services.grievance_verify(case, county_staff)
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    assert visit.reason == "escalated"
    # Only the county centre (or above) records it: the township staff no longer own it.
    assert not returnvisits.can_record(people.centre_staff, visit)
    assert returnvisits.can_record(county_staff, visit)


def test_the_sample_is_deterministic(tree, people, settings):
    codes = [f"{i:08d}" for i in range(2000)]
    first = [returnvisits.in_sample(c, 0.2) for c in codes]
    assert first == [returnvisits.in_sample(c, 0.2) for c in codes]
    assert 0.17 < sum(first) / len(codes) < 0.23
    assert not any(returnvisits.in_sample(c, 0.0) for c in codes)
    assert all(returnvisits.in_sample(c, 1.0) for c in codes)
    # A larger share keeps every case the smaller one had.
    assert all(returnvisits.in_sample(c, 0.5) for c, yes in zip(codes, first, strict=True) if yes)

    settings.RETURN_VISIT_SAMPLE = 1.0
    case = closed_case(people)
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    assert visit.reason == "sample"
    # Scheduling again (a relay run twice) changes nothing.
    assert returnvisits.return_visit_schedule(case.pk) == visit
    assert ReturnVisit.objects.filter(grievance=case).count() == 1


def test_a_later_unsatisfied_rating_upgrades_a_pending_sample_visit(tree, people, settings):
    settings.RETURN_VISIT_SAMPLE = 1.0
    case = closed_case(people)
    relay_batch()
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=1,
        resolved=False,
        via_tracking=True,
    )
    relay_batch()
    assert list(ReturnVisit.objects.values_list("reason", flat=True)) == ["unsatisfied"]


def test_recording_the_call_and_reopening(tree, people):
    case = closed_case(people)
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=2,
        resolved=False,
        via_tracking=True,
    )
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    with pytest.raises(services.NotAllowed):
        returnvisits.return_visit_record(
            visit, people.grid_worker, reached=True, satisfied=False, resolved=False
        )
    with pytest.raises(services.InvalidInput) as err:
        returnvisits.return_visit_record(visit, people.centre_staff, reached=True)
    assert err.value.field == "satisfied"
    visit = step(
        at(2026, 10, 13, 10),
        returnvisits.return_visit_record,
        visit,
        people.centre_staff,
        reached=True,
        satisfied=False,
        resolved=False,
        note="居民说水管又漏了",
        reopen=True,
    )
    assert visit.recorded_by == people.centre_staff
    assert visit.recorded_at == at(2026, 10, 13, 10)
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    assert case.closed_at is None
    actions = list(CaseEvent.objects.filter(grievance=case).values_list("action", flat=True))
    assert actions[-2:] == ["return_visit", "reopen"]
    event = CaseEvent.objects.get(grievance=case, action="return_visit")
    assert event.data["resolved"] is False and event.data["reason"] == "unsatisfied"
    with pytest.raises(services.WrongState):
        returnvisits.return_visit_record(visit, people.centre_staff, reached=False)


def test_not_reached_leaves_the_answers_empty(tree, people, settings):
    settings.RETURN_VISIT_SAMPLE = 1.0
    case = closed_case(people)
    relay_batch()
    visit = returnvisits.return_visit_record(
        ReturnVisit.objects.get(grievance=case),
        people.centre_staff,
        reached=False,
        satisfied=True,
        resolved=True,
        note="无人接听",
    )
    assert (visit.reached, visit.satisfied, visit.resolved) == (False, None, None)


def test_reopening_after_30_days_is_refused(tree, people):
    case = closed_case(people)
    step(
        at(2026, 10, 12, 11),
        services.grievance_rate,
        case,
        None,
        score=1,
        resolved=False,
        via_tracking=True,
    )
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    with pytest.raises(services.WrongState):
        step(
            at(2026, 11, 20, 10),
            returnvisits.return_visit_record,
            visit,
            people.centre_staff,
            reached=True,
            satisfied=False,
            resolved=False,
            reopen=True,
        )
    visit.refresh_from_db()
    assert not visit.is_recorded  # nothing written


def test_recording_the_call_changes_the_case_tag(tree, people, settings):
    settings.RETURN_VISIT_SAMPLE = 1.0
    case = closed_case(people)
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    centre = api_as(people.centre_staff)
    with time_machine.travel(at(2026, 10, 13, 9), tick=False):
        read_before = centre.get(f"/api/v1/grievances/{case.pk}/")["ETag"]
        r = centre.post(
            f"/api/v1/return-visits/{visit.pk}/",
            {"reached": True, "satisfied": False, "resolved": False, "note": "还在漏水"},
            format="json",
        )
        assert r.status_code == 200, r.json()
        shown = centre.get(f"/api/v1/grievances/{case.pk}/")
        assert shown.json()["events"][-1]["action"] == "return_visit"
        assert shown["ETag"] != read_before
        # Reopening on what the centre read before the call is refused; on the call, it runs.
        reopen = {"reason": "回访未解决"}
        r = centre.post(
            f"/api/v1/grievances/{case.pk}/reopen/",
            reopen,
            format="json",
            HTTP_IF_MATCH=read_before,
        )
        assert r.status_code == 409, r.json()
        assert CaseEvent.objects.filter(grievance=case, action="reopen").count() == 0
        r = centre.post(
            f"/api/v1/grievances/{case.pk}/reopen/",
            reopen,
            format="json",
            HTTP_IF_MATCH=shown["ETag"],
        )
        assert r.status_code == 200, r.json()
