"""Evaluation tests: a hand-computed month of cases around National Day 2026.

Case A (江塘村第一网格, hazard.road: urgent, report in within 1 working hour, handle within
1 working day): reported Thu 10-08 17:00, accepted 17:30, dispatched to its grid Fri 10-09
08:30 (report in by 09:30, handle by 18:00), reported in 09:00, handled Sat 10-10 09:00 (a
make-up working day: 30 working minutes late), closed 10:00, rated 2 / not resolved 11:00.

Case B (same grid, hazard.environment: normal, 4 working hours, 5 working days): reported
Mon 10-12 09:00, accepted 09:30, dispatched 10:00 (report in by 16:30, handle by Mon 10-19
10:00), reported in 15:00, handled Tue 10-13 10:00, closed 11:00, rated 5 / resolved 12:00.

Case C (same grid, hazard.environment): reported Tue 10-13 09:00, accepted 09:30,
dispatched 10:00 (report in by 16:30, handle by Tue 10-20 10:00), reported in 11:00,
handled Wed 10-14 09:00, closed 10:00; no rating; a return visit reached the reporter, who
said it is resolved.

Case D (克松村第一网格, the other township, hazard.environment): reported Wed 10-14 09:00,
accepted 09:30, dispatched 10:00 (report in by 16:30, handle by Wed 10-21 10:00), never
reported in.

Case E (江塘村第一网格, dispute.neighbours): reported Thu 10-15 09:00, left submitted.

Figures are taken at NOW = Tue 2026-10-20 12:00 for October.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import time_machine
from django.core.cache import cache

from evaluation import returnvisits
from evaluation.models import ReturnVisit, ReturnVisitReason
from grids.models import Role
from grievances import services
from tests.factories import make_member
from tests.grievances.conftest import POINT_B1, at, new_case

NOW = at(2026, 10, 20, 12)
OCTOBER = (date(2026, 10, 1), date(2026, 11, 1))


@pytest.fixture(autouse=True)
def _evaluation_urls_and_cache(settings, tmp_path):
    settings.ROOT_URLCONF = "tests.evaluation.urls"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RETURN_VISIT_SAMPLE = 0.0
    cache.clear()
    yield
    cache.clear()


def step(when, call, *args, **kwargs):
    with time_machine.travel(when, tick=False):
        return call(*args, **kwargs)


def walk(
    people,
    case,
    *,
    accepted,
    dispatched,
    reported_in=None,
    handled=None,
    closed=None,
    centre=None,
    worker=None,
):
    """Move a case along the loop through the services, each step at its instant."""
    centre = centre or people.centre_staff
    worker = worker or people.grid_worker
    case = step(accepted, services.grievance_accept, case, centre)
    case = step(dispatched, services.grievance_dispatch, case, centre, to_region=case.region)
    if reported_in:
        case = step(reported_in, services.grievance_report_in, case, worker)
    if handled:
        case = step(handled, services.grievance_handle, case, worker, result="已处理")
    if closed:
        case = step(closed, services.grievance_verify, case, centre)
    return case


@pytest.fixture
def worker_b(tree):
    return make_member("grid_worker_b", tree.grid_b1, Role.GRID_WORKER)


@pytest.fixture
def october(tree, people, worker_b):
    """Cases A–E above, through the services (relay not run)."""
    a = step(
        at(2026, 10, 8, 17), new_case, people.grid_worker, category="hazard.road", title="挡墙垮塌"
    )
    a = walk(
        people,
        a,
        accepted=at(2026, 10, 8, 17, 30),
        dispatched=at(2026, 10, 9, 8, 30),
        reported_in=at(2026, 10, 9, 9),
        handled=at(2026, 10, 10, 9),
        closed=at(2026, 10, 10, 10),
    )
    step(
        at(2026, 10, 10, 11),
        services.grievance_rate,
        a,
        people.grid_worker,
        score=2,
        resolved=False,
        via_tracking=True,
    )
    b = step(at(2026, 10, 12, 9), new_case, people.grid_worker, title="楼道垃圾")
    b = walk(
        people,
        b,
        accepted=at(2026, 10, 12, 9, 30),
        dispatched=at(2026, 10, 12, 10),
        reported_in=at(2026, 10, 12, 15),
        handled=at(2026, 10, 13, 10),
        closed=at(2026, 10, 13, 11),
    )
    step(
        at(2026, 10, 13, 12),
        services.grievance_rate,
        b,
        None,
        score=5,
        resolved=True,
        via_tracking=True,
    )
    c = step(at(2026, 10, 13, 9), new_case, people.grid_worker, title="路灯不亮")
    c = walk(
        people,
        c,
        accepted=at(2026, 10, 13, 9, 30),
        dispatched=at(2026, 10, 13, 10),
        reported_in=at(2026, 10, 13, 11),
        handled=at(2026, 10, 14, 9),
        closed=at(2026, 10, 14, 10),
    )
    visit = ReturnVisit.objects.create(
        grievance=c,
        closed_at=c.closed_at,
        reason=ReturnVisitReason.SAMPLE,
        due_at=at(2026, 10, 15, 18),
    )
    step(
        at(2026, 10, 15, 10),
        returnvisits.return_visit_record,
        visit,
        people.centre_staff,
        reached=True,
        satisfied=True,
        resolved=True,
    )
    d = step(at(2026, 10, 14, 9), new_case, worker_b, point=POINT_B1, title="井盖缺失")
    d = walk(
        people,
        d,
        accepted=at(2026, 10, 14, 9, 30),
        dispatched=at(2026, 10, 14, 10),
        centre=people.sibling_staff,
        worker=worker_b,
    )
    e = step(
        at(2026, 10, 15, 9),
        new_case,
        people.grid_worker,
        category="dispute.neighbours",
        title="邻里噪音",
    )
    return SimpleNamespace(a=a, b=b, c=c, d=d, e=e)
