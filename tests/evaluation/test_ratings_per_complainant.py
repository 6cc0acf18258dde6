"""Ratings per complainant in the figures and the return visits: a case counts once, on the
mean of its complainants' scores; it is resolved when every complainant who rated says so;
any complainant's low rating or "not resolved" calls for a return visit."""

from __future__ import annotations

from datetime import date

import pytest

from evaluation import figures
from evaluation.models import ReturnVisit
from grievances import services
from grievances.models import Category, Source
from grievances.tasks import relay_batch
from tests.evaluation.conftest import OCTOBER, step, walk
from tests.grievances.conftest import POINT_A1, at

pytestmark = pytest.mark.django_db

NOW = at(2026, 11, 20, 12)


def group_case(people, when, phones):
    case = step(
        when,
        services.grievance_submit,
        user=people.grid_worker,
        title="拖欠工资",
        description="多名工人被拖欠工资",
        category=Category.objects.get(code="hazard.environment"),
        source=Source.GRID_WORKER,
        lng=POINT_A1[0],
        lat=POINT_A1[1],
        complainants=[
            services.ComplainantData(name=f"工人{i}", phone=phone) for i, phone in enumerate(phones)
        ],
    )
    day = when.replace(hour=0)
    return walk(
        people,
        case,
        accepted=day.replace(hour=9, minute=30),
        dispatched=day.replace(hour=10),
        reported_in=day.replace(hour=11),
        handled=day.replace(hour=14),
        closed=day.replace(hour=15),
    )


def rate(case, person_index, when, score, resolved):
    person = list(case.complainants.all())[person_index]
    return step(
        when,
        services.grievance_rate,
        case,
        None,
        complainant=person,
        score=score,
        resolved=resolved,
        via_tracking=True,
    )


def county(tree, start=OCTOBER[0], end=OCTOBER[1]):
    return figures.figures(region=tree.county, start=start, end=end, source="live", now=NOW)


def rates(result, name):
    r = result["rates"][name]
    return r["numerator"], r["denominator"]


def test_a_case_counts_once_on_the_mean_of_its_complainants(tree, people):
    phones = ["13800000001", "13800000002", "13800000003"]
    # 5, 4 and 2: a mean of 3.67, not satisfied; one "not resolved": not resolved.
    unhappy = group_case(people, at(2026, 10, 12, 9), phones)
    rate(unhappy, 0, at(2026, 10, 12, 16), 5, True)
    rate(unhappy, 1, at(2026, 10, 13, 9), 4, True)
    rate(unhappy, 2, at(2026, 10, 14, 9), 2, False)
    # 5 and 3: a mean of 4, satisfied; both resolved: resolved. The third did not rate.
    happy = group_case(people, at(2026, 10, 15, 9), phones)
    rate(happy, 0, at(2026, 10, 15, 16), 5, True)
    rate(happy, 1, at(2026, 10, 16, 9), 3, True)
    result = county(tree)
    assert rates(result, "satisfaction") == (1, 2)
    assert rates(result, "resolution") == (1, 2)
    # The stored cells say the same as the live count.
    figures.rebuild(now=NOW)
    cells = figures.figures(region=tree.county, start=OCTOBER[0], end=OCTOBER[1])
    assert rates(cells, "satisfaction") == (1, 2)
    assert rates(cells, "resolution") == (1, 2)


def test_a_later_rating_changes_the_answer_not_the_day(tree, people):
    case = group_case(people, at(2026, 10, 28, 9), ["13800000001", "13800000002"])
    rate(case, 0, at(2026, 10, 28, 16), 5, True)
    assert rates(county(tree), "satisfaction") == (1, 1)
    # In November a second complainant rates 1: the case, still counted in October (its first
    # rating's day), is no longer satisfied; November counts no rating.
    rate(case, 1, at(2026, 11, 2, 9), 1, True)
    assert rates(county(tree), "satisfaction") == (0, 1)
    november = county(tree, date(2026, 11, 1), date(2026, 12, 1))
    assert rates(november, "satisfaction") == (0, 0)


def test_any_complainants_low_rating_calls_for_a_return_visit(tree, people):
    case = group_case(people, at(2026, 10, 12, 9), ["13800000001", "13800000002"])
    rate(case, 0, at(2026, 10, 12, 16), 5, True)
    relay_batch()
    assert not ReturnVisit.objects.exists()
    # The second complainant (not the reporter) gives 2 stars.
    rate(case, 1, at(2026, 10, 13, 9), 2, True)
    relay_batch()
    visit = ReturnVisit.objects.get(grievance=case)
    assert visit.reason == "unsatisfied"
    # Due by the end of the next working day after that rating.
    assert visit.due_at == at(2026, 10, 14, 18)


def test_any_complainants_not_resolved_calls_for_a_return_visit(tree, people):
    case = group_case(people, at(2026, 10, 12, 9), ["13800000001", "13800000002"])
    rate(case, 0, at(2026, 10, 12, 16), 5, True)
    rate(case, 1, at(2026, 10, 12, 17), 5, False)
    relay_batch()
    assert ReturnVisit.objects.get(grievance=case).reason == "unsatisfied"
