from __future__ import annotations

from django.urls import path

from grids import held
from grievances import views_cases, views_files, views_intake, views_rating, views_track

urlpatterns = [
    path("report/", views_intake.report, name="report"),
    path("report/done/", views_intake.report_done, name="report-done"),
    path("report/nearby/", views_intake.report_nearby, name="report-nearby"),
    # The preview of a photo held for this session after a report came back with errors.
    path("report/held/<str:token>/", held.preview, name="held-preview"),
    path("track/", views_track.track, name="track"),
    path("t/<str:code>/", views_track.track_short, name="track-short"),
    path("t/<str:code>", views_track.track_short),
    # The one-tap rating link of the closing SMS: short, no trailing slash.
    path("r/<str:token>", views_rating.rate_link, name="rate-link"),
    path("cases/", views_cases.case_list, name="case-list"),
    path("cases/<int:pk>/", views_cases.case_detail, name="case-detail"),
    path("cases/<int:pk>/act/<str:name>/", views_cases.case_act, name="case-act"),
    path("cases/attachments/<int:pk>/", views_files.attachment, name="attachment"),
    path(
        "cases/attachments/<int:pk>/thumbnail/",
        views_files.thumbnail,
        name="attachment-thumbnail",
    ),
]
