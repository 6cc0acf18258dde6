"""What a notification says: one catalogue of messages, each an id with parameters.

A Notification stores the id and the parameters (grievances.models.Notification); the text
is rendered here, in the reader's language, when the message is sent or shown, so a
complainant who reported in English reads English, and a translation fixed later shows in
notices already written.

Two kinds of message:
- to complainants (`resident.*`): a short text for SMS and a subject and body for e-mail.
  An SMS is the signature (settings.SMS_SIGNATURE, 4 characters by default), the text and
  one link. It fits one segment (70 characters of Chinese) wherever it can: signature 4,
  text 30 at most, link 36 at most; where the parameters cannot fit (a long department
  name), two segments at most. tests/grievances/test_messages.py holds each text to its
  budget, in both languages, with the longest parameters the site allows.
- to staff (`staff.*`): a title and a body, shown in the app and sent by e-mail and SMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grievances.labels import shown
from grievances.sms import signed

ONE_SEGMENT = 70  # characters of one SMS in UCS-2 (any Chinese character)
TWO_SEGMENTS = 134  # two concatenated segments (67 each)
TEXT_BUDGET = 30
LINK_BUDGET = 36


@dataclass(frozen=True)
class ResidentMessage:
    """A message to a complainant: `sms` is the short text (≤ TEXT_BUDGET characters of
    Chinese when it can), `subject` the e-mail's subject; `link` the page the link opens
    ("rate": the one-tap rating form; "track": the case's tracking page)."""

    sms: str
    subject: str
    link: str = "track"
    segments: int = 1  # the most SMS segments the message may take


RESIDENT: dict[str, ResidentMessage] = {
    "resident.registered": ResidentMessage(
        sms=gettext_lazy("Your report is registered, code %(code)s. Follow it:"),
        subject=gettext_lazy("Your report %(code)s is registered"),
        segments=2,
    ),
    "resident.accepted": ResidentMessage(
        sms=gettext_lazy("Your report %(code)s is accepted."),
        subject=gettext_lazy("Your report %(code)s is accepted"),
    ),
    "resident.accepted_handler": ResidentMessage(
        sms=gettext_lazy("Report %(code)s accepted; %(handler)s handles it."),
        subject=gettext_lazy("Your report %(code)s is accepted"),
        segments=2,
    ),
    "resident.rejected": ResidentMessage(
        sms=gettext_lazy("Report %(code)s not accepted: %(reason)s"),
        subject=gettext_lazy("Your report %(code)s was not accepted"),
        segments=2,
    ),
    "resident.merged": ResidentMessage(
        sms=gettext_lazy("Report %(code)s joins a case on the same matter; follow it here:"),
        subject=gettext_lazy("Your report %(code)s joins another case"),
        segments=2,
    ),
    "resident.transferred": ResidentMessage(
        sms=gettext_lazy("Report %(code)s is now handled by %(handler)s."),
        subject=gettext_lazy("Your report %(code)s has a new handler"),
        segments=2,
    ),
    "resident.escalated": ResidentMessage(
        sms=gettext_lazy("Report %(code)s is referred to %(centre)s."),
        subject=gettext_lazy("Your report %(code)s is referred up"),
        segments=2,
    ),
    "resident.extended": ResidentMessage(
        sms=gettext_lazy("Report %(code)s: handling extended to %(date)s."),
        subject=gettext_lazy("Your report %(code)s: more time to handle it"),
    ),
    "resident.closed": ResidentMessage(
        sms=gettext_lazy("Report %(code)s is done. Rate the result:"),
        subject=gettext_lazy("Your report %(code)s is done: rate the result"),
        link="rate",
    ),
    "resident.redo": ResidentMessage(
        sms=gettext_lazy("Report %(code)s is being handled again."),
        subject=gettext_lazy("Your report %(code)s is being handled again"),
    ),
}

STAFF: dict[str, object] = {
    "staff.dispatch": gettext_lazy("New case for you: %(case)s"),
    "staff.report_in": gettext_lazy("Reported in: %(case)s"),
    "staff.handle": gettext_lazy("Result reported, to verify: %(case)s"),
    "staff.return": gettext_lazy("Case returned: %(case)s"),
    "staff.assist_refuse": gettext_lazy("An assisting department refused: %(case)s"),
    "staff.supervise": gettext_lazy("Supervision notice, deadline missed: %(case)s"),
    "staff.urge": gettext_lazy("Urged: %(case)s"),
    "staff.escalate": gettext_lazy("Case escalated to your centre: %(case)s"),
    "staff.redo": gettext_lazy("Sent back to be redone: %(case)s"),
    "staff.extend_requested": gettext_lazy("Extension requested: %(case)s"),
    "staff.extend_approved": gettext_lazy("Extension approved: %(case)s"),
    "staff.extend_refused": gettext_lazy("Extension refused: %(case)s"),
    "staff.verify": gettext_lazy("Your case is closed: %(case)s"),
    "staff.reject": gettext_lazy("Your report was not accepted: %(case)s"),
}


def when(value: str | None, fmt: str = "Y-m-d H:i") -> str:
    """An ISO moment from a message's parameters, in Beijing time."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return formats.date_format(timezone.localtime(moment), fmt)


def language_of(language: str | None) -> str:
    return language or settings.LANGUAGE_CODE


def resident_text(message: str, params: dict, language: str | None) -> str:
    """The SMS text of a complainant's message, without signature and link."""
    spec = RESIDENT[message]
    with translation.override(language_of(language)):
        values = dict(params)
        if "date" in values:
            values["date"] = when(values["date"], "m-d")
        return str(spec.sms) % values


def resident_subject(message: str, params: dict, language: str | None) -> str:
    with translation.override(language_of(language)):
        return str(RESIDENT[message].subject) % params


def sms_text(message: str, params: dict, language: str | None, link: str) -> str:
    """The whole SMS: signature, text and link."""
    return signed(" ".join(p for p in (resident_text(message, params, language), link) if p))


def staff_title(message: str, params: dict, language: str | None = None) -> str:
    template = STAFF.get(message)
    if template is None:
        return params.get("case", "")
    with translation.override(language_of(language)):
        return (str(template) % params)[:255]


def staff_body(params: dict, language: str | None = None) -> str:
    """The lines under a staff notice's title: who acted, the note, deadlines, the move."""
    lines = []
    with translation.override(language_of(language)):
        if params.get("actor"):
            lines.append(_("By: %(actor)s") % {"actor": shown(params["actor"])})
        if params.get("note"):
            lines.append(params["note"])
        if params.get("handle_due_at"):
            lines.append(
                _("Report in by %(report_in)s; handle by %(handle)s.")
                % {
                    "report_in": when(params.get("report_in_due_at")),
                    "handle": when(params.get("handle_due_at")),
                }
            )
        if params.get("to_centre_name"):
            lines.append(
                _("From %(from)s to %(to)s.")
                % {"from": params.get("from_centre_name", ""), "to": params["to_centre_name"]}
            )
    return "\n".join(lines)


def rendered(notice, language: str | None = None) -> tuple[str, str]:
    """(title, body) of a notification as its reader sees it in the app or an e-mail."""
    language = language or notice.language or None
    if notice.message in STAFF:
        return staff_title(notice.message, notice.params, language), staff_body(
            notice.params, language
        )
    if notice.message in RESIDENT:
        return (
            resident_subject(notice.message, notice.params, language),
            resident_text(notice.message, notice.params, language),
        )
    return notice.title, notice.body
