from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """Who hears of a case and how it reached them: notices to staff and complainants,
    their deliveries by SMS and e-mail, quiet hours and opt-outs. Above grievances (it reads
    cases, events and complainants), below the apps that choose their staff's recipients."""

    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from grievances.views_cases import register_case_card
        from grievances.views_track import register_track_section
        from notifications import complainants, demo, pages  # noqa: F401  relay handlers

        register_case_card("notifications/case_card.html", pages.case_card)
        register_track_section(
            "notifications/track_messages.html", pages.track_section, pages.TRACK_ACTS
        )
