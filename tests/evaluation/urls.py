"""The project's routes plus the evaluation API, until config.urls includes it."""

from __future__ import annotations

from django.urls import include, path

from config.urls import handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urls

urlpatterns = [path("api/v1/", include("evaluation.urls_api")), *project_urls]
