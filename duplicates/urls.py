from __future__ import annotations

from django.urls import path

from duplicates import views

urlpatterns = [
    path("report/join/<str:token>/", views.join, name="join"),
    path(
        "cases/<int:pk>/joins/<int:join_id>/<str:decision>/",
        views.decide,
        name="join-decide",
    ),
    path("cases/<int:pk>/compare/<int:other>/", views.compare, name="case-compare"),
    path("cases/<int:pk>/merge/", views.merge, name="case-merge"),
    path("cases/<int:pk>/unmerge/", views.unmerge, name="case-unmerge"),
]
