"""The joins and merges API; config.urls includes it under /api/v1/ (before the case
router)."""

from __future__ import annotations

from django.urls import path

from duplicates import api

urlpatterns = [
    path("grievances/<int:pk>/joins/", api.GrievanceJoinsView.as_view(), name="grievance-joins"),
    path(
        "grievances/<int:pk>/joins/<int:join_id>/confirm/",
        api.JoinConfirmView.as_view(),
        name="grievance-join-confirm",
    ),
    path(
        "grievances/<int:pk>/joins/<int:join_id>/decline/",
        api.JoinDeclineView.as_view(),
        name="grievance-join-decline",
    ),
]
urlpatterns += [
    path("grievances/<int:pk>/merge/", api.GrievanceMergeView.as_view(), name="grievance-merge"),
    path(
        "grievances/<int:pk>/unmerge/",
        api.GrievanceUnmergeView.as_view(),
        name="grievance-unmerge",
    ),
]
