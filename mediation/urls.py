"""Mediation pages; config.urls includes them at the site root:

path("", include("mediation.urls")),
"""

from __future__ import annotations

from django.urls import path

from mediation import views

urlpatterns = [
    path("mediators/", views.roster, name="mediation-roster"),
    path("mediators/<int:pk>/photo/", views.mediator_photo, name="mediator-photo"),
    path("mediation/p/<str:token>/", views.party_page, name="mediation-party"),
    path("mediation/p/<str:token>/<str:name>/", views.party_act, name="mediation-party-act"),
    path("mediation/<int:pk>/", views.case_page, name="mediation-case"),
    path("mediation/<int:pk>/act/<str:name>/", views.case_act, name="mediation-case-act"),
    path("mediation/<int:pk>/agreement/", views.agreement_print, name="mediation-agreement"),
    path(
        "mediation/<int:pk>/agreement.pdf",
        views.agreement_pdf,
        name="mediation-agreement-pdf",
    ),
]
