"""Admin for the working-day calendar: national and regional holidays, complete years.

grids/admin.py imports this module so that the registrations run.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from grids.calendar_models import CalendarDay, CalendarYear


class ScopeFilter(admin.SimpleListFilter):
    title = _("scope")
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("national", _("National")), ("regional", _("Regional"))]

    def queryset(self, request, queryset):
        if self.value() == "national":
            return queryset.filter(region__isnull=True)
        if self.value() == "regional":
            return queryset.filter(region__isnull=False)
        return queryset


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "region"]
    list_filter = ["kind", ScopeFilter]
    search_fields = ["name", "region__name", "region__code"]
    date_hierarchy = "date"
    # A raw id keeps the form light with 100,000 regions and needs no Region admin.
    raw_id_fields = ["region"]
    list_select_related = ["region"]
    ordering = ["-date"]


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    list_display = ["year", "complete", "note", "updated_at"]
    list_filter = ["complete"]
    ordering = ["-year"]
