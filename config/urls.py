from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from grids import api as grids_api

api_v1 = [
    path("auth/token/", grids_api.ObtainTokenView.as_view(), name="api-token"),
    path("", include(grids_api.router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("", include("grids.urls")),
]

handler403 = "grids.views.permission_denied"
handler404 = "grids.views.page_not_found"
handler500 = "grids.views.server_error"
