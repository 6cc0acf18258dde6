"""The dashboard (/dashboard/, leaders and centre staff, superusers): the figures of a region
of the user's leader or centre-staff memberships (a subtree; the widest by default), a
department and a period, compared with the period before; trends, a map of the areas and of
the cases, the overdue cases, exports. A region or department outside those subtrees, or
unknown, is a 404, as for cases: the answer does not say what exists elsewhere. The map's
data comes from /dashboard/map/ (JSON, same checks), so the page itself stays small.

Every figure comes from evaluation.figures, the one module that defines them; these views
choose the region, the department and the period (evaluation.dashboard), and lay the
numbers out.
"""

from __future__ import annotations

import numpy as np
import shapely
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from dispatch.models import Department
from evaluation import figures
from evaluation.dashboard import (
    MAX_PERIOD_DAYS,
    MAX_REGION_OPTIONS,
    OTHER_RATES,
    PRIMARY_RATES,
    Selection,
    area_rows,
    dashboard_roots,
    duration_rows,
    inside,
    instant,
    intake_tile,
    lead_department_q,
    overdue_cases,
    rate_tile,
    region_path,
    region_q,
    resolve_period,
    today,
    top_categories,
    trend,
    trend_rows,
)
from evaluation.models import Export
from grids.geometry import polygonal_shape, to_geojson
from grids.models import BoundaryVersion, Level, Region, RegionBoundary
from grids.scoping import subtree_q
from grievances.models import Category, Kind
from grievances.scoping import cases_for

AREAS_CACHE_SECONDS = 3600
MAX_AREAS = 300  # boundaries drawn on the map
MAX_POINTS = 2000  # case points of the heat layer: the newest
SIMPLIFY_DEGREES = 0.0005  # about 50 m: plenty for a dashboard map
MAX_DEPARTMENT_OPTIONS = 300
PERIODS = [
    ("this_month", gettext_lazy("This month")),
    ("last_month", gettext_lazy("Last month")),
    ("this_year", gettext_lazy("This year")),
    ("custom", gettext_lazy("From … to …")),
]
TRENDS = [("month", gettext_lazy("By month")), ("week", gettext_lazy("By week"))]


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


def _departments_in(roots: list[Region] | None) -> list:
    qs = Department.objects.filter(active=True).select_related("region")
    if roots is not None:
        qs = qs.filter(subtree_q(roots, "region__"))
    return list(qs.order_by("region__tree_id", "region__lft", "name")[:MAX_DEPARTMENT_OPTIONS])


def read_selection(request, roots: list[Region] | None) -> tuple[Selection, forms.Form]:
    """Read the dashboard's choices from GET: 404 for a region or department outside the
    scope; invalid dates leave the form's errors and the default period."""
    form = DashboardForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    raw = (request.GET.get("region") or "").strip()
    if raw:
        region = Region.objects.filter(code=raw).first()
        if region is None or (roots is not None and not inside(region, roots)):
            raise Http404(_("No such region in your area."))
    else:
        region = roots[0] if roots else None
    department = None
    raw = (request.GET.get("department") or "").strip()
    if raw:
        try:
            pk = int(raw)
        except ValueError:
            raise Http404(_("No such department in your area.")) from None
        department = Department.objects.select_related("region").filter(pk=pk).first()
        if department is None or (roots is not None and not inside(department.region, roots)):
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
        "path": region_path(selection),
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
    roots = dashboard_roots(request.user)
    selection, form = read_selection(request, roots)
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
        .filter(region_q(selection.region))
        .filter(lead_department_q(selection.department))
        .filter(
            created_at__gte=instant(period.start),
            created_at__lt=instant(period.end),
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
    roots = dashboard_roots(request.user)
    selection, _form = read_selection(request, roots)
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
