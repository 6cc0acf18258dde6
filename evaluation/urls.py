"""The evaluation pages; config.urls includes them at the site root: the dashboard, its map
data and exports, the public red/black list, the centre's return visits."""

from __future__ import annotations

from django.urls import path

from evaluation import views_dashboard, views_exports, views_rankings, views_return_visits

urlpatterns = [
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
    path("dashboard/map/", views_dashboard.dashboard_map, name="dashboard-map"),
    path("dashboard/export/", views_exports.export_create, name="dashboard-export-create"),
    path("dashboard/exports/<int:pk>/", views_exports.export_status, name="dashboard-export"),
    path(
        "dashboard/exports/<int:pk>/file/",
        views_exports.export_file,
        name="dashboard-export-file",
    ),
    path("rankings/", views_rankings.rankings, name="rankings-page"),
    path("return-visits/", views_return_visits.return_visits, name="return-visits"),
    path(
        "return-visits/<int:pk>/record/",
        views_return_visits.return_visit_record,
        name="return-visits-record",
    ),
    path(
        "return-visits/<int:pk>/reopen/",
        views_return_visits.return_visit_reopen,
        name="return-visits-reopen",
    ),
]
