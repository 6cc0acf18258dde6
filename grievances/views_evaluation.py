"""The evaluation pages: the dashboard, the public red/black list and the return visits.

Every figure comes from grievances.figures, the one module that defines them; these views
choose the region, the department and the period, and lay the numbers out. Exports go
through grievances.exports and return visits through grievances.returnvisits.

/dashboard/ (leaders and centre staff, superusers): the figures of a region of the user's
leader or centre-staff memberships (a subtree; the widest by default), a department and a
period, compared with the period before; trends, a map of the areas and of the cases, the
overdue cases, exports. A region or department outside those subtrees, or unknown, is a
404, as for cases: the answer does not say what exists elsewhere. The map's data comes
from /dashboard/map/ (JSON, same checks), so the page itself stays small.

/rankings/ (public): the red/black list (红黑榜) of a month, townships and departments on
the weighted rates; names of regions and departments and their figures, nothing personal.

/return-visits/ (centre staff, superusers): the visits of the cases in their area, with a
form to record the call and, when the reporter says the matter is not resolved, to reopen
the case. Errors as on the case pages (grievances/views_cases.py): NotAllowed → the 403
page; WrongState → "this has moved on" and back to the list; invalid input → the list
again with status 400 and the message next to the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import shapely
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from grids.geometry import polygonal_shape, to_geojson
from grids.models import BoundaryVersion, Level, Region, RegionBoundary, Role
from grids.scoping import memberships, sees_everything, subtree_q
from grids.workcalendar import working_periods
from grievances import exports, figures, returnvisits, selectors, services
from grievances.models import (
    Category,
    Complainant,
    Export,
    FigureCell,
    Grievance,
    Kind,
    ReturnVisit,
    State,
)
from grievances.scoping import cases_for
from grievances.templatetags.cases import human_duration

TZ = figures.TZ
MAX_PERIOD_DAYS = 3700  # as the API: at most ten years
TREND_BUCKETS = 12
MAX_REGION_OPTIONS = 300
MAX_DEPARTMENT_OPTIONS = 300
MAX_AREAS = 300  # boundaries drawn on the map
MAX_POINTS = 2000  # case points of the heat layer: the newest
MAX_AREA_ROWS = 100  # rows of the "by area" table
SIMPLIFY_DEGREES = 0.0005  # about 50 m: plenty for a dashboard map
AREAS_CACHE_SECONDS = 3600
RANKING_CACHE_SECONDS = 300
OVERDUE_ROWS = 20
TOP_CATEGORIES = 8
VISIT_PAGE_SIZE = 30
VISIT_MAX_PAGES = 40

DASHBOARD_ROLES = frozenset({Role.LEADER, Role.CENTRE_STAFF})
VISIT_ROLES = frozenset({Role.CENTRE_STAFF})

PRIMARY_RATES = ("response", "resolution", "satisfaction")  # 三率, in Beijing's order
OTHER_RATES = ("on_time", "mediation_success", "return_visit_reach")
RATE_LABELS = exports.RATE_LABELS
DURATION_LABELS = exports.DURATION_LABELS
RATE_COLOURS = {"response": "#17467a", "resolution": "#1d6f47", "satisfaction": "#d9822b"}

PERIODS = [
    ("this_month", gettext_lazy("This month")),
    ("last_month", gettext_lazy("Last month")),
    ("this_year", gettext_lazy("This year")),
    ("custom", gettext_lazy("From … to …")),
]
TRENDS = [("month", gettext_lazy("By month")), ("week", gettext_lazy("By week"))]


# --- Who may see what -----------------------------------------------------------------------


def _widest(regions: list[Region]) -> list[Region]:
    """Drop regions inside another one of the list; widest first."""
    return sorted(
        (
            r
            for r in regions
            if not any(
                o.pk != r.pk and o.tree_id == r.tree_id and o.lft <= r.lft and r.rght <= o.rght
                for o in regions
            )
        ),
        key=lambda r: (r.depth, r.code),
    )


def role_regions(user, roles) -> list[Region]:
    """The regions whose subtrees the user holds one of `roles` in, widest first."""
    found = {m.region.pk: m.region for m in memberships(user) if m.role in roles}
    return _widest(list(found.values()))


def _inside(region: Region, roots: list[Region]) -> bool:
    return any(r.tree_id == region.tree_id and r.lft <= region.lft <= r.rght for r in roots)


def _dashboard_roots(user) -> list[Region] | None:
    """The dashboard's scope: None for everything (superusers); 403 without a role."""
    if sees_everything(user):
        return None
    roots = role_regions(user, DASHBOARD_ROLES)
    if not roots:
        raise PermissionDenied
    return roots


def _department_model():
    # Read through the app registry: grievances does not import dispatch.
    try:
        return apps.get_model("dispatch", "Department")
    except LookupError:
        return None


def _lead_department_q(department) -> Q:
    """Cases the department leads now (as the figures count them)."""
    if department is None or not hasattr(Grievance, "whistles"):
        return Q()
    return Q(
        pk__in=Grievance.objects.filter(
            whistles__assignments__department_id=department.pk,
            whistles__assignments__role="lead",
            whistles__assignments__status__in=figures.OPEN_LEAD_STATUSES,
        ).values("pk")
    )


def _region_q(region: Region | None) -> Q:
    return Q(**{f"{region.level}_id": region.pk}) if region is not None else Q()


# --- Periods --------------------------------------------------------------------------------


def _instant(day: date) -> datetime:
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


# --- The dashboard's filters ----------------------------------------------------------------


class DashboardForm(forms.Form):
    """The dashboard's choices (a GET form; every field optional)."""

    region = forms.CharField(label=gettext_lazy("Region"), required=False, max_length=15)
    # Any id is taken here; the view answers 404 for one outside the user's scope.
    department = forms.IntegerField(label=gettext_lazy("Department"), required=False)
    period = forms.ChoiceField(
        label=gettext_lazy("Period"), choices=PERIODS, required=False, widget=forms.RadioSelect
    )
    trend = forms.ChoiceField(
        label=gettext_lazy("Trend"), choices=TRENDS, required=False, widget=forms.RadioSelect
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" and "to" as in the API's query strings; "to" is the last day, included.
        self.fields["from"] = forms.DateField(
            label=gettext_lazy("From"), required=False, widget=forms.DateInput({"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            label=gettext_lazy("To (included)"),
            required=False,
            widget=forms.DateInput({"type": "date"}),
        )

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, last = data.get("from"), data.get("to")
            if start is None:
                self.add_error("from", _("Enter the first day."))
            if last is None:
                self.add_error("to", _("Enter the last day."))
            if start and last:
                if last < start:
                    self.add_error("to", _("The end of the period must come after its start."))
                elif (last - start).days >= MAX_PERIOD_DAYS:
                    self.add_error("to", _("A period spans at most ten years."))
        return data


@dataclass
class Selection:
    """What the dashboard shows: a region (None: everywhere), a department, a period."""

    region: Region | None
    department: object | None
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


def _departments_in(roots: list[Region] | None) -> list:
    model = _department_model()
    if model is None:
        return []
    qs = model.objects.filter(active=True).select_related("region")
    if roots is not None:
        qs = qs.filter(subtree_q(roots, "region__"))
    return list(qs.order_by("region__tree_id", "region__lft", "name")[:MAX_DEPARTMENT_OPTIONS])


def _select(request, roots: list[Region] | None) -> tuple[Selection, forms.Form]:
    """Read the dashboard's choices from GET: 404 for a region or department outside the
    scope; invalid dates leave the form's errors and the default period."""
    form = DashboardForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    raw = (request.GET.get("region") or "").strip()
    if raw:
        region = Region.objects.filter(code=raw).first()
        if region is None or (roots is not None and not _inside(region, roots)):
            raise Http404(_("No such region in your area."))
    else:
        region = roots[0] if roots else None
    department = None
    raw = (request.GET.get("department") or "").strip()
    if raw:
        model = _department_model()
        try:
            pk = int(raw)
        except ValueError:
            raise Http404(_("No such department in your area.")) from None
        department = model.objects.select_related("region").filter(pk=pk).first() if model else None
        if department is None or (roots is not None and not _inside(department.region, roots)):
            raise Http404(_("No such department in your area."))
    period = resolve_period(
        data.get("period") or "this_month", data.get("from"), data.get("to"), today()
    )
    trend = data.get("trend") or "month"
    return Selection(region, department, period, trend, roots), form


def _region_options(roots: list[Region] | None, current: Region | None) -> list[dict]:
    """The region picker: each scope region and two levels below it (bounded)."""
    if roots is None:
        qs = Region.objects.filter(level__in=[Level.PROVINCE, Level.CITY, Level.COUNTY])
        base = 0
    else:
        q = Q(pk__in=[])
        for r in roots:
            q |= Q(
                tree_id=r.tree_id,
                lft__gte=r.lft,
                lft__lte=r.rght,
                mptt_level__lte=r.mptt_level + 2,
            )
        qs = Region.objects.filter(q)
        base = min(r.mptt_level for r in roots)
    found = list(
        qs.only("pk", "name", "code", "level", "mptt_level", "tree_id", "lft", "rght").order_by(
            "tree_id", "lft"
        )[:MAX_REGION_OPTIONS]
    )
    if current is not None and all(r.pk != current.pk for r in found):
        found.append(current)
    return [
        {
            "code": r.code,
            "label": "\u3000" * max(r.mptt_level - base, 0) + r.name,
            "selected": current is not None and r.pk == current.pk,
        }
        for r in found
    ]


# --- Reading figures ------------------------------------------------------------------------


def _percent(value: float | None) -> str:
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
        "text": _percent(rate["value"]),
        "numerator": rate["numerator"],
        "denominator": rate["denominator"],
        "previous": _percent(before["value"]),
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
                "rates": [_percent(composed["rates"][k]["value"]) for k in PRIMARY_RATES],
                "query": selection.query(region=child.code),
            }
        )
    return rows, children[0].get_level_display()


def overdue_cases(user, selection: Selection, now) -> tuple[list[Grievance], int]:
    qs = (
        cases_for(user, as_reporter=False)
        .filter(selectors.overdue_q(now))
        .filter(_region_q(selection.region))
        .filter(_lead_department_q(selection.department))
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


def _region_path(selection: Selection) -> list[dict]:
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
            "query": selection.query(region=a.code) if roots is None or _inside(a, roots) else None,
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


def _dashboard_context(request, selection: Selection, form) -> dict:
    user = request.user
    now = timezone.now()
    period = selection.period
    kwargs = {"region": selection.region, "department": selection.department}
    current = figures.figures(**kwargs, start=period.start, end=period.end)
    previous = figures.figures(**kwargs, start=period.prev_start, end=period.prev_end)
    categories = {c.pk: c for c in Category.objects.all()}
    by_code = {c.code: c for c in categories.values()}
    areas, area_level = area_rows(selection, categories)
    overdue, overdue_count = overdue_cases(user, selection, now)
    kinds = current["intake"]["by_kind"]
    before_kinds = previous["intake"]["by_kind"]
    map_query = selection.query()
    chart = trend(selection, today())
    return {
        "selection": selection,
        "form": form,
        "periods": PERIODS,
        "trends": TRENDS,
        "period": period,
        "current": current,
        "as_of": parse_datetime(current["as_of"]) if current["as_of"] else None,
        "primary": [rate_tile(k, current, previous) for k in PRIMARY_RATES],
        "others": [rate_tile(k, current, previous) for k in OTHER_RATES],
        "intake": intake_tile(current, previous),
        "kinds": [
            {"label": label, "count": kinds.get(value, 0), "previous": before_kinds.get(value, 0)}
            for value, label in Kind.choices
        ],
        "categories": top_categories(current, by_code),
        "durations": duration_rows(current, previous),
        "trend": chart,
        "trend_rows": trend_rows(chart),
        "areas": areas,
        "area_level": area_level,
        "overdue": overdue,
        "overdue_count": overdue_count,
        "path": _region_path(selection),
        "map_url": f"{reverse('dashboard-map')}?{map_query}",
        "map_tile_url": getattr(settings, "MAP_TILE_URL", ""),
        "map_attribution": getattr(settings, "MAP_TILE_ATTRIBUTION", ""),
        "map_center": getattr(settings, "LEAFLET_CONFIG", {}).get("DEFAULT_CENTER", (29.6, 91.1)),
        "export_kinds": Export.Kind.choices,
        "export_types": Export.FileType.choices,
        "query": selection.query(),
    }


@login_required
@require_GET
def dashboard(request):
    roots = _dashboard_roots(request.user)
    selection, form = _select(request, roots)
    context = _dashboard_context(request, selection, form)
    status = 400 if form.is_bound and not form.is_valid() else 200
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        # htmx does not swap error answers: the partial shows the form's errors itself.
        response = render(request, "evaluation/dashboard/_results.html", context)
    else:
        context["region_options"] = _region_options(roots, selection.region)
        context["departments"] = _departments_in(roots)
        response = render(request, "evaluation/dashboard/dashboard.html", context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- The map's data -------------------------------------------------------------------------


def _simplified(geometry: dict) -> dict | None:
    try:
        geom = polygonal_shape(geometry)
    except (KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        return None
    geom = geom.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
    if geom.is_empty:
        return None
    geom = shapely.transform(geom, lambda coords: np.round(coords, 5))
    return to_geojson(geom)


def map_areas(region: Region | None) -> dict:
    """The boundaries of the region's areas one level down (the region itself for a grid),
    simplified and capped, cached until a boundary changes."""
    stamp = BoundaryVersion.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""
    key = f"fengqiao:dashboard-areas:{region.pk if region else 0}:{stamp}"
    found = cache.get(key)
    if found is not None:
        return found
    if region is None:
        areas = Region.objects.filter(parent=None)
    elif region.level == Level.GRID:
        areas = Region.objects.filter(pk=region.pk)
    else:
        areas = region.get_children()
    areas = list(areas.only("pk", "name", "code", "level").order_by("code")[: MAX_AREAS + 1])
    capped = len(areas) > MAX_AREAS
    areas = areas[:MAX_AREAS]
    geometries = dict(
        RegionBoundary.objects.filter(region_id__in=[a.pk for a in areas]).values_list(
            "region_id", "geometry"
        )
    )
    features = []
    for area in areas:
        geometry = geometries.get(area.pk)
        simple = _simplified(geometry) if geometry else None
        if simple is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": simple,
                "properties": {"code": area.code, "name": area.name, "level": area.level},
            }
        )
    found = {"type": "FeatureCollection", "features": features, "capped": capped}
    cache.set(key, found, AREAS_CACHE_SECONDS)
    return found


def heat_points(user, selection: Selection) -> list[list[float]]:
    """The newest case points of the selection (at most MAX_POINTS), as [lat, lng]."""
    period = selection.period
    qs = (
        cases_for(user, as_reporter=False)
        .filter(_region_q(selection.region))
        .filter(_lead_department_q(selection.department))
        .filter(
            created_at__gte=_instant(period.start),
            created_at__lt=_instant(period.end),
            lat__isnull=False,
            lng__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("lat", "lng")[:MAX_POINTS]
    )
    return [[round(lat, 5), round(lng, 5)] for lat, lng in qs]


@login_required
@require_GET
def dashboard_map(request):
    """GeoJSON of the areas and the heat points, for the dashboard's map (same checks)."""
    roots = _dashboard_roots(request.user)
    selection, _form = _select(request, roots)
    areas = map_areas(selection.region)
    base = reverse("dashboard")
    features = [
        {
            **feature,
            "properties": {
                **feature["properties"],
                "url": f"{base}?{selection.query(region=feature['properties']['code'])}",
            },
        }
        for feature in areas["features"]
    ]
    return JsonResponse(
        {
            "areas": {"type": "FeatureCollection", "features": features},
            "capped": areas["capped"],
            "points": heat_points(request.user, selection),
            "max_points": MAX_POINTS,
        }
    )


# --- Exports --------------------------------------------------------------------------------


@login_required
@require_POST
def export_create(request):
    """Export the case list or the figures of the dashboard's selection: a small file
    downloads at once, a large one is written in the background (its progress page)."""
    roots = _dashboard_roots(request.user)
    selection, form = _select(request, roots)
    back = f"{reverse('dashboard')}?{selection.query()}"
    # One button per kind and file type ("cases.xlsx"), or the two fields.
    kind, _dot, file_type = (request.POST.get("export") or "").partition(".")
    kind = kind or request.POST.get("kind")
    file_type = file_type or request.POST.get("file_type")
    if kind not in Export.Kind.values or file_type not in Export.FileType.values:
        messages.error(request, _("Choose what to export and the file type."))
        return redirect(back)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("Correct the period first."))
        return redirect(back)
    period = selection.period
    params = {
        "region": selection.region.code if selection.region else None,
        "department": selection.department.pk if selection.department else None,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "include_phones": request.POST.get("include_phones") == "1",
    }
    export = exports.export_request(request.user, kind=kind, file_type=file_type, params=params)
    if export.status == Export.Status.DONE:
        return redirect("dashboard-export-file", pk=export.pk)
    if export.status == Export.Status.FAILED:
        messages.error(request, _("The export failed. Try again, or ask the administrator."))
        return redirect(back)
    return redirect("dashboard-export", pk=export.pk)


def _own_export(request, pk: int) -> Export:
    return get_object_or_404(Export, pk=pk, owner=request.user)


def _with_period_text(export: Export) -> Export:
    """The export's period as people read it: its last day included."""
    try:
        start = date.fromisoformat(export.params["from"])
        end = date.fromisoformat(export.params["to"])
    except (KeyError, TypeError, ValueError):
        export.period_text = ""
    else:
        export.period_text = f"{start:%Y-%m-%d} – {end - timedelta(days=1):%Y-%m-%d}"
    return export


@login_required
@require_GET
def export_status(request, pk: int):
    """An export's progress; htmx polls the status block every 2 s until it is done."""
    _dashboard_roots(request.user)
    export = _with_period_text(_own_export(request, pk))
    context = {"export": export, "running": export.status in ("pending", "running")}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        response = render(request, "evaluation/exports/_status.html", context)
    else:
        context["recent"] = [
            _with_period_text(e)
            for e in Export.objects.filter(owner=request.user).exclude(pk=export.pk)[:10]
        ]
        response = render(request, "evaluation/exports/status.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_GET
def export_file(request, pk: int):
    """The file of a finished export, for its owner only."""
    _dashboard_roots(request.user)
    export = _own_export(request, pk)
    if export.status != Export.Status.DONE or not export.file:
        return redirect("dashboard-export", pk=export.pk)
    params = export.params
    name = f"{export.kind}-{params.get('from', '')}-{params.get('to', '')}.{export.file_type}"
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[export.file_type]
    return FileResponse(
        export.file.open("rb"), as_attachment=True, filename=name, content_type=content_type
    )


# --- The red/black list (public) ------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _parse_month(raw: str, now: date) -> tuple[date | None, str]:
    match = MONTH.match(raw.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        return None, _("Enter a month as YYYY-MM.")
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if month > month_start(now):
        return None, _("That month has not begun yet.")
    return month, ""


def _ranking_regions() -> list[Region]:
    return list(
        Region.objects.filter(level__in=[Level.PROVINCE, Level.CITY, Level.COUNTY])
        .only("pk", "name", "code", "level", "mptt_level")
        .order_by("tree_id", "lft")[:MAX_REGION_OPTIONS]
    )


def _ranking_entries(entries: list[dict], weights: dict) -> list[dict]:
    return [
        {
            **entry,
            "score_text": _percent(entry["score"]),
            "rate_texts": [_percent(entry["rates"][k]["value"]) for k in weights],
        }
        for entry in entries
    ]


@require_GET
def rankings(request):
    """红黑榜: the month's red (top) and black (bottom) lists, public."""
    now = today()
    default = month_start(now, 1)  # the last full month
    errors = []
    month = default
    if request.GET.get("month"):
        month, error = _parse_month(request.GET["month"], now)
        if month is None:
            errors.append(error)
            month = default
    within = None
    code = (request.GET.get("region") or "").strip()
    if code:
        within = Region.objects.filter(code=code).first()
        if within is None:
            errors.append(_("Unknown region code."))
    key = f"fengqiao:ranking-page:{month:%Y-%m}:{within.pk if within else 0}"
    result = cache.get(key)
    if result is None:
        result = figures.ranking(month, within=within)
        cache.set(key, result, RANKING_CACHE_SECONDS)
    weights = result["weights"]
    total = sum(weights.values()) or 1
    lists = {}
    for what in ("townships", "departments"):
        ranked = result[what]
        lists[what] = {
            "red": _ranking_entries(ranked["red"], weights),
            "black": _ranking_entries(ranked["black"], weights),
            "ranked": _ranking_entries(ranked["ranked"], weights),
            "unranked": ranked["unranked"],
        }
    later = month_start(month, -1)
    context = {
        "month": month,
        "month_value": f"{month:%Y-%m}",
        "max_month": f"{month_start(now):%Y-%m}",
        "previous_month": f"{month_start(month, 1):%Y-%m}",
        "next_month": f"{later:%Y-%m}" if later <= month_start(now) else "",
        "within": within,
        "regions": _ranking_regions(),
        "weights": [
            {"label": RATE_LABELS[k], "share": f"{w / total:.0%}", "weight": w}
            for k, w in weights.items()
        ],
        "weight_labels": [RATE_LABELS[k] for k in weights],
        "size": result["size"],
        "as_of": parse_datetime(result["as_of"]) if result["as_of"] else None,
        "townships": lists["townships"],
        "departments": lists["departments"],
        "errors": errors,
    }
    return render(request, "evaluation/rankings.html", context, status=400 if errors else 200)


# --- Return visits --------------------------------------------------------------------------

YES_NO = [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


class VisitForm(forms.Form):
    """The record of a return call (回访问效)."""

    reached = forms.ChoiceField(
        label=gettext_lazy("Reporter reached"), choices=YES_NO, widget=forms.RadioSelect
    )
    satisfied = forms.ChoiceField(
        label=gettext_lazy("Satisfied"), choices=YES_NO, widget=forms.RadioSelect, required=False
    )
    resolved = forms.ChoiceField(
        label=gettext_lazy("Resolved"), choices=YES_NO, widget=forms.RadioSelect, required=False
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea({"rows": 2}),
    )

    def __init__(self, *args, visit: ReturnVisit, **kwargs):
        kwargs.setdefault("prefix", f"visit-{visit.pk}")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.visit = visit

    def clean(self):
        data = super().clean()
        if data.get("reached") == "yes":
            for name in ("satisfied", "resolved"):
                if not data.get(name):
                    self.add_error(name, _("Choose yes or no."))
        return data

    def values(self) -> dict:
        data = self.cleaned_data
        reached = data["reached"] == "yes"
        return {
            "reached": reached,
            "satisfied": _yes_no(data.get("satisfied")) if reached else None,
            "resolved": _yes_no(data.get("resolved")) if reached else None,
            "note": data.get("note", ""),
        }


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why reopen"), max_length=2000, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args, visit: ReturnVisit, **kwargs):
        kwargs.setdefault("prefix", f"reopen-{visit.pk}")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.visit = visit


VISIT_FILTERS = [
    ("pending", gettext_lazy("To call")),
    ("recorded", gettext_lazy("Recorded")),
    ("all", gettext_lazy("All")),
]


def _require_visit_staff(user) -> None:
    if not (sees_everything(user) or role_regions(user, VISIT_ROLES)):
        raise PermissionDenied


def _visits(user):
    return (
        ReturnVisit.objects.filter(grievance__in=cases_for(user, as_reporter=False))
        .select_related(
            "grievance",
            "grievance__category",
            "grievance__region",
            "grievance__owning_centre",
            "grievance__rating",
            "recorded_by",
        )
        .prefetch_related(
            Prefetch(
                "grievance__complainants",
                queryset=Complainant.objects.filter(is_reporter=True),
                to_attr="reporters",
            )
        )
    )


def _can_reopen(visit: ReturnVisit, user) -> bool:
    try:
        services.check_act("reopen", visit.grievance, user)
    except services.CaseError:
        return False
    return True


def _visit_rows(visits: list[ReturnVisit], user, now, bound: forms.Form | None) -> list[dict]:
    rows = []
    for visit in visits:
        case = visit.grievance
        can_record = returnvisits.can_record(user, visit)
        reporter = case.reporters[0] if case.reporters else None
        row = {
            "visit": visit,
            "case": case,
            "reporter": reporter,
            "personal": can_record or selectors.may_see_personal_data(user, case),
            "can_record": can_record and not visit.is_recorded,
            "overdue": not visit.is_recorded and visit.due_at < now,
            "rating": getattr(case, "rating", None),
            "form": None,
            "reopen_form": None,
            "open": False,
        }
        if row["can_record"]:
            if isinstance(bound, VisitForm) and bound.visit.pk == visit.pk:
                row["form"], row["open"] = bound, True
            else:
                row["form"] = VisitForm(visit=visit)
        elif (
            visit.is_recorded
            and visit.resolved is False
            and case.state == State.CLOSED
            and _can_reopen(visit, user)
        ):
            if isinstance(bound, ReopenForm) and bound.visit.pk == visit.pk:
                row["reopen_form"], row["open"] = bound, True
            else:
                row["reopen_form"] = ReopenForm(
                    visit=visit,
                    initial={"reason": visit.note or _("Not resolved, the reporter said.")},
                )
        rows.append(row)
    return rows


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), VISIT_MAX_PAGES)


def _render_visits(request, *, bound: forms.Form | None = None, status: int = 200):
    user = request.user
    now = timezone.now()
    wanted = request.GET.get("status", "pending")
    if wanted not in dict(VISIT_FILTERS):
        wanted = "pending"
    qs = _visits(user)
    if wanted == "pending":
        qs = qs.filter(recorded_at=None).order_by("due_at", "id")
    elif wanted == "recorded":
        qs = qs.exclude(recorded_at=None).order_by("-recorded_at", "-id")
    else:
        qs = qs.order_by("-due_at", "-id")
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * VISIT_PAGE_SIZE
    found = list(qs[start : start + VISIT_PAGE_SIZE + 1])
    visits, has_next = found[:VISIT_PAGE_SIZE], len(found) > VISIT_PAGE_SIZE
    if bound is not None and all(v.pk != bound.visit.pk for v in visits):
        # The visit posted to is not on this page (any more): show it first.
        visits.insert(0, bound.visit)
    context = {
        "rows": _visit_rows(visits, user, now, bound),
        "filters": VISIT_FILTERS,
        "status": wanted,
        "page": {
            "number": number,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if has_next and number < VISIT_MAX_PAGES else None,
        },
    }
    return render(request, "evaluation/return_visits.html", context, status=status)


@login_required
@require_GET
def return_visits(request):
    _require_visit_staff(request.user)
    return _render_visits(request)


def _visit_or_404(request, pk: int) -> ReturnVisit:
    return get_object_or_404(_visits(request.user), pk=pk)


def _back_to_visits(request):
    query = QueryDict(request.POST.get("query", "")).urlencode()
    url = reverse("return-visits")
    return redirect(f"{url}?{query}" if query else url)


def _moved_on(request, case: Grievance, exc: services.WrongState):
    fresh = Grievance.objects.filter(pk=case.pk).first()
    parts = [_("This has moved on."), _("Nothing was saved.")]
    if exc.message:
        parts.insert(1, exc.message)
    if fresh is not None:
        parts.append(_("The case is now “%(state)s”.") % {"state": fresh.get_state_display()})
    messages.warning(request, f"{case.display_code}: {' '.join(parts)}")
    return _back_to_visits(request)


@login_required
@require_POST
def return_visit_record(request, pk: int):
    """Record the call; "record and reopen" reopens the case in the same transaction."""
    _require_visit_staff(request.user)
    visit = _visit_or_404(request, pk)
    user = request.user
    if not returnvisits.can_record(user, visit):
        raise PermissionDenied
    form = VisitForm(request.POST, visit=visit)
    if not form.is_valid():
        return _render_visits(request, bound=form, status=400)
    reopen = request.POST.get("reopen") == "1"
    try:
        returnvisits.return_visit_record(visit, user, **form.values(), reopen=reopen)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, visit.grievance, exc)
    except services.InvalidInput as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return _render_visits(request, bound=form, status=400)
    case = visit.grievance
    if reopen:
        messages.success(
            request,
            _("Recorded the return visit of %(code)s and reopened the case.")
            % {"code": case.display_code},
        )
    else:
        messages.success(
            request, _("Recorded the return visit of %(code)s.") % {"code": case.display_code}
        )
    return _back_to_visits(request)


@login_required
@require_POST
def return_visit_reopen(request, pk: int):
    """Reopen the case of a recorded visit whose reporter said it is not resolved."""
    _require_visit_staff(request.user)
    visit = _visit_or_404(request, pk)
    user = request.user
    case = visit.grievance
    form = ReopenForm(request.POST, visit=visit)
    try:
        services.check_act("reopen", case, user)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    if not form.is_valid():
        return _render_visits(request, bound=form, status=400)
    try:
        services.grievance_reopen(case, user, reason=form.cleaned_data["reason"])
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    except services.InvalidInput as exc:
        form.add_error("reason" if exc.field == "reason" else None, exc.message)
        return _render_visits(request, bound=form, status=400)
    messages.success(request, _("Reopened %(code)s.") % {"code": case.display_code})
    return _back_to_visits(request)


__all__ = [
    "dashboard",
    "dashboard_map",
    "export_create",
    "export_file",
    "export_status",
    "rankings",
    "return_visit_record",
    "return_visit_reopen",
    "return_visits",
]
