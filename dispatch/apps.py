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
        from dispatch.forms import DispatchForm
        from grievances.forms_cases import register_act_form, register_act_takeover

        # The case page: the dispatch form with the routing proposal, and the lead
        # department's report-in through its assignment.
        register_act_form(DispatchForm)
        register_act_takeover(
            "report_in",
            lambda case, user, data: services.lead_report_in(case, user, note=data["note"]),
        )
