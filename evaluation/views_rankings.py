"""The public red/black list (/rankings/, 红黑榜) of a month: townships and departments on
the weighted rates; names of regions and departments and their figures, nothing personal.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.cache import cache
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from evaluation import figures
from evaluation.dashboard import MAX_REGION_OPTIONS, RATE_LABELS, month_start, percent, today
from grids.models import Level, Region

RANKING_CACHE_SECONDS = 300


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
            "score_text": percent(entry["score"]),
            "rate_texts": [percent(entry["rates"][k]["value"]) for k in weights],
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
