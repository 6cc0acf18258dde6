"""Notifications API routes; config.urls includes them under /api/v1/."""

from __future__ import annotations

from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="notification-list"),
    path(
        "notifications/read/",
        api.MarkNotificationsReadView.as_view(),
        name="notification-read",
    ),
    path("sms/inbound/", api.SmsInboundView.as_view(), name="sms-inbound"),
]
