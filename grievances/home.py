"""What the grid worker's home page shows (registered with grids.views); the leader's is
evaluation's (evaluation/home.py).

Each panel reads a fixed number of queries whatever the number of cases: counts in one
aggregate, then the first rows of a list.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from grids.scoping import role_regions
from grids.views import GRID_ROLES, home_panel
from grievances.models import OPEN_STATES, Grievance, State
from grievances.scoping import cases_for
from grievances.selectors import due_today_q, overdue_q

HOME_ROWS = 8
RECENT = timedelta(days=30)


def rows(qs, limit: int = HOME_ROWS) -> list[Grievance]:
    return list(qs.select_related("category", "region")[:limit])


def _by_deadline(qs):
    """Overdue and nearest deadlines first, then the newest."""
    return qs.order_by(
        F("handle_due_at").asc(nulls_last=True), F("report_in_due_at").asc(nulls_last=True), "-id"
    )


@home_panel("grid")
def grid_home(request) -> dict:
    """My grid: its open cases, what is due today, what I reported lately, and the cases
    sent down to my grid to handle on the spot."""
    user, now = request.user, timezone.now()
    grids = role_regions(user, GRID_ROLES)
    in_my_grids = Q(pk__in=[])
    for region in grids:
        in_my_grids |= Q(**{f"{region.level}_id": region.pk})
    mine = cases_for(user).filter(in_my_grids | Q(reporter=user))
    open_cases = mine.filter(state__in=OPEN_STATES)
    on_the_spot = Q(handler_region__in=[r.pk for r in grids], state=State.IN_PROGRESS)
    counts = mine.aggregate(
        open=Count("pk", filter=Q(state__in=OPEN_STATES)),
        due_today=Count("pk", filter=due_today_q(now)),
        overdue=Count("pk", filter=overdue_q(now)),
        to_handle=Count("pk", filter=on_the_spot),
        reported=Count("pk", filter=Q(reporter=user, created_at__gte=now - RECENT)),
    )
    return {
        "grid_counts": counts,
        "grid_to_handle": rows(_by_deadline(mine.filter(on_the_spot)))
        if counts["to_handle"]
        else [],
        "grid_open": rows(_by_deadline(open_cases)) if counts["open"] else [],
    }
