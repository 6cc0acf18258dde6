from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = _("Dispatch")

    def ready(self) -> None:
        # Registers the department handler check, the dispatch entry point and the
        # receiver that keeps whistles in step with the case, and the staff's home pages.
        from dispatch import demo, home, notifications, routing, services  # noqa: F401
