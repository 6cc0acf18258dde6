from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from desk import api_categories as desk_api_categories
from dispatch import api as dispatch_api
from grids import api as grids_api
from grievances import api as grievances_api

router = DefaultRouter()
router.include_root_view = False
router.registry.extend(grids_api.router.registry)
router.register("categories", desk_api_categories.CategoryViewSet, basename="category")
router.register("grievances", grievances_api.GrievanceViewSet, basename="grievance")
router.register("departments", dispatch_api.DepartmentViewSet, basename="department")
router.register("routing-rules", dispatch_api.RoutingRuleViewSet, basename="routing-rule")
router.register("assignments", dispatch_api.AssignmentViewSet, basename="assignment")

api_v1 = [
    path("auth/token/", grids_api.ObtainTokenView.as_view(), name="api-token"),
    path(
        "public/grievances/",
        grievances_api.PublicGrievanceCreateView.as_view(),
        name="public-grievance-create",
    ),
    path(
        "public/nearby/",
        grievances_api.PublicNearbyView.as_view(),
        name="public-nearby",
    ),
    path("track/<str:code>/", grievances_api.TrackView.as_view(), name="track"),
    path("track/<str:code>/rate/", grievances_api.TrackRateView.as_view(), name="track-rate"),
    path(
        "track/<str:code>/withdraw/",
        grievances_api.TrackWithdrawView.as_view(),
        name="track-withdraw",
    ),
    path("track/<str:code>/urge/", grievances_api.TrackUrgeView.as_view(), name="track-urge"),
    path(
        "grievances/<int:pk>/whistles/",
        dispatch_api.GrievanceWhistlesView.as_view(),
        name="grievance-whistles",
    ),
    path("", include("notifications.urls_api")),
    path("", include("evaluation.urls_api")),
    path("", include("mediation.urls_api")),
    path("", include("duplicates.urls_api")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: the
    # Content-Security-Policy runs no inline script without a nonce.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    path("", include("grievances.urls")),
    path("", include("dispatch.urls")),
    path("", include("notifications.urls")),
    path("", include("evaluation.urls")),
    path("", include("mediation.urls")),
    path("", include("duplicates.urls")),
    # The categories' pages before the libraries' /desk/<library>/<pk>/ (which would take
    # /desk/categories/<pk>/ for a library named "categories").
    path("", include("desk.urls_categories")),
    path("", include("desk.urls")),
    path("", include("desk.urls_callers")),
    path("", include("grids.urls")),
    path("", include("pwa.urls")),
]

handler403 = "grids.views.permission_denied"
handler404 = "grids.views.page_not_found"
handler500 = "grids.views.server_error"
