from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DuplicatesConfig(AppConfig):
    """One problem, one case: a reporter who joins an open case near their pin instead of
    opening another, the centre's confirmation of who joins, and the likely duplicate found
    for each new case at intake. Above grievances and notifications (it reads cases and adds
    complainants through grievances' services)."""

    name = "duplicates"
    verbose_name = _("Duplicates")

    def ready(self) -> None:
        from duplicates import demo, services, views  # noqa: F401  relay handler, demo step
        from grievances.views_cases import register_case_card
        from grievances.views_intake import register_nearby_extra

        register_nearby_extra("duplicates/_join_button.html", views.nearby_extra)
        register_case_card("duplicates/case_card.html", views.case_card)
