"""Template helpers of the staff case pages: state badges, deadline countdowns, durations,
masked personal data and readable timeline rows.

    {% load cases %}
    <span class="{{ case.state|state_class }}">{{ case.get_state_display }}</span>
    {% due_info case as due %}<span class="due due--{{ due.kind }}">{{ due.text }}</span>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from grids.scoping import role_regions
from grids.views import GRID_ROLES
from grievances import selectors, triage
from grievances.labels import shown
from grievances.models import (
    OPEN_STATES,
    Complexity,
    HandlingLevel,
    RejectReason,
    State,
    Urgency,
    format_tracking_code,
)
from grievances.privacy import mask_id, mask_phone

register = template.Library()

SH = ZoneInfo("Asia/Shanghai")

# Acts written by the dispatch app that grievances.selectors does not name.
EXTRA_EVENT_LABELS = {
    "assist_accept": gettext_lazy("Assisting department reported in"),
    "assist_refuse": gettext_lazy("Assisting department refused its part"),
}

RISK_LABELS = {
    "petition": gettext_lazy("Petition risk"),
    "extreme": gettext_lazy("Risk of extreme acts"),
    "group": gettext_lazy("Group incident risk"),
}


# --- States, urgency, risk -----------------------------------------------------------------------


@register.filter
def state_class(state: str) -> str:
    """The badge classes of a state: `state state--dispatched`."""
    return f"state state--{state if state in State.values else 'unknown'}"


@register.filter
def urgency_class(urgency: str) -> str:
    return f"urgency urgency--{urgency if urgency in Urgency.values else 'normal'}"


@register.filter
def risk_labels(case) -> list[tuple[str, str]]:
    """(flag, label) of each risk flag the case carries."""
    return [(flag, str(RISK_LABELS[flag])) for flag in case.risk_flags]


@register.filter
def tracking_code(code: str) -> str:
    return format_tracking_code(code or "")


# --- Personal data -------------------------------------------------------------------------------


@register.filter
def masked_phone(phone: str) -> str:
    """138****1234: the first three and the last four digits."""
    return mask_phone(phone or "")


@register.filter
def masked_id(number: str) -> str:
    return mask_id(number) if number else ""


# --- Durations and countdowns --------------------------------------------------------------------


def human_duration(seconds: float | None) -> str:
    """3小时1分 / 3 h 1 min: the two largest units, no seconds."""
    if seconds is None:
        return ""
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        if hours:
            return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
        return _("%(days)d d") % {"days": days}
    if hours:
        if minutes:
            return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        return _("%(hours)d h") % {"hours": hours}
    if minutes:
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("under a minute")


@register.filter
def duration(seconds) -> str:
    """Seconds (an int, a timedelta or None) as readable text; "" for None."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if seconds in (None, ""):
        return ""
    return human_duration(float(seconds))


@dataclass(frozen=True)
class Due:
    """The deadline a case runs against now, for a countdown.

    kind: overdue (red), today (amber: due before midnight in Beijing), later, paused
    (suspended), none (no running deadline).
    """

    kind: str
    text: str
    at: datetime | None = None
    what: str = ""

    @property
    def css(self) -> str:
        return f"due due--{self.kind}"


def due_for(case, now: datetime | None = None) -> Due:
    now = now or timezone.now()
    if case.state not in (State.DISPATCHED, State.IN_PROGRESS):
        return Due("none", "")
    if case.suspended_at:
        return Due("paused", _("Suspended: the clock is stopped"))
    candidates = []
    if case.state == State.DISPATCHED and case.report_in_due_at:
        candidates.append((case.report_in_due_at, _("Report in")))
    if case.handle_due_at:
        candidates.append((case.handle_due_at, _("Handle")))
    if not candidates:
        return Due("none", "")
    at, what = min(candidates, key=lambda c: c[0])
    left = (at - now).total_seconds()
    if left < 0:
        return Due("overdue", _("Overdue by %(time)s") % {"time": human_duration(left)}, at, what)
    text = _("Due in %(time)s") % {"time": human_duration(left)}
    kind = "today" if at.astimezone(SH).date() == now.astimezone(SH).date() else "later"
    return Due(kind, text, at, what)


@register.simple_tag
def due_info(case) -> Due:
    """{% due_info case as due %}: the running deadline of a case (see Due)."""
    return due_for(case)


# --- The timeline --------------------------------------------------------------------------------


@register.filter
def actor_label(event) -> str:
    """For whom the actor acted, in the reader's language (grievances.labels)."""
    return shown(event.actor_label)


@register.filter
def event_label(event) -> str:
    if event.action in EXTRA_EVENT_LABELS:
        return str(EXTRA_EVENT_LABELS[event.action])
    return selectors.event_label(event)


def _list(items) -> str:
    return pgettext("list separator", ", ").join(str(i) for i in items)


def _choice(choices, value) -> str:
    return str(dict(choices).get(value, value))


@register.filter
def event_details(event) -> str:
    """A short line of what the event's data says (who it went to, what was decided)."""
    data = event.data or {}
    action = event.action
    if action == "accept":
        parts = []
        if data.get("complexity"):
            parts.append(_choice(Complexity.choices, data["complexity"]))
        if data.get("handling_level"):
            parts.append(
                _("handled at %(level)s level")
                % {"level": _choice(HandlingLevel.choices, data["handling_level"])}
            )
        if data.get("urgency"):
            parts.append(_choice(Urgency.choices, data["urgency"]))
        return _list(parts)
    if action == "triage":
        return triage.describe(data)
    if action == "dispatch":
        if data.get("lead"):
            text = _("Lead: %(lead)s") % {"lead": data["lead"]}
            if data.get("assisting"):
                text += pgettext("clause separator", "; ") + _("assisting: %(names)s") % {
                    "names": _list(data["assisting"])
                }
            return text
        if data.get("to_region_name"):
            return _("To %(region)s for handling on the spot") % {"region": data["to_region_name"]}
        return ""
    if action == "escalate" and data.get("to_centre_name"):
        return _("From %(from)s to %(to)s") % {
            "from": data.get("from_centre_name", ""),
            "to": data["to_centre_name"],
        }
    if action == "reject":
        text = _choice(RejectReason.choices, data.get("reason_code", ""))
        if data.get("duplicate_of"):
            text += " → " + format_tracking_code(data["duplicate_of"])
        return text
    if action == "extend":
        days = data.get("days")
        return {
            "requested": _("Asked for %(days)s more working days"),
            "approved": _("Approved: %(days)s more working days"),
            "refused": _("Refused the request for %(days)s working days"),
            "granted": _("Granted %(days)s more working days"),
        }.get(data.get("decision", ""), "%(days)s") % {"days": days}
    if action in ("urge", "supervise") and data.get("count"):
        return _("Number %(count)s") % {"count": data["count"]}
    if action == "rate" and data.get("score"):
        return _("%(score)s of 5") % {"score": data["score"]}
    if action == "handle" and data.get("on_the_spot"):
        return _("Settled on the spot")
    if action in ("handle", "report_in") and data.get("on_time") is False:
        return _("Late")
    if action == "officer" and data.get("officer"):
        # The department head named the officer (承办人) of their department's part.
        if data.get("previous"):
            return _("%(dept)s: %(previous)s → %(officer)s") % {
                "dept": data.get("department", ""),
                "previous": data["previous"],
                "officer": data["officer"],
            }
        return _("%(dept)s: %(officer)s") % {
            "dept": data.get("department", ""),
            "officer": data["officer"],
        }
    if data.get("department"):
        return str(data["department"])
    return ""


@register.filter
def category_name(category) -> str:
    """The category in the page's language (the Chinese name unless English is asked)."""
    from django.utils.translation import get_language

    if (get_language() or "").startswith("en") and category.name_en:
        return category.name_en
    return category.name


@register.simple_tag(takes_context=True)
def my_grid_cases_url(context) -> str:
    """The tab bar's 我的网格: the case list filtered to the open cases of the worker's grid
    (all of their grids when they serve several); the list keeps the filters to change."""
    request = context.get("request")
    params = [("state", str(state)) for state in OPEN_STATES]
    user = getattr(request, "user", None)
    grids = role_regions(user, GRID_ROLES) if user is not None else []
    if len(grids) == 1:
        params.append(("region", grids[0].code))
    return f"{reverse('case-list')}?{urlencode(params)}"
