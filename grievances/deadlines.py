"""Case deadlines on the region's working calendar: the one place they are computed.

Handling and report-in limits come from the category by urgency, or from the override of
the nearest region above the case that set its own (CategoryLimit: a county's 12345 rules
may be stricter than the category's defaults); 特急 (most urgent) counts calendar hours, the
rest working time (grids.workcalendar). The calendar is the one of the case's region, so a
region's own holidays (Losar in Tibet, Eid in Xinjiang) count.

A dispatch copies the deadlines onto the case and its whistle's assignments, and nothing
computes them again for that whistle (only suspensions and extensions move them): a limit
changed later counts for the dispatches made after the change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from grids.workcalendar import DeadlineUnit, WorkCalendar
from grievances.models import ANCESTOR_FIELDS, CategoryLimit, Grievance, Unit, Urgency


class Limits(NamedTuple):
    """(amount, unit) of the report-in and the handling limit of one case."""

    report_in: tuple[float, str]
    handling: tuple[float, str]


def calendar_for(case: Grievance) -> WorkCalendar:
    return WorkCalendar(case.region_id)


def limits(case: Grievance) -> Limits:
    """The case's limits: its category's, unless a region on the case's path overrides them
    for its urgency (the deepest such region wins)."""
    category, urgency = case.category, case.urgency
    report_in = category.report_in_limit(urgency)
    handling = category.handle_limit(urgency)
    override = _nearest_override(case)
    if override is None:
        return Limits(report_in, handling)
    return Limits(
        (override.report_in_amount(), report_in[1]), (float(override.handling), handling[1])
    )


def _nearest_override(case: Grievance) -> CategoryLimit | None:
    # The case's region path is on the case (its per-level ancestor columns, root first), so
    # the lookup needs no join with the region tree.
    path = [getattr(case, field) for field in ANCESTOR_FIELDS]
    path = [pk for pk in path if pk is not None]
    if not path and case.region_id is not None:
        path = [r.pk for r in case.region.get_ancestors(include_self=True)]
    if not path:
        return None
    found = {
        o.region_id: o
        for o in CategoryLimit.objects.filter(
            category_id=case.category_id, urgency=case.urgency, region_id__in=path
        )
    }
    for pk in reversed(path):
        if pk in found:
            return found[pk]
    return None


def due_after(cal: WorkCalendar, start: datetime, limit: tuple[float, str]) -> datetime:
    """The deadline `limit` ((amount, unit), as in Limits) after `start` on `cal`."""
    amount, unit = limit
    if unit == Unit.CALENDAR_HOURS:
        return cal.deadline(start, amount, DeadlineUnit.HOURS, calendar_hours=True)
    if unit == Unit.WORKING_HOURS:
        return cal.deadline(start, amount, DeadlineUnit.HOURS)
    return cal.deadline(start, amount, DeadlineUnit.DAYS)


def due_dates(
    case: Grievance, start: datetime, calendar: WorkCalendar | None = None
) -> tuple[datetime, datetime]:
    """(report-in, handling) deadlines of a dispatch at `start`. `calendar`: the case
    region's calendar, when the caller keeps one for many dispatches (a relay chunk)."""
    cal = calendar or calendar_for(case)
    found = limits(case)
    return due_after(cal, start, found.report_in), due_after(cal, start, found.handling)


def handle_due(case: Grievance, start: datetime) -> datetime:
    return due_after(calendar_for(case), start, limits(case).handling)


def report_in_due(case: Grievance, start: datetime) -> datetime:
    return due_after(calendar_for(case), start, limits(case).report_in)


def add_days(case: Grievance, due: datetime | None, days: int) -> datetime:
    """Move a deadline later by `days` working days (calendar days for 特急)."""
    from django.utils import timezone

    base = due or timezone.now()
    cal = calendar_for(case)
    if case.urgency == Urgency.MOST_URGENT:
        return cal.deadline(base, days, DeadlineUnit.DAYS, calendar_hours=True)
    return cal.add_working_time(base, cal.day_length * days)


def shift(
    case: Grievance, due: datetime | None, since: datetime | None, until: datetime
) -> datetime | None:
    """A deadline moved by the working time that passed while the case was suspended."""
    if due is None or since is None:
        return due
    cal = calendar_for(case)
    if case.urgency == Urgency.MOST_URGENT:
        return due + (until - since)
    paused = cal.working_time_between(since, until)
    if paused <= timedelta(0):
        return due
    return cal.add_working_time(due, paused)
