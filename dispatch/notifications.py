"""Which staff hear of a case event, in the app, by e-mail and by SMS.

The relay hands the events of an action that concerns staff to `notify_events`, a chunk's
at once, in the relay's transaction: it chooses the recipients (departments, centres,
handlers: what dispatch knows) and writes their notices through notifications.services,
the one service that stores and sends every notification (a message id with parameters,
rendered in the reader's language; one row per reader and event, so an event relayed twice
tells each person once).

Who hears of what (never the person who did it):

- dispatch: the members of each department of the whistle; dispatched down, the staff of
  that grid or village;
- report_in, handle, return, assist_refuse: the staff of the owning centre;
- supervise (督办), urge (催办): the handler (the lead department, or the grid or village)
  and the centre;
- escalate: the staff of the centre that owns the case now;
- redo: the handler; extend: the centre when asked, the handler when decided;
- officer: the member the department head named the officer (承办人);
- verify, reject: the reporter, when they reported with an account (complainants hear of
  these, and of every other public milestone, from notifications.complainants).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy

from dispatch.models import Assignment, DepartmentMembership, Whistle
from grids.models import Membership, Region, Role, User
from grievances.models import CaseEvent, Grievance
from grievances.relay import on_event
from notifications import messages as case_notifications_messages
from notifications import services as case_notifications
from notifications.models import Delivery

log = logging.getLogger(__name__)

CENTRE_ROLES = [Role.CENTRE_STAFF]
# Who handles a case dispatched down to a grid or village (grievances.services.is_handler).
LOCAL_HANDLER_ROLES = [Role.GRID_WORKER, Role.GRID_POLICE, Role.GRID_LEADER, Role.CENTRE_STAFF]

NOTIFIED_ACTIONS = (
    "dispatch",
    "report_in",
    "handle",
    "return",
    "assist_refuse",
    "supervise",
    "urge",
    "escalate",
    "redo",
    "extend",
    "verify",
    "reject",
    "officer",
)
# Urgent matters also go by SMS (settings.NOTIFY_SMS_ACTIONS); a dispatch only when it is a
# whistle to departments, whose duty staff may be away from a screen.
DEFAULT_SMS_ACTIONS = ("supervise", "escalate", "dispatch")


case_notifications_messages.STAFF["staff.officer"] = gettext_lazy(
    "You are the officer of: %(case)s"
)


def sms_actions() -> set[str]:
    return set(getattr(settings, "NOTIFY_SMS_ACTIONS", DEFAULT_SMS_ACTIONS))


# --- Recipients ----------------------------------------------------------------------------


def _region_staff(region_ids: Iterable[int], roles: list[str]) -> set[int]:
    region_ids = [r for r in region_ids if r]
    if not region_ids:
        return set()
    return set(
        Membership.objects.filter(region_id__in=region_ids, role__in=roles).values_list(
            "user_id", flat=True
        )
    )


def _department_members(department_ids: Iterable[int]) -> set[int]:
    department_ids = list(department_ids)
    if not department_ids:
        return set()
    return set(
        DepartmentMembership.objects.filter(department_id__in=department_ids).values_list(
            "user_id", flat=True
        )
    )


def _centre(case: Grievance) -> set[int]:
    """Staff of the owning centre and of the centre that blew the latest whistle (a county
    centre whistling on a village's case hears its department's answers)."""
    whistled = (
        Whistle.objects.filter(grievance=case)
        .order_by("-id")
        .values_list("centre_id", flat=True)
        .first()
    )
    centres = {case.owning_centre_id} | ({whistled} if whistled else set())
    return _region_staff(list(centres), CENTRE_ROLES)


def _handler(case: Grievance) -> set[int]:
    """The lead department of the latest whistle, or the grid/village handling it."""
    lead = (
        Assignment.objects.filter(whistle__grievance=case, role=Assignment.Role.LEAD)
        .order_by("-id")
        .values_list("department_id", flat=True)
        .first()
    )
    if lead is not None and not case.handler_region_id:
        return _department_members([lead])
    return _region_staff([case.handler_region_id], LOCAL_HANDLER_ROLES)


def recipients(event: CaseEvent) -> set[int]:
    """The ids of the users who hear of `event` (the actor excluded)."""
    case = event.grievance
    data = event.data or {}
    action = event.action
    users: set[int] = set()
    if action == "dispatch":
        if data.get("whistle"):
            users = set(
                DepartmentMembership.objects.filter(
                    department__assignments__whistle_id=data["whistle"]
                ).values_list("user_id", flat=True)
            )
        elif data.get("to_region"):
            region = Region.objects.filter(code=data["to_region"]).values_list("pk", flat=True)
            users = _region_staff(region, LOCAL_HANDLER_ROLES)
    elif action in ("report_in", "handle", "return", "assist_refuse"):
        users = _centre(case)
    elif action in ("supervise", "urge"):
        users = _handler(case) | _centre(case)
    elif action == "escalate":
        to_centre = Region.objects.filter(code=data.get("to_centre", "")).values_list(
            "pk", flat=True
        )
        users = _region_staff(to_centre, CENTRE_ROLES)
    elif action == "redo":
        users = _handler(case)
    elif action == "extend":
        users = _centre(case) if data.get("decision") == "requested" else _handler(case)
    elif action == "officer" and data.get("officer_id"):
        users = {data["officer_id"]}
    elif action in ("verify", "reject") and case.reporter_id:
        users = {case.reporter_id}
    users.discard(event.actor_id)
    return users


# --- Text ------------------------------------------------------------------------------------


def message_of(event: CaseEvent) -> str:
    """The staff message id of an event (notifications/messages.py)."""
    if event.action == "extend":
        decision = (event.data or {}).get("decision")
        if decision == "requested":
            return "staff.extend_requested"
        return (
            "staff.extend_approved"
            if decision in ("approved", "granted")
            else "staff.extend_refused"
        )
    return f"staff.{event.action}"


def params_of(event: CaseEvent) -> dict:
    """What the notice's text is made of, stored with it and rendered when read or sent."""
    case = event.grievance
    data = event.data or {}
    params = {"case": f"{case.display_code} {case.title}"}
    if event.actor_label:
        params["actor"] = event.actor_label  # saved as a label, shown in the reader's language
    if event.note:
        params["note"] = event.note
    if event.action == "dispatch" and data.get("handle_due_at"):
        params["report_in_due_at"] = data.get("report_in_due_at")
        params["handle_due_at"] = data["handle_due_at"]
    if event.action == "escalate" and data.get("to_centre_name"):
        params["from_centre_name"] = data.get("from_centre_name", "")
        params["to_centre_name"] = data["to_centre_name"]
    return params


def _case_url(case: Grievance) -> str:
    try:
        return reverse("case-detail", args=[case.pk])
    except NoReverseMatch:
        return ""


# --- The relay's handler ---------------------------------------------------------------------


def notify_event(event_id: int) -> int:
    """Write the notifications and deliveries of one event; returns how many people."""
    return notify_events([event_id])


@on_event(*NOTIFIED_ACTIONS, batch=True)
def notify_events(event_ids: list[int]) -> int:
    """Write the notifications and deliveries of these events (a relay chunk's of one
    action, or one); returns how many notifications are meant (one per person and event).

    Runs in the relay's transaction: everything commits with the events' claim or not at
    all. A whistle's recipients are read for all the whistles at once, the people once, and
    the notifications and deliveries are written with one statement each.
    """
    # The events, then their cases, each by primary key (a join of the two can make
    # PostgreSQL walk the whole case index for a list of events).
    events = list(
        CaseEvent.objects.filter(pk__in=event_ids, action__in=NOTIFIED_ACTIONS)
        .prefetch_related("grievance")
        .order_by("pk")
    )
    if not events:
        return 0
    whistled = _whistle_members(
        [
            e.data["whistle"]
            for e in events
            if e.action == "dispatch" and (e.data or {}).get("whistle")
        ]
    )
    wanted: list[tuple[CaseEvent, set[int]]] = []
    for event in events:
        whistle = (event.data or {}).get("whistle") if event.action == "dispatch" else None
        if whistle:
            users = set(whistled.get(whistle, ()))
            users.discard(event.actor_id)
        else:
            users = recipients(event)
        if users:
            wanted.append((event, users))
    if not wanted:
        return 0
    people = {
        person.pk: person
        for person in User.objects.filter(
            pk__in=set().union(*(users for _e, users in wanted)), is_active=True
        ).only("id", "email", "phone")
    }
    sms_kinds = sms_actions()
    notices = []
    for event, users in wanted:
        by_sms = event.action in sms_kinds
        if event.action == "dispatch" and not (event.data or {}).get("whistle"):
            by_sms = False
        channels = tuple(
            c
            for c, wanted_channel in (
                (Delivery.Channel.EMAIL, case_notifications.email_enabled()),
                (Delivery.Channel.SMS, by_sms),
            )
            if wanted_channel
        )
        message, params = message_of(event), params_of(event)
        url = _case_url(event.grievance)
        notices += [
            case_notifications.Notice(
                event=event,
                message=message,
                params=params,
                user=people[pk],
                channels=channels,
                url=url,
            )
            for pk in sorted(users)
            if pk in people
        ]
    return case_notifications.write(notices)


def _whistle_members(whistle_ids: list[int]) -> dict[int, set[int]]:
    """The members of each whistle's departments, by whistle id, in one query."""
    members: dict[int, set[int]] = {}
    if whistle_ids:
        for whistle_id, user_id in DepartmentMembership.objects.filter(
            department__assignments__whistle_id__in=whistle_ids
        ).values_list("department__assignments__whistle_id", "user_id"):
            members.setdefault(whistle_id, set()).add(user_id)
    return members
