from __future__ import annotations

from django.contrib import admin

from duplicates.models import Join


@admin.register(Join)
class JoinAdmin(admin.ModelAdmin):
    """Joins are decided on the case page (and through the API), where the complainant is
    added with its event and message: here they are only read."""

    list_display = ["grievance", "name", "state", "created_at", "decided_by", "decided_at"]
    list_filter = ["state"]
    search_fields = ["grievance__tracking_code", "name"]
    list_select_related = ["grievance", "decided_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
