"""The console's queue order, read in index order: the same rows and the same order as the
queue's definition (what needs the centre by priority then age, running deadlines with the
overdue first, then the rest), page 2 continuing page 1, for every centre level."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch import selectors
from grids.models import Role
from grids.scoping import subtree_q
from grievances.models import Grievance, State, new_tracking_code
from grievances.scoping import cases_for
from grievances.selectors import today_bounds
from tests.factories import UserFactory, make_member
from tests.grievances.conftest import POINT_B1, new_case

pytestmark = pytest.mark.django_db

CONSOLE = "/console/"
NEEDS_CENTRE = {State.SUBMITTED, State.ACCEPTED, State.HANDLED}
RUNNING = {State.DISPATCHED, State.IN_PROGRESS}


def reference_key(case: Grievance):
    """The queue's order, written out case by case."""
    if case.state in NEEDS_CENTRE:
        group, rank = 0, case.priority
    elif case.state in RUNNING and case.suspended_at is None:
        group, rank = 1, 0
    else:
        group, rank = 2, 0
    deadline = None
    if case.state == State.DISPATCHED:
        known = [d for d in (case.report_in_due_at, case.handle_due_at) if d is not None]
        deadline = min(known) if known else None
    elif case.state == State.IN_PROGRESS:
        deadline = case.handle_due_at
    return (group, -rank, deadline is None, deadline or case.created_at, case.created_at, case.pk)


def reference_queue(user) -> list[Grievance]:
    """The queue as it was defined: the centre subtree on the owning centre's tree fields."""
    qs = cases_for(user).filter(state__in=selectors.CONSOLE_STATES)
    if not user.is_superuser:
        qs = qs.filter(subtree_q(selectors.centre_regions(user), prefix="owning_centre__"))
    return sorted(qs, key=reference_key)


def _clone(base: Grievance, **changes) -> Grievance:
    values = {
        f.attname: getattr(base, f.attname)
        for f in Grievance._meta.concrete_fields
        if not f.primary_key
    }
    values.update(tracking_code=new_tracking_code(), **changes)
    return Grievance(**values)


@pytest.fixture
def mixed(tree, people):
    """About sixty cases of every group in township A (some owned by its village, some by
    the township, some escalated to the county), a few of township B, and closed ones."""
    now = timezone.now()
    base_a = new_case(people.grid_worker, title="基础A")
    b_worker = make_member("b_worker", tree.grid_b1, Role.GRID_WORKER)
    base_b = new_case(b_worker, title="基础B", point=POINT_B1)
    hour = timedelta(hours=1)
    t0 = now - timedelta(days=10)
    specs = []
    # Needs the centre: priorities with ties, equal creation instants (the id decides).
    for i, (state, priority) in enumerate(
        [
            (State.SUBMITTED, 10),
            (State.SUBMITTED, 20),
            (State.ACCEPTED, 10),
            (State.ACCEPTED, 35),
            (State.HANDLED, 10),
            (State.HANDLED, 20),
            (State.SUBMITTED, 10),
            (State.ACCEPTED, 20),
        ]
    ):
        specs.append(dict(state=state, priority=priority, created_at=t0 + (i % 3) * hour))
    # Running clocks: report-in and handling deadlines in every combination, some missed.
    for i, (report_in, handle) in enumerate(
        [
            (-5, 40),
            (3, 40),
            (None, 2),
            (None, -8),
            (7, None),
            (None, None),
            (30, 4),
            (-1, -30),
            (3, 41),
        ]
    ):
        specs.append(
            dict(
                state=State.DISPATCHED,
                priority=20 - i,  # ignored outside the first group
                report_in_due_at=now + report_in * hour if report_in is not None else None,
                handle_due_at=now + handle * hour if handle is not None else None,
                created_at=t0 + i * hour,
            )
        )
    for i, handle in enumerate([6, -3, None, 40, 6, -50]):
        specs.append(
            dict(
                state=State.IN_PROGRESS,
                report_in_due_at=now - 30 * hour,  # met long ago: not the running deadline
                handle_due_at=now + handle * hour if handle is not None else None,
                created_at=t0 + (i % 2) * hour,
            )
        )
    # The rest: suspended clocks (overdue or not) and mediation.
    for i, (state, handle) in enumerate(
        [
            (State.DISPATCHED, -10),
            (State.IN_PROGRESS, -20),
            (State.IN_PROGRESS, 5),
            (State.MEDIATING, None),
            (State.MEDIATING, None),
        ]
    ):
        specs.append(
            dict(
                state=state,
                handle_due_at=now + handle * hour if handle is not None else None,
                suspended_at=now - hour if state != State.MEDIATING else None,
                created_at=t0 + (i % 2) * hour,
            )
        )
    cases = []
    owners = [tree.village_a, tree.town_a, tree.village_a]
    for n, spec in enumerate(specs * 2):
        cases.append(_clone(base_a, owning_centre_id=owners[n % 3].pk, **spec))
    for spec in specs[::4]:
        # Escalated to the county: the county's queue, not the township's.
        cases.append(_clone(base_a, owning_centre_id=tree.county.pk, **spec))
        cases.append(_clone(base_b, **spec))
    for state in (State.CLOSED, State.REJECTED, State.WITHDRAWN):
        cases.append(_clone(base_a, state=state))
    Grievance.objects.bulk_create(cases)
    return cases


@pytest.fixture
def centres(tree, people):
    return {
        "township": people.centre_staff,
        "village": make_member("village_staff", tree.village_a, Role.CENTRE_STAFF),
        "county": make_member("county_staff", tree.county, Role.CENTRE_STAFF),
        "superuser": UserFactory(username="root", is_superuser=True, is_staff=True),
    }


def codes_in(response) -> list[str]:
    return re.findall(
        r'class="mono" href="/cases/\d+/">([0-9A-Z]{4}-[0-9A-Z]{4})<',
        unescape(response.content.decode()),
    )


@pytest.mark.parametrize("who", ["township", "village", "county", "superuser"])
def test_the_queue_keeps_its_rows_and_order(mixed, centres, who):
    user = centres[who]
    expected = [c.pk for c in reference_queue(user)]
    assert len(expected) > 10
    got = [c.pk for c in selectors.queue_order(selectors.console_cases(user))]
    assert got == expected


def test_the_township_queue_leaves_out_escalated_and_other_cases(mixed, centres, tree):
    shown = list(selectors.console_cases(centres["township"]))
    assert shown and all(c.township_id == tree.town_a.pk for c in shown)
    assert tree.county.pk not in {c.owning_centre_id for c in shown}
    assert {c.owning_centre_id for c in shown} == {tree.village_a.pk, tree.town_a.pk}
    county = list(selectors.console_cases(centres["county"]))
    assert tree.county.pk in {c.owning_centre_id for c in county}
    assert tree.town_b.pk in {c.township_id for c in county}


def test_page_two_continues_page_one(mixed, centres):
    user = centres["township"]
    expected = [c.display_code for c in reference_queue(user)]
    assert 25 < len(expected) <= 75
    client = Client()
    client.force_login(user)
    pages = [codes_in(client.get(CONSOLE, {"page": n})) for n in (1, 2, 3)]
    assert [len(p) for p in pages[:2]] == [25, 25]
    assert pages[0] + pages[1] + pages[2] == expected


def _due_today(case: Grievance, now) -> bool:
    start, end = today_bounds(now)
    if case.suspended_at is not None or case.state not in RUNNING:
        return False
    report_in = case.state == State.DISPATCHED and case.report_in_due_at
    return bool(
        (report_in and start <= case.report_in_due_at < end)
        or (case.handle_due_at and start <= case.handle_due_at < end)
    )


def test_filtered_pages_keep_the_order(mixed, centres):
    user = centres["township"]
    queue = reference_queue(user)
    client = Client()
    client.force_login(user)

    def pages(params) -> list[str]:
        found = []
        for n in (1, 2, 3):
            found += codes_in(client.get(CONSOLE, {**params, "page": n}))
        return found

    running = [c.display_code for c in queue if c.state in RUNNING]
    # Several states: the multiple-choice filter's DISTINCT is dropped, no case twice.
    with CaptureQueriesContext(connection) as queries:
        shown = pages({"state": ["dispatched", "in_progress"]})
    assert shown == running and len(set(shown)) == len(shown)
    assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
    needs = [c.display_code for c in queue if c.state in {State.SUBMITTED, State.HANDLED}]
    assert pages({"state": ["submitted", "handled"]}) == needs
    overdue = [c.display_code for c in queue if c.is_overdue]
    assert overdue and pages({"overdue": "true"}) == overdue
    on_time = [c.display_code for c in queue if not c.is_overdue]
    assert pages({"overdue": "false"}) == on_time
    now = timezone.now()
    today = [c.display_code for c in queue if _due_today(c, now)]
    assert today and pages({"due_today": "true"}) == today
    village = [c.display_code for c in queue if c.village_id]
    assert pages({"region": "540502001001"}) == village


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
@pytest.mark.parametrize(
    "who,index",
    [
        ("township", "gr_queue_township"),
        ("village", "gr_queue_village"),
        ("county", "gr_queue_county"),
        ("superuser", "gr_queue"),
    ],
)
def test_a_page_is_read_in_index_order(mixed, centres, who, index):
    """The order expressions are the index's: with sorting priced out, the plan reads the
    queue's index and sorts nothing."""
    qs = selectors.queue_order(selectors.console_cases(centres[who]))[:26]
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in ("enable_sort", "enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plan = qs.explain()
    assert index in plan
    assert "Sort" not in plan
