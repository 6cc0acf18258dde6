"""Dispatch API routes outside the router; config.urls includes them under /api/v1/."""

from __future__ import annotations

from django.urls import path

from dispatch import api_notifications

urlpatterns = [
    path(
        "notifications/",
        api_notifications.NotificationListView.as_view(),
        name="notification-list",
    ),
    path(
        "notifications/read/",
        api_notifications.MarkNotificationsReadView.as_view(),
        name="notification-read",
    ),
]
