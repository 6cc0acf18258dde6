"""Django admin: departments (职能部门) and their members, routing rules, whistles and their
assignments."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dispatch.models import Assignment, Department, DepartmentMembership, RoutingRule, Whistle
from dispatch.services import rule_conflicts
from grids import admin as grids_admin
from grids.models import User
from grievances.admin import category_inline


class DepartmentMembershipInline(admin.TabularInline):
    model = DepartmentMembership
    extra = 0
    fields = ["user", "role"]
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "region", "region_level", "phone", "active"]
    list_filter = ["active", "region__level"]
    list_select_related = ["region"]
    search_fields = ["name", "code", "region__name", "region__code"]
    autocomplete_fields = ["region"]
    inlines = [DepartmentMembershipInline]

    @admin.display(description=_("level"), ordering="region__level")
    def region_level(self, obj):
        return obj.region.get_level_display()


class UserDepartmentInline(admin.TabularInline):
    model = DepartmentMembership
    extra = 0
    fields = ["department", "role"]
    autocomplete_fields = ["department"]
    verbose_name = _("department membership")
    verbose_name_plural = _("department memberships")


# grids knows nothing of dispatch, so the user page gets its department inline from here.
class UserAdmin(grids_admin.UserAdmin):
    inlines = [*grids_admin.UserAdmin.inlines, UserDepartmentInline]


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserAdmin)


# --- Routing rules, whistles, assignments, notifications -----------------------------------------


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["category", "region", "lead", "handling_level", "auto_dispatch", "active"]
    list_filter = ["active", "auto_dispatch", "handling_level", "region__level"]
    list_select_related = ["category", "region", "lead"]
    search_fields = ["category__code", "category__name", "region__name", "region__code"]
    autocomplete_fields = ["region", "lead", "assisting"]

    # Equally specific rules make routing fail for every case they both match: say so where
    # the rules are edited (on every page view, so also right after a save redirects here),
    # not only when a dispatch fails.
    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self._warn_conflicts(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            self._warn_conflicts(request, rule_id=int(object_id) if object_id.isdigit() else 0)
        return super().change_view(request, object_id, form_url, extra_context)

    def _warn_conflicts(self, request, rule_id: int | None = None) -> None:
        for first, second in rule_conflicts():
            if rule_id is None or rule_id in (first.pk, second.pk):
                self.message_user(request, _conflict_message(first, second), messages.WARNING)


def _conflict_message(first: RoutingRule, second: RoutingRule) -> str:
    return gettext(
        "Routing rules #%(first)s and #%(second)s are equally specific (same category "
        "%(category)s, same region %(region)s): cases they match cannot be routed "
        "automatically. Deactivate one or make one more specific."
    ) % {
        "first": first.pk,
        "second": second.pk,
        "category": first.category,
        "region": first.region.name,
    }


class AssignmentInline(admin.TabularInline):
    # Read-only: assignments change through the services (report-in, return, the sweep).
    model = Assignment
    extra = 0
    can_delete = False
    fields = [
        "department",
        "role",
        "status",
        "report_in_due_at",
        "handle_due_at",
        "reported_in_at",
        "finished_at",
        "escalated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write: viewable in the admin, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Whistle)
class WhistleAdmin(ReadOnlyAdmin):
    list_display = ["grievance", "centre", "status", "created_at", "ended_at"]
    list_filter = ["status"]
    list_select_related = ["grievance", "centre"]
    search_fields = ["grievance__tracking_code", "grievance__title", "centre__name"]
    date_hierarchy = "created_at"
    inlines = [AssignmentInline]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = [
        "department",
        "case",
        "role",
        "status",
        "report_in_due_at",
        "handle_due_at",
        "handle_supervised_for",
        "escalated_at",
    ]
    list_filter = ["status", "role"]
    list_select_related = ["department", "whistle__grievance"]
    search_fields = ["department__name", "whistle__grievance__tracking_code"]

    @admin.display(description=_("case"), ordering="whistle__grievance")
    def case(self, obj):
        return obj.whistle.grievance


# --- The category's page: its routing rules (default departments) ------------------------------


@category_inline
class RoutingRuleInline(admin.TabularInline):
    """The category's routing rules: which departments each region's centre whistles."""

    model = RoutingRule
    fk_name = "category"
    extra = 0
    fields = ["region", "lead", "assisting", "handling_level", "auto_dispatch", "active"]
    autocomplete_fields = ["region", "lead", "assisting"]
    verbose_name = _("default departments (routing rule)")
    verbose_name_plural = _("default departments (routing rules)")
