"""What notifications adds to grievances' pages, through their registries: the case page's
card of the messages that went to the complainants (staff), and the tracking page's section
where a complainant stops or resumes the text messages to their number."""

from __future__ import annotations

from django.utils.translation import gettext as _

from grievances.privacy import mask_sent_to
from notifications import services


def case_card(user, case, show_personal: bool) -> dict:
    return {"deliveries": services.case_deliveries(case)}


def track_section(case, person) -> dict | None:
    if not person.phone:
        return None
    hours = services.quiet_hours()
    return {
        "sms_phone": mask_sent_to(person.phone),
        "messages_stopped": bool(services.opted_out([person.phone])),
        "sms_hours": (f"{hours[1]:%H:%M}", f"{hours[0]:%H:%M}") if hours else None,
    }


def stop_messages(case, person) -> str:
    if person.phone:
        services.opt_out(person.phone, "link")
    return _("No more text messages will be sent to you.")


def resume_messages(case, person) -> str:
    if person.phone:
        services.opt_in(person.phone)
    return _("You will get text messages again.")


TRACK_ACTS = {"messages_stop": stop_messages, "messages_resume": resume_messages}
