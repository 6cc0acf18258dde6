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

Running twice, or on two workers at once, does nothing twice: the rows acted on are locked
first (cases, then assignments) and decided under the lock; an escalation is also claimed
with a conditional update on the assignment. Supervisions are written for a whole batch at
once (a few statements, not a few per row), so a burst of missed deadlines costs about as
much as a handful. The sweep never waits for a row lock: it skips a case that someone is
acting on right now (their act may well settle it) and sees it again in a minute. Waiting
could deadlock with the department's report-in, which locks its assignment before the case,
while the case services lock the case before its assignments.

Cases dispatched down to a grid or village (no whistle, no assignment) are not swept here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Subquery
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
from grids.models import Region
from grids.workcalendar import WorkCalendar
from grievances import services as case_services
from grievances.models import CaseEvent, Grievance, State
from grievances.outbox import kicker

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


def time_budget() -> float:
    """Seconds after which a run starts no further escalation or batch (it goes on at once
    in the next run): one run stays short however large the backlog."""
    return float(getattr(settings, "SLA_SWEEP_SECONDS", 0.5))


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


class _Centres(dict):
    """Owning centres with their parent, read once per run (escalations from one centre
    share it)."""

    def __missing__(self, region_id: int) -> Region:
        self[region_id] = Region.objects.select_related("parent").get(pk=region_id)
        return self[region_id]


def sweep(now: datetime | None = None, limit: int | None = None) -> SweepResult:
    """One run: escalations, then report-ins, then handling deadlines; `limit` rows each."""
    now = now or timezone.now()
    limit = limit or batch_size()
    result = SweepResult()
    calendars = _Calendars()
    centres = _Centres()

    due = _candidates(
        Assignment.objects.filter(SLA_ESCALATE_OPEN, escalate_at__lte=now), "escalate_at", limit
    )
    result.full |= len(due) == limit
    stop_at = time.monotonic() + time_budget()
    for n, (assignment_id, case_id) in enumerate(due):
        if n and time.monotonic() > stop_at:
            # An escalation is a whole case move (a dozen statements): a backlog of them is
            # worked off by the runs that follow at once (dispatch.tasks.sweep_sla), not
            # by one long run that holds up the supervisions behind it.
            result.full = True
            break
        _tally(result, _escalate(assignment_id, case_id, now, calendars, centres))

    for threshold, (due_field, _mark, condition) in _THRESHOLDS.items():
        if result.progress and time.monotonic() > stop_at:
            result.full = True
            break
        due = _candidates(
            Assignment.objects.filter(condition, **{f"{due_field}__lte": now}), due_field, limit
        )
        result.full |= len(due) == limit
        if due:
            _supervise_batch(threshold, due, now, calendars, result)
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


def _supervise_batch(
    threshold: str,
    due: list[tuple[int, int]],
    now: datetime,
    calendars: _Calendars,
    result: SweepResult,
) -> None:
    """Supervise a batch of candidates of one threshold in one transaction, set-based.

    Locks the cases, then their assignments, without waiting (as `_lock`, for the whole
    batch in two queries), decides under the locks, then writes every mark, count and
    CaseEvent with a few statements whatever the batch size. The locks are what make a
    second run (or a second worker) do nothing twice: it skips the rows held here, and once
    this commits it finds the marks set. On SQLite the IMMEDIATE transaction serializes
    whole runs instead.
    """
    due_field, mark, _condition = _THRESHOLDS[threshold]
    with transaction.atomic():
        cases = {
            c.pk: c
            for c in Grievance.objects.select_for_update(skip_locked=True).filter(
                pk__in={case_id for _a, case_id in due}
            )
        }
        assignments = {
            a.pk: a
            for a in Assignment.objects.select_for_update(skip_locked=True).filter(
                pk__in=[a for a, case_id in due if case_id in cases]
            )
        }
        moved: list[Assignment] = []
        claims: list[tuple[Assignment, Grievance, datetime, dict[str, datetime]]] = []
        seen: set[int] = set()
        for assignment_id, case_id in due:
            case, assignment = cases.get(case_id), assignments.get(assignment_id)
            if case is None or assignment is None or case_id in seen:
                result.busy += 1
                continue
            if case.suspended_at:
                # Suspended since the candidate query: its deadlines move when it resumes.
                result.busy += 1
                continue
            seen.add(case_id)
            deadline = getattr(case, due_field)
            missed = _missed(case, assignment, now)
            if threshold not in missed:
                # Nothing due for this threshold: a deadline moved (the assignment's copy
                # lags the case) or the case moved on. Take the case's value and mark it
                # seen, so that the row leaves the head of the index instead of blocking
                # the batch.
                if deadline:
                    setattr(assignment, due_field, deadline)
                if not deadline or deadline <= now:
                    setattr(assignment, mark, deadline or getattr(assignment, due_field))
                moved.append(assignment)
                continue
            supervised = getattr(assignment, mark)
            if supervised is not None and supervised >= deadline:
                continue  # another run supervised this deadline value already
            claims.append((assignment, case, deadline, missed))
        if moved:
            Assignment.objects.bulk_update(moved, [due_field, mark])
            result.updated += len(moved)
        if not claims:
            return
        for assignment, case, deadline, missed in claims:
            setattr(assignment, mark, deadline)
            setattr(assignment, due_field, deadline)
            assignment.escalate_at = _escalation_time(case, missed, calendars)
        Assignment.objects.bulk_update(
            [a for a, *_rest in claims], [mark, due_field, "escalate_at"]
        )
        _record_supervisions(threshold, [(case, deadline) for _a, case, deadline, _m in claims])
        result.supervised += len(claims)


def _record_supervisions(threshold: str, rows: list[tuple[Grievance, datetime]]) -> None:
    """督办 by the system, for many locked cases at once: what grievance_supervise does for
    one (the count, one CaseEvent each, the case_event signal, the relay's kick), in three
    statements. The state does not move, so there is no transition to run."""
    now = timezone.now()
    Grievance.objects.filter(pk__in=[case.pk for case, _due in rows]).update(
        supervise_count=F("supervise_count") + 1, updated_at=now, version=F("version") + 1
    )
    label = case_services._actor_label(None, rows[0][0])  # the system's, as the services save it
    events = []
    for case, deadline in rows:
        case.supervise_count += 1
        case.updated_at = now
        case.version += 1
        if threshold == REPORT_IN:
            note = _("Not reported in by the deadline (%(due)s).") % {"due": _when(deadline)}
        else:
            note = _("Not handled by the deadline (%(due)s).") % {"due": _when(deadline)}
        events.append(
            CaseEvent(
                grievance=case,
                action="supervise",
                actor=None,
                actor_label=label,
                from_state=case.state,
                to_state=case.state,
                note=note,
                public=False,
                data={"count": case.supervise_count, "threshold": threshold},
                created_at=now,
            )
        )
    CaseEvent.objects.bulk_create(events)
    for case, event in zip((case for case, _due in rows), events, strict=True):
        case_services.case_event.send(sender=Grievance, grievance=case, event=event)
    transaction.on_commit(kicker.kick)


def _escalate(
    assignment_id: int, case_id: int, now: datetime, calendars: _Calendars, centres: _Centres
) -> str:
    with transaction.atomic():
        case, assignment = _lock(case_id, assignment_id)
        if case is None or assignment is None:
            return "busy"
        if case.suspended_at:
            return "busy"
        # Ending the whistles (dispatch.services.follow_case) updates every open assignment
        # of the case and its whistle: take them all now, without waiting (the join locks
        # the whistles too), or leave the case for the next run. One query: the rows taken,
        # each with the number of open rows, locked or not.
        open_rows = Assignment.objects.filter(
            whistle__grievance_id=case_id, status__in=OPEN_ASSIGNMENT
        )
        total = (
            open_rows.order_by().values("whistle__grievance_id").annotate(n=Count("pk")).values("n")
        )
        taken = list(
            open_rows.select_for_update(skip_locked=True)
            .annotate(expected=Subquery(total))
            .values_list("expected", flat=True)
        )
        expected = taken[0] if taken else open_rows.count()
        if len(taken) < expected:
            return "busy"
        case.owning_centre = centres[case.owning_centre_id]
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
                # The case is locked and was read under the lock: no second locking read.
                case_services.grievance_escalate(case, None, reason=reason, system=True, held=True)
        except case_services.CaseError as exc:
            log.warning("SLA: could not escalate case %s: %s", case_id, exc.message)
            return "updated"
    return "escalated"
