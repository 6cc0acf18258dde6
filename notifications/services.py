"""The notification service: one for everyone who hears of a case, staff and complainants.

The case's events are the outbox (grievances.relay). The relay hands an event to the
handlers registered for its action, in the relay's transaction; a handler decides who hears
of it and calls `write`, which stores one Notification per reader (a message id and its
parameters, notifications/messages.py) and one Delivery per channel. Both are unique (the
notification per reader and event, the delivery per notification and channel), so an
event relayed twice still tells each person once. Deliveries are sent afterwards by the
task notifications.tasks.deliver_notifications (one per relay chunk, and beat's every minute):
claimed in bulk (pending → sending, locked without waiting), sent, and recorded with one
DeliveryAttempt per try; transient errors are retried later, with a growing delay.

Who hears of what:
- staff: the apps above choose them for their own acts (dispatch: departments, centres,
  handlers; dispatch/notifications.py);
- complainants (事事有回音): every complainant with a phone hears by SMS of each
  public milestone of their case (notifications/complainants.py): registered (with the
  tracking code), accepted (with the handler's name once dispatched), not accepted (with
  the reason; a duplicate says where to follow), transferred (已转办), referred up (已上报),
  extended (with the new date), done (with a one-tap rating link) and handled again.
  Internal acts (supervision, urges, notes) send them nothing.

Complainants' messages respect the quiet hours (settings.NOTIFY_QUIET_HOURS, 21:00–08:00
Beijing time by default, empty for none): an SMS written in them waits for the morning,
except for an urgent safety case (特急, or an urgent hazard). An address that said no (an
OptOut: "TD" replied to the gateway, or the link on the tracking page) gets nothing more;
its deliveries are recorded as skipped.
"""

from __future__ import annotations

import logging
import re
import smtplib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from grievances import ratings, sms
from grievances.models import CaseEvent, Complainant, Grievance, Kind, Urgency
from grievances.relay import in_relay, on_chunk_committed
from notifications import messages
from notifications.models import Delivery, DeliveryAttempt, Notification, OptOut

log = logging.getLogger(__name__)

SH = ZoneInfo("Asia/Shanghai")
# The task that sends deliveries, by name: notifications.tasks imports this module.
DELIVERY_TASK = "notifications.tasks.deliver_notifications"
DEFAULT_QUIET_HOURS = "21:00-08:00"


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


# --- Quiet hours ------------------------------------------------------------------------------

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def quiet_hours() -> tuple[time, time] | None:
    """(start, end) in Beijing time, or None when messages may go out at any hour."""
    raw = getattr(settings, "NOTIFY_QUIET_HOURS", DEFAULT_QUIET_HOURS)
    if not raw:
        return None
    match = _HOURS.match(raw)
    if not match:
        raise ValueError("NOTIFY_QUIET_HOURS must look like 21:00-08:00 (or be empty)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


def next_allowed(moment: datetime) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    hours = quiet_hours()
    if hours is None:
        return moment
    start, end = hours
    local = moment.astimezone(SH)
    now = local.time()
    if start == end:
        return moment
    quiet = (start <= now or now < end) if start > end else (start <= now < end)
    if not quiet:
        return moment
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=SH)


def urgent_safety(case: Grievance) -> bool:
    """A case whose messages go out at any hour: 特急, or an urgent hazard."""
    return case.urgency == Urgency.MOST_URGENT or (
        case.urgency == Urgency.URGENT and case.category.kind == Kind.HAZARD
    )


# --- Opting out -------------------------------------------------------------------------------

STOP_WORDS = {"TD", "T", "N", "STOP", "UNSUBSCRIBE", "退订", "取消"}


def normalized(address: str) -> str:
    """A phone number's digits (a leading +86 dropped), or a lower-case e-mail address."""
    address = (address or "").strip()
    if "@" in address:
        return address.lower()
    digits = "".join(ch for ch in address if ch.isdigit())
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def opt_out(address: str, source: str) -> bool:
    """Stop messages to this address; True if it was receiving them. Its pending
    deliveries are skipped at once."""
    key = normalized(address)
    if not key:
        return False
    _, created = OptOut.objects.get_or_create(address=key, defaults={"source": source})
    Delivery.objects.filter(
        status=Delivery.Status.PENDING, notification__complainant__isnull=False
    ).filter(address__in=_spellings(address, key)).update(
        status=Delivery.Status.SKIPPED, last_error="opted out"
    )
    return created


def opt_in(address: str) -> bool:
    """Messages to this address again (from the next one on); True if it had said no."""
    deleted, _ = OptOut.objects.filter(address=normalized(address)).delete()
    return bool(deleted)


def _spellings(address: str, key: str) -> list[str]:
    return sorted({address.strip(), key, f"+86{key}"})


def inbound_sms(phone: str, text: str) -> bool:
    """The gateway's inbound hook: a reply of "TD" (or another stop word) opts out."""
    word = (text or "").strip().upper()
    if word in STOP_WORDS:
        return opt_out(phone, "sms")
    return False


def opted_out(addresses: Iterable[str]) -> set[str]:
    keys = {normalized(a): a for a in addresses if a}
    found = set(OptOut.objects.filter(address__in=list(keys)).values_list("address", flat=True))
    return {keys[k] for k in found}


# --- Writing ----------------------------------------------------------------------------------


@dataclass
class Notice:
    """One reader's notice of one event: a staff user or a complainant."""

    event: CaseEvent
    message: str
    params: dict
    user: object | None = None  # a User with email/phone loaded
    complainant: Complainant | None = None
    channels: tuple[str, ...] = ()  # "email", "sms"
    kind: str = ""
    url: str = ""
    at_any_hour: bool = True


def write(notices: list[Notice]) -> int:
    """Store these notices and their deliveries (in the caller's transaction); returns how
    many notifications there are now for them (one per reader and event)."""
    if not notices:
        return 0
    pairs = [
        (
            n,
            Notification(
                recipient_id=n.user.pk if n.user is not None else None,
                complainant_id=n.complainant.pk if n.complainant is not None else None,
                grievance_id=n.event.grievance_id,
                event_id=n.event.pk,
                kind=n.kind or n.event.action,
                message=n.message,
                params=n.params,
                language=n.complainant.language if n.complainant is not None else "",
                url=n.url,
            ),
        )
        for n in notices
    ]
    # On a conflict (the event relayed twice) the existing row is kept as it is (the no-op
    # update only makes the statement return its id): one row per reader and event.
    for reader in ("recipient", "complainant"):
        rows = [row for _n, row in pairs if getattr(row, f"{reader}_id") is not None]
        if rows:
            Notification.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=[reader, "event"], update_fields=["kind"]
            )
    now = timezone.now()
    addresses = {}
    for n, row in pairs:
        if row.pk is None:
            continue
        person = n.user or n.complainant
        for channel in n.channels:
            address = (
                getattr(person, "email", "") if channel == Delivery.Channel.EMAIL else person.phone
            )
            if address:
                addresses[(row.pk, channel)] = (n, address)
    refused = opted_out(a for (n, a) in addresses.values() if n.complainant is not None)
    deliveries = []
    for (notice_id, channel), (n, address) in addresses.items():
        skipped = n.complainant is not None and address in refused
        due = now if n.at_any_hour or channel != Delivery.Channel.SMS else next_allowed(now)
        deliveries.append(
            Delivery(
                notification_id=notice_id,
                channel=channel,
                address=address,
                next_attempt_at=due,
                status=Delivery.Status.SKIPPED if skipped else Delivery.Status.PENDING,
                last_error="opted out" if skipped else "",
            )
        )
    if deliveries:
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        if in_relay():
            _deliveries_waiting.set()
        else:
            transaction.on_commit(_enqueue_delivery)
    return sum(1 for _n, row in pairs if row.pk is not None)


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
    from config.celery import task

    try:
        task(DELIVERY_TASK).apply_async(retry=False)
    except Exception:  # noqa: BLE001 - any broker error; beat's run picks them up
        log.warning("could not enqueue deliveries; the periodic run will send them", exc_info=True)


# --- Sending ----------------------------------------------------------------------------------


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


def site_url(path: str) -> str:
    return f"{getattr(settings, 'SITE_URL', '').rstrip('/')}{path}"


def tracking_link(notice: Notification) -> str:
    """The short link to the case's tracking page, its code filled in (/t/<code>)."""
    return site_url(reverse("track-short", args=[notice.grievance.tracking_code]))


def _resident_link(notice: Notification) -> str:
    """The message's one link: the one-tap rating form for this complainant (a new token,
    valid 30 days, written when the message is sent), or the case's tracking page."""
    if messages.RESIDENT[notice.message].link == "rate" and notice.complainant is not None:
        return ratings.issue_rating_link(notice.complainant)
    return tracking_link(notice)


def _send(delivery: Delivery) -> None:
    notice = delivery.notification
    if notice.complainant_id is not None and notice.message in messages.RESIDENT:
        # Complainants are reached by SMS (they give a phone, not an address).
        link = _resident_link(notice)
        text = messages.sms_text(notice.message, notice.params, notice.language, link)
        sms.get_backend().send(delivery.address, text)
        return
    title, body = messages.rendered(notice)
    link = site_url(notice.url) if notice.url else ""
    if delivery.channel == Delivery.Channel.EMAIL:
        text = "\n\n".join(part for part in (body, link) if part)
        send_mail(title, text, None, [delivery.address], fail_silently=False)
        return
    # The backend itself, not sms.send_sms, which swallows errors: retries need to see them.
    sms.get_backend().send(delivery.address, sms.signed(" ".join(p for p in (title, link) if p)))


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
        rows = list(
            qs.select_related("notification__grievance", "notification__complainant").order_by(
                "next_attempt_at", "id"
            )[:limit]
        )
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


def _held_back(delivery: Delivery) -> datetime | None:
    """A complainant's SMS claimed inside the quiet hours (a retry that fell there): when it
    may go out instead."""
    notice = delivery.notification
    if notice.complainant_id is None or delivery.channel != Delivery.Channel.SMS:
        return None
    now = timezone.now()
    later = next_allowed(now)
    if later == now or urgent_safety(notice.grievance):
        return None
    return later


def send_claimed(delivery: Delivery) -> str:
    """Send one delivery this worker claimed and record the outcome. Returns its new status.

    Never sends twice in the normal course: only one worker claims a delivery (`claim`), and
    a sent delivery is marked sent right after the gateway took it. At-least-once at one
    edge: a worker that dies after the gateway took the message but before the mark leaves
    it "sending"; `requeue_stuck` puts it back after NOTIFY_STUCK_MINUTES and it is sent
    again.
    """
    delivery_id = delivery.pk
    later = _held_back(delivery)
    if later is not None:
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.PENDING,
            next_attempt_at=later,
            claimed_at=None,
            attempts=F("attempts") - 1,
        )
        return Delivery.Status.PENDING
    try:
        _send(delivery)
    except Exception as exc:  # noqa: BLE001 - classified below; a bad message must not stop the batch
        error = f"{type(exc).__name__}: {exc}"[:2000]
        DeliveryAttempt.objects.create(delivery_id=delivery_id, ok=False, error=error)
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
    DeliveryAttempt.objects.create(delivery_id=delivery_id, ok=True)
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
    of attempts). See `send_claimed` for the one case where this sends a message twice."""
    from django.utils.translation import gettext as _

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


# --- Reading ----------------------------------------------------------------------------------


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


CASE_DELIVERIES = 50


def case_deliveries(case: Grievance) -> list[Delivery]:
    """What went to the complainants of a case, for its staff page: the newest
    CASE_DELIVERIES, in one query."""
    return list(
        Delivery.objects.filter(
            notification__grievance=case, notification__complainant__isnull=False
        )
        .select_related("notification__complainant", "notification__event")
        .order_by("-id")[:CASE_DELIVERIES]
    )
