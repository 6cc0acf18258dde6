"""The notifications page; config.urls includes it at the site root."""

from __future__ import annotations

from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.notifications, name="notifications"),
]
