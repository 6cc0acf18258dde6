"""The SLA sweep: 督办 once per missed deadline, again after an extension, automatic
escalation past the second threshold in working time, suspended cases left alone, runs that
race doing nothing twice, and candidate queries that use the partial indexes."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.db import connection

from dispatch import sla
from dispatch.models import SLA_HANDLE_OPEN, SLA_REPORT_IN_OPEN, Assignment, Whistle
from dispatch.services import assignment_report_in, whistle_dispatch
from grievances import services
from grievances.models import CaseEvent, Grievance, State
from tests.grievances.conftest import at, new_case

pytestmark = pytest.mark.django_db

# March 2026 has no public holiday. A normal case (hazard.environment) dispatched at 09:00
# must be reported in within 4 working hours (09:00–12:00, 14:30–15:30) and handled within
# 5 working days.
MONDAY = at(2026, 3, 2, 9)
FRIDAY = at(2026, 3, 6, 9)


def dispatched(people, depts, when) -> Grievance:
    """A case reported, accepted and whistled to the transport bureau (lead) and the police
    (assisting) at `when`."""
    with time_machine.travel(when, tick=False):
        case = new_case(people.grid_worker, urgency="normal")
        case = services.grievance_accept(case, people.centre_staff)
        whistle_dispatch(case, people.centre_staff, departments=[depts.transport, depts.police])
    return Grievance.objects.get(pk=case.pk)


def sweep_at(when, **kwargs) -> sla.SweepResult:
    with time_machine.travel(when, tick=False):
        return sla.sweep(**kwargs)


def events(case, action="supervise") -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(grievance=case, action=action).order_by("id"))


def lead(case) -> Assignment:
    return Assignment.objects.get(whistle__grievance=case, role="lead")


def test_a_missed_report_in_is_supervised_once(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    assert case.report_in_due_at == at(2026, 3, 2, 15, 30)

    assert sweep_at(at(2026, 3, 2, 15, 29)).supervised == 0
    assert events(case) == []

    assert sweep_at(at(2026, 3, 2, 15, 31)).supervised == 1
    # The task runs again (beat, a redelivered message): nothing more.
    assert sweep_at(at(2026, 3, 2, 15, 32)).supervised == 0
    assert sweep_at(at(2026, 3, 2, 17, 0)).supervised == 0

    [event] = events(case)
    assert event.data["threshold"] == "report_in"
    assert event.actor is None and event.actor_label
    assert "2026-03-02 15:30" in event.note
    version = case.version
    case.refresh_from_db()
    assert case.supervise_count == 1
    assert case.version == version + 1  # the set-based supervision counts its write
    assignment = lead(case)
    assert assignment.report_in_supervised_for == case.report_in_due_at
    # The second threshold: 7 working hours after the deadline (15:30–18:00, then Tuesday
    # 08:30–12:00 and 14:30–15:30).
    assert assignment.escalate_at == at(2026, 3, 3, 15, 30)


def test_report_in_and_handling_are_two_thresholds(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    assert case.handle_due_at == at(2026, 3, 9, 9)
    sweep_at(at(2026, 3, 2, 16))
    with time_machine.travel(at(2026, 3, 3, 9), tick=False):
        assignment_report_in(lead(case), depts.staff.transport)
    # Reported in (late): the report-in is no longer late, so no escalation for it.
    assert sweep_at(at(2026, 3, 3, 16)).escalated == 0
    assert lead(case).escalate_at is None

    sweep_at(at(2026, 3, 9, 9, 1))
    sweep_at(at(2026, 3, 9, 9, 2))
    assert [e.data["threshold"] for e in events(case)] == ["report_in", "handle"]


def test_an_extended_deadline_is_supervised_again_when_missed_again(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        assignment_report_in(lead(case), depts.staff.transport)
    assert sweep_at(at(2026, 3, 9, 9, 30)).supervised == 1

    # The centre grants two more working days: due Wednesday 09:00.
    with time_machine.travel(at(2026, 3, 9, 10), tick=False):
        services.grievance_extend(
            Grievance.objects.get(pk=case.pk), people.centre_staff, days=2, reason="需协调"
        )
    case.refresh_from_db()
    assert case.handle_due_at == at(2026, 3, 11, 9)
    assert lead(case).handle_due_at == case.handle_due_at

    # Not late any more: neither a notice nor the escalation set by the first one.
    result = sweep_at(at(2026, 3, 10, 10))
    assert (result.supervised, result.escalated) == (0, 0)
    assert lead(case).escalate_at is None

    assert sweep_at(at(2026, 3, 11, 9, 1)).supervised == 1
    assert sweep_at(at(2026, 3, 11, 9, 2)).supervised == 0
    assert [e.data["threshold"] for e in events(case)] == ["handle", "handle"]
    assert "2026-03-11 09:00" in events(case)[-1].note
    assert lead(case).handle_supervised_for == at(2026, 3, 11, 9)


def test_escalation_past_the_second_threshold_counts_working_time(tree, people, depts):
    case = dispatched(people, depts, FRIDAY)
    assert case.report_in_due_at == at(2026, 3, 6, 15, 30)
    sweep_at(at(2026, 3, 6, 16))
    # Seven working hours late is Monday 15:30: the weekend does not count.
    assert lead(case).escalate_at == at(2026, 3, 9, 15, 30)
    assert sweep_at(at(2026, 3, 8, 23)).escalated == 0
    assert sweep_at(at(2026, 3, 9, 15, 29)).escalated == 0

    result = sweep_at(at(2026, 3, 9, 15, 31))
    assert result.escalated == 1
    case.refresh_from_db()
    # The township centre a level up owns it now and triages it anew.
    assert case.state == State.ACCEPTED
    assert case.owning_centre == tree.town_a
    assert case.escalation_count == 1
    [event] = events(case, "escalate")
    assert event.actor is None
    assert event.data["to_centre"] == tree.town_a.code
    assert "2026-03-06 15:30" in event.note
    assignment = lead(case)
    assert assignment.status == Assignment.Status.ESCALATED
    assert assignment.escalated_at == at(2026, 3, 9, 15, 31)
    assert Whistle.objects.get(grievance=case).status == Whistle.Status.ESCALATED

    # Again, later: nothing twice.
    result = sweep_at(at(2026, 3, 9, 15, 32))
    assert (result.supervised, result.escalated) == (0, 0)
    assert len(events(case, "escalate")) == 1


def test_the_second_threshold_is_configurable(tree, people, depts, settings):
    settings.SLA_ESCALATE_AFTER_WORKING_HOURS = 1
    case = dispatched(people, depts, MONDAY)
    sweep_at(at(2026, 3, 2, 15, 31))
    assert lead(case).escalate_at == at(2026, 3, 2, 16, 30)
    assert sweep_at(at(2026, 3, 2, 16, 31)).escalated == 1


def test_no_escalation_from_the_top_centre(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    # Owned by the city centre, which has no centre above it.
    Grievance.objects.filter(pk=case.pk).update(owning_centre=tree.city)
    sweep_at(at(2026, 3, 2, 16))
    assert sweep_at(at(2026, 3, 4, 9)).escalated == 0
    assert lead(case).escalate_at is None
    assert events(case, "escalate") == []


def test_a_suspended_case_is_not_supervised(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        services.grievance_suspend(case, people.centre_staff, reason="等待法院判决")
    result = sweep_at(at(2026, 3, 5, 10))
    assert (result.supervised, result.escalated) == (0, 0)
    assert events(case) == []

    # Resumed two working days later: the report-in deadline moved by the suspended time.
    with time_machine.travel(at(2026, 3, 4, 10), tick=False):
        services.grievance_resume(Grievance.objects.get(pk=case.pk), people.centre_staff)
    case.refresh_from_db()
    assert case.report_in_due_at == at(2026, 3, 4, 15, 30)
    # The assignment's copy still says Monday: the sweep takes the case's deadline.
    assert sweep_at(at(2026, 3, 4, 15)).supervised == 0
    assert lead(case).report_in_due_at == case.report_in_due_at
    assert sweep_at(at(2026, 3, 4, 15, 31)).supervised == 1


def test_batches_are_bounded_and_oldest_first(tree, people, depts):
    first = dispatched(people, depts, MONDAY)
    second = dispatched(people, depts, at(2026, 3, 2, 10))
    result = sweep_at(at(2026, 3, 3, 9), limit=1)
    assert result.supervised == 1 and result.full
    assert len(events(first)) == 1 and events(second) == []
    sweep_at(at(2026, 3, 3, 9, 1), limit=1)
    assert len(events(second)) == 1


def test_the_task_runs_the_sweep(tree, people, depts):
    from dispatch.tasks import sweep_sla

    case = dispatched(people, depts, MONDAY)
    with time_machine.travel(at(2026, 3, 2, 16), tick=False):
        assert sweep_sla()["supervised"] == 1
        assert sweep_sla()["supervised"] == 0
    assert len(events(case)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_supervise_once(tree, people, depts):
    case = dispatched(people, depts, MONDAY)
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list = [None, None]

    def run(i: int) -> None:
        try:
            with time_machine.travel(at(2026, 3, 2, 16), tick=False):
                barrier.wait()
                outcomes[i] = sla.sweep()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(o, sla.SweepResult) for o in outcomes), outcomes
    assert sum(o.supervised for o in outcomes) == 1
    assert len(events(case)) == 1


def test_candidate_queries_use_the_partial_indexes(tree, people, depts, require_postgres):
    dispatched(people, depts, MONDAY)
    now = at(2026, 3, 3, 9)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for condition, field, index in (
            (SLA_REPORT_IN_OPEN, "report_in_due_at", "as_sla_report_in"),
            (SLA_HANDLE_OPEN, "handle_due_at", "as_sla_handle"),
        ):
            qs = Assignment.objects.filter(condition, **{f"{field}__lte": now})
            sql, params = sla._candidates_query(qs, field, 500).query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan


def test_a_batch_of_missed_deadlines_is_supervised_once_each(tree, people, depts):
    cases = [dispatched(people, depts, MONDAY) for _ in range(3)]
    result = sweep_at(at(2026, 3, 2, 16))
    assert result.supervised == 3
    assert sweep_at(at(2026, 3, 2, 16, 1)).supervised == 0
    for case in cases:
        [event] = events(case)
        assert event.data == {"count": 1, "threshold": "report_in"}
        case.refresh_from_db()
        assert case.supervise_count == 1
        assert lead(case).escalate_at == at(2026, 3, 3, 15, 30)
    # The relay hands the notices over like any other event.
    assert CaseEvent.objects.filter(action="supervise", processed_at__isnull=True).count() == 3


def test_a_run_past_its_time_budget_leaves_the_rest_to_the_next(tree, people, depts, settings):
    settings.SLA_SWEEP_SECONDS = 0
    cases = [dispatched(people, depts, MONDAY) for _ in range(2)]
    sweep_at(at(2026, 3, 2, 16))
    # Escalation due for both; a run with no time left escalates one and says there is more.
    result = sweep_at(at(2026, 3, 3, 15, 31))
    assert (result.escalated, result.full) == (1, True)
    assert sweep_at(at(2026, 3, 3, 15, 32)).escalated == 1
    assert {Grievance.objects.get(pk=c.pk).state for c in cases} == {State.ACCEPTED}
