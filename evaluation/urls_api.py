"""Evaluation API routes; config.urls includes them under /api/v1/."""

from __future__ import annotations

from django.urls import path

from evaluation import api as api_figures

urlpatterns = [
    path("figures/", api_figures.FiguresView.as_view(), name="figures"),
    path("rankings/", api_figures.RankingsView.as_view(), name="rankings"),
    path("return-visits/", api_figures.ReturnVisitListView.as_view(), name="return-visit-list"),
    path(
        "return-visits/<int:pk>/",
        api_figures.ReturnVisitRecordView.as_view(),
        name="return-visit-record",
    ),
    path("exports/", api_figures.ExportCreateView.as_view(), name="export-create"),
    path("exports/<int:pk>/", api_figures.ExportDetailView.as_view(), name="export-detail"),
]
