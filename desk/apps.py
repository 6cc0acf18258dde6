from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The centre's daily tools: canned replies (常用语) and the knowledge base (知识库) of
    policy answers per category, and the desk's view of what waits on it (extension requests).
    Beside dispatch and mediation: it reads cases, categories and whistles. Also the
    categories and time limits a county's centre administrator configures."""

    name = "desk"
    verbose_name = _("The centre's desk")

    def ready(self) -> None:
        from desk import demo  # noqa: F401  the demo's category configuration
