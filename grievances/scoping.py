"""The one function every case queryset in a view, the API or a page goes through.

A user sees the cases of their memberships' region subtrees (an equality on the per-level
ancestor column, whatever the subtree's size), the cases they reported, the cases whistled
to their department and their mediation cases. The last two are reverse-relation lookups,
so this module imports neither dispatch nor mediation.

A resident's own cases (those they reported with their account or are named on as a
complainant) are another question, answered by `own_cases`: their home page lists those, and
never through a staff scope.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet

from grids.scoping import scope_regions, sees_everything
from grievances.models import Complainant, Grievance

# (reverse path from Grievance to a user, app that defines it)
_RELATED_PATHS = [
    "whistles__assignments__department__members__user",
    "mediation_case__mediators__user",
]


def _has_path(path: str) -> bool:
    model = Grievance
    for part in path.split("__")[:-1]:
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        model = field.related_model
        if model is None:
            return False
    return True


def region_q(user) -> Q:
    q = Q(pk__in=[])
    for region in scope_regions(user):
        q |= Q(**{f"{region.level}_id": region.pk})
    return q


def cases_for(
    user, queryset: QuerySet[Grievance] | None = None, *, as_reporter: bool = True
) -> QuerySet[Grievance]:
    """The cases `user` may see; `as_reporter=False` leaves out those they see only because
    they reported them (a resident with an account reads those as tracking shows them)."""
    qs = Grievance.objects.all() if queryset is None else queryset
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if sees_everything(user):
        return qs
    q = region_q(user)
    if as_reporter:
        q |= Q(reporter=user)
    for path in _RELATED_PATHS:
        if _has_path(path):
            # A subquery, not a join: a join would repeat a case once per assignment.
            q |= Q(pk__in=Grievance.objects.filter(**{path: user}).values("pk"))
    return qs.filter(q)


def own_cases(user, queryset: QuerySet[Grievance] | None = None) -> QuerySet[Grievance]:
    """The cases `user` brought themselves: reported with their account, or named on with it
    as a complainant (Complainant.user; a merged duplicate's complainants follow it to the
    case it duplicates). Whatever roles they hold, nothing else."""
    qs = Grievance.objects.all() if queryset is None else queryset
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    named = Complainant.objects.filter(user=user).values("grievance_id")
    return qs.filter(Q(reporter=user) | Q(pk__in=named))
