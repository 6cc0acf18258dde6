from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The centre's daily tools: canned replies (常用语) and the knowledge base (知识库) of
    policy answers per category, and the desk's view of what waits on it (extension requests).
    Beside dispatch and mediation: it reads cases, categories and whistles."""

    name = "desk"
    verbose_name = _("The centre's desk")

    def ready(self) -> None:
        from desk import demo, views  # noqa: F401  demo step
        from grievances.views_cases import register_case_card

        register_case_card("desk/case_card.html", views.case_card)
