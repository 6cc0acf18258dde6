"""The categories a county configures: who may edit which category and which regions' time
limits, and the writes (the page in desk/views_categories.py and the API in desk/api.py both
call these).

A county's centre administrator (中心管理员, grids Role.CENTRE_ADMIN) adds categories of the
county's own (虫草采集纠纷 in 甘孜) and edits those whose region lies in the subtree of their
membership; they see the categories that apply there (those for everywhere and those of a
region above them) and set their county's or a township's own limits for any of them
(CategoryLimit, the nearest region's override winning: grievances.deadlines). The superuser
edits all. A change counts for dispatches made after it.

Scope errors: a category or limit outside what the user sees is "not found" (404), one they
see but may not edit is NotAllowed (403); a bad field is InvalidInput naming it (400).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from grids.models import Region, Role
from grids.scoping import role_regions, sees_everything, subtree_q
from grievances.models import Category, CategoryLimit
from grievances.services import InvalidInput, NotAllowed

ADMIN_ROLES = frozenset({Role.CENTRE_ADMIN})
# Levels a category or a limit is usually set for (offered on the page; any code is taken).
CONFIGURED_LEVELS = ["province", "city", "county", "township"]

# The fields a category's form and the API write (besides parent and region).
CATEGORY_FIELDS = [
    "code",
    "name",
    "name_en",
    "kind",
    "default_urgency",
    "default_handling_level",
    "is_dispute",
    "active",
    "report_in_most_urgent_minutes",
    "report_in_urgent_hours",
    "report_in_normal_hours",
    "handle_most_urgent_hours",
    "handle_urgent_days",
    "handle_normal_days",
]


class Invalid(InvalidInput):
    """Several fields at once (a model's validation), each with its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=field)
        self.errors = errors


# --- Who configures what --------------------------------------------------------------------


def admin_regions(user) -> list[Region]:
    """The regions whose subtrees the user administers, widest first."""
    return role_regions(user, ADMIN_ROLES)


def can_configure(user) -> bool:
    return sees_everything(user) or bool(admin_regions(user))


def _within(region: Region | None, regions: list[Region]) -> bool:
    return region is not None and any(
        r.tree_id == region.tree_id and r.lft <= region.lft <= r.rght for r in regions
    )


def visible_categories(user) -> QuerySet[Category]:
    """The categories that apply where the user administers: for everywhere, of a region
    above theirs, or of their own subtree; all for the superuser."""
    qs = Category.objects.select_related("parent", "region").order_by("tree_id", "lft")
    if sees_everything(user):
        return qs
    regions = admin_regions(user)
    if not regions:
        return qs.none()
    above = Q(pk__in=[])
    for r in regions:
        above |= Q(region__tree_id=r.tree_id, region__lft__lte=r.lft, region__rght__gte=r.rght)
    return qs.filter(Q(region__isnull=True) | above | subtree_q(regions, "region__"))


def may_edit(user, category: Category) -> bool:
    """A category of the user's own subtree (any category for the superuser)."""
    return sees_everything(user) or _within(category.region, admin_regions(user))


def visible_limits(user, category: Category) -> QuerySet[CategoryLimit]:
    """The category's regional limits in the user's subtrees (all for the superuser)."""
    qs = category.limits.select_related("region").order_by("region__code", "urgency")
    if sees_everything(user):
        return qs
    return qs.filter(subtree_q(admin_regions(user), "region__"))


def overridden_categories(user) -> set[int]:
    """Ids of the categories with a regional limit in the user's subtrees."""
    qs = CategoryLimit.objects.all()
    if not sees_everything(user):
        qs = qs.filter(subtree_q(admin_regions(user), "region__"))
    return set(qs.values_list("category_id", flat=True).distinct())


def region_choices(user) -> QuerySet[Region]:
    """Regions offered for a category or a limit: the administered ones and the townships
    below them (a superuser types any code)."""
    regions = admin_regions(user)
    if not regions:
        return Region.objects.none()
    return (
        Region.objects.filter(subtree_q(regions), level__in=CONFIGURED_LEVELS)
        .order_by("tree_id", "lft")
        .only("pk", "code", "name")
    )


def region_by_code(user, code: str, *, field: str = "region") -> Region | None:
    """The region of a code the user may configure; None for a blank code."""
    code = (code or "").strip()
    if not code:
        return None
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise InvalidInput(_("No region has this code."), field=field)
    if not sees_everything(user) and not _within(region, admin_regions(user)):
        raise InvalidInput(_("This region lies outside the area you administer."), field=field)
    return region


# --- Writes ----------------------------------------------------------------------------------


def _check_configure(user) -> None:
    if not can_configure(user):
        raise NotAllowed(_("Only a centre administrator can configure categories."))


def category_save(
    user, category: Category, *, parent: Category | None, region: Region | None, **values
) -> Category:
    """Add (an unsaved `category`) or change a category: scope, then the model's own rules
    (code, parent's kind and region), then save. `values` are CATEGORY_FIELDS."""
    _check_configure(user)
    # The stored row decides, not the values about to be written (a form has set them).
    stored = Category.objects.select_related("region").filter(pk=category.pk).first()
    if stored is not None and not may_edit(user, stored):
        raise NotAllowed(_("This category belongs to a wider region: ask its administrator."))
    if not sees_everything(user):
        if region is None:
            raise InvalidInput(_("Choose the region the category belongs to."), field="region")
        if not _within(region, admin_regions(user)):
            raise InvalidInput(
                _("This region lies outside the area you administer."), field="region"
            )
    if parent is not None and not visible_categories(user).filter(pk=parent.pk).exists():
        raise InvalidInput(_("No such category."), field="parent")
    for name, value in values.items():
        if name not in CATEGORY_FIELDS:
            raise InvalidInput(_("Unknown field."), field=name)
        setattr(category, name, value)
    category.parent, category.region = parent, region
    try:
        category.full_clean()
    except ValidationError as exc:
        raise Invalid({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from exc
    with transaction.atomic():
        category.save()
    return category


def limit_save(
    user, category: Category, *, region: Region, urgency: str, report_in: int, handling: int
) -> CategoryLimit:
    """Set a region's own limits for a category at one urgency (added or replaced)."""
    _check_configure(user)
    if not visible_categories(user).filter(pk=category.pk).exists():
        raise InvalidInput(_("No such category."), field="category")
    if not sees_everything(user) and not _within(region, admin_regions(user)):
        raise InvalidInput(_("This region lies outside the area you administer."), field="region")
    if category.region is not None and not _within(region, [category.region]):
        raise InvalidInput(_("The region must lie within the category's region."), field="region")
    limit = CategoryLimit.objects.filter(category=category, region=region, urgency=urgency).first()
    limit = limit or CategoryLimit(category=category, region=region, urgency=urgency)
    limit.report_in, limit.handling = report_in, handling
    try:
        limit.full_clean(exclude=["category", "region"], validate_unique=False)
    except ValidationError as exc:
        raise Invalid({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from exc
    limit.save()
    return limit


def limit_delete(user, limit: CategoryLimit) -> None:
    """Drop a region's own limits: the category's (or a wider region's) count again."""
    _check_configure(user)
    if not sees_everything(user) and not _within(limit.region, admin_regions(user)):
        raise NotAllowed(_("This region lies outside the area you administer."))
    limit.delete()
