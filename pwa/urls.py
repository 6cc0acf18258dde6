"""The phone app's pinned addresses: at the site root, since a service worker's scope cannot
be wider than its script's folder (without a header) and the manifest's path is known."""

from __future__ import annotations

from django.urls import path

from pwa import views

urlpatterns = [
    path("manifest.webmanifest", views.manifest, name="pwa-manifest"),
    path("sw.js", views.service_worker, name="pwa-sw"),
    path("offline/", views.offline, name="pwa-offline"),
]
