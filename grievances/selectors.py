"""Reads of cases that are more than a filter: durations, the public view, overdue, tracking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import JSONField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy

from grievances import deadlines, services
from grievances.models import CaseEvent, Complainant, Grievance, State, normalize_tracking_code
from grievances.scoping import cases_for, own_cases

# What the reporter sees of each event in the public timeline (no staff names).
EVENT_LABELS = {
    "submit": gettext_lazy("Reported"),
    "accept": gettext_lazy("Accepted by the governance centre"),
    "reject": gettext_lazy("Not accepted"),
    "dispatch": gettext_lazy("Dispatched for handling"),
    "report_in": gettext_lazy("Handler reported in"),
    "return": gettext_lazy("Returned to the centre"),
    "handle": gettext_lazy("Handled"),
    "redo": gettext_lazy("Sent back to be redone"),
    "verify": gettext_lazy("Verified and closed"),
    "reopen": gettext_lazy("Reopened"),
    "escalate": gettext_lazy("Escalated to the centre above"),
    "withdraw": gettext_lazy("Withdrawn"),
    "mediate": gettext_lazy("Sent to mediation"),
    "suspend": gettext_lazy("Suspended"),
    "resume": gettext_lazy("Resumed"),
    "extend": gettext_lazy("Deadline extension"),
    "urge": gettext_lazy("Urged"),
    "supervise": gettext_lazy("Supervised"),
    "note": gettext_lazy("Progress update"),
    "rate": gettext_lazy("Rated"),
    "return_visit": gettext_lazy("Return visit"),
}


def event_label(event: CaseEvent) -> str:
    return str(EVENT_LABELS.get(event.action, event.action))


# Events the public timeline shows by their label and time only, without their note: a
# mediation's notes name its parties and carry the agreement's terms and amounts, which are
# theirs to read on their own mediation pages, not anyone's with the code and four digits.
# The mediation app adds its own events.
NOTES_WITHHELD: set[str] = {"mediate", "mediation_settled", "mediation_failed"}

SETTLED_BY_MEDIATION = gettext_lazy(
    "Settled by mediation: the parties reached an agreement and signed it. "
    "Each party reads its terms on their own mediation page."
)


@dataclass(frozen=True)
class PublicEvent:
    """What the reporter sees of an event on the tracking page and in the tracking API."""

    pk: int
    action: str
    to_state: str
    note: str
    created_at: datetime
    data: dict


def public_event(event: CaseEvent) -> PublicEvent:
    withheld = event.action in NOTES_WITHHELD
    return PublicEvent(
        pk=event.pk,
        action=event.action,
        to_state=event.to_state,
        note="" if withheld else event.note,
        created_at=event.created_at,
        # The rating's stars are the only data the timeline shows.
        data={"score": event.data.get("score")} if event.action == "rate" else {},
    )


def public_result(case: Grievance, timeline: list[PublicEvent]) -> str:
    """The result shown to the reporter: the handler's words, or only the outcome when the
    latest handling was a mediation agreement (its summary, the case's result, holds the
    terms)."""
    if case.state not in (State.HANDLED, State.CLOSED):
        return ""
    handlings = [e for e in timeline if e.action in ("handle", "mediation_settled")]
    if handlings and handlings[-1].action == "mediation_settled":
        return str(SETTLED_BY_MEDIATION)
    return case.result


SH = ZoneInfo("Asia/Shanghai")


def today_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Midnight to midnight of `now`'s day in Beijing."""
    day = now.astimezone(SH).date()
    start = datetime.combine(day, time.min, tzinfo=SH)
    return start, start + timedelta(days=1)


def due_today_q(now: datetime) -> Q:
    """A deadline that is running and falls on today (Beijing time), met or not yet."""
    start, end = today_bounds(now)
    return Q(suspended_at__isnull=True) & (
        Q(state=State.DISPATCHED, report_in_due_at__gte=start, report_in_due_at__lt=end)
        | Q(
            state__in=[State.DISPATCHED, State.IN_PROGRESS],
            handle_due_at__gte=start,
            handle_due_at__lt=end,
        )
    )


def overdue_q(now) -> Q:
    """Open cases past a deadline that is running (not suspended)."""
    return Q(suspended_at__isnull=True) & (
        Q(state=State.DISPATCHED, report_in_due_at__lt=now)
        | Q(state__in=[State.DISPATCHED, State.IN_PROGRESS], handle_due_at__lt=now)
    )


def reporter_only(user, case: Grievance) -> bool:
    """True when `user` sees `case` only because they reported it (a resident with an
    account): they read it as public tracking shows it, not as the staff do (internal notes,
    a mediation agreement's terms)."""
    if case.reporter_id is None or case.reporter_id != getattr(user, "pk", None):
        return False
    return not cases_for(user, as_reporter=False).filter(pk=case.pk).exists()


def reporter_only_ids(user, cases) -> set[int]:
    """The ids among `cases` (a page of them) that `user` sees only as their reporter, with
    one query for the page, none when they reported none of them."""
    reported = [c.pk for c in cases if c.reporter_id is not None and c.reporter_id == user.pk]
    if not reported:
        return set()
    staff = cases_for(user, as_reporter=False).filter(pk__in=reported).values_list("pk", flat=True)
    return set(reported) - set(staff)


def may_see_personal_data(user, case: Grievance) -> bool:
    """Phones and ID numbers in full: the centre, the handler and the reporter."""
    return (
        services.is_centre(user, case)
        or services.is_handler(user, case)
        or (services.is_reporter(user, case))
        or bool(getattr(user, "is_superuser", False))
    )


def _seconds(delta) -> int | None:
    return int(delta.total_seconds()) if delta is not None else None


def durations(case: Grievance) -> dict:
    """Wall-clock durations (shown to people) and working-time ones (for figures), seconds."""
    marks = {
        "accept": (case.created_at, case.accepted_at),
        "dispatch": (case.accepted_at or case.created_at, case.dispatched_at),
        "report_in": (case.dispatched_at, case.reported_in_at),
        "handle": (case.dispatched_at, case.handled_at),
        "close": (case.created_at, case.closed_at),
    }
    wall, work = {}, {}
    calendar = deadlines.calendar_for(case)
    for key, (start, end) in marks.items():
        done = start is not None and end is not None
        wall[key] = _seconds(end - start) if done else None
        work[key] = _seconds(calendar.working_time_between(start, end)) if done else None
    return {"wall_clock": wall, "working_time": work}


def find_tracked(code: str, last4: str) -> Grievance | None:
    """The case with this tracking code whose reporter's phone ends in `last4`."""
    normal = normalize_tracking_code(code)
    if not normal or len(last4) != 4:
        return None
    case = (
        Grievance.objects.select_related("category", "rating")
        .prefetch_related("complainants")
        .filter(tracking_code=normal)
        .first()
    )
    if case is None:
        return None
    reporter = next((c for c in case.complainants.all() if c.is_reporter), None)
    if reporter is None and case.duplicate_of_id:
        # A duplicate's complainants moved to the original case; its reporter (the first of
        # them) still follows the code they were given.
        reporter = Complainant.objects.filter(merged_from=case).order_by("position", "id").first()
    if reporter is None or not reporter.phone_last4 or reporter.phone_last4 != last4:
        return None
    return case


def public_view(case: Grievance) -> dict:
    """Everything public tracking shows of a case (the page and the API): nothing else of it
    reaches a resident."""
    timeline = [
        public_event(e) for e in case.events.filter(public=True).order_by("created_at", "id")
    ]
    rating = getattr(case, "rating", None)
    return {
        "tracking_code": case.display_code,
        "title": case.title,
        "category": case.category.name,
        "state": case.state,
        "state_label": case.get_state_display(),
        "created_at": case.created_at,
        "handle_due_at": case.handle_due_at,
        "result": public_result(case, timeline),
        "reject_reason": case.reject_reason if case.state == State.REJECTED else "",
        "timeline": timeline,
        "can_withdraw": case.state in services.OPEN_FOR_ACTS,
        "can_urge": case.state in services.OPEN_FOR_ACTS,
        "can_rate": case.state == State.CLOSED
        and (rating is None or timezone.now() - rating.created_at <= services.RATING_CHANGE_WINDOW),
        "rating": rating,
    }


# --- A resident's own cases (their home page) ------------------------------------------------

RATING_INVITED_FOR = timedelta(days=30)


def awaiting_rating(user, now: datetime | None = None) -> QuerySet[Grievance]:
    """The cases waiting for `user` to rate the result: closed within the last 30 days and not
    rated yet, newest closed first.

    Written against the Rating of today: one per case, given by the case's reporter (the
    account that reported it, or the account named on its first complainant, who tracks it).
    When ratings become one per complainant, this is the one query to change."""
    now = now or timezone.now()
    rater = Q(reporter=user) | Q(
        pk__in=Complainant.objects.filter(user=user, is_reporter=True).values("grievance_id")
    )
    return (
        own_cases(user)
        .filter(rater, state=State.CLOSED, closed_at__gte=now - RATING_INVITED_FOR)
        .filter(rating__isnull=True)
        .order_by("-closed_at", "-id")
    )


def action_label(action: str) -> str:
    return str(EVENT_LABELS.get(action, action))


# The moves that decide who handles a case now: a dispatch names them (a lead department, or
# a grid or village on the spot); the others take the case back from them.
ROUTING_ACTIONS = ("dispatch", "return", "escalate", "mediate")
HANDLER_KNOWN = (State.DISPATCHED, State.IN_PROGRESS, State.HANDLED, State.CLOSED)


def news_for(user) -> QuerySet[CaseEvent]:
    """The public events of a case (OuterRef "pk") that `user` did not make: what their home
    page calls news. Their own acts are theirs (a report, a rating or an urge sent from
    tracking, which carries no account) and not news to them."""
    own = Q(actor=user) | Q(
        actor__isnull=True, actor_label=services.REPORTER_LABEL, grievance__reporter=user
    )
    return (
        CaseEvent.objects.filter(grievance=OuterRef("pk"), public=True)
        .exclude(own)
        .order_by("-created_at", "-id")
    )


def with_progress(qs: QuerySet[Grievance], user) -> QuerySet[Grievance]:
    """Cases annotated with their latest news for `user` (`news_at`, `news_action`) and the
    latest move that decides their handler (`routing_action`, `routing_data`): correlated
    subqueries, so a page of cases stays one query."""
    news = news_for(user)
    routing = CaseEvent.objects.filter(
        grievance=OuterRef("pk"), action__in=ROUTING_ACTIONS
    ).order_by("-created_at", "-id")
    return qs.annotate(
        news_at=Subquery(news.values("created_at")[:1]),
        news_action=Subquery(news.values("action")[:1]),
        routing_action=Subquery(routing.values("action")[:1]),
        routing_data=Subquery(routing.values("data")[:1], output_field=JSONField()),
    )


def handled_by(case: Grievance) -> str:
    """Who handles a case annotated by `with_progress`, once it is known: the lead department
    of its dispatch, or the grid or village sent to handle it on the spot."""
    if case.state not in HANDLER_KNOWN or case.routing_action != "dispatch":
        return ""
    data = case.routing_data if isinstance(case.routing_data, dict) else {}
    return data.get("lead") or data.get("to_region_name") or ""
