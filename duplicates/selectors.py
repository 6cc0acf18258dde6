"""Reads of the duplicates app: which case a new report likely duplicates, the joins the
centre sees on a case page, the two cases of a comparison, the cases merged into one."""

from __future__ import annotations

from django.db.models import Prefetch

from duplicates.models import Join
from grievances import merging
from grievances.models import Attachment, CaseEvent, Grievance, State
from grievances.scoping import cases_for
from grievances.selectors import Spot, category_families, haversine_m, open_cases_near_spots

# A case may be joined while it is open: not refused, closed or withdrawn.
NOT_JOINABLE = (State.REJECTED, State.CLOSED, State.WITHDRAWN)


def joinable(case: Grievance) -> bool:
    return case.state not in NOT_JOINABLE


def likely_duplicates(cases: list[Grievance]) -> dict[int, tuple[int, int]]:
    """For each of `cases` that has a point: (id, metres) of the open case nearest to it,
    within 100 m, in the family of its category (itself and its siblings), reported in the
    30 days before it and not after it, by case id; cases without a point or without such a
    case are left out. The report page's nearby query (grievances.selectors), seen from each
    new case's place and time: three queries for any number of cases."""
    placed = [c for c in cases if c.lat is not None and c.lng is not None]
    if not placed:
        return {}
    families = category_families({(c.category_id, c.category.parent_id) for c in placed})
    spots = [
        Spot(c.lng, c.lat, frozenset(f.pk for f in families[c.category_id]), c.created_at)
        for c in placed
    ]
    found = {}
    for case, hits in zip(placed, open_cases_near_spots(spots, columns=["pk"]), strict=True):
        earlier = (
            (metres, row)
            for metres, row in hits
            if row["pk"] != case.pk and row["created_at"] <= case.created_at
        )
        nearest = next(earlier, None)
        if nearest is not None:
            found[case.pk] = (nearest[1]["pk"], nearest[0])
    return found


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


def merged_in(case: Grievance, *, since) -> list[dict]:
    """The cases merged into `case` since `since` and still merged: their merge events, the
    latest per case, one query (an unmerge writes no merge, and leaves the case unmerged)."""
    found: dict[int, dict] = {}
    events = (
        CaseEvent.objects.filter(
            action="merge",
            created_at__gte=since,
            grievance__duplicate_of=case,
            grievance__state=State.REJECTED,
        )
        .select_related("grievance")
        .order_by("created_at", "id")
    )
    for event in events:
        found[event.grievance_id] = {
            "pk": event.grievance_id,
            "code": event.grievance.display_code,
            "at": event.created_at,
            "until": merging.undo_until(event),
        }
    return list(found.values())
