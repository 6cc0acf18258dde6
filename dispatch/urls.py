from __future__ import annotations

from django.urls import path

from dispatch import views

urlpatterns = [
    path("console/", views.console, name="console"),
    path("console/dispatch/", views.console_bulk_dispatch, name="console-bulk-dispatch"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/<str:act>/", views.inbox_act, name="inbox-act"),
]
