"""What the leader's home page shows (registered with grids.views): this month's rates from
the figures, and the open and overdue cases of the leader's region.

Each panel reads a fixed number of queries whatever the number of cases.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from evaluation import figures
from evaluation.dashboard import PRIMARY_RATES, month_start, rate_tile, today
from grids.models import Role
from grids.scoping import role_regions
from grids.views import home_panel
from grievances.home import rows
from grievances.models import OPEN_STATES
from grievances.scoping import cases_for
from grievances.selectors import overdue_q


@home_panel("leader")
def leader_home(request) -> dict:
    """This month's three rates for the leader's widest region, against last month's, and
    the region's open and overdue cases."""
    user, now = request.user, timezone.now()
    regions = role_regions(user, {Role.LEADER})
    region = regions[0] if regions else None
    day = today()
    start, end = month_start(day), day + timedelta(days=1)
    previous_start = month_start(day, back=1)
    current = figures.figures(region=region, start=start, end=end)
    previous = figures.figures(region=region, start=previous_start, end=start)
    scope = cases_for(user, as_reporter=False).filter(state__in=OPEN_STATES)
    if region is not None:
        scope = scope.filter(**{f"{region.level}_id": region.pk})
    counts = scope.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=overdue_q(now)),
        risk=Count("pk", filter=Q(risk_petition=True) | Q(risk_extreme=True) | Q(risk_group=True)),
    )
    overdue = (
        rows(scope.filter(overdue_q(now)).order_by(F("handle_due_at").asc(nulls_last=True), "id"))
        if counts["overdue"]
        else []
    )
    return {
        "leader_region": region,
        "leader_tiles": [rate_tile(key, current, previous) for key in PRIMARY_RATES],
        "leader_intake": current["intake"]["total"],
        "leader_counts": counts,
        "leader_overdue": overdue,
    }
