"""Reads of the duplicates app: which case a new report likely duplicates, the joins the
centre sees on a case page, the two cases of a comparison."""

from __future__ import annotations

from django.db.models import Prefetch

from duplicates.models import Join
from grievances.models import Attachment, Grievance, State
from grievances.scoping import cases_for
from grievances.selectors import category_family_of, haversine_m, open_cases_near

# A case may be joined while it is open: not refused, closed or withdrawn.
NOT_JOINABLE = (State.REJECTED, State.CLOSED, State.WITHDRAWN)


def joinable(case: Grievance) -> bool:
    return case.state not in NOT_JOINABLE


def likely_duplicate(case: Grievance, *, families: dict | None = None) -> tuple[int, int] | None:
    """(id, metres) of the open case nearest to `case`'s point: within 100 m, in the family
    of its category (itself and its siblings), reported in the 30 days before it and not
    after it; None without a point or without such a case. The query of the report page's
    nearby list (grievances.selectors.open_cases_near), seen from the new case's place and
    time. `families` caches category families by category id (a relay chunk's reports)."""
    if case.lat is None or case.lng is None:
        return None
    if families is None:
        families = {}
    family = families.get(case.category_id)
    if family is None:
        family = families[case.category_id] = [c.pk for c in category_family_of(case.category)]
    hits = open_cases_near(
        case.lng,
        case.lat,
        family,
        now=case.created_at,
        columns=["pk"],
        queryset=Grievance.objects.filter(created_at__lte=case.created_at).exclude(pk=case.pk),
    )
    if not hits:
        return None
    metres, row = hits[0]
    return row["pk"], metres


def joins_of(case: Grievance, *, limit: int = 50) -> list[Join]:
    """The joins of a case for its page: waiting ones first, then the decided ones, newest
    first; one query."""
    rows = list(
        Join.objects.filter(grievance=case)
        .select_related("decided_by")
        .order_by("-created_at", "-id")[:limit]
    )
    rows.sort(key=lambda j: j.state != Join.State.PENDING)
    return rows


def compared(user, pk: int, other_pk: int) -> tuple[Grievance, Grievance] | None:
    """The two cases of a comparison, both in `user`'s scope (None otherwise: a 404), with
    what the page shows of them: three queries whatever their photos and complainants."""
    if pk == other_pk:
        return None
    found = {
        c.pk: c
        for c in cases_for(user, as_reporter=False)
        .filter(pk__in=[pk, other_pk])
        .select_related("category", "region")
        .prefetch_related(
            "complainants",
            Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id")),
        )
    }
    if len(found) != 2:
        return None
    return found[pk], found[other_pk]


def distance_between(a: Grievance, b: Grievance) -> int | None:
    """Metres between the two cases' points, or None when one has no point."""
    if None in (a.lng, a.lat, b.lng, b.lat):
        return None
    return round(haversine_m(a.lng, a.lat, b.lng, b.lat))
