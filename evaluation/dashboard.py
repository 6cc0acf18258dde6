"""What the dashboard, the leader's home and the exports read from the figures: the
periods, the selection of region, department and period, the tiles and trends, and who may
see which subtree. No request handling: the pages are in views_dashboard.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dispatch.models import Department
from evaluation import exports, figures
from evaluation.models import FigureCell
from grids.models import Level, Region, Role
from grids.scoping import role_regions, sees_everything
from grids.workcalendar import working_periods
from grievances import selectors
from grievances.models import Grievance, Kind
from grievances.scoping import cases_for
from grievances.templatetags.cases import human_duration

TZ = figures.TZ
MAX_PERIOD_DAYS = 3700  # as the API: at most ten years
TREND_BUCKETS = 12
MAX_REGION_OPTIONS = 300
MAX_AREA_ROWS = 100  # rows of the "by area" table
OVERDUE_ROWS = 20
TOP_CATEGORIES = 8

DASHBOARD_ROLES = frozenset({Role.LEADER, Role.CENTRE_STAFF})

PRIMARY_RATES = ("response", "resolution", "satisfaction")  # 三率, in Beijing's order
OTHER_RATES = ("on_time", "mediation_success", "return_visit_reach")
RATE_LABELS = exports.RATE_LABELS
DURATION_LABELS = exports.DURATION_LABELS
RATE_COLOURS = {"response": "#17467a", "resolution": "#1d6f47", "satisfaction": "#d9822b"}


# --- Who may see what -----------------------------------------------------------------------


def inside(region: Region, roots: list[Region]) -> bool:
    return any(r.tree_id == region.tree_id and r.lft <= region.lft <= r.rght for r in roots)


def dashboard_roots(user) -> list[Region] | None:
    """The dashboard's scope: None for everything (superusers); 403 without a role."""
    if sees_everything(user):
        return None
    roots = role_regions(user, DASHBOARD_ROLES)
    if not roots:
        raise PermissionDenied
    return roots


def lead_department_q(department) -> Q:
    """Cases the department leads now (as the figures count them)."""
    if department is None:
        return Q()
    return Q(
        pk__in=Grievance.objects.filter(
            whistles__assignments__department_id=department.pk,
            whistles__assignments__role="lead",
            whistles__assignments__status__in=figures.OPEN_LEAD_STATUSES,
        ).values("pk")
    )


def region_q(region: Region | None) -> Q:
    return Q(**{f"{region.level}_id": region.pk}) if region is not None else Q()


# --- Periods --------------------------------------------------------------------------------


def instant(day: date) -> datetime:
    """The first instant of a Beijing date."""
    return datetime.combine(day, time.min, tzinfo=TZ)


def today() -> date:
    return timezone.localdate(timezone=TZ)


def month_start(day: date, back: int = 0) -> date:
    """The first day of the month `back` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """[start, end) in Beijing dates, and the period it is compared with."""

    kind: str
    start: date
    end: date
    prev_start: date
    prev_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def prev_last(self) -> date:
        return self.prev_end - timedelta(days=1)


def resolve_period(kind: str, start: date | None, last: date | None, now: date) -> Period:
    """The period of a choice and its comparison period.

    Calendar choices compare with the same stretch of the calendar before (环比): this
    month so far with the same number of days at the start of last month, last month with
    the month before, this year so far with the same days of last year. A custom period
    compares with the as many days just before it.
    """
    tomorrow = now + timedelta(days=1)
    if kind == "last_month":
        start, end = month_start(now, 1), month_start(now)
        return Period(kind, start, end, month_start(now, 2), start)
    if kind == "this_year":
        start = date(now.year, 1, 1)
        prev_start = date(now.year - 1, 1, 1)
        prev_end = min(prev_start + (tomorrow - start), start)
        return Period(kind, start, tomorrow, prev_start, prev_end)
    if kind == "custom" and start is not None and last is not None:
        end = last + timedelta(days=1)
        return Period(kind, start, end, start - (end - start), start)
    start = month_start(now)
    prev_start = month_start(now, 1)
    return Period(
        "this_month", start, tomorrow, prev_start, min(prev_start + (tomorrow - start), start)
    )


@dataclass
class Selection:
    """What the dashboard shows: a region (None: everywhere), a department, a period."""

    region: Region | None
    department: Department | None
    period: Period
    trend: str
    roots: list[Region] | None  # the user's dashboard scope (None: everything)

    def query(self, **changes) -> str:
        """The dashboard's query string for this selection, with `changes`."""
        params = {
            "region": self.region.code if self.region else "",
            "department": self.department.pk if self.department else "",
            "period": self.period.kind,
            "trend": self.trend,
        }
        if self.period.kind == "custom":
            params["from"] = self.period.start.isoformat()
            params["to"] = self.period.last.isoformat()
        params.update(changes)
        query = QueryDict(mutable=True)
        for key, value in params.items():
            if value not in ("", None):
                query[key] = str(value)
        return query.urlencode()


# --- Reading figures ------------------------------------------------------------------------


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _day_seconds() -> float:
    return sum(end - start for start, end in working_periods()) / 1_000_000


def working_time(seconds: int | None, day_seconds: float | None = None) -> str:
    """Working time as people read it: minutes and hours within a working day, working
    days (to a tenth) beyond."""
    if seconds is None:
        return "—"
    day_seconds = day_seconds or _day_seconds()
    if seconds < day_seconds:
        return human_duration(seconds)
    days = seconds / day_seconds
    text = f"{days:.1f}".removesuffix(".0")
    return ngettext("%(days)s working day", "%(days)s working days", 1 if text == "1" else 2) % {
        "days": text
    }


def _delta(now: float | None, before: float | None, *, higher_is_better: bool | None) -> dict:
    """Direction and size of a change; `good` says whether it is an improvement."""
    if now is None or before is None:
        return {"direction": "none", "good": None, "amount": None}
    diff = now - before
    if abs(diff) < 1e-9:
        return {"direction": "same", "good": None, "amount": 0}
    direction = "up" if diff > 0 else "down"
    good = None if higher_is_better is None else (diff > 0) == higher_is_better
    return {"direction": direction, "good": good, "amount": diff}


def rate_tile(key: str, current: dict, previous: dict) -> dict:
    rate, before = current["rates"][key], previous["rates"][key]
    delta = _delta(rate["value"], before["value"], higher_is_better=True)
    if delta["amount"] is not None:
        points = delta["amount"] * 100
        delta["text"] = _("%(sign)s%(points)s pp") % {
            "sign": "+" if points > 0 else ("−" if points < 0 else "±"),
            "points": f"{abs(points):.1f}",
        }
    return {
        "key": key,
        "label": RATE_LABELS[key],
        "value": rate["value"],
        "text": percent(rate["value"]),
        "numerator": rate["numerator"],
        "denominator": rate["denominator"],
        "previous": percent(before["value"]),
        "delta": delta,
    }


def intake_tile(current: dict, previous: dict) -> dict:
    now, before = current["intake"]["total"], previous["intake"]["total"]
    delta = _delta(now, before, higher_is_better=None)
    if delta["amount"] is not None:
        share = f" ({delta['amount'] / before:+.0%})" if before else ""
        delta["text"] = f"{delta['amount']:+d}{share}".replace("-", "−")
    return {"value": now, "previous": before, "delta": delta}


def duration_rows(current: dict, previous: dict) -> list[dict]:
    day = _day_seconds()
    rows = []
    for key in figures.DURATIONS:
        found, before = current["durations"][key], previous["durations"][key]
        delta = _delta(found["avg_seconds"], before["avg_seconds"], higher_is_better=False)
        if delta["amount"] is not None:
            delta["text"] = working_time(abs(int(delta["amount"])), day)
        rows.append(
            {
                "key": key,
                "label": DURATION_LABELS[key],
                "count": found["count"],
                "avg": working_time(found["avg_seconds"], day),
                "p90": working_time(found["p90_seconds"], day),
                "previous": working_time(before["avg_seconds"], day),
                "delta": delta,
            }
        )
    return rows


def trend_buckets(period: Period, kind: str, now: date) -> list[tuple[str, date, date]]:
    """At most 12 months (or weeks) ending with the period's last day; none in the future."""
    last = min(period.last, now)
    stop = last + timedelta(days=1)
    buckets = []
    if kind == "week":
        monday = last - timedelta(days=last.weekday())
        for back in range(TREND_BUCKETS - 1, -1, -1):
            start = monday - timedelta(weeks=back)
            buckets.append((start.strftime("%m-%d"), start, min(start + timedelta(weeks=1), stop)))
    else:
        for back in range(TREND_BUCKETS - 1, -1, -1):
            start = month_start(last, back)
            buckets.append((start.strftime("%Y-%m"), start, min(month_start(start, -1), stop)))
    return buckets


def trend(selection: Selection, now: date) -> dict:
    """The chart data: intake and the three rates per bucket, each bucket's figures read
    through figures.figures (a few queries each, twelve buckets at most)."""
    labels, intake = [], []
    rates: dict[str, list] = {key: [] for key in PRIMARY_RATES}
    for label, start, end in trend_buckets(selection.period, selection.trend, now):
        found = figures.figures(
            region=selection.region, department=selection.department, start=start, end=end
        )
        labels.append(label)
        intake.append(found["intake"]["total"])
        for key in PRIMARY_RATES:
            value = found["rates"][key]["value"]
            rates[key].append(None if value is None else round(value * 100, 1))
    return {
        "labels": labels,
        "intake": intake,
        "rates": rates,
        "names": {
            "intake": _("Cases reported"),
            **{key: str(RATE_LABELS[key]) for key in PRIMARY_RATES},
        },
        "colours": RATE_COLOURS,
    }


def area_rows(selection: Selection, categories: dict) -> tuple[list[dict], str]:
    """Intake and the three rates of each area one level down (townships of a county…).

    The cells of all the areas in one query, summed per area and composed by
    figures.compose, as figures.ranking does. Grids have no cells: a village's grids are
    left to the grid's own dashboard.
    """
    region = selection.region
    if region is not None and region.level in (Level.VILLAGE, Level.GRID):
        return [], ""
    children = Region.objects.filter(parent=None) if region is None else region.get_children()
    children = list(children.only("pk", "name", "code", "level").order_by("code")[:MAX_AREA_ROWS])
    if not children:
        return [], ""
    period = selection.period
    sums: dict[int, dict] = {}
    for key, values in FigureCell.objects.filter(
        region_key__in=[c.pk for c in children],
        department_key=selection.department.pk if selection.department else 0,
        day__gte=period.start,
        day__lt=period.end,
    ).values_list("region_key", "values"):
        total = sums.setdefault(key, {})
        for name, amount in values.items():
            total[name] = total.get(name, 0) + amount
    rows = []
    for child in children:
        composed = figures.compose(sums.get(child.pk, {}), categories)
        rows.append(
            {
                "region": child,
                "intake": composed["intake"]["total"],
                "rates": [percent(composed["rates"][k]["value"]) for k in PRIMARY_RATES],
                "query": selection.query(region=child.code),
            }
        )
    return rows, children[0].get_level_display()


def overdue_cases(user, selection: Selection, now) -> tuple[list[Grievance], int]:
    qs = (
        cases_for(user, as_reporter=False)
        .filter(selectors.overdue_q(now))
        .filter(region_q(selection.region))
        .filter(lead_department_q(selection.department))
    )
    rows = list(
        qs.select_related("category", "region").order_by("-created_at", "-id")[:OVERDUE_ROWS]
    )
    count = len(rows) if len(rows) < OVERDUE_ROWS else qs.count()
    return rows, count


def top_categories(current: dict, categories_by_code: dict) -> list[dict]:
    found = current["intake"]["by_category"][:TOP_CATEGORIES]
    if not found:
        return []
    most = found[0]["count"] or 1
    rows = []
    for entry in found:
        category = categories_by_code.get(entry["code"])
        rows.append(
            {
                "category": category,
                "name": entry["name"],
                "kind": Kind(entry["kind"]).label if entry["kind"] in Kind.values else "",
                "count": entry["count"],
                "width": max(round(entry["count"] * 100 / most), 2),
            }
        )
    return rows


def region_path(selection: Selection) -> list[dict]:
    """The ancestors of the region, linked where the user may open them (going up)."""
    region, roots = selection.region, selection.roots
    if region is None:
        return []
    ancestors = list(
        region.get_ancestors().only("pk", "name", "code", "level", "tree_id", "lft", "rght")
    )
    return [
        {
            "region": a,
            "query": selection.query(region=a.code) if roots is None or inside(a, roots) else None,
        }
        for a in ancestors
    ]


def trend_rows(data: dict) -> list[dict]:
    """The chart's numbers as table rows (for reading without the chart)."""
    return [
        {
            "label": label,
            "intake": data["intake"][i],
            "rates": [
                "—" if data["rates"][k][i] is None else f"{data['rates'][k][i]:.1f}%"
                for k in PRIMARY_RATES
            ],
        }
        for i, label in enumerate(data["labels"])
    ]
