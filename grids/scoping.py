"""Which regions a user may see and act in.

A membership in a region opens that region's whole subtree. A subtree is the rows of the
same `tree_id` whose `lft` lies within the region's `lft`..`rght`: every root starts a tree
of its own, so `lft` alone would overlap between trees. Case scoping (grievances/scoping.py)
builds on `scope_regions`.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from grids.models import Membership, Region, Role

_CACHE_ATTR = "_fengqiao_scope_regions"
_MEMBERSHIPS_ATTR = "_fengqiao_memberships"


def memberships(user) -> list[Membership]:
    """The user's memberships with their regions, read once per user object."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, _MEMBERSHIPS_ATTR, None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).select_related("region"))
        setattr(user, _MEMBERSHIPS_ATTR, cached)
    return cached


def scope_regions(user) -> list[Region]:
    """The regions whose subtrees the user may see, widest first; cached on the user."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        regions = {m.region.pk: m.region for m in memberships(user)}
        # Drop regions inside another scope region: their subtree is already covered.
        cached = sorted(
            (
                r
                for r in regions.values()
                if not any(
                    o.pk != r.pk and o.tree_id == r.tree_id and o.lft <= r.lft and r.rght <= o.rght
                    for o in regions.values()
                )
            ),
            key=lambda r: (r.depth, r.code),
        )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def widest(regions: list[Region]) -> list[Region]:
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
    return widest(list(found.values()))


def forget(user) -> None:
    """Drop the cached scope (after memberships change)."""
    for attr in (_CACHE_ATTR, _MEMBERSHIPS_ATTR):
        if hasattr(user, attr):
            delattr(user, attr)


def sees_everything(user) -> bool:
    return bool(getattr(user, "is_superuser", False) and user.is_active)


def subtree_q(regions: list[Region], prefix: str = "") -> Q:
    """A Q matching regions (through `prefix`, e.g. "region__") inside any of `regions`."""
    q = Q(pk__in=[])
    for r in regions:
        q |= Q(
            **{
                f"{prefix}tree_id": r.tree_id,
                f"{prefix}lft__gte": r.lft,
                f"{prefix}lft__lte": r.rght,
            }
        )
    return q


def visible_regions(user, queryset: QuerySet[Region] | None = None) -> QuerySet[Region]:
    """Regions the user may act in (their memberships' subtrees)."""
    qs = Region.objects.all() if queryset is None else queryset
    if sees_everything(user):
        return qs
    return qs.filter(subtree_q(scope_regions(user)))


def can_act_in(user, region: Region) -> bool:
    if sees_everything(user):
        return True
    return any(
        r.tree_id == region.tree_id and r.lft <= region.lft <= r.rght for r in scope_regions(user)
    )


def roles_of(user) -> set[str]:
    """Every role the user holds, region roles plus `department_staff` and `superuser`."""
    if not getattr(user, "is_authenticated", False):
        return set()
    roles = {m.role for m in memberships(user)}
    if user.department_memberships.exists():
        roles.add("department_staff")
    if user.is_superuser:
        roles.add("superuser")
    return roles


def has_region_role(user, region: Region, roles: set[str] | list[str]) -> bool:
    """True when the user holds one of `roles` in `region` or one of its ancestors."""
    if sees_everything(user):
        return True
    return any(
        m.role in roles
        and m.region.tree_id == region.tree_id
        and m.region.lft <= region.lft
        and region.rght <= m.region.rght
        for m in memberships(user)
    )


__all__ = [
    "Role",
    "can_act_in",
    "forget",
    "has_region_role",
    "roles_of",
    "scope_regions",
    "sees_everything",
    "subtree_q",
    "visible_regions",
]
