from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PwaConfig(AppConfig):
    """The phone app: the web app manifest and the service worker that keeps the grid
    worker's pages, assets and map at hand without a connection. On top of the other apps:
    it only names their pages."""

    name = "pwa"
    verbose_name = _("Phone app")
