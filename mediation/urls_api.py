"""Mediation API routes; config.urls includes them under /api/v1/:

path("", include("mediation.urls_api")),
"""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from mediation import api

router = SimpleRouter()
router.register("mediators", api.MediatorViewSet, basename="mediator")
router.register("mediation-orgs", api.MediationOrgViewSet, basename="mediation-org")
router.register("mediation-cases", api.MediationCaseViewSet, basename="mediation-case")

urlpatterns = router.urls
