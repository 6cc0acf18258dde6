from __future__ import annotations

from django.urls import path

from desk import callers

urlpatterns = [
    path("desk/callers/", callers.caller_history, name="desk-caller-history"),
]
