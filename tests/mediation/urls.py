"""The site's URLs plus the mediation API, until config.urls includes mediation.urls_api
(then this adds nothing: the first match is the same view)."""

from __future__ import annotations

from django.urls import include, path

from config.urls import handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site

urlpatterns = [path("api/v1/", include("mediation.urls_api")), *site]
