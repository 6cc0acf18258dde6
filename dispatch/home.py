"""What the centre staff's and the department staff's home pages show (registered with
grids.views): the head of the console's queue and of the inbox, in a fixed number of
queries."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from dispatch import selectors
from grids.views import home_panel
from grievances.models import State

HOME_ROWS = 6


@home_panel("centre_staff")
def centre_home(request) -> dict:
    """The queue's counts; the first cases waiting for the centre, the overdue ones and
    those to verify."""
    user, now = request.user, timezone.now()
    base = selectors.console_cases(user)
    summary = selectors.console_summary(base, now)
    summary.update(
        base.order_by().aggregate(
            to_verify=Count("pk", filter=Q(state=State.HANDLED)),
            submitted=Count("pk", filter=Q(state=State.SUBMITTED)),
            accepted=Count("pk", filter=Q(state=State.ACCEPTED)),
        )
    )
    rows = base.select_related("category", "region")

    def first(qs, count):
        if not count:
            return []
        cases = list(qs[:HOME_ROWS])
        calendars = selectors.calendars_for(c.region for c in cases)
        return [
            {"case": c, "due": selectors.case_countdown(c, calendars[c.region_id], now)}
            for c in cases
        ]

    waiting = rows.filter(state__in=[State.SUBMITTED, State.ACCEPTED])
    return {
        "centre_summary": summary,
        "centre_waiting": first(
            selectors.queue_order(waiting), summary["submitted"] + summary["accepted"]
        ),
        "centre_overdue": first(
            selectors.queue_order(rows.filter(selectors.overdue_q(now))), summary["overdue"]
        ),
        "centre_to_verify": first(
            rows.filter(state=State.HANDLED).order_by("updated_at", "id"), summary["to_verify"]
        ),
    }


@home_panel("department_staff")
def department_home(request) -> dict:
    """The inbox's four groups: counts and the first few of each."""
    user, now = request.user, timezone.now()
    found = selectors.inbox(user, now, limit=HOME_ROWS)
    groups = selectors.inbox_groups(found, now)
    return {"inbox_groups": groups, "inbox_counts": found["counts"]}
