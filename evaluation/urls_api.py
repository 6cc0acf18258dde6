"""Evaluation API routes; config.urls includes them under /api/v1/."""

from __future__ import annotations

from django.urls import path

from evaluation import api

urlpatterns = [
    path("figures/", api.FiguresView.as_view(), name="figures"),
    path("rankings/", api.RankingsView.as_view(), name="rankings"),
    path("return-visits/", api.ReturnVisitListView.as_view(), name="return-visit-list"),
    path(
        "return-visits/<int:pk>/",
        api.ReturnVisitRecordView.as_view(),
        name="return-visit-record",
    ),
    path("exports/", api.ExportCreateView.as_view(), name="export-create"),
    path("exports/<int:pk>/", api.ExportDetailView.as_view(), name="export-detail"),
]
