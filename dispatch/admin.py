"""Django admin for departments (职能部门) and their members."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from dispatch.models import Department, DepartmentMembership
from grids import admin as grids_admin
from grids.models import User


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
