"""Django admin for the region tree, boundaries, users and their memberships."""

from __future__ import annotations

import json

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.forms.fields import InvalidJSONInput
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletAdminWidget
from mptt.admin import MPTTModelAdmin

# The working-day calendar's admin lives in its own module; importing it registers it.
from grids import admin_calendar  # noqa: F401
from grids.api_input import json_depth_exceeds
from grids.geometry import GeometryError, parse_boundary, to_geojson
from grids.lockout import LockoutHandler, forget
from grids.models import Membership, Region, RegionBoundary, User

admin.site.site_header = _("Fengqiao administration")
admin.site.site_title = _("Fengqiao")
admin.site.index_title = _("Records")


# --- Boundaries on a map -------------------------------------------------------------------


class _RawGeoJSON:
    """A boundary value as the map widget's template wants it: `.geojson` text, no SRID.

    django-leaflet's widget would otherwise hand the text to GDAL, which raises
    GDALException (a 500) for a value that is not a geometry: here a malformed value goes
    back into the text area unchanged and the form shows the error.
    """

    srid = None

    def __init__(self, text: str):
        self.geojson = text

    def __bool__(self) -> bool:
        return bool(self.geojson.strip())


class BoundaryWidget(LeafletAdminWidget):
    """Leaflet map editing a GeoJSON (Multi)Polygon kept in a JSONField."""

    template_name = "admin/grids/boundary_widget.html"
    geom_type = "MULTIPOLYGON"

    @property
    def media(self):
        return super().media + forms.Media(css={"screen": ["css/admin.css"]})

    def _render(self, template_name, context, renderer=None):
        # The template lives in the project's templates/, which the default form renderer
        # does not search: render it with the project's template engine.
        return mark_safe(render_to_string(template_name, context))

    def deserialize(self, value):
        return _RawGeoJSON(value)

    def serialize(self, value):
        if not value:
            return ""
        if isinstance(value, _RawGeoJSON):
            return value.geojson
        return value if isinstance(value, str) else json.dumps(value)

    def format_value(self, value):
        # forms.JSONField hands over JSON text (or the raw input after an error).
        if value is None or value == "null":
            return None
        return value if isinstance(value, str) else json.dumps(value)


class BoundaryJSONField(forms.JSONField):
    """Django's JSON form field, refusing text nested deeper than API_MAX_JSON_DEPTH before
    parsing it: thousands of nested arrays made the parser recurse into a 500, both on
    cleaning and on showing the value again with its error."""

    def _too_deep(self, value) -> bool:
        return isinstance(value, str) and json_depth_exceeds(value, settings.API_MAX_JSON_DEPTH)

    def to_python(self, value):
        if not self.disabled and self._too_deep(value):
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            )
        return super().to_python(value)

    def bound_data(self, data, initial):
        if not self.disabled and self._too_deep(data):
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)


class RegionBoundaryForm(forms.ModelForm):
    class Meta:
        model = RegionBoundary
        fields = ["region", "geometry"]
        widgets = {"geometry": BoundaryWidget}
        field_classes = {"geometry": BoundaryJSONField}
        labels = {"region": _("region"), "geometry": _("boundary")}
        help_texts = {
            "geometry": _(
                "Draw the polygon on the map, or paste a GeoJSON Polygon or MultiPolygon "
                "(longitude, latitude in WGS-84) into the text box."
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and not self.instance._state.adding:
            # The region is the primary key: changing it would copy the row, not move it.
            self.fields["region"].disabled = True

    def clean_geometry(self):
        value = self.cleaned_data.get("geometry")
        try:
            # As JSON text: a JSON string value is "not an object", not text to parse again.
            geom, repaired = parse_boundary(json.dumps(value))
        except GeometryError as exc:
            raise forms.ValidationError(str(exc), code="invalid_boundary") from None
        self.parsed_geometry = geom
        self.was_repaired = repaired
        return to_geojson(geom)


@admin.register(RegionBoundary)
class RegionBoundaryAdmin(admin.ModelAdmin):
    form = RegionBoundaryForm
    list_display = ["region", "region_level", "updated_at"]
    list_select_related = ["region"]
    list_filter = ["region__level"]
    search_fields = ["region__name", "region__code"]
    autocomplete_fields = ["region"]
    # The list never loads the geometry: boundaries can be large.
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).defer("geometry")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(field.widget, BoundaryWidget):
            # The widget's inline scripts run only with the request's CSP nonce; each request
            # builds its own form class, so the widget instance is this request's alone.
            field.widget.csp_nonce = getattr(request, "csp_nonce", None)
        return field

    @admin.display(description=_("level"), ordering="region__level")
    def region_level(self, obj):
        return obj.region.get_level_display()

    def get_object(self, request, object_id, from_field=None):
        # The change page needs the geometry that get_queryset defers.
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.refresh_from_db(fields=["geometry"])
        return obj

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            region = obj.region
            region.set_bbox(getattr(form, "parsed_geometry", None))
            region.save(
                update_fields=[
                    "min_lng",
                    "min_lat",
                    "max_lng",
                    "max_lat",
                    "centroid_lng",
                    "centroid_lat",
                ]
            )
        if getattr(form, "was_repaired", False):
            self.message_user(
                request,
                _("The boundary was not a valid polygon and has been repaired; check it."),
                level="warning",
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            region = obj.region
            super().delete_model(request, obj)
            region.set_bbox(None)
            region.save(
                update_fields=[
                    "min_lng",
                    "min_lat",
                    "max_lng",
                    "max_lat",
                    "centroid_lng",
                    "centroid_lat",
                ]
            )


# --- The region tree ----------------------------------------------------------------------


@admin.register(Region)
class RegionAdmin(MPTTModelAdmin):
    """The tree, indented. No drag and drop: a move goes through the form, whose clean()
    keeps each region exactly one level below its parent."""

    list_display = ["name", "code", "level", "kind", "boundary_link"]
    list_filter = ["level", "kind"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["parent"]
    fields = ["name", "code", "level", "kind", "parent", "boundary_link"]
    readonly_fields = ["boundary_link"]
    list_per_page = 100
    mptt_level_indent = 16

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("boundary").defer("boundary__geometry")

    @admin.display(description=_("boundary"))
    def boundary_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        try:
            boundary_pk = obj.boundary.pk
        except RegionBoundary.DoesNotExist:
            url = reverse("admin:grids_regionboundary_add") + f"?region={obj.pk}"
            return format_html('<a href="{}">{}</a>', url, _("Draw the boundary"))
        url = reverse("admin:grids_regionboundary_change", args=[boundary_pk])
        return format_html('<a href="{}">{}</a>', url, _("Edit on the map"))


# --- Users and memberships ----------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["role", "region"]
    autocomplete_fields = ["region"]
    verbose_name = _("role in a region")
    verbose_name_plural = _("roles in regions")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "full_name",
        "phone",
        "email",
        "is_active",
        "is_staff",
        "must_change_password",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser", "must_change_password", "groups"]
    search_fields = ["username", "full_name", "phone", "email", "first_name", "last_name"]
    ordering = ["username"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (
            _("Person"),
            {"fields": ["full_name", "phone", "email", "first_name", "last_name"]},
        ),
        (
            _("Access"),
            {
                "fields": [
                    "is_active",
                    "must_change_password",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "full_name",
                    "phone",
                    "email",
                    "usable_password",
                    "password1",
                    "password2",
                    "must_change_password",
                ],
            },
        ),
    ]

    def get_changeform_initial_data(self, request):
        # An account an administrator creates starts with a password someone else knows.
        return {"must_change_password": True, **super().get_changeform_initial_data(request)}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "region", "region_level", "created_at"]
    list_filter = ["role", "region__level"]
    list_select_related = ["user", "region"]
    search_fields = ["user__username", "user__full_name", "region__name", "region__code"]
    autocomplete_fields = ["user", "region"]
    date_hierarchy = "created_at"

    @admin.display(description=_("level"), ordering="region__level")
    def region_level(self, obj):
        return obj.region.get_level_display()


# --- Sign-in lockouts ------------------------------------------------------------------------


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """Axes' failed sign-ins, one row per (username, address, browser). Deleting a row lifts
    the pair's lockout and forgets its earlier lockouts, so the next one is short again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Its "clean up expired attempts" action must know that cool-offs differ per pair.
        self.handler = LockoutHandler()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget(obj.username, obj.ip_address)

    def delete_queryset(self, request, queryset):
        pairs = set(queryset.values_list("username", "ip_address"))
        super().delete_queryset(request, queryset)
        for username, ip in pairs:
            forget(username, ip)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)
