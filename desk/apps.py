from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The centre's daily tools: canned replies (常用语) and the knowledge base (知识库) of
    policy answers per category, the desk's view of what waits on it (extension requests), a
    caller's earlier cases shown while the desk registers a new one (重复来电), and the
    categories and time limits a county's centre administrator configures.
    Beside dispatch and mediation: it reads cases, categories and whistles."""

    name = "desk"
    verbose_name = _("The centre's desk")

    def ready(self) -> None:
        from desk import demo, demo_categories, views  # noqa: F401  demo steps
        from grievances.views_cases import register_case_card
        from grievances.views_intake import register_intake_panel

        register_case_card("desk/case_card.html", views.case_card)
        # A caller's earlier cases on the desk's report form (desk/callers.py).
        register_intake_panel("desk/_caller_history_panel.html")
