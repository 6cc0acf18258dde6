"""Django admin: notifications, their deliveries and each try, and the addresses that said
no to messages. Written by the service: viewable, never edited by hand (an opt-out can be
lifted by deleting it)."""

from __future__ import annotations

from django.contrib import admin

from notifications.models import Delivery, DeliveryAttempt, Notification, OptOut


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["channel", "address", "status", "attempts", "last_error", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "recipient", "complainant", "kind", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    list_select_related = ["recipient"]
    search_fields = ["message", "title", "recipient__username", "grievance__tracking_code"]
    date_hierarchy = "created_at"
    raw_id_fields = ["recipient", "complainant", "grievance", "event"]
    inlines = [DeliveryInline]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["at", "ok", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "notification", "attempts", "sent_at", "next_attempt_at"]
    list_filter = ["channel", "status"]
    raw_id_fields = ["notification"]
    inlines = [DeliveryAttemptInline]


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["address", "source", "created_at"]
    search_fields = ["address"]
    readonly_fields = ["address", "source", "created_at"]

    def has_add_permission(self, request):
        return False
