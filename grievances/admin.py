"""Django admin: the case categories, their time limits per urgency, default handling level
and region subtree, with the regions' own limits inline.

Apps above grievances add inlines of their own to the category's page (dispatch: its
routing rules, the category's default departments) through `category_inline`, so that
nothing here imports them.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from mptt.admin import MPTTModelAdmin

from grievances.models import Category, CategoryLimit

# Inline classes registered by higher apps, shown after the regions' limits.
_category_inlines: list[type[admin.options.InlineModelAdmin]] = []


def category_inline(inline: type[admin.options.InlineModelAdmin]):
    """Decorator: show `inline` (an InlineModelAdmin of a model with a Category foreign key)
    on the category's admin page."""
    if inline not in _category_inlines:
        _category_inlines.append(inline)
    return inline


class CategoryLimitInline(admin.TabularInline):
    model = CategoryLimit
    extra = 0
    fields = ["region", "urgency", "report_in", "handling"]
    autocomplete_fields = ["region"]


@admin.register(Category)
class CategoryAdmin(MPTTModelAdmin):
    """The category tree, indented. A change of limits counts for dispatches made after it."""

    list_display = [
        "name",
        "code",
        "kind",
        "default_urgency",
        "default_handling_level",
        "region",
        "is_dispute",
        "active",
    ]
    list_filter = ["kind", "active", "is_dispute", "default_urgency", "default_handling_level"]
    list_select_related = ["region"]
    search_fields = ["code", "name", "name_en"]
    autocomplete_fields = ["region"]
    mptt_level_indent = 16
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "name",
                    "name_en",
                    "kind",
                    "parent",
                    "region",
                    "is_dispute",
                    "active",
                ]
            },
        ),
        (
            _("Handling"),
            {"fields": ["default_urgency", "default_handling_level"]},
        ),
        (
            _("Time limits"),
            {
                "fields": [
                    "report_in_most_urgent_minutes",
                    "report_in_urgent_hours",
                    "report_in_normal_hours",
                    "handle_most_urgent_hours",
                    "handle_urgent_days",
                    "handle_normal_days",
                ],
                "description": _(
                    "A change counts for dispatches made after it: a whistle keeps the "
                    "deadlines it was given."
                ),
            },
        ),
    ]

    def get_inlines(self, request, obj):
        return [CategoryLimitInline, *_category_inlines]
