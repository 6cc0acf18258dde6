"""The evaluation pages (grievances/views_evaluation.py); config.urls includes them at the
site root: the dashboard, its map data and exports, the public red/black list, the
centre's return visits."""

from __future__ import annotations

from django.urls import path

from grievances import views_evaluation as views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/map/", views.dashboard_map, name="dashboard-map"),
    path("dashboard/export/", views.export_create, name="dashboard-export-create"),
    path("dashboard/exports/<int:pk>/", views.export_status, name="dashboard-export"),
    path("dashboard/exports/<int:pk>/file/", views.export_file, name="dashboard-export-file"),
    path("rankings/", views.rankings, name="rankings-page"),
    path("return-visits/", views.return_visits, name="return-visits"),
    path(
        "return-visits/<int:pk>/record/",
        views.return_visit_record,
        name="return-visits-record",
    ),
    path(
        "return-visits/<int:pk>/reopen/",
        views.return_visit_reopen,
        name="return-visits-reopen",
    ),
]
