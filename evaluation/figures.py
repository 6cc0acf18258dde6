"""The figures (三率 and the rest): every figure is defined here, once.

Everything that shows, ranks or exports a figure (the API, the red/black list, the exports,
the dashboards to come) calls `figures()` or `ranking()` of this module.

Periods are half-open ranges of Beijing dates, [from, to). Each event is attributed to the
day (Asia/Shanghai) of one instant, named below, and counts in the period holding that day.
A rate whose denominator is empty is None: neither 0 nor 100%.

Definitions
-----------
intake
    Cases reported (created_at) in the period; by kind and by category. Every case counts,
    whatever became of it (rejected duplicates and withdrawn cases too).
response rate (响应率)
    Report-ins on time / report-ins due in the period. A report-in obligation is each lead
    assignment of a whistle to a department (its report_in_due_at), and each case dispatched
    down to a grid or village for on-the-spot handling (the case's report_in_due_at). It
    counts once decided: answered (reported in, or returned with a reason, 退单) — on time
    when the answer came at or before the deadline — or still unanswered past its deadline
    (late). An assignment that ended unanswered before its deadline (the case escalated or
    withdrawn) does not count. Attributed to the day of the deadline.
on-time handling rate (按时办结率)
    Cases handled (feedback given) at or before handle_due_at / cases whose handling
    deadline falls in the period. Decided like report-ins: handled, or unhandled past the
    deadline and not suspended (late). A case keeps only its current deadline (extensions
    and suspensions move it; a return or an escalation clears it until the next dispatch).
    Withdrawn cases do not count. Attributed to the day of the deadline.
resolution rate (解决率)
    Cases closed and resolved / cases closed in the period (closed_at; a reopened case counts
    when it closes again). Each complainant rates for themselves (grievances.ratings): a case
    is resolved when every complainant who rated says it is (one "not resolved" is a matter
    not settled for that person, and the case's answer to them is what counts: 13 workers
    of whom one is still unpaid are not a resolved case). Without any rating, the `resolved`
    of a return visit that reached the reporter after that closing. A closed case with
    neither counts as not resolved.
satisfaction rate (满意率)
    Satisfied cases / cases rated, one per case however many complainants rated it,
    attributed to the day of the case's first rating (its created_at: a rating changed
    within its 30 days keeps its day and takes its new score; later complainants' ratings
    change the case's answer, not its day). A case is satisfied when the MEAN of its
    complainants' scores is 4 or more: the threshold of one rating (4 or 5 stars) applied to
    the mean, so that every complainant weighs the same and a case with many complainants
    counts once.
mediation success rate (调解成功率)
    Mediations settled / mediations settled or failed (the case's mediation_case.status);
    attributed to the mediation's closed_at, or to the case's created_at without one.
return-visit reach rate (有效回访率)
    Return visits that reached the reporter / return visits due in the period that were
    recorded or are past due (due_at).
durations
    Times to accept (reported → accepted), dispatch (accepted → dispatched), report in
    (dispatched → reported in), handle (dispatched → handled) and close (reported →
    closed), over the cases closed in the period, each where both instants exist; average
    and 90th percentile. Counted in WORKING TIME on the calendar of the case's region
    (grids.workcalendar; timelines shown to people are wall-clock, figures are not).
    handle_overdue: how late the late handlings were (deadline → handled, working time),
    over the handlings counted late by the on-time rate, attributed like it.
    The 90th percentile is the nearest-rank one over values rounded up to the edges of
    DURATION_EDGES_MINUTES (1-minute steps up to 10 minutes, then 5 minutes to an hour,
    15 minutes to a working day, an hour to 5 working days, half a day to 20, a day beyond):
    it is never below the true value and exceeds it by at most one step. Averages are exact.
    Longer durations than the last edge count as the last edge.

Departments: a department's figures are those of its report-in obligations (its lead
assignments) and of the cases it leads now: the case's most recent lead assignment that
was not returned, refused or ended by an escalation.

Where the numbers come from
---------------------------
Each case's contributions — (day, department, key, amount) — are computed by
`case_contributions()` and stored on CaseFigure; FigureCell holds their sums per day for
every region of the case's path from the root down to its village (region 0: all regions)
and per department (0: all departments). A figure for a period sums at most one cell per
day: a city's year is 365 rows whatever the number of cases. Grids have no cells: a grid's
figures sum its cases' stored contributions. `figures(..., source="live")` recomputes the
contributions from the cases themselves (tests check that both agree).

The cells follow the cases through `refresh_recent()` (beat, every minute): cases with new
timeline events, and cases whose deadline or return visit came due since the last run,
get their contributions recomputed and the difference applied to the cells, under one lock.
The figures thus lag the cases by up to a minute; `as_of` says when they were refreshed.
`rebuild()` recomputes everything; the first beat runs build the cells in steps of five
minutes (about 1,000,000 cases in half an hour on one busy core), and figures read before
the build completes have `as_of` None. `sums_by_region()` and `sums_by_department()` sum
the cells of many regions or departments at once for pages that list them, and
`compose()` turns summed values into figures.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from dispatch.models import Assignment, Department
from evaluation.models import CaseFigure, FigureCell, FigureState, ReturnVisit
from grids.models import Level, Region
from grids.workcalendar import WorkCalendar
from grievances.models import CaseEvent, Category, Grievance, Kind, Rating, State
from grievances.ratings import summary

TZ = ZoneInfo("Asia/Shanghai")

# --- Keys of the flat value dicts (cells and contributions) ---------------------------------

INTAKE = "intake"
CATEGORY = "cat:"  # cat:<category id>
RESPONSE_DUE, RESPONSE_ON_TIME = "response.due", "response.on_time"
HANDLE_DUE, HANDLE_ON_TIME = "handle.due", "handle.on_time"
CLOSED, RESOLVED = "closed", "closed.resolved"
RATINGS, SATISFIED = "ratings", "ratings.satisfied"
MEDIATION_ENDED, MEDIATION_SETTLED = "mediation.ended", "mediation.settled"
VISITS_DUE, VISITS_REACHED = "visits.due", "visits.reached"

# rate name -> (numerator key, denominator key)
RATES = {
    "response": (RESPONSE_ON_TIME, RESPONSE_DUE),
    "on_time": (HANDLE_ON_TIME, HANDLE_DUE),
    "resolution": (RESOLVED, CLOSED),
    "satisfaction": (SATISFIED, RATINGS),
    "mediation_success": (MEDIATION_SETTLED, MEDIATION_ENDED),
    "return_visit_reach": (VISITS_REACHED, VISITS_DUE),
}
DURATIONS = ("accept", "dispatch", "report_in", "handle", "close", "handle_overdue")


def _edges() -> list[int]:
    day = 7 * 60  # a working day of 7 hours, in minutes
    edges = list(range(0, 10)) + list(range(10, 60, 5)) + list(range(60, day, 15))
    edges += list(range(day, 5 * day, 60)) + list(range(5 * day, 20 * day, day // 2))
    edges += list(range(20 * day, 260 * day + 1, day))
    return edges


DURATION_EDGES_MINUTES = _edges()

DEFAULT_RANKING_WEIGHTS = {"response": 0.3, "on_time": 0.3, "resolution": 0.2, "satisfaction": 0.2}

OPEN_LEAD_STATUSES = ("pending", "reported_in", "done")
# How far back refresh_recent() looks again for events, past its last run: an event whose
# transaction committed late is still seen. Re-reading is harmless (the refresh is exact).
REFRESH_MARGIN = timedelta(minutes=10)
BATCH = 2000
REBUILD_BATCH = 10_000


def _day(dt: datetime) -> int:
    return dt.astimezone(TZ).date().toordinal()


def _bucket(seconds: float) -> int:
    """The smallest edge (minutes) at or above a duration; the last edge beyond them all."""
    minutes = math.ceil(max(seconds, 0) / 60)
    edges = DURATION_EDGES_MINUTES
    lo, hi = 0, len(edges) - 1
    if minutes >= edges[hi]:
        return edges[hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if edges[mid] >= minutes:
            hi = mid
        else:
            lo = mid + 1
    return edges[lo]


# --- One case's contributions ---------------------------------------------------------------


@dataclass
class CaseData:
    """What the contributions of one case are computed from (loaded in bulk)."""

    row: dict
    leads: list[tuple] = field(default_factory=list)  # (id, dept, status, due, in_at, end)
    ratings: list[tuple] = field(default_factory=list)  # (score, resolved, created_at) each
    visits: list[tuple] = field(default_factory=list)  # (closed_at, due, recorded, reached, res)
    mediation: tuple | None = None  # (status, closed_at or None)

    @property
    def nodes(self) -> list[int]:
        """The case's regions from the root down to its village (grids have no cells)."""
        r = self.row
        ids = (r["province_id"], r["city_id"], r["county_id"], r["township_id"], r["village_id"])
        return [i for i in ids if i]

    @property
    def department(self) -> int:
        """The department leading the case now (0: none), see the module's docstring."""
        current = [a for a in self.leads if a[2] in OPEN_LEAD_STATUSES]
        return max(current)[1] if current else 0


CASE_FIELDS = [
    "id",
    "region_id",
    "province_id",
    "city_id",
    "county_id",
    "township_id",
    "village_id",
    "grid_id",
    "category_id",
    "state",
    "created_at",
    "accepted_at",
    "dispatched_at",
    "reported_in_at",
    "handled_at",
    "closed_at",
    "report_in_due_at",
    "handle_due_at",
    "handler_region_id",
    "suspended_at",
]


def case_contributions(case: CaseData, now: datetime, calendar: WorkCalendar) -> list[tuple]:
    """[(day ordinal, department id or 0, key, amount)]: the definitions, in code."""
    r = case.row
    dept = case.department
    out: list[tuple] = []

    def add(instant: datetime, key: str, amount: int = 1, department: int = dept) -> None:
        out.append((_day(instant), department, key, amount))

    def working_seconds(a: datetime, b: datetime) -> int:
        return max(int(calendar.working_time_between(a, b).total_seconds()), 0)

    def duration(instant: datetime, name: str, seconds: int) -> None:
        add(instant, f"n:{name}")
        add(instant, f"s:{name}", seconds)
        add(instant, f"h:{name}:{_bucket(seconds)}")

    # Intake.
    add(r["created_at"], INTAKE)
    add(r["created_at"], f"{CATEGORY}{r['category_id']}")

    # Response: lead assignments, then a dispatch down to a grid or village.
    for _id, department, status, due, reported_in_at, finished_at in case.leads:
        if due is None:
            continue
        answered = reported_in_at or (finished_at if status == "returned" else None)
        if answered is not None:
            on_time = answered <= due
        elif status == "pending":
            if due >= now:
                continue  # still running: not decided yet
            on_time = False
        elif finished_at is not None and finished_at <= due:
            continue  # ended unanswered before its deadline (escalated, withdrawn)
        else:
            on_time = False
        add(due, RESPONSE_DUE, department=department)
        if on_time:
            add(due, RESPONSE_ON_TIME, department=department)
    due = r["report_in_due_at"]
    if r["handler_region_id"] and due is not None:
        if r["reported_in_at"] is not None:
            add(due, RESPONSE_DUE, department=0)
            if r["reported_in_at"] <= due:
                add(due, RESPONSE_ON_TIME, department=0)
        elif r["state"] == State.DISPATCHED and not r["suspended_at"] and due < now:
            add(due, RESPONSE_DUE, department=0)

    # On-time handling.
    due = r["handle_due_at"]
    if due is not None and r["state"] != State.WITHDRAWN:
        handled = r["handled_at"]
        if handled is not None:
            add(due, HANDLE_DUE)
            if handled <= due:
                add(due, HANDLE_ON_TIME)
            else:
                duration(due, "handle_overdue", working_seconds(due, handled))
        elif (
            r["state"] in (State.DISPATCHED, State.IN_PROGRESS)
            and not r["suspended_at"]
            and due < now
        ):
            add(due, HANDLE_DUE)

    # Closing: resolution and the durations.
    closed = r["closed_at"]
    if r["state"] == State.CLOSED and closed is not None:
        add(closed, CLOSED)
        rated = summary(case.ratings)
        if rated is not None:
            resolved = rated.resolved
        else:
            reached = [v for v in case.visits if v[0] == closed and v[3] is True]
            resolved = bool(reached and max(reached, key=lambda v: v[2])[4])
        if resolved:
            add(closed, RESOLVED)
        created, accepted, dispatched = r["created_at"], r["accepted_at"], r["dispatched_at"]
        marks = {
            "accept": (created, accepted),
            "dispatch": (accepted, dispatched),
            "report_in": (dispatched, r["reported_in_at"]),
            "handle": (dispatched, r["handled_at"]),
            "close": (created, closed),
        }
        for name, (start, end) in marks.items():
            if start is not None and end is not None:
                duration(closed, name, working_seconds(start, end))

    # Satisfaction: one per case, on its mean score.
    rated = summary(case.ratings)
    if rated is not None:
        add(rated.first_at, RATINGS)
        if rated.satisfied:
            add(rated.first_at, SATISFIED)

    # Mediation.
    if case.mediation is not None:
        status, ended_at = case.mediation
        if status in ("settled", "failed"):
            when = ended_at or r["created_at"]
            add(when, MEDIATION_ENDED)
            if status == "settled":
                add(when, MEDIATION_SETTLED)

    # Return visits.
    for _closed_at, visit_due, recorded_at, reached, _res in case.visits:
        if recorded_at is not None or visit_due < now:
            add(visit_due, VISITS_DUE)
            if reached:
                add(visit_due, VISITS_REACHED)
    return out


# --- Loading cases in bulk ------------------------------------------------------------------


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def load_cases(ids: Iterable[int]) -> list[CaseData]:
    """The CaseData of these cases: five queries per 500 cases, no per-case query."""
    result: list[CaseData] = []
    for chunk in _chunks(sorted(set(ids))):
        result.extend(_load({"pk__in": chunk}, {"grievance_id__in": chunk}))
    return result


def _load(case_filter: dict, related_filter: dict) -> list[CaseData]:
    cases = {
        row["id"]: CaseData(row=row)
        for row in Grievance.objects.filter(**case_filter).order_by().values(*CASE_FIELDS)
    }
    if not cases:
        return []
    for gid, score, resolved, created in (
        Rating.objects.filter(**related_filter)
        .order_by()
        .values_list("grievance_id", "score", "resolved", "created_at")
    ):
        if gid in cases:
            cases[gid].ratings.append((score, resolved, created))
    for gid, *visit in ReturnVisit.objects.filter(**related_filter).values_list(
        "grievance_id", "closed_at", "due_at", "recorded_at", "reached", "resolved"
    ):
        if gid in cases:
            cases[gid].visits.append(tuple(visit))
    lead_filter = {f"whistle__{k}": v for k, v in related_filter.items()}
    for gid, *lead in (
        Assignment.objects.filter(role="lead", **lead_filter)
        .order_by()
        .values_list(
            "whistle__grievance_id",
            "id",
            "department_id",
            "status",
            "report_in_due_at",
            "reported_in_at",
            "finished_at",
        )
    ):
        if gid in cases:
            cases[gid].leads.append(tuple(lead))
    for gid, status, ended_at in (
        Grievance.objects.filter(**case_filter, mediation_case__status__in=["settled", "failed"])
        .order_by()
        .values_list("id", "mediation_case__status", "mediation_case__closed_at")
    ):
        cases[gid].mediation = (status, ended_at)
    return list(cases.values())


class _Calendars(dict):
    """One WorkCalendar per region, for a refresh or a live figure.

    Where no region has holidays of its own (most deployments), every region shares the
    national calendar: one snapshot and one year table for thousands of regions.
    """

    def __init__(self) -> None:
        super().__init__()
        self._national = WorkCalendar(None)
        self._shared = not self._national._snapshot().regions_with_rows

    def __missing__(self, region_id: int) -> WorkCalendar:
        cal = self[region_id] = self._national if self._shared else WorkCalendar(region_id)
        return cal


# --- Keeping the cells in step --------------------------------------------------------------


def _spread(delta: dict, nodes: list[int], contributions: list, sign: int) -> None:
    for day, dept, key, amount in contributions:
        for node in (0, *nodes):
            cell = delta[(node, 0, day)]
            cell[key] = cell.get(key, 0) + sign * amount
            if dept:
                cell = delta[(node, dept, day)]
                cell[key] = cell.get(key, 0) + sign * amount


def _lock_state() -> FigureState:
    FigureState.objects.get_or_create(pk=1)
    return FigureState.objects.select_for_update().get(pk=1)


def refresh_cases(ids: Iterable[int], now: datetime | None = None) -> int:
    """Recompute these cases' contributions and apply the difference to the cells.

    Idempotent and exact: the stored contributions are subtracted, the new ones added, in
    one transaction per batch under the refresh lock. Returns how many cases it read.
    """
    now = now or timezone.now()
    ids = sorted(set(ids))
    calendars = _Calendars()
    for chunk in _chunks(ids, BATCH):
        with transaction.atomic():
            _lock_state()
            _apply(chunk, load_cases(chunk), now, calendars)
    return len(ids)


def _apply(ids: list[int], cases: list[CaseData], now: datetime, calendars) -> None:
    delta: dict = defaultdict(dict)
    old = {}
    for chunk in _chunks(ids):
        old.update(
            {
                gid: (nodes, contributions)
                for gid, nodes, contributions in CaseFigure.objects.filter(
                    grievance_id__in=chunk
                ).values_list("grievance_id", "nodes", "contributions")
            }
        )
    for nodes, contributions in old.values():
        _spread(delta, nodes, contributions, -1)
    facts = []
    for case in cases:
        contributions = case_contributions(case, now, calendars[case.row["region_id"]])
        nodes = case.nodes
        _spread(delta, nodes, contributions, +1)
        facts.append(
            CaseFigure(
                grievance_id=case.row["id"],
                nodes=nodes,
                contributions=[list(c) for c in contributions],
            )
        )
    _write_cells(delta)
    CaseFigure.objects.filter(grievance_id__in=list(old)).delete()
    CaseFigure.objects.bulk_create(facts, batch_size=1000)


def _write_cells(delta: dict) -> None:
    keys = [k for k, values in delta.items() if any(values.values())]
    if not keys:
        return
    existing = _existing_cells(keys)
    upsert, empty = [], []
    for key in keys:
        pk, values = existing.get(key, (None, {}))
        for name, amount in delta[key].items():
            if amount:
                values[name] = values.get(name, 0) + amount
        values = {k: v for k, v in values.items() if v}
        if not values:
            if pk is not None:
                empty.append(pk)
            continue
        region, dept, day = key
        upsert.append(
            FigureCell(
                region_key=region,
                department_key=dept,
                day=date.fromordinal(day),
                values=values,
            )
        )
    for chunk in _chunks(empty):
        FigureCell.objects.filter(pk__in=chunk).delete()
    FigureCell.objects.bulk_create(
        upsert,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["region_key", "department_key", "day"],
        update_fields=["values"],
    )


def _existing_cells(keys: list[tuple]) -> dict[tuple, tuple[int, dict]]:
    """{(region, department, day ordinal): (id, values)} of the cells that exist."""
    table = FigureCell._meta.db_table
    values_column = connection.ops.quote_name("values")
    found: dict[tuple, tuple[int, dict]] = {}
    postgres = connection.vendor == "postgresql"
    size = 5000 if postgres else 300
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, size):
            days = [date.fromordinal(day) for _r, _d, day in chunk]
            if postgres:
                # Joined to the unique index key by key (a row-value IN list is planned as
                # a hash join over the whole table).
                cursor.execute(
                    f"SELECT c.id, c.region_key, c.department_key, c.day, c.{values_column} "
                    f"FROM {table} c JOIN unnest(%s::bigint[], %s::bigint[], %s::date[]) "
                    "AS k(r, d, day) ON c.region_key = k.r AND c.department_key = k.d "
                    "AND c.day = k.day",
                    [[r for r, _d, _day in chunk], [d for _r, d, _day in chunk], days],
                )
            else:
                rows = ", ".join(["(%s, %s, %s)"] * len(chunk))
                params = [
                    p
                    for (r, d, _day), day in zip(chunk, days, strict=True)
                    for p in (r, d, connection.ops.adapt_datefield_value(day))
                ]
                cursor.execute(
                    f"SELECT id, region_key, department_key, day, {values_column} FROM {table} "
                    f"WHERE (region_key, department_key, day) IN (VALUES {rows})",
                    params,
                )
            for pk, region, dept, day, values in cursor.fetchall():
                if isinstance(day, str):
                    day = date.fromisoformat(day)
                if isinstance(values, str):
                    values = json.loads(values)
                found[(region, dept, day.toordinal())] = (pk, values)
    return found


def due_cases(since: datetime, now: datetime) -> set[int]:
    """Cases whose running deadline or pending return visit came due in (since, now]."""
    window = {"__gt": since, "__lte": now}

    def between(name: str) -> dict:
        return {f"{name}{op}": value for op, value in window.items()}

    ids = set(
        Grievance.objects.filter(
            state__in=[State.DISPATCHED, State.IN_PROGRESS], **between("handle_due_at")
        ).values_list("pk", flat=True)
    )
    ids |= set(
        Grievance.objects.filter(state=State.DISPATCHED, **between("report_in_due_at")).values_list(
            "pk", flat=True
        )
    )
    ids |= set(
        Assignment.objects.filter(
            status="pending", role="lead", **between("report_in_due_at")
        ).values_list("whistle__grievance_id", flat=True)
    )
    ids |= set(
        ReturnVisit.objects.filter(recorded_at=None, **between("due_at")).values_list(
            "grievance_id", flat=True
        )
    )
    return ids


def refresh_recent(
    now: datetime | None = None,
    margin: timedelta = REFRESH_MARGIN,
    rebuild_budget: float | None = None,
) -> dict:
    """The beat task's work: cases with events, or with something come due, since the last
    run (less `margin`). Until a full build has completed (the first run ever), it goes on
    with the build instead, for at most `rebuild_budget` seconds per run."""
    now = now or timezone.now()
    state = FigureState.objects.get_or_create(pk=1)[0]
    if state.last_run_at is None:
        done = rebuild(now, fresh=False, budget=rebuild_budget)
        return {"rebuilt": True, "cases": done, "complete": as_of() is not None}
    since = state.last_run_at - margin
    ids = set(
        CaseEvent.objects.filter(created_at__gte=since, created_at__lte=now).values_list(
            "grievance_id", flat=True
        )
    )
    ids |= due_cases(since, now)
    count = refresh_cases(ids, now)
    FigureState.objects.filter(pk=1).update(last_run_at=now)
    return {"rebuilt": False, "cases": count}


def rebuild(
    now: datetime | None = None,
    progress=None,
    *,
    fresh: bool = True,
    budget: float | None = None,
) -> int:
    """Recompute every case's contributions (a first build, a repair); returns how many
    cases this call did.

    fresh: wipe the cells and start over; otherwise go on with a build under way. With a
    `budget` (seconds) it stops after the batch that exceeds it; the next call goes on.
    The cells stay exact after every batch (each batch subtracts what a case had before),
    so refreshes may run in between. The build is complete when `as_of()` is set.
    """
    now = now or timezone.now()
    clock = time.monotonic()
    with transaction.atomic():
        state = _lock_state()
        if fresh or (state.last_run_at is None and state.rebuild_started_at is None):
            FigureCell.objects.all().delete()
            CaseFigure.objects.all().delete()
            state.last_run_at, state.rebuild_started_at, state.rebuilt_through_id = None, now, 0
            state.save()
        last = state.rebuilt_through_id
    calendars = _Calendars()
    count = 0
    total = Grievance.objects.filter(pk__gt=last).count()
    while True:
        ids = list(
            Grievance.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:REBUILD_BATCH]
        )
        if not ids:
            break
        lo, hi = ids[0], ids[-1] + 1
        with transaction.atomic():
            _lock_state()
            cases = _load(
                {"pk__gte": lo, "pk__lt": hi},
                {"grievance_id__gte": lo, "grievance_id__lt": hi},
            )
            _apply([c.row["id"] for c in cases], cases, now, calendars)
            FigureState.objects.filter(pk=1).update(rebuilt_through_id=ids[-1])
        count += len(ids)
        last = ids[-1]
        if progress:
            progress(count, total)
        if len(ids) < REBUILD_BATCH:
            break
        if budget is not None and time.monotonic() - clock > budget:
            return count
    with transaction.atomic():
        state = _lock_state()
        # Deadlines that passed during the build are found by the next refresh from here.
        state.last_run_at = state.rebuild_started_at or now
        state.rebuild_started_at, state.rebuilt_through_id = None, 0
        state.save()
    return count


def as_of() -> datetime | None:
    return FigureState.objects.filter(pk=1).values_list("last_run_at", flat=True).first()


# --- Reading figures ------------------------------------------------------------------------


def _add(total: dict, values: dict) -> None:
    for key, amount in values.items():
        total[key] = total.get(key, 0) + amount


def _sum_cells(region_key: int, department_key: int, start: date, end: date) -> dict:
    total: dict = {}
    for values in FigureCell.objects.filter(
        region_key=region_key, department_key=department_key, day__gte=start, day__lt=end
    ).values_list("values", flat=True):
        _add(total, values)
    return total


def sums_by_region(
    region_ids: list[int], department_key: int, start: date, end: date
) -> dict[int, dict]:
    """{region id: summed values} of many regions at once (areas one level down, rankings);
    compose() turns each into figures. Regions with no cells are missing."""
    sums: dict[int, dict] = defaultdict(dict)
    for chunk in _chunks(region_ids):
        for key, values in FigureCell.objects.filter(
            region_key__in=chunk, department_key=department_key, day__gte=start, day__lt=end
        ).values_list("region_key", "values"):
            _add(sums[key], values)
    return dict(sums)


def sums_by_department(department_ids: list[int], start: date, end: date) -> dict[int, dict]:
    """{department id: summed values} of many departments at once, all regions."""
    sums: dict[int, dict] = defaultdict(dict)
    for chunk in _chunks(department_ids):
        for key, values in FigureCell.objects.filter(
            region_key=0, department_key__in=chunk, day__gte=start, day__lt=end
        ).values_list("department_key", "values"):
            _add(sums[key], values)
    return dict(sums)


def _sum_contributions(rows: Iterable[list], department_key: int, start: date, end: date) -> dict:
    lo, hi = start.toordinal(), end.toordinal()
    total: dict = {}
    for contributions in rows:
        for day, dept, key, amount in contributions:
            if lo <= day < hi and (not department_key or dept == department_key):
                total[key] = total.get(key, 0) + amount
    return total


def _scope_q(region: Region | None) -> Q:
    return Q(**{f"{region.level}_id": region.pk}) if region is not None else Q()


def _end_instant(end: date) -> datetime:
    return datetime.combine(end, datetime.min.time(), tzinfo=TZ)


def _sum_live(region, department_key: int, start: date, end: date, now: datetime) -> dict:
    # Every contribution falls on or after the case's creation day.
    ids = Grievance.objects.filter(_scope_q(region), created_at__lt=_end_instant(end))
    if department_key:
        ids = ids.filter(whistles__assignments__department_id=department_key)
    cases = load_cases(ids.values_list("pk", flat=True).distinct())
    calendars = _Calendars()
    rows = [case_contributions(c, now, calendars[c.row["region_id"]]) for c in cases]
    return _sum_contributions(rows, department_key, start, end)


def _sum_stored(region, department_key: int, start: date, end: date) -> dict:
    rows = CaseFigure.objects.filter(
        Q(**{f"grievance__{region.level}_id": region.pk}),
        grievance__created_at__lt=_end_instant(end),
    ).values_list("contributions", flat=True)
    return _sum_contributions(rows, department_key, start, end)


def _rate(values: dict, numerator: str, denominator: str) -> dict:
    num, den = values.get(numerator, 0), values.get(denominator, 0)
    return {"value": round(num / den, 4) if den else None, "numerator": num, "denominator": den}


def _duration(values: dict, name: str) -> dict:
    count = values.get(f"n:{name}", 0)
    if not count:
        return {"count": 0, "avg_seconds": None, "p90_seconds": None}
    prefix = f"h:{name}:"
    buckets = sorted(
        (int(key[len(prefix) :]), n) for key, n in values.items() if key.startswith(prefix)
    )
    rank, seen, p90 = math.ceil(0.9 * count), 0, None
    for edge, n in buckets:
        seen += n
        if seen >= rank:
            p90 = edge * 60
            break
    return {
        "count": count,
        "avg_seconds": round(values.get(f"s:{name}", 0) / count),
        "p90_seconds": p90,
    }


def compose(values: dict, categories: dict | None = None) -> dict:
    """The figures from summed values: intake, rates and durations."""
    if categories is None:
        categories = {c.pk: c for c in Category.objects.all()}
    by_kind = {k: 0 for k in Kind.values}
    by_category = []
    for key, count in values.items():
        if key.startswith(CATEGORY):
            category = categories.get(int(key[len(CATEGORY) :]))
            if category is None:
                continue
            by_kind[category.kind] = by_kind.get(category.kind, 0) + count
            by_category.append(
                {
                    "code": category.code,
                    "name": category.name,
                    "kind": category.kind,
                    "count": count,
                }
            )
    by_category.sort(key=lambda c: (-c["count"], c["code"]))
    rates = {name: _rate(values, *keys) for name, keys in RATES.items()}
    return {
        "intake": {
            "total": values.get(INTAKE, 0),
            "by_kind": by_kind,
            "by_category": by_category,
        },
        "rates": rates,
        "durations": {name: _duration(values, name) for name in DURATIONS},
    }


def figures(
    *,
    region: Region | None = None,
    department=None,
    start: date,
    end: date,
    source: str = "auto",
    now: datetime | None = None,
) -> dict:
    """The figures of a region's subtree (None: everywhere), a department (None: all) and
    the period [start, end) of Beijing dates.

    source: "auto" (cells; a grid's stored case contributions), "cells" or "live"
    (recomputed from the cases, O(cases): for tests and small data).
    """
    if end <= start:
        raise ValueError("the period must end after it starts")
    department_key = department.pk if department is not None else 0
    if source == "live":
        values = _sum_live(region, department_key, start, end, now or timezone.now())
        used = "live"
    elif region is not None and region.level == Level.GRID:
        values = _sum_stored(region, department_key, start, end)
        used = "cases"
    else:
        values = _sum_cells(region.pk if region else 0, department_key, start, end)
        used = "cells"
    refreshed = as_of() if used != "live" else None
    result = {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "region": (
            {"code": region.code, "name": region.name, "level": region.level} if region else None
        ),
        "department": (
            {"id": department.pk, "name": department.name} if department is not None else None
        ),
        "source": used,
        "as_of": refreshed.isoformat() if refreshed else None,
    }
    result.update(compose(values))
    return result


# --- The red/black list (红黑榜) ---------------------------------------------------------------


def ranking_weights() -> dict[str, float]:
    weights = getattr(settings, "RANKING_WEIGHTS", None) or DEFAULT_RANKING_WEIGHTS
    unknown = set(weights) - set(RATES)
    if unknown:
        raise ValueError(f"RANKING_WEIGHTS: unknown rates {sorted(unknown)}")
    return {k: float(v) for k, v in weights.items() if float(v) > 0}


def score(rates: dict, weights: dict[str, float]) -> float | None:
    """Weighted mean of the rates that have a value (weights of missing rates drop out)."""
    present = {k: w for k, w in weights.items() if rates[k]["value"] is not None}
    if not present:
        return None
    total = sum(present.values())
    return round(sum(rates[k]["value"] * w for k, w in present.items()) / total, 4)


def month_range(month: date) -> tuple[date, date]:
    start = month.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _ranked(entries: list[dict], size: int) -> dict:
    scored = [e for e in entries if e["score"] is not None]
    scored.sort(key=lambda e: (-e["score"], e["code"]))
    for i, entry in enumerate(scored, start=1):
        entry["rank"] = i
    red = scored[:size]
    rest = scored[len(red) :]
    black = list(reversed(rest[-size:])) if rest else []
    return {
        "red": red,
        "black": black,
        "ranked": scored,
        "unranked": sorted((e for e in entries if e["score"] is None), key=lambda e: e["code"]),
    }


def ranking(month: date, *, within: Region | None = None, size: int | None = None) -> dict:
    """Townships and departments ranked on the weighted rates of one month.

    Public: names and codes of townships and departments and their figures, nothing about
    any person. `within` limits both lists to a region's subtree (departments by the
    region they serve); top `size` red, bottom `size` black (never both).
    """
    start, end = month_range(month)
    size = size or int(getattr(settings, "RANKING_SIZE", 5))
    weights = ranking_weights()
    categories = {c.pk: c for c in Category.objects.all()}

    townships = Region.objects.filter(level=Level.TOWNSHIP)
    if within is not None:
        townships = townships.filter(
            tree_id=within.tree_id, lft__gte=within.lft, lft__lte=within.rght
        )
    townships = list(townships.select_related("parent").order_by("code"))
    sums = sums_by_region([t.pk for t in townships], 0, start, end)
    township_entries = []
    for t in townships:
        composed = compose(sums.get(t.pk, {}), categories)
        township_entries.append(
            {
                "code": t.code,
                "name": t.name,
                "parent": t.parent.name if t.parent_id else None,
                "score": score(composed["rates"], weights),
                "rates": {k: composed["rates"][k] for k in RATES},
                "intake": composed["intake"]["total"],
            }
        )

    department_entries = []
    departments = Department.objects.filter(active=True).select_related("region")
    if within is not None:
        departments = departments.filter(
            region__tree_id=within.tree_id,
            region__lft__gte=within.lft,
            region__lft__lte=within.rght,
        )
    departments = list(departments.order_by("code"))
    dsums = sums_by_department([d.pk for d in departments], start, end)
    for d in departments:
        composed = compose(dsums.get(d.pk, {}), categories)
        department_entries.append(
            {
                "code": d.code,
                "name": d.name,
                "region": d.region.name,
                "score": score(composed["rates"], weights),
                "rates": {k: composed["rates"][k] for k in RATES},
                "intake": composed["intake"]["total"],
            }
        )
    refreshed = as_of()
    return {
        "month": start.strftime("%Y-%m"),
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "within": {"code": within.code, "name": within.name} if within else None,
        "weights": weights,
        "size": size,
        "as_of": refreshed.isoformat() if refreshed else None,
        "townships": _ranked(township_entries, size),
        "departments": _ranked(department_entries, size),
    }
