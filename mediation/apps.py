from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediationConfig(AppConfig):
    name = "mediation"
    verbose_name = _("Mediation")

    def ready(self) -> None:
        # Registers the mediation opener of the case's mediate act, the receiver that ends
        # a mediation when its case is withdrawn, the timeline's labels of our events and
        # the mediator's home page.
        from mediation import demo, home, services  # noqa: F401
