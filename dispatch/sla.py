"""The SLA sweep: 督办 on a missed deadline, automatic 纵向吹哨 past a second threshold.

Run every minute by beat (dispatch.tasks.sweep_sla). It walks the lead assignments of open
whistles in three bounded batches, each oldest deadline first, each from a partial index of
its own (dispatch.models, Assignment.Meta.indexes), so a run costs the same with 1,000,000
open cases as with ten:

1. escalations: a supervised deadline still missed `SLA_ESCALATE_AFTER_WORKING_HOURS`
   working hours later (on the case's region calendar) moves the case to the centre a
   level up (grievances.services.grievance_escalate, the system as actor); the receiver in
   dispatch.services ends the open whistles as escalated;
2. missed report-ins (签收): the case is dispatched and the lead has not reported in;
3. missed handling deadlines: the case is dispatched or in progress.

Steps 2 and 3 give one supervise notice (grievances.services.grievance_supervise, system)
per threshold ("report_in", "handle") and per deadline value: the assignment records the
value it supervised, so a deadline moved later by an extension or a resume is supervised
again when it is missed again, and never twice otherwise. Escalations run before the
supervisions, so a case is told at least one run before it is escalated.

Suspended cases (挂起) are left alone: their clock stops, and resuming moves the deadlines.

Running twice, or on two workers at once, does nothing twice: each item is claimed with a
conditional update on the assignment. The sweep never waits for a row lock: it skips a case
that someone is acting on right now (their act may well settle it) and sees it again in a
minute. Waiting could deadlock with the department's report-in, which locks its assignment
before the case, while the case services lock the case before its assignments.

Cases dispatched down to a grid or village (no whistle, no assignment) are not swept here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from dispatch.models import (
    OPEN_ASSIGNMENT,
    SLA_ESCALATE_OPEN,
    SLA_HANDLE_OPEN,
    SLA_REPORT_IN_OPEN,
    Assignment,
    Whistle,
)
from grids.workcalendar import WorkCalendar
from grievances import services as case_services
from grievances.models import Grievance, State

log = logging.getLogger(__name__)

REPORT_IN = "report_in"
HANDLE = "handle"

# threshold -> (the deadline field on the case and its copy on the assignment, the mark,
# the condition of the sweep's partial index)
_THRESHOLDS = {
    REPORT_IN: ("report_in_due_at", "report_in_supervised_for", SLA_REPORT_IN_OPEN),
    HANDLE: ("handle_due_at", "handle_supervised_for", SLA_HANDLE_OPEN),
}


def batch_size() -> int:
    return int(getattr(settings, "SLA_SWEEP_BATCH", 500))


def escalate_after() -> timedelta:
    """How late (in working time) a supervised deadline may get before the case escalates."""
    return timedelta(hours=float(getattr(settings, "SLA_ESCALATE_AFTER_WORKING_HOURS", 7)))


@dataclass
class SweepResult:
    supervised: int = 0
    escalated: int = 0
    updated: int = 0  # rows brought in step without a notice (a deadline moved, nothing due)
    busy: int = 0  # rows skipped because someone held the case or the assignment
    full: bool = False  # a batch was full: there may be more to do right now

    @property
    def progress(self) -> int:
        return self.supervised + self.escalated + self.updated


class _Calendars(dict):
    """One WorkCalendar per region for the run (each reads its stamp once)."""

    def __missing__(self, region_id: int) -> WorkCalendar:
        self[region_id] = WorkCalendar(region_id)
        return self[region_id]


def sweep(now: datetime | None = None, limit: int | None = None) -> SweepResult:
    """One run: escalations, then report-ins, then handling deadlines; `limit` rows each."""
    now = now or timezone.now()
    limit = limit or batch_size()
    result = SweepResult()
    calendars = _Calendars()

    due = _candidates(
        Assignment.objects.filter(SLA_ESCALATE_OPEN, escalate_at__lte=now), "escalate_at", limit
    )
    result.full |= len(due) == limit
    for assignment_id, case_id in due:
        _tally(result, _escalate(assignment_id, case_id, now, calendars))

    for threshold, (due_field, _mark, condition) in _THRESHOLDS.items():
        due = _candidates(
            Assignment.objects.filter(condition, **{f"{due_field}__lte": now}), due_field, limit
        )
        result.full |= len(due) == limit
        for assignment_id, case_id in due:
            _tally(result, _supervise(threshold, assignment_id, case_id, now, calendars))
    return result


def _candidates_query(qs, order_field: str, limit: int):
    # Oldest first from the partial index; suspended cases are filtered in the query (not
    # after it), so that many of them cannot fill the batch and starve the rest.
    return (
        qs.filter(
            whistle__status=Whistle.Status.OPEN, whistle__grievance__suspended_at__isnull=True
        )
        .order_by(order_field)
        .values_list("id", "whistle__grievance_id")[:limit]
    )


def _candidates(qs, order_field: str, limit: int) -> list[tuple[int, int]]:
    return list(_candidates_query(qs, order_field, limit))


def _tally(result: SweepResult, outcome: str) -> None:
    if outcome == "supervised":
        result.supervised += 1
    elif outcome == "escalated":
        result.escalated += 1
    elif outcome == "updated":
        result.updated += 1
    elif outcome == "busy":
        result.busy += 1


def _lock(case_id: int, assignment_id: int) -> tuple[Grievance | None, Assignment | None]:
    """Lock the case, then the assignment, without waiting (None: someone holds one).

    On SQLite select_for_update is a no-op; its IMMEDIATE transactions serialize writers.
    """
    case = (
        Grievance.objects.select_for_update(skip_locked=True)
        .filter(pk=case_id)
        .first()  # no joins in a locking read (see grievances.services._run)
    )
    if case is None:
        return None, None
    assignment = (
        Assignment.objects.select_for_update(skip_locked=True).filter(pk=assignment_id).first()
    )
    return case, assignment


def _missed(case: Grievance, assignment: Assignment, now: datetime) -> dict[str, datetime]:
    """The case's deadlines that are missed now, by threshold (the case's values rule: the
    assignment's copies can lag, e.g. a resume shifts only the case's report-in deadline)."""
    if case.suspended_at or case.state not in (State.DISPATCHED, State.IN_PROGRESS):
        return {}
    if assignment.status not in OPEN_ASSIGNMENT:
        return {}
    missed = {}
    if (
        case.state == State.DISPATCHED
        and assignment.status == Assignment.Status.PENDING
        and case.report_in_due_at
        and case.report_in_due_at <= now
    ):
        missed[REPORT_IN] = case.report_in_due_at
    if case.handle_due_at and case.handle_due_at <= now:
        missed[HANDLE] = case.handle_due_at
    return missed


def _escalation_time(
    case: Grievance, missed: dict[str, datetime], calendars: _Calendars
) -> datetime | None:
    if not missed:
        return None
    calendar = calendars[case.region_id]
    return min(calendar.add_working_time(due, escalate_after()) for due in missed.values())


def _when(dt: datetime) -> str:
    return formats.date_format(timezone.localtime(dt), "Y-m-d H:i")


def _supervise(
    threshold: str, assignment_id: int, case_id: int, now: datetime, calendars: _Calendars
) -> str:
    due_field, mark, _condition = _THRESHOLDS[threshold]
    with transaction.atomic():
        case, assignment = _lock(case_id, assignment_id)
        if case is None or assignment is None:
            return "busy"
        if case.suspended_at:
            # Suspended since the candidate query: its deadlines move when it resumes.
            return "busy"
        due = getattr(case, due_field)
        missed = _missed(case, assignment, now)
        if threshold not in missed:
            # Nothing due for this threshold: a deadline moved (the assignment's copy lags
            # the case) or the case moved on. Take the case's value and mark it seen, so
            # that the row leaves the head of the index instead of blocking the batch.
            changes = {due_field: due} if due else {}
            if not due or due <= now:
                changes[mark] = due or getattr(assignment, due_field)
            Assignment.objects.filter(pk=assignment_id).update(**changes)
            return "updated"
        # The claim: 0 rows means another run supervised this deadline value already.
        claimed = (
            Assignment.objects.filter(pk=assignment_id)
            .filter(Q(**{f"{mark}__isnull": True}) | Q(**{f"{mark}__lt": due}))
            .update(
                **{mark: due, due_field: due},
                escalate_at=_escalation_time(case, missed, calendars),
            )
        )
        if not claimed:
            return "taken"
        if threshold == REPORT_IN:
            note = _("Not reported in by the deadline (%(due)s).") % {"due": _when(due)}
        else:
            note = _("Not handled by the deadline (%(due)s).") % {"due": _when(due)}
        try:
            with transaction.atomic():
                case_services.grievance_supervise(
                    case, None, system=True, threshold=threshold, note=note
                )
        except case_services.CaseError as exc:
            # Checked under the lock just above, so this is unexpected; the mark stays,
            # so a broken case cannot hold up every later run.
            log.warning("SLA: could not supervise case %s: %s", case_id, exc.message)
            return "updated"
    return "supervised"


def _escalate(assignment_id: int, case_id: int, now: datetime, calendars: _Calendars) -> str:
    with transaction.atomic():
        case, assignment = _lock(case_id, assignment_id)
        if case is None or assignment is None:
            return "busy"
        if case.suspended_at:
            return "busy"
        # Ending the whistles (dispatch.services.follow_case) updates every open assignment
        # of the case and its whistle: take them all now, without waiting (the join locks
        # the whistles too), or leave the case for the next run.
        open_rows = Assignment.objects.filter(
            whistle__grievance_id=case_id, status__in=OPEN_ASSIGNMENT
        )
        expected = open_rows.count()
        taken = len(open_rows.select_for_update(skip_locked=True).values_list("pk", flat=True))
        if taken < expected:
            return "busy"
        # Check again now: a report-in or an extension since the notice can mean the case
        # is no longer that late, or late by another deadline.
        missed = _missed(case, assignment, now)
        supervised = {
            threshold: due
            for threshold, due in missed.items()
            if getattr(assignment, _THRESHOLDS[threshold][1]) == due
        }
        when = _escalation_time(case, supervised, calendars)
        if when is None or when > now:
            # Not (or no longer) late enough; a deadline missed but not yet supervised is
            # supervised first and sets a new time then.
            Assignment.objects.filter(pk=assignment_id, escalated_at__isnull=True).update(
                escalate_at=when
            )
            return "updated"
        if not case.owning_centre.parent_id:
            # The top centre: nothing to escalate to. Say so once, then stop asking.
            log.warning("SLA: case %s is late but its centre has none above it", case_id)
            Assignment.objects.filter(pk=assignment_id).update(escalate_at=None)
            return "updated"
        claimed = Assignment.objects.filter(
            pk=assignment_id, escalated_at__isnull=True, status__in=OPEN_ASSIGNMENT
        ).update(escalated_at=now, escalate_at=None)
        if not claimed:
            return "taken"
        threshold = REPORT_IN if REPORT_IN in supervised else HANDLE
        hours = escalate_after().total_seconds() / 3600
        if threshold == REPORT_IN:
            reason = _(
                "Escalated automatically: not reported in %(hours)g working hours after the "
                "deadline (%(due)s)."
            )
        else:
            reason = _(
                "Escalated automatically: not handled %(hours)g working hours after the "
                "deadline (%(due)s)."
            )
        reason %= {"hours": hours, "due": _when(supervised[threshold])}
        try:
            with transaction.atomic():
                case_services.grievance_escalate(case, None, reason=reason, system=True)
        except case_services.CaseError as exc:
            log.warning("SLA: could not escalate case %s: %s", case_id, exc.message)
            return "updated"
    return "escalated"
