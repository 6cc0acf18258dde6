"""A region's own time limits for a category (CategoryLimit) in the one deadline function,
and a limit change that counts for new dispatches only: a whistle keeps its deadlines."""

from __future__ import annotations

import pytest
import time_machine

from desk import categories as desk_categories
from dispatch import services as dispatch_services
from dispatch.models import Assignment
from grids.models import Role
from grievances import deadlines, services
from grievances.models import Category, CategoryLimit, Grievance
from tests.factories import make_member
from tests.grievances.conftest import at, new_case

pytestmark = pytest.mark.django_db


def _accepted(people, **kwargs) -> Grievance:
    case = new_case(people.grid_worker, category="hazard.environment", **kwargs)
    return services.grievance_accept(case, people.centre_staff)


def _whistled(people, depts, when) -> Grievance:
    with time_machine.travel(when, tick=False):
        case = dispatch_services.whistle_dispatch(
            _accepted(people), people.centre_staff, departments=[depts.transport]
        )
    return Grievance.objects.get(pk=case.pk)


def test_the_nearest_regions_override_wins(tree, people):
    category = Category.objects.get(code="hazard.environment")  # normal: 4 h, 5 days
    case = _accepted(people)
    assert deadlines.limits(case) == ((4, "working_hours"), (5, "working_days"))
    CategoryLimit.objects.create(
        category=category, region=tree.county, urgency="normal", report_in=2, handling=3
    )
    assert deadlines.limits(case) == ((2, "working_hours"), (3, "working_days"))
    # The township is nearer the case than the county: its limits win.
    CategoryLimit.objects.create(
        category=category, region=tree.town_a, urgency="normal", report_in=1, handling=2
    )
    assert deadlines.limits(case) == ((1, "working_hours"), (2, "working_days"))
    # Another township's override, another urgency's and another category's do not apply.
    CategoryLimit.objects.create(
        category=category, region=tree.town_b, urgency="normal", report_in=8, handling=9
    )
    CategoryLimit.objects.create(
        category=category, region=tree.grid_a1, urgency="urgent", report_in=8, handling=9
    )
    CategoryLimit.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.grid_a1,
        urgency="normal",
        report_in=8,
        handling=9,
    )
    assert deadlines.limits(case) == ((1, "working_hours"), (2, "working_days"))


def test_most_urgent_overrides_count_calendar_minutes_and_hours(tree, people):
    category = Category.objects.get(code="hazard.environment")
    CategoryLimit.objects.create(
        category=category, region=tree.county, urgency="most_urgent", report_in=15, handling=2
    )
    case = _accepted(people, urgency="most_urgent")
    assert deadlines.limits(case) == ((0.25, "calendar_hours"), (2, "calendar_hours"))


def test_a_dispatch_takes_the_regions_limits(tree, people, depts):
    CategoryLimit.objects.create(
        category=Category.objects.get(code="hazard.environment"),
        region=tree.county,
        urgency="normal",
        report_in=1,
        handling=2,
    )
    case = _whistled(people, depts, at(2026, 3, 16, 10))  # a Monday
    assert case.report_in_due_at == at(2026, 3, 16, 11)
    assert case.handle_due_at == at(2026, 3, 18, 10)
    lead = Assignment.objects.get(whistle__grievance=case)
    assert lead.report_in_due_at == case.report_in_due_at
    assert lead.handle_due_at == case.handle_due_at


def test_a_limit_change_counts_for_new_dispatches_only(tree, people, depts):
    before = _whistled(people, depts, at(2026, 3, 16, 10))
    assert before.handle_due_at == at(2026, 3, 23, 10)  # 5 working days
    # The county's centre administrator shortens the limits through the page's service.
    admin = make_member("xc_admin", tree.county, Role.CENTRE_ADMIN)
    desk_categories.limit_save(
        admin,
        Category.objects.get(code="hazard.environment"),
        region=tree.county,
        urgency="normal",
        report_in=1,
        handling=2,
    )
    after = _whistled(people, depts, at(2026, 3, 16, 10))
    assert after.handle_due_at == at(2026, 3, 18, 10)
    # The whistle made before the change keeps the deadlines it was given, and so does the
    # case, also after its report-in.
    before.refresh_from_db()
    assert before.handle_due_at == at(2026, 3, 23, 10)
    lead = Assignment.objects.get(whistle__grievance=before)
    assert lead.handle_due_at == at(2026, 3, 23, 10)
    dispatch_services.lead_report_in(before, depts.staff.transport, note="")
    before.refresh_from_db()
    assert before.handle_due_at == at(2026, 3, 23, 10)


def test_the_categorys_default_handling_level_is_taken_at_acceptance(tree, people):
    Category.objects.filter(code="hazard.environment").update(default_handling_level="county")
    case = _accepted(people)
    assert case.handling_level == "county"
