"""Reads of the console (the centre's queue) and the department inbox.

Every case queryset starts from grievances.scoping.cases_for. What a page shows per row is
read for the whole page at once, so a page costs the same queries for 5 rows or 25:

- `proposals_for(cases)`: the routing proposal of each case from one read of the rules that
  can match them, decided the way `dispatch.services.propose` decides;
- `open_leads(case_ids)`: the open lead assignment of each case;
- `calendars_for(regions)`: one working calendar per set of regional calendar rows, for
  countdowns in working time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dispatch.models import Assignment, Department, DepartmentMembership, RoutingRule
from dispatch.services import (
    OPEN,
    Proposal,
    department_ids,
    head_department_ids,
    rule_conflicts,
)
from grids.models import Level, Region, Role
from grids.scoping import memberships, sees_everything, subtree_q
from grids.workcalendar import WorkCalendar
from grievances.models import (
    QUEUE_GROUP_NEEDS_CENTRE,
    QUEUE_GROUP_OTHER,
    QUEUE_GROUP_WITH_HANDLERS,
    QUEUE_NEEDS_CENTRE,
    QUEUE_STATES,
    QUEUE_WITH_HANDLERS,
    Grievance,
    Urgency,
    queue_deadline_expression,
    queue_group_expression,
    queue_rank_expression,
)
from grievances.scoping import cases_for
from grievances.selectors import due_today_q, overdue_q
from grievances.templatetags.cases import SH, Due, due_for, human_duration

# --- The console ----------------------------------------------------------------------------------

# The centre's open cases. The first three wait for the centre itself (accept or reject,
# dispatch, verify); the next two for a handler's deadline; mediating cases for a mediator.
# The queue's order and its indexes are defined with the model (grievances.models).
NEEDS_YOU = QUEUE_NEEDS_CENTRE
WITH_HANDLERS = QUEUE_WITH_HANDLERS
CONSOLE_STATES = QUEUE_STATES

GROUP_NEEDS_YOU = QUEUE_GROUP_NEEDS_CENTRE
GROUP_WITH_HANDLERS = QUEUE_GROUP_WITH_HANDLERS
GROUP_OTHER = QUEUE_GROUP_OTHER


def is_centre_staff(user) -> bool:
    """Who may open the console: centre staff of some region, and superusers."""
    if not getattr(user, "is_authenticated", False):
        return False
    return sees_everything(user) or any(m.role == Role.CENTRE_STAFF for m in memberships(user))


def centre_regions(user) -> list[Region]:
    """The regions of the user's centre-staff memberships, nested ones dropped."""
    regions = {m.region.pk: m.region for m in memberships(user) if m.role == Role.CENTRE_STAFF}
    return sorted(
        (
            r
            for r in regions.values()
            if not any(
                o.pk != r.pk and o.tree_id == r.tree_id and o.lft <= r.lft and r.rght <= o.rght
                for o in regions.values()
            )
        ),
        key=lambda r: (r.depth, r.code),
    )


def console_cases(user) -> QuerySet[Grievance]:
    """The open cases owned by a centre inside the user's centre-staff subtrees.

    A case escalated to a centre above leaves the lower centre's console and enters the
    upper one's. Superusers see every open case.

    A case's owning centre is its region or one of the region's ancestors (submit picks the
    region or the village of a grid, escalate its parent), so a case owned inside a centre's
    subtree lies in it too: the equality on the centre's per-level column adds no condition,
    and leads the index that holds the queue's order (grievances.models.queue_index).
    """
    qs = cases_for(user, as_reporter=False).filter(state__in=CONSOLE_STATES)
    if sees_everything(user):
        return qs
    return qs.filter(centre_subtree_q(centre_regions(user)))


def centre_subtree_q(regions: list[Region]) -> Q:
    """Cases owned by a centre inside any of `regions`, each region's subtree named by its
    per-level column as well."""
    q = Q(pk__in=[])
    for r in regions:
        q |= Q(**{f"{r.level}_id": r.pk}) & subtree_q([r], prefix="owning_centre__")
    return q


def queue_order(qs: QuerySet[Grievance]) -> QuerySet[Grievance]:
    """What needs the centre first (priority, then oldest), then the cases whose clock is
    running by nearest deadline (overdue first), then the rest (suspended, mediating).

    The same expressions as the queue's indexes, so that a page is read in index order."""
    return qs.annotate(
        queue_group=queue_group_expression(),
        queue_rank=queue_rank_expression(),
        queue_deadline=queue_deadline_expression(),
    ).order_by(
        "queue_group",
        "-queue_rank",
        F("queue_deadline").asc(nulls_last=True),
        "created_at",
        "id",
    )


def without_distinct(qs: QuerySet[Grievance]) -> QuerySet[Grievance]:
    """The console's filters without the DISTINCT that a multiple-choice filter adds.

    Every filter of the console is a condition on the case's own row or a subquery, never a
    join to many rows, so a case appears once anyway; DISTINCT would make PostgreSQL sort
    the whole subtree instead of reading the queue's index in order."""
    if not qs.query.distinct or qs.query.distinct_fields:
        return qs
    qs = qs.all()
    qs.query.distinct = False
    return qs


def open_assignment_to(department_id) -> Q:
    """Cases with an open assignment (pending or reported in) to the department."""
    return Q(
        pk__in=Assignment.objects.filter(department_id=department_id, status__in=OPEN).values(
            "whistle__grievance_id"
        )
    )


def console_summary(qs: QuerySet[Grievance], now: datetime) -> dict[str, int]:
    """Counts of the queue in one query: what waits for the centre, what runs, what is late."""
    return qs.order_by().aggregate(
        total=Count("pk"),
        needs_you=Count("pk", filter=Q(state__in=NEEDS_YOU)),
        with_handlers=Count("pk", filter=Q(state__in=WITH_HANDLERS)),
        overdue=Count("pk", filter=overdue_q(now)),
        due_today=Count("pk", filter=due_today_q(now)),
        # Extension requests (延期申请) waiting for the centre's decision.
        extension_pending=Count("pk", filter=Q(extension_requested_days__isnull=False)),
    )


def console_departments(user, limit: int = 300) -> list[Department]:
    """Departments a console filter offers: those serving a region inside the user's centre
    subtrees or above them (a township centre whistles the county's departments)."""
    qs = Department.objects.filter(active=True).select_related("region")
    if not sees_everything(user):
        regions = centre_regions(user)
        above = Q(pk__in=[])
        for r in regions:
            above |= Q(region__tree_id=r.tree_id, region__lft__lte=r.lft, region__rght__gte=r.rght)
        qs = qs.filter(above | subtree_q(regions, prefix="region__"))
    return list(qs.order_by("region__tree_id", "region__lft", "name")[:limit])


def console_region_options(user, limit: int = 200) -> list[Region]:
    """Regions offered in the subtree filter: the centre regions and two levels below."""
    qs = Region.objects.only("pk", "name", "code", "level")
    if sees_everything(user):
        qs = qs.filter(level__in=[Level.PROVINCE, Level.CITY, Level.COUNTY])
    else:
        q = Q(pk__in=[])
        for r in centre_regions(user):
            q |= Q(
                tree_id=r.tree_id,
                lft__gte=r.lft,
                lft__lte=r.rght,
                mptt_level__lte=r.mptt_level + 2,
            )
        qs = qs.filter(q)
    return list(qs.order_by("tree_id", "lft")[:limit])


def console_conflicts(user) -> list[tuple[RoutingRule, RoutingRule]]:
    """Pairs of equally specific active rules that can route the user's centres' cases:
    rules of a region inside one of the centre subtrees or above one."""
    if sees_everything(user):
        return rule_conflicts()
    regions = centre_regions(user)
    if not regions:
        return []
    above = Q(pk__in=[])
    for r in regions:
        above |= Q(region__tree_id=r.tree_id, region__lft__lte=r.lft, region__rght__gte=r.rght)
    scoped = RoutingRule.objects.filter(active=True).filter(above | subtree_q(regions, "region__"))
    # rule_conflicts() reads every active rule when given an empty queryset: keep the pairs
    # of the scope only.

    def relevant(region: Region) -> bool:
        return any(
            region.tree_id == r.tree_id
            and (r.lft <= region.lft <= r.rght or (region.lft <= r.lft and r.rght <= region.rght))
            for r in regions
        )

    return [pair for pair in rule_conflicts(scoped) if relevant(pair[0].region)]


def _holds(outer, inner) -> bool:
    """Whether the MPTT node `outer` is `inner` or one of its ancestors."""
    return outer.tree_id == inner.tree_id and outer.lft <= inner.lft and inner.rght <= outer.rght


def proposals_for(cases: Iterable[Grievance]) -> dict[int, Proposal]:
    """The routing proposal of each case, as dispatch.services.propose(case) makes it, from
    two queries whatever the number of cases: the active rules whose region holds one of
    the cases' regions (with their assisting departments). The cases need their category
    and region loaded (select_related)."""
    cases = list(cases)
    if not cases:
        return {}
    regions = {c.region_id: c.region for c in cases}
    holds_one = Q(pk__in=[])
    for r in regions.values():
        holds_one |= Q(region__tree_id=r.tree_id, region__lft__lte=r.lft, region__rght__gte=r.rght)
    rules = list(
        RoutingRule.objects.filter(active=True)
        .filter(holds_one)
        .select_related("category", "region", "lead")
        .prefetch_related("assisting")
    )
    out = {}
    for case in cases:
        matching = [
            rule
            for rule in rules
            if _holds(rule.category, case.category) and _holds(rule.region, case.region)
        ]
        out[case.pk] = _decide(matching)
    return out


def _decide(rules: list[RoutingRule]) -> Proposal:
    """The decision of dispatch.services.propose over the matching rules."""
    if not rules:
        return Proposal()
    rules = sorted(rules, key=lambda r: r.specificity, reverse=True)
    best = rules[0]
    ties = [r for r in rules if r.specificity == best.specificity]
    if len(ties) > 1:
        return Proposal(conflict=ties)
    return Proposal(
        rule=best,
        lead=best.lead,
        assisting=[d for d in best.assisting.all() if d.pk != best.lead_id],
        handling_level=best.handling_level,
    )


def open_leads(case_ids: Iterable[int]) -> dict[int, Assignment]:
    """The open lead assignment of each case (the newest), in one query."""
    ids = list(case_ids)
    if not ids:
        return {}
    found: dict[int, Assignment] = {}
    rows = (
        Assignment.objects.filter(
            whistle__grievance_id__in=ids, role=Assignment.Role.LEAD, status__in=OPEN
        )
        .select_related("department", "whistle")
        .order_by("id")
    )
    for a in rows:
        found[a.whistle.grievance_id] = a  # the newest wins
    return found


# --- Countdowns in working time -------------------------------------------------------------------


def calendars_for(regions: Iterable[Region]) -> dict[int, WorkCalendar]:
    """A working calendar for each region, from one read of the calendar's version stamp
    (and of the regions with days of their own, when there are any).

    `WorkCalendar(region)` reads the stamp, and the region's ancestors when some region has
    calendar rows, on first use: once per calendar. Here one snapshot is shared and each
    region's ancestors with rows are found from its tree fields, so that a page of rows
    from many regions costs the same as one.
    """
    regions = {r.pk: r for r in regions}
    national = WorkCalendar(None)
    meta = national._snapshot()
    if not meta.regions_with_rows:
        # Most of the country: every region counts the national calendar.
        return {pk: national for pk in regions}
    with_rows = list(
        Region.objects.filter(pk__in=meta.regions_with_rows)
        .only("pk", "tree_id", "lft", "rght")
        .order_by("tree_id", "lft")
    )
    shared: dict[tuple[int, ...], WorkCalendar] = {}
    out = {}
    for pk, region in regions.items():
        # Root first, the region itself last: the order WorkCalendar reads them in.
        key = tuple(a.pk for a in with_rows if _holds(a, region))
        calendar = shared.get(key)
        if calendar is None:
            calendar = WorkCalendar(pk)
            calendar._meta, calendar._regions = meta, key
            shared[key] = calendar
        out[pk] = calendar
    return out


def working_duration(delta: timedelta, day_length: timedelta) -> str:
    """Working time as people count it: "2 working days 3 h", "5 h 20 min"."""
    seconds = int(abs(delta.total_seconds()))
    day = max(int(day_length.total_seconds()), 1)
    days, rest = divmod(seconds, day)
    if not days:
        return human_duration(rest)
    text = ngettext("%(days)d working day", "%(days)d working days", days) % {"days": days}
    hours = rest // 3600
    if hours:
        text += " " + _("%(hours)d h") % {"hours": hours}
    return text


def countdown(
    at: datetime | None,
    what: str,
    calendar: WorkCalendar,
    now: datetime,
    *,
    calendar_hours: bool = False,
    paused: bool = False,
) -> Due:
    """A deadline as a countdown in working time (calendar time for 特急 cases).

    kind as in grievances.templatetags.cases.Due: overdue, today (before midnight in
    Beijing), later, paused, none.
    """
    if paused:
        return Due("paused", _("Suspended: the clock is stopped"), at, what)
    if at is None:
        return Due("none", "")
    early, late = sorted((now, at))
    if calendar_hours:
        span = late - early
        text_time = human_duration(span.total_seconds())
    else:
        span = calendar.working_time_between(early, late)
        text_time = working_duration(span, calendar.day_length)
    if at < now:
        if span < timedelta(minutes=1):
            # Past the deadline outside working hours: no working time lost yet.
            return Due("overdue", _("Overdue"), at, what)
        return Due("overdue", _("Overdue by %(time)s") % {"time": text_time}, at, what)
    kind = "today" if at.astimezone(SH).date() == now.astimezone(SH).date() else "later"
    if span <= timedelta(0):
        # Due when the next working period starts: no working time left to count down.
        when = date_format(timezone.localtime(at, SH), "m-d H:i")
        return Due(kind, _("Due at %(time)s") % {"time": when}, at, what)
    return Due(kind, _("Due in %(time)s") % {"time": text_time}, at, what)


def case_countdown(case: Grievance, calendar: WorkCalendar, now: datetime) -> Due:
    """The running deadline of a case (as due_for() picks it), counted in working time."""
    base = due_for(case, now)
    if base.kind in ("none", "paused"):
        return base
    return countdown(
        base.at,
        base.what,
        calendar,
        now,
        calendar_hours=case.urgency == Urgency.MOST_URGENT,
    )


# --- The department inbox -------------------------------------------------------------------------

INBOX_LIMIT = 50
RETURNED_WINDOW = timedelta(days=30)


def is_department_staff(user) -> bool:
    return bool(department_ids(user)) or sees_everything(user)


def mine_first(user) -> Case:
    """An ordering term that puts the assignments whose officer (承办人) is `user` first."""
    return Case(When(officer_id=user.pk, then=Value(0)), default=Value(1))


def inbox_assignments(user) -> QuerySet[Assignment]:
    """The assignments of the user's departments (every department for a superuser)."""
    if sees_everything(user):
        return Assignment.objects.all()
    return Assignment.objects.filter(department_id__in=department_ids(user))


def _inbox_conditions(now: datetime) -> dict[str, Q]:
    running = Q(whistle__grievance__suspended_at__isnull=True)
    pending, reported = Q(status=Assignment.Status.PENDING), Q(status=Assignment.Status.REPORTED_IN)
    late_report = pending & Q(report_in_due_at__lt=now)
    late_handle = reported & Q(handle_due_at__lt=now)
    paused = Q(whistle__grievance__suspended_at__isnull=False)
    return {
        "overdue": running & (late_report | late_handle),
        "report_in": pending
        & (Q(report_in_due_at__gte=now) | Q(report_in_due_at__isnull=True) | paused),
        "in_progress": reported
        & (Q(handle_due_at__gte=now) | Q(handle_due_at__isnull=True) | paused),
        # Answered by them: the lead's return (退单) or an assisting department's refusal.
        "returned": (
            Q(status=Assignment.Status.RETURNED, role=Assignment.Role.LEAD)
            & Q(finished_at__gte=now - RETURNED_WINDOW)
        )
        | (Q(status=Assignment.Status.REFUSED) & Q(reported_in_at__gte=now - RETURNED_WINDOW)),
    }


INBOX_GROUPS = ("overdue", "report_in", "in_progress", "returned")


def inbox(user, now: datetime, limit: int = INBOX_LIMIT, *, officer_only: bool = False) -> dict:
    """The inbox in five queries: the count of each group, then each group's first rows.

    In every group the assignments the user is the officer (承办人) of come first (我承办的),
    then the department's others; `officer_only` keeps the user's own. `counts["officer"]`
    counts the user's own open ones."""
    base = inbox_assignments(user)
    own = Q(officer_id=user.pk)
    conditions = _inbox_conditions(now)
    # The tiles count what the page lists; the officer's count is always the whole of it.
    counted = {name: q & own if officer_only else q for name, q in conditions.items()}
    counts = base.aggregate(
        **{name: Count("pk", filter=q) for name, q in counted.items()},
        officer=Count("pk", filter=own & Q(status__in=OPEN)),
    )
    if officer_only:
        base = base.filter(own)
    rows = base.select_related(
        "department",
        "officer",
        "whistle__centre",
        "whistle__grievance__category",
        "whistle__grievance__region",
    )
    passed = Case(
        When(status=Assignment.Status.PENDING, then=F("report_in_due_at")),
        default=F("handle_due_at"),
        output_field=DateTimeField(),
    )
    orders = {
        "overdue": (passed.asc(), "id"),
        "report_in": (F("report_in_due_at").asc(nulls_last=True), "id"),
        "in_progress": (F("handle_due_at").asc(nulls_last=True), "id"),
        "returned": (
            Coalesce("finished_at", "reported_in_at").desc(),
            "-id",
        ),
    }
    groups = {}
    for name in INBOX_GROUPS:
        if counts[name]:
            order = (mine_first(user), *orders[name])
            groups[name] = list(rows.filter(conditions[name]).order_by(*order)[:limit])
        else:
            groups[name] = []  # nothing to read
    return {"counts": counts, "groups": groups}


def officer_choices(user) -> dict[int, list[tuple[int, str]]]:
    """The members a head may name officer (承办人), by department, for every department the
    user heads, in one query."""
    return _members(head_department_ids(user))


def officer_choices_of(department_id: int) -> list[tuple[int, str]]:
    return _members([department_id]).get(department_id, [])


def _members(department_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
    """(user id, name) of the active members of each department, in name order."""
    department_ids = list(department_ids)
    if not department_ids:
        return {}
    members = (
        DepartmentMembership.objects.filter(department_id__in=department_ids, user__is_active=True)
        .select_related("user")
        .order_by("department_id", "user__full_name", "user__username")
    )
    out: dict[int, list[tuple[int, str]]] = {}
    for m in members:
        out.setdefault(m.department_id, []).append((m.user_id, str(m.user)))
    return out


def inbox_groups(found: dict, now: datetime) -> list[dict]:
    """The groups of `inbox()` as pages show them: each assignment with its case and its
    countdown, the calendars read once for them all."""
    everything = [a for rows in found["groups"].values() for a in rows]
    calendars = calendars_for(a.whistle.grievance.region for a in everything)
    return [
        {
            "key": name,
            "count": found["counts"][name],
            "items": [
                {
                    "assignment": a,
                    "case": a.whistle.grievance,
                    "due": assignment_countdown(a, calendars[a.whistle.grievance.region_id], now),
                }
                for a in found["groups"][name]
            ],
        }
        for name in INBOX_GROUPS
    ]


def assignment_countdown(assignment: Assignment, calendar: WorkCalendar, now: datetime) -> Due:
    """The deadline the assignment runs against: report-in while pending, handling after."""
    case = assignment.whistle.grievance
    if assignment.status == Assignment.Status.PENDING:
        at, what = assignment.report_in_due_at, _("Report in")
    elif assignment.status == Assignment.Status.REPORTED_IN:
        at, what = assignment.handle_due_at, _("Handle")
    else:
        return Due("none", "")
    return countdown(
        at,
        what,
        calendar,
        now,
        calendar_hours=case.urgency == Urgency.MOST_URGENT,
        paused=bool(case.suspended_at),
    )
