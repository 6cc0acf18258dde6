"""Case deadlines on the region's working calendar.

Handling and report-in limits come from the category by urgency; 特急 (most urgent) counts
calendar hours, the rest working time (grids.workcalendar). The calendar is the one of the
case's region, so a region's own holidays (Losar in Tibet, Eid in Xinjiang) count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from grids.workcalendar import DeadlineUnit, WorkCalendar
from grievances.models import Grievance, Unit, Urgency


def calendar_for(case: Grievance) -> WorkCalendar:
    return WorkCalendar(case.region_id)


def _due(case: Grievance, start: datetime, amount: float, unit: str) -> datetime:
    cal = calendar_for(case)
    if unit == Unit.CALENDAR_HOURS:
        return cal.deadline(start, amount, DeadlineUnit.HOURS, calendar_hours=True)
    if unit == Unit.WORKING_HOURS:
        return cal.deadline(start, amount, DeadlineUnit.HOURS)
    return cal.deadline(start, amount, DeadlineUnit.DAYS)


def handle_due(case: Grievance, start: datetime) -> datetime:
    amount, unit = case.category.handle_limit(case.urgency)
    return _due(case, start, amount, unit)


def report_in_due(case: Grievance, start: datetime) -> datetime:
    amount, unit = case.category.report_in_limit(case.urgency)
    return _due(case, start, amount, unit)


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
