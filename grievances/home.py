"""What the grid worker's and the resident's home pages show (registered with grids.views);
the leader's is evaluation's (evaluation/home.py), the mediation parties' part of the
resident's is mediation's (mediation/home.py).

Each panel reads a fixed number of queries whatever the number of cases: counts in one
aggregate, then the first rows of a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, Q
from django.urls import reverse
from django.utils import timezone

from grids.scoping import role_regions
from grids.views import GRID_ROLES, home_panel
from grievances import services
from grievances.models import OPEN_STATES, Grievance, State
from grievances.scoping import cases_for, own_cases
from grievances.selectors import (
    action_label,
    awaiting_rating,
    due_today_q,
    handled_by,
    news_for,
    overdue_q,
    with_progress,
)

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


# --- The resident's home: 我的反映 ----------------------------------------------------------------

RESIDENT_ROWS = 20


def resident_case_url(user, case: Grievance) -> str:
    """Where a resident reads their case: the case page, which shows the one they reported as
    tracking does; a case they are named on as a complainant, through tracking with its code
    filled in (they prove it with the last four digits of the phone)."""
    if case.reporter_id == user.pk:
        return reverse("case-detail", args=[case.pk])
    return f"{reverse('track')}?{urlencode({'code': case.display_code})}"


@dataclass
class ResidentRow:
    case: Grievance
    url: str
    new: bool
    news_label: str
    news_at: datetime | None
    handled_by: str


@home_panel("resident")
def resident_home(request) -> dict:
    """我的反映: the resident's own cases, newest first, each marked when it has public news
    since their previous visit, and the results waiting for their rating. A fixed number of
    queries: the visit (read, write), the counts, the rows, the ratings waiting."""
    user = request.user
    since = services.resident_visit(user)
    mine = own_cases(user)
    if since is not None:
        news_since = Exists(news_for(user).filter(created_at__gt=since))
        counts = mine.aggregate(total=Count("pk"), news=Count("pk", filter=news_since))
    else:
        counts = {**mine.aggregate(total=Count("pk")), "news": 0}
    rows = []
    if counts["total"]:
        for case in with_progress(mine, user).order_by("-created_at", "-id")[:RESIDENT_ROWS]:
            rows.append(
                ResidentRow(
                    case=case,
                    url=resident_case_url(user, case),
                    new=since is not None and case.news_at is not None and case.news_at > since,
                    news_label=action_label(case.news_action) if case.news_action else "",
                    news_at=case.news_at,
                    handled_by=handled_by(case),
                )
            )
    to_rate = list(awaiting_rating(user)[:HOME_ROWS]) if counts["total"] else []
    return {
        "resident_counts": counts,
        "resident_since": since,
        "resident_cases": rows,
        "resident_to_rate": [{"case": c, "url": resident_case_url(user, c)} for c in to_rate],
    }
