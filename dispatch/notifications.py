"""Notifications: who hears of a case event, in the app, by email and by SMS.

The case's events are the outbox (grievances.tasks). The relay hands the events of an
action that concerns people to `notify_events`, a chunk's at once, in the relay's
transaction: it writes one Notification per recipient and one Delivery per channel, both
unique (conflicts on a rerun keep the existing rows), so an event relayed twice still tells
each person once. Deliveries
are sent afterwards by dispatch.tasks.deliver_notifications (one task per relay chunk, not
per event): claimed in bulk (locked without waiting, pending → sending), each sent and marked
sent at once; transient errors are retried later.

Who hears of what (never the person who did it):

- dispatch: the members of each department of the whistle; dispatched down, the staff of
  that grid or village;
- report_in, handle, return, assist_refuse: the staff of the owning centre;
- supervise (督办), urge (催办): the handler (the lead department, or the grid or village)
  and the centre;
- escalate: the staff of the centre that owns the case now;
- redo: the handler; extend: the centre when asked, the handler when decided;
- verify, reject: the reporter, when they reported with an account.

Text is written in the site's language (settings.LANGUAGE_CODE) when the event is relayed.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from config.celery import task
from dispatch.models import Assignment, Delivery, DepartmentMembership, Notification, Whistle
from grids.models import Membership, Region, Role, User
from grievances.labels import shown
from grievances.models import CaseEvent, Grievance
from grievances.tasks import in_relay, on_chunk_committed, on_event

log = logging.getLogger(__name__)

# The task that sends the deliveries, published by name: dispatch.tasks imports this module.
DELIVERY_TASK = "dispatch.tasks.deliver_notifications"

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
)
# Urgent matters also go by SMS (settings.NOTIFY_SMS_ACTIONS); a dispatch only when it is a
# whistle to departments, whose duty staff may be away from a screen.
DEFAULT_SMS_ACTIONS = ("supervise", "escalate", "dispatch")


def sms_actions() -> set[str]:
    return set(getattr(settings, "NOTIFY_SMS_ACTIONS", DEFAULT_SMS_ACTIONS))


def email_enabled() -> bool:
    return bool(getattr(settings, "NOTIFY_EMAIL", True))


def max_attempts() -> int:
    return int(getattr(settings, "NOTIFY_MAX_ATTEMPTS", 5))


def stuck_after() -> timedelta:
    # Longer than a task may run (CELERY_TASK_TIME_LIMIT): a delivery still "sending" after
    # this was claimed by a worker that died.
    return timedelta(minutes=float(getattr(settings, "NOTIFY_STUCK_MINUTES", 10)))


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the n-th failed attempt, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _sms_module():
    # grievances.sms is written alongside this module; without it, no SMS.
    try:
        from grievances import sms
    except ImportError:
        return None
    return sms


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
    elif action in ("verify", "reject") and case.reporter_id:
        users = {case.reporter_id}
    users.discard(event.actor_id)
    return users


# --- Text ------------------------------------------------------------------------------------

_TITLES = {
    "dispatch": lambda d: _("New case for you: %(case)s"),
    "report_in": lambda d: _("Reported in: %(case)s"),
    "handle": lambda d: _("Result reported, to verify: %(case)s"),
    "return": lambda d: _("Case returned: %(case)s"),
    "assist_refuse": lambda d: _("An assisting department refused: %(case)s"),
    "supervise": lambda d: _("Supervision notice, deadline missed: %(case)s"),
    "urge": lambda d: _("Urged: %(case)s"),
    "escalate": lambda d: _("Case escalated to your centre: %(case)s"),
    "redo": lambda d: _("Sent back to be redone: %(case)s"),
    "extend": lambda d: (
        _("Extension requested: %(case)s")
        if d.get("decision") == "requested"
        else _("Extension approved: %(case)s")
        if d.get("decision") in ("approved", "granted")
        else _("Extension refused: %(case)s")
    ),
    "verify": lambda d: _("Your case is closed: %(case)s"),
    "reject": lambda d: _("Your report was not accepted: %(case)s"),
}


def _when(value: str | None) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i")


def _text(event: CaseEvent) -> tuple[str, str]:
    case = event.grievance
    data = event.data or {}
    label = f"{case.display_code} {case.title}"
    title = _TITLES[event.action](data) % {"case": label}
    lines = []
    if event.actor_label:
        lines.append(_("By: %(actor)s") % {"actor": shown(event.actor_label)})
    if event.note:
        lines.append(event.note)
    if event.action == "dispatch" and data.get("handle_due_at"):
        lines.append(
            _("Report in by %(report_in)s; handle by %(handle)s.")
            % {
                "report_in": _when(data.get("report_in_due_at")),
                "handle": _when(data.get("handle_due_at")),
            }
        )
    if event.action == "escalate" and data.get("to_centre_name"):
        lines.append(
            _("From %(from)s to %(to)s.")
            % {"from": data.get("from_centre_name", ""), "to": data["to_centre_name"]}
        )
    return title[:255], "\n".join(lines)


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
    rows: list[tuple[CaseEvent, User, Notification]] = []
    with translation.override(settings.LANGUAGE_CODE):
        for event, users in wanted:
            present = [people[pk] for pk in sorted(users) if pk in people]
            if not present:
                continue
            title, body = _text(event)
            url = _case_url(event.grievance)
            rows += [
                (
                    event,
                    person,
                    Notification(
                        recipient_id=person.pk,
                        grievance_id=event.grievance_id,
                        event_id=event.pk,
                        kind=event.action,
                        title=title,
                        body=body,
                        url=url,
                    ),
                )
                for person in present
            ]
    if not rows:
        return 0
    # On a conflict (the event relayed twice) the existing row is kept as it is (the no-op
    # update only makes the statement return its id): one row per person and event.
    Notification.objects.bulk_create(
        [notice for _e, _p, notice in rows],
        update_conflicts=True,
        unique_fields=["recipient", "event"],
        update_fields=["kind"],
    )
    sms_ok = _sms_module() is not None
    sms_kinds = sms_actions()
    deliveries = []
    for event, person, notice in rows:
        if notice.pk is None:
            continue
        by_sms = event.action in sms_kinds and sms_ok
        if event.action == "dispatch" and not (event.data or {}).get("whistle"):
            by_sms = False
        if email_enabled() and person.email:
            deliveries.append(
                Delivery(
                    notification_id=notice.pk, channel=Delivery.Channel.EMAIL, address=person.email
                )
            )
        if by_sms and person.phone:
            deliveries.append(
                Delivery(
                    notification_id=notice.pk, channel=Delivery.Channel.SMS, address=person.phone
                )
            )
    if deliveries:
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        if in_relay():
            # One delivery task per relay chunk, not one per event (see _publish_due).
            transaction.on_commit(_deliveries_waiting.set)
        else:
            transaction.on_commit(_enqueue_delivery)
    return len(rows)


def _whistle_members(whistle_ids: list[int]) -> dict[int, set[int]]:
    """The members of each whistle's departments, by whistle id, in one query."""
    members: dict[int, set[int]] = {}
    if whistle_ids:
        for whistle_id, user_id in DepartmentMembership.objects.filter(
            department__assignments__whistle_id__in=whistle_ids
        ).values_list("department__assignments__whistle_id", "user_id"):
            members.setdefault(whistle_id, set()).add(user_id)
    return members


# Set when a committed relay chunk wrote deliveries; the chunk hook publishes one task.
_deliveries_waiting = threading.Event()


@on_chunk_committed
def _publish_due() -> None:
    if _deliveries_waiting.is_set():
        _deliveries_waiting.clear()
        _enqueue_delivery()


def _enqueue_delivery() -> None:
    # Best effort: with the broker down, the deliveries wait for the periodic run. Without
    # ids the task sends every delivery that is due, however many events wrote them.
    try:
        task(DELIVERY_TASK).apply_async(retry=False)
    except Exception:  # noqa: BLE001 - any broker error; beat's run picks them up
        log.warning("could not enqueue deliveries; the periodic run will send them", exc_info=True)


# --- Sending ---------------------------------------------------------------------------------


class PermanentError(Exception):
    """A delivery that no retry can fix (no backend, an address the gateway refuses)."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentError):
        return False
    if getattr(exc, "transient", None) is not None:  # a backend may say so itself
        return bool(exc.transient)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: try again later; 5xx: refused for good
    # Network trouble: refused or reset connections, timeouts (smtplib's errors are OSErrors).
    return isinstance(exc, OSError)


def _send(delivery: Delivery) -> None:
    notice = delivery.notification
    link = f"{getattr(settings, 'SITE_URL', '').rstrip('/')}{notice.url}" if notice.url else ""
    if delivery.channel == Delivery.Channel.EMAIL:
        body = "\n\n".join(part for part in (notice.body, link) if part)
        send_mail(notice.title, body, None, [delivery.address], fail_silently=False)
        return
    sms = _sms_module()
    if sms is None or not hasattr(sms, "get_backend"):
        raise PermanentError("no SMS backend (grievances.sms)")
    # The backend itself, not sms.send_sms, which swallows errors: retries need to see them.
    text = " ".join(part for part in (notice.title, link) if part)
    sms.get_backend().send(delivery.address, text)


def claim(ids: Iterable[int] | None = None, limit: int = 100) -> list[Delivery]:
    """Claim deliveries that are due (these ids, or the oldest due): pending → sending.

    One transaction for the lot: the rows are locked without waiting (another worker's are
    skipped) and moved to "sending" with one update, so exactly one worker claims each.
    """
    now = timezone.now()
    with transaction.atomic():
        qs = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        rows = list(qs.select_related("notification").order_by("next_attempt_at", "id")[:limit])
        if rows:
            Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
                status=Delivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
    for delivery in rows:
        delivery.status, delivery.claimed_at = Delivery.Status.SENDING, now
        delivery.attempts += 1
    return rows


def send_delivery(delivery_id: int) -> str:
    """Claim, send and record one delivery. Returns its new status, or "" if not ours."""
    claimed = claim([delivery_id])
    return send_claimed(claimed[0]) if claimed else ""


def send_claimed(delivery: Delivery) -> str:
    """Send one delivery this worker claimed and record the outcome. Returns its new status.

    Never sends twice in the normal course: only one worker claims a delivery (`claim`), and
    a sent delivery is marked sent right after the gateway took it. At-least-once at one
    edge: a worker that dies after the gateway took the message but before the mark leaves
    it "sending"; `requeue_stuck` puts it back after NOTIFY_STUCK_MINUTES and it is sent
    again.
    """
    delivery_id = delivery.pk
    try:
        _send(delivery)
    except Exception as exc:  # noqa: BLE001 - classified below; a bad message must not stop the batch
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if _is_transient(exc) and delivery.attempts < max_attempts():
            Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
                status=Delivery.Status.PENDING,
                next_attempt_at=timezone.now() + retry_delay(delivery.attempts),
                claimed_at=None,
                last_error=error,
            )
            log.info("delivery %s failed (%s); will retry", delivery_id, error)
            return Delivery.Status.PENDING
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.FAILED, last_error=error
        )
        log.warning("delivery %s failed for good: %s", delivery_id, error)
        return Delivery.Status.FAILED
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return Delivery.Status.SENT


def due_deliveries(limit: int = 100) -> list[int]:
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def requeue_stuck() -> int:
    """Deliveries left "sending" by a worker that died: back to pending (or failed when out
    of attempts). See `send_delivery` for the one case where this sends a message twice."""
    cutoff = timezone.now() - stuck_after()
    stuck = Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff)
    failed = stuck.filter(attempts__gte=max_attempts()).update(
        status=Delivery.Status.FAILED, last_error=_("The worker stopped while sending.")
    )
    again = stuck.update(status=Delivery.Status.PENDING, claimed_at=None, next_attempt_at=cutoff)
    return failed + again


def release(delivery_ids: list[int]) -> int:
    """Claimed deliveries not sent after all: back to pending, the attempt not counted."""
    return Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, claimed_at=None, attempts=F("attempts") - 1
    )


def any_due() -> bool:
    """Whether a delivery is waiting to be sent now."""
    return Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()


def next_retry_in(delivery_ids: Iterable[int]) -> float | None:
    """Seconds until the earliest of these deliveries is due again, if any is pending."""
    first = (
        Delivery.objects.filter(pk__in=list(delivery_ids), status=Delivery.Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        return None
    return max((first - timezone.now()).total_seconds(), 0.0)


# --- Reading ---------------------------------------------------------------------------------


def unread_total(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(user, *, ids: Iterable[int] | None = None, everything: bool = False) -> int:
    """Mark the user's own notifications read (others' ids are ignored); returns how many."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if not everything:
        qs = qs.filter(pk__in=list(ids or ()))
    return qs.update(read_at=timezone.now())


def unread_count(request) -> dict[str, int]:
    """Context processor: the header bell's number (one COUNT on a partial index)."""
    return {"unread_notifications": unread_total(getattr(request, "user", None))}
