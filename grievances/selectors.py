"""Reads of cases that are more than a filter: durations, the public view, overdue, tracking."""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import JSONField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from grievances import deadlines, services
from grievances.models import (
    OPEN_STATES,
    CaseEvent,
    Category,
    Complainant,
    Grievance,
    Rating,
    State,
    format_tracking_code,
    normalize_tracking_code,
    phone_key,
)
from grievances.scoping import cases_for, own_cases

# What the reporter sees of each event in the public timeline (no staff names).
EVENT_LABELS = {
    "submit": gettext_lazy("Reported"),
    "accept": gettext_lazy("Accepted by the governance centre"),
    "reject": gettext_lazy("Not accepted"),
    "triage": gettext_lazy("Report corrected by the centre (研判)"),
    "dispatch": gettext_lazy("Dispatched for handling"),
    "report_in": gettext_lazy("Handler reported in"),
    "return": gettext_lazy("Returned to the centre"),
    "handle": gettext_lazy("Handled"),
    "answer": gettext_lazy("Answered by the governance centre"),
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
    "join": gettext_lazy("Complainant joined"),
}


# The line a duplicate (or merged) case shows instead of a reason for refusing it, and the
# label of its refusal in the timeline.
MERGED_LINE = gettext_lazy("Merged into another case for handling")
MERGED_STATE = gettext_lazy("Merged")
REDO_LINE = gettext_lazy("Being redone: the first result was not accepted")


# Labels that name something the event holds (the case a merge went to), by action: filled
# by the module of the act (grievances/merging.py).
EVENT_LABEL_MAKERS: dict[str, Callable[[CaseEvent], str]] = {}


def event_label(event: CaseEvent) -> str:
    if event.action in EVENT_LABEL_MAKERS:
        return EVENT_LABEL_MAKERS[event.action](event)
    if event.action == "reject" and (event.data or {}).get("reason_code") == "duplicate":
        return str(MERGED_LINE)
    return str(EVENT_LABELS.get(event.action, event.action))


# Events the public timeline shows by their label and time only, without their note: a
# mediation's notes name its parties and carry the agreement's terms and amounts, which are
# theirs to read on their own mediation pages, not anyone's with the code and four digits.
# The mediation app adds its own events.
# A rating's comment is its complainant's own: they read it under their rating, the other
# complainants of the case do not.
NOTES_WITHHELD: set[str] = {"mediate", "mediation_settled", "mediation_failed", "rate"}

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
    withheld = event.action in NOTES_WITHHELD or not event.public
    return PublicEvent(
        pk=event.pk,
        action=event.action,
        to_state=event.to_state,
        note="" if withheld else event.note,
        created_at=event.created_at,
        # The rating's stars are the only data the timeline shows, and whether a refusal
        # was a merge (its label).
        data=_public_data(event),
    )


def _public_data(event: CaseEvent) -> dict:
    if event.action == "rate":
        return {"score": event.data.get("score")}
    if event.action == "reject" and event.data.get("reason_code") == "duplicate":
        return {"reason_code": "duplicate"}
    return {}


def public_result(case: Grievance, timeline: list[PublicEvent]) -> str:
    """The result shown to the public: the latest handling's public note (the handler's own
    words), or only the outcome when that handling was a mediation agreement (its summary
    holds the terms, amounts and the agreement's fingerprint). Never the case's `result`
    field as it is: it holds what staff read."""
    if case.state not in (State.HANDLED, State.CLOSED):
        return ""
    handlings = [e for e in timeline if e.action in ("handle", "mediation_settled")]
    if not handlings:
        return ""
    if handlings[-1].action == "mediation_settled":
        return str(SETTLED_BY_MEDIATION)
    return handlings[-1].note


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


# --- A caller's cases by their phone (重复来电) ------------------------------------------------


# The throttle scope of look-ups by phone (the API's ?phone=, the desk's panel), per user.
CALLER_HISTORY = "caller_history"


def phone_variants(phone: str) -> list[str]:
    """The stored forms (models.phone_key: no spaces nor hyphens) of the number typed: with and
    without China's +86. Nothing for what is no phone number."""
    key = "".join(ch for ch in (phone or "").strip() if ch not in " -")
    for prefix in ("+86", "0086"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    else:
        if key.startswith("86") and len(key) == 13:
            key = key[2:]
    if not (5 <= len(key) <= 20 and key.isascii() and key.isdigit()):
        return []
    return [key, f"+86{key}", f"86{key}", f"0086{key}"]


def complainants_with_phone(phone: str):
    """Complainants whose phone is the number typed, whatever its spacing (co_phone_key)."""
    return (
        Complainant.objects.alias(phone_key=phone_key())
        .filter(phone_key__in=phone_variants(phone))
        .exclude(phone="")
    )


def cases_with_phone(qs: QuerySet, phone: str) -> QuerySet:
    """The cases of `qs` (scoped by the caller) on which the number is a complainant's."""
    if not phone_variants(phone):
        return qs.none()
    return qs.filter(pk__in=complainants_with_phone(phone).values("grievance_id"))


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


# --- Public tracking ------------------------------------------------------------------------------


def _phone_matches(person: Complainant, last4: str) -> bool:
    own = person.phone_last4
    return len(own) == 4 and hmac.compare_digest(own, last4)


def tracked_complainant(case: Grievance, last4: str) -> Complainant | None:
    """The complainant of `case` whose own phone ends in `last4`, or None.

    Every complainant follows the case with its code and their own digits. A duplicate's
    complainants moved to the case it duplicates; each still follows the code they were
    given, with the digits of the phone they gave (the row moved with them)."""
    if len(last4 or "") != 4 or not last4.isdigit():
        return None
    people = list(case.complainants.all())
    if case.duplicate_of_id:
        people += list(
            Complainant.objects.filter(merged_from=case)
            .exclude(grievance=case)
            .order_by("position", "id")
        )
    # Two complainants with the same last digits: the first of them (the reporter first).
    return next((p for p in people if _phone_matches(p, last4)), None)


def find_tracked_person(code: str, last4: str) -> tuple[Grievance, Complainant] | None:
    """The case with this tracking code and its complainant whose phone ends in `last4`."""
    normal = normalize_tracking_code(code)
    if not normal or len(last4 or "") != 4:
        return None
    case = (
        Grievance.objects.select_related(*PUBLIC_RELATED)
        .prefetch_related("complainants")
        .filter(tracking_code=normal)
        .first()
    )
    if case is None:
        return None
    person = tracked_complainant(case, last4)
    if person is None:
        return None
    return case, person


def find_tracked(code: str, last4: str) -> Grievance | None:
    """The case with this tracking code when one of its complainants' phones ends in
    `last4`."""
    found = find_tracked_person(code, last4)
    return found[0] if found else None


# What public_view reads of a case besides its own row.
PUBLIC_RELATED = ("category", "region", "handler_region", "duplicate_of")


# Moves after which nobody handles the case until the centre dispatches it again.
_HANDLER_ENDS = {"return", "escalate", "mediate", "mediation_failed"}


def handler_name(case: Grievance, events: list[CaseEvent]) -> str:
    """Who handles the case, for the public: the lead department of its latest dispatch (as
    named when whistled), or the grid or village handling it on the spot; "" before a
    dispatch, after a return or an escalation, and in mediation.

    Read from the case's events (`events`, in order): the dispatch event carries the lead
    department's name (the dispatch app writes it), so this app needs nothing of dispatch."""
    if case.state not in (State.DISPATCHED, State.IN_PROGRESS, State.HANDLED, State.CLOSED):
        return ""
    name = ""
    for event in events:
        if event.action == "dispatch":
            data = event.data or {}
            name = data.get("lead") or data.get("to_region_name") or ""
            if not name and case.handler_region_id:
                name = case.handler_region.name
        elif event.action == "handle" and (event.data or {}).get("on_the_spot"):
            name = case.region.name  # settled on the spot by the grid that reported it
        elif event.action in _HANDLER_ENDS or event.action == "mediation_settled":
            name = ""
    return name


def being_redone(case: Grievance, events: list[CaseEvent]) -> bool:
    """The case is handled again because its result was not accepted: sent back by the
    centre's verification (redo) or reopened after closing, and not handled since."""
    if case.state != State.IN_PROGRESS:
        return False
    last = next(
        (e.action for e in reversed(events) if e.action in ("handle", "redo", "reopen")), None
    )
    return last in ("redo", "reopen")


# Events the public timeline shows although staff wrote them for themselves: by their label
# and time only (the centre's reason for a redo is its own words to the handler).
SHOWN_WITHOUT_NOTE = {"redo"}


def publicly_shown(event: CaseEvent) -> bool:
    return event.public or event.action in SHOWN_WITHOUT_NOTE


@dataclass(frozen=True)
class Viewer:
    """Who reads a case's public view: one of its complainants, proven by their own phone
    digits or their rating link (`complainant_id`), or the reporter of a case that names no
    complainant (`complainant_id` None: they sent it, or are its signed-in reporter)."""

    complainant_id: int | None
    is_reporter: bool

    @classmethod
    def of(cls, person: Complainant) -> Viewer:
        return cls(complainant_id=person.pk, is_reporter=person.is_reporter)


def own_rating(case: Grievance, viewer: Viewer | None):
    """The rating `viewer` gave on `case`, or None."""
    if viewer is None:
        return None
    return Rating.objects.filter(grievance=case, complainant=viewer.complainant_id).first()


def public_view(case: Grievance, viewer: Viewer | None = None) -> dict:
    """Everything public tracking shows of a case (the page and the API) to `viewer`, one
    of its complainants: nothing else of it reaches a resident, and of the ratings only
    their own. Every complainant urges and rates; only the reporter withdraws."""
    events = list(case.events.order_by("created_at", "id"))
    timeline = [public_event(e) for e in events if publicly_shown(e)]
    rating = own_rating(case, viewer)
    now = timezone.now()
    merged = None
    if case.state == State.REJECTED and case.duplicate_of_id:
        original = case.duplicate_of
        merged = {
            "note": str(MERGED_LINE),
            "tracking_code": original.display_code,
            "state": original.state,
            "state_label": original.get_state_display(),
        }
    reject_reason = ""
    if case.state == State.REJECTED:
        reject_reason = case.reject_reason or (str(MERGED_LINE) if merged else "")
        if not reject_reason:
            reject_reason = case.get_reject_reason_code_display()
    urge_refusal = ""
    if case.state == State.SUBMITTED or case.state in services.PUBLIC_URGE_STATES:
        urge_refusal = services.public_urge_refusal(case, now, events) or ""
    urge_again_at = None
    if case.state in services.PUBLIC_URGE_STATES:
        urge_again_at = services.public_urge_again_at(case, now, events)
    rates = viewer is not None
    return {
        "tracking_code": case.display_code,
        "title": case.title,
        "category": case.category.name,
        "state": case.state,
        "state_label": str(MERGED_STATE) if merged else case.get_state_display(),
        "created_at": case.created_at,
        "handle_due_at": case.handle_due_at,
        "handler": handler_name(case, events),
        "result": public_result(case, timeline),
        "redo_note": str(REDO_LINE) if being_redone(case, events) else "",
        "reject_reason": reject_reason,
        "merged_into": merged,
        "timeline": timeline,
        "can_withdraw": case.state in services.OPEN_FOR_ACTS
        and viewer is not None
        and viewer.is_reporter,
        "can_urge": case.state in services.PUBLIC_URGE_STATES and urge_again_at is None,
        "urge_refusal": urge_refusal,
        "urge_again_at": urge_again_at,
        "can_rate": rates and services.rating_refusal(case, now) is None,
        "rate_until": services.rating_open_until(case) if rates else None,
        "rating": rating,
    }


# --- A resident's own cases (their home page) ------------------------------------------------

RATING_INVITED_FOR = timedelta(days=30)


def awaiting_rating(user, now: datetime | None = None) -> QuerySet[Grievance]:
    """The cases waiting for `user` to rate the result: closed within the last 30 days, and
    not yet rated by the complainant they are on it (the one their account is named on, or
    the reporter when they reported it), newest closed first."""
    now = now or timezone.now()
    theirs = Complainant.objects.filter(
        Q(user=user) | Q(is_reporter=True, grievance__reporter=user)
    ).exclude(pk__in=Rating.objects.filter(complainant__isnull=False).values("complainant_id"))
    return (
        own_cases(user)
        .filter(
            state=State.CLOSED,
            closed_at__gte=now - RATING_INVITED_FOR,
            pk__in=theirs.values("grievance_id"),
        )
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


# --- Nearby cases at the pin (重复提示) ----------------------------------------------------------
# Before a report goes in, its author sees the open cases of the same kind of problem already
# reported around the pin: a resident the public facts (category, state, distance, date), a
# staff member the cases of their own scope with their codes and titles.
#
# At ten million cases the database answers a box around the point, over the open cases of
# the category's family reported in the last 30 days (the partial index gr_open_nearby leads
# with the category and the latitude: an index range per category); the exact distance is
# computed here on the few rows of the box and the corners are cut.

NEARBY_RADIUS_M = 100
NEARBY_DAYS = 30
NEARBY_MAX = 20
# Rows of the box read at most: a box of 200 m in one category family and 30 days holds a
# handful of open cases; this bounds a pathological spot (a flood of reports on one pin).
NEARBY_CANDIDATES = 500
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@dataclass(frozen=True)
class NearbyCase:
    """One open case near a point. `pk`, `tracking_code` and `title` are filled only for a
    staff member's own scope; the public gets the other four fields. `case_id` is always
    there and never shown: a higher app signs it into a token (duplicates: the join button),
    so that a resident names the case without ever seeing its id."""

    category: Category
    state: str
    distance_m: int
    created_at: datetime
    pk: int | None = None
    tracking_code: str = ""
    title: str = ""
    case_id: int | None = None

    @property
    def state_label(self) -> str:
        return str(State(self.state).label)

    @property
    def display_code(self) -> str:
        return format_tracking_code(self.tracking_code) if self.tracking_code else ""


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """The great-circle distance in metres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def category_family(code: str) -> list[Category]:
    """The category of `code` and its siblings under the same parent (a top category: itself
    and its children). InvalidInput naming `category` for an unknown code."""
    found = Category.objects.filter(code=code).values_list("pk", "parent_id").first()
    if found is None:
        raise services.InvalidInput(gettext("Unknown category."), field="category")
    return category_families([found])[found[0]]


def category_families(categories: Iterable[tuple[int, int | None]]) -> dict[int, list[Category]]:
    """category_family of each (id, parent id) given, by id: one query for them all."""
    categories = list(categories)
    heads = {pk: parent_id or pk for pk, parent_id in categories}
    rows = list(
        Category.objects.filter(Q(pk__in=heads) | Q(parent_id__in=set(heads.values()))).only(
            "code", "name", "name_en", "parent_id"
        )
    )
    return {
        pk: [c for c in rows if c.pk == pk or c.parent_id == head] for pk, head in heads.items()
    }


def nearby_box(lng: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lng, max_lng, min_lat, max_lat) of a box holding the circle around the point."""
    dlat = radius_m / METRES_PER_DEGREE
    # Near a pole a degree of longitude shrinks to nothing: the box then spans every
    # longitude (no case is reported there, but the answer stays right).
    cos_lat = math.cos(math.radians(min(abs(lat) + dlat, 90.0)))
    dlng = 180.0 if cos_lat < 1e-6 else min(180.0, dlat / cos_lat)
    return lng - dlng, lng + dlng, lat - dlat, lat + dlat


@dataclass(frozen=True)
class Spot:
    """A point to look around: open cases of the categories `family` (ids) reported in the
    NEARBY_DAYS days before `now`."""

    lng: float
    lat: float
    family: frozenset[int]
    now: datetime

    @property
    def since(self) -> datetime:
        return self.now - timedelta(days=NEARBY_DAYS)

    def q(self) -> Q:
        min_lng, max_lng, min_lat, max_lat = nearby_box(self.lng, self.lat, NEARBY_RADIUS_M)
        return Q(
            category_id__in=sorted(self.family),
            lat__gte=min_lat,
            lat__lte=max_lat,
            lng__gte=min_lng,
            lng__lte=max_lng,
            created_at__gte=self.since,
        )


def open_cases_near_spots(
    spots: list[Spot],
    *,
    columns: Iterable[str] = (),
    queryset: QuerySet[Grievance] | None = None,
) -> list[list[tuple[int, dict]]]:
    """For each spot, the open cases within NEARBY_RADIUS_M of it, as (distance in whole
    metres, row) nearest first (the newest first at one distance). A row holds `columns`
    besides the category, state, date and point; `queryset` narrows the cases (a user's
    scope). One query for all the spots: a box per spot over the index gr_open_nearby (the
    boxes ORed); each circle is cut here.

    What the report page's list (nearby_cases) and the likely duplicates found for a relay
    chunk of new reports (duplicates.selectors) both ask."""
    if not spots:
        return []
    where = Q(pk__in=[])
    for spot in spots:
        where |= spot.q()
    qs = (Grievance.objects.all() if queryset is None else queryset).filter(
        where, state__in=OPEN_STATES
    )
    fields = ["category_id", "state", "created_at", "lng", "lat", *columns]
    rows = list(qs.order_by().values(*fields)[: NEARBY_CANDIDATES * len(spots)])
    answers = []
    for spot in spots:
        found = []
        for row in rows:
            if row["category_id"] not in spot.family or row["created_at"] < spot.since:
                continue
            distance = haversine_m(spot.lng, spot.lat, row["lng"], row["lat"])
            if distance <= NEARBY_RADIUS_M:
                found.append((round(distance), row))
        found.sort(key=lambda hit: (hit[0], -hit[1]["created_at"].timestamp()))
        answers.append(found)
    return answers


def nearby_cases(
    lng: float, lat: float, category: str, *, user=None, now: datetime | None = None
) -> list[NearbyCase]:
    """The open cases within NEARBY_RADIUS_M of the point, reported in the last NEARBY_DAYS
    days, in the category of code `category` or its siblings: nearest first, NEARBY_MAX at
    most. Without `user`, all such cases with their public facts only; with a `user`, the
    cases of their scope (cases_for) with their codes and titles.

    Three queries whatever the number of cases: the category, its family, the box.
    """
    family = {c.pk: c for c in category_family(category)}
    staff = user is not None
    [hits] = open_cases_near_spots(
        [Spot(lng, lat, frozenset(family), now or timezone.now())],
        columns=["pk", "tracking_code", "title"],
        queryset=cases_for(user) if staff else None,
    )
    return [
        NearbyCase(
            category=family[row["category_id"]],
            state=row["state"],
            distance_m=distance,
            created_at=row["created_at"],
            pk=row["pk"] if staff else None,
            tracking_code=row["tracking_code"] if staff else "",
            title=row["title"] if staff else "",
            case_id=row["pk"],
        )
        for distance, row in hits[:NEARBY_MAX]
    ]
