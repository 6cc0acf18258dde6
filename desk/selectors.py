"""Reads of the desk: who keeps which county's libraries, and what a case is offered.

Keeping a library is for the centre staff of a county or above it (a city centre keeps
those of its counties); everyone who sees a case reads the entries of the case's county,
through the case (grievances.scoping.cases_for decides who sees it). Each read is one query.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from desk.models import CannedReply, KnowledgeEntry
from grids.models import LEVEL_DEPTH, Level, Region, Role
from grids.scoping import memberships, sees_everything, subtree_q, widest
from grievances.models import Grievance

COUNTY_DEPTH = LEVEL_DEPTH[Level.COUNTY]
MAX_RESULTS = 20


def keeper_regions(user) -> list[Region]:
    """The regions of the user's centre-staff memberships at a county or above."""
    return widest(
        [
            m.region
            for m in memberships(user)
            if m.role == Role.CENTRE_STAFF and LEVEL_DEPTH.get(m.region.level, 99) <= COUNTY_DEPTH
        ]
    )


def is_keeper(user) -> bool:
    return sees_everything(user) or bool(keeper_regions(user))


def kept_counties(user) -> QuerySet[Region]:
    """The counties whose libraries the user keeps."""
    counties = Region.objects.filter(level=Level.COUNTY)
    if sees_everything(user):
        return counties
    return counties.filter(subtree_q(keeper_regions(user)))


def kept(user, model) -> QuerySet:
    """The entries of `model` the user may change."""
    qs = model.objects.select_related("region", "category")
    if sees_everything(user):
        return qs
    return qs.filter(subtree_q(keeper_regions(user), prefix="region__"))


def _for_case(qs: QuerySet, case: Grievance) -> QuerySet:
    """Entries of the case's county, for its category, one of its ancestors, or all."""
    c = case.category
    family = Q(category__tree_id=c.tree_id, category__lft__lte=c.lft, category__rght__gte=c.rght)
    return qs.filter(Q(category__isnull=True) | family, region_id=case.county_id)


def canned_for(case: Grievance, kind: str) -> list[CannedReply]:
    return list(
        _for_case(CannedReply.objects.filter(kind=kind), case).order_by("category_id", "id")[
            :MAX_RESULTS
        ]
    )


def knowledge_for(case: Grievance, text: str = "") -> list[KnowledgeEntry]:
    """Published answers for the case, those whose title, question or answer hold `text`."""
    qs = _for_case(KnowledgeEntry.objects.filter(published=True), case)
    text = text.strip()
    if text:
        qs = qs.filter(
            Q(title__icontains=text) | Q(question__icontains=text) | Q(answer__icontains=text)
        )
    return list(qs.select_related("category").order_by("title", "id")[:MAX_RESULTS])
