"""Deadlines set by the services, on the working calendar of the case's region (Beijing time)."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from grids.models import Role
from grids.workcalendar import set_regional_holidays
from grievances import services
from grievances.models import Category, State
from tests.factories import make_member, region_with_box
from tests.grievances.conftest import SH, advance, api_as, at, new_case, post_act

pytestmark = pytest.mark.django_db


def dispatched_at(when, people, **case_args):
    """A case reported, accepted and dispatched down to its grid at `when`."""
    with time_machine.travel(when, tick=False):
        case = advance(new_case(people.grid_worker, **case_args), State.DISPATCHED, people)
    assert case.dispatched_at == when
    return case


def test_five_working_days_over_national_day(tree, people):
    category = Category.objects.get(code="hazard.environment")
    assert (category.default_urgency, category.handle_normal_days) == ("normal", 5)
    case = dispatched_at(at(2026, 9, 30, 10), people, category="hazard.environment")
    # 10-01..10-07 off, Saturday 10-10 a make-up working day.
    assert case.handle_due_at == at(2026, 10, 13, 10)
    assert case.handle_due_at.astimezone(SH).utcoffset().total_seconds() == 8 * 3600
    # Report-in: 4 working hours: 10:00–12:00, then 14:30–16:30.
    assert case.report_in_due_at == at(2026, 9, 30, 16, 30)


def test_the_dispatch_event_and_the_api_show_the_deadlines(tree, people):
    case = dispatched_at(at(2026, 9, 30, 10), people, category="hazard.environment")
    event = case.events.get(action="dispatch")
    assert event.data["handle_due_at"] == at(2026, 10, 13, 10).isoformat()
    body = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").json()
    assert body["handle_due_at"] == "2026-10-13T10:00:00+08:00"


def test_most_urgent_counts_calendar_hours(tree, people):
    category = Category.objects.get(code="hazard.geological")
    assert category.default_urgency == "most_urgent"
    # Saturday night: nights and weekends count for 特急.
    case = dispatched_at(at(2026, 3, 14, 22), people, category="hazard.geological")
    assert case.report_in_due_at == at(2026, 3, 14, 22, 30)  # 30 calendar minutes
    assert case.handle_due_at == at(2026, 3, 15, 2)  # 4 calendar hours


def test_most_urgent_chosen_by_hand_on_a_normal_category(tree, people):
    case = dispatched_at(
        at(2026, 10, 1, 9), people, category="hazard.environment", urgency="most_urgent"
    )
    assert case.handle_due_at == at(2026, 10, 1, 13)


def test_friday_evening_report_in_runs_into_monday(tree, people):
    # hazard.road is urgent: report in within 1 working hour, handle within 1 working day.
    case = dispatched_at(at(2026, 3, 13, 17, 30), people, category="hazard.road")
    # Half an hour on Friday (to 18:00), half an hour on Monday from 08:30.
    assert case.report_in_due_at == at(2026, 3, 16, 9)
    # 0.5 h on Friday, 3.5 h on Monday morning, 3 h from 14:30.
    assert case.handle_due_at == at(2026, 3, 16, 17, 30)


def test_a_deadline_that_runs_out_at_the_end_of_the_day_stays_on_that_day(tree, people):
    # Friday 17:00 + 1 working hour is Friday 18:00, not Monday morning.
    case = dispatched_at(at(2026, 3, 13, 17), people, category="hazard.road")
    assert case.report_in_due_at == at(2026, 3, 13, 18)
    assert case.handle_due_at == at(2026, 3, 16, 17)


def test_outside_working_hours_the_clock_starts_at_the_next_working_instant(tree, people):
    case = dispatched_at(at(2026, 3, 16, 12, 30), people, category="hazard.road")
    assert case.report_in_due_at == at(2026, 3, 16, 15, 30)


def test_a_regional_holiday_pushes_the_deadline(tree, people):
    # Illustrative dates: 山南市 (Tibet) off on Monday 03-16 for 藏历新年.
    set_regional_holidays(tree.city, [date(2026, 3, 16)], "藏历新年")
    case = dispatched_at(at(2026, 3, 13, 17, 30), people, category="hazard.road")
    assert case.report_in_due_at == at(2026, 3, 17, 9)
    assert case.handle_due_at == at(2026, 3, 17, 17, 30)


def test_a_regional_holiday_stays_in_its_region(tree, people):
    set_regional_holidays(tree.city, [date(2026, 3, 16)], "藏历新年")
    # 乡城县 (the other tree) works on 03-16.
    village = region_with_box(
        "黑达村", "513336100201", "village", tree.other_county, (100, 29, 101, 30)
    )
    tree.other_county.refresh_from_db()
    staff = make_member("xc_staff", tree.other_county, Role.CENTRE_STAFF)
    with time_machine.travel(at(2026, 3, 13, 17, 30), tick=False):
        case = new_case(staff, category="hazard.road", region=village)
        case = services.grievance_accept(case, staff)
        case = services.grievance_dispatch(case, staff, to_region=village)
    assert case.report_in_due_at == at(2026, 3, 16, 9)


def test_a_year_without_holiday_data_counts_monday_to_friday(tree, people):
    # 2099: no State Council data, so 10-01 (a Thursday) is a working day.
    case = dispatched_at(at(2099, 9, 30, 10), people, category="hazard.environment")
    assert case.handle_due_at == at(2099, 10, 7, 10)  # Thu, Fri, Mon, Tue, Wed


def test_an_approved_extension_adds_working_days_over_the_holiday(tree, people):
    case = dispatched_at(at(2026, 9, 28, 10), people, category="hazard.environment")
    # 09-29, 09-30, 10-08, 10-09 and the make-up Saturday 10-10.
    assert case.handle_due_at == at(2026, 10, 10, 10)
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        case = services.grievance_report_in(case, people.grid_worker)
        r = post_act(api_as(people.grid_worker), case, "extend", {"days": 1, "reason": "等待配件"})
        assert r.status_code == 200
        r = post_act(api_as(people.centre_staff), case, "extend", {"approve": True})
        assert r.status_code == 200
    # Saturday 10-10 10:00 + 1 working day: Sunday does not count.
    assert r.json()["handle_due_at"] == "2026-10-12T10:00:00+08:00"


def test_reopen_gives_a_fresh_handling_deadline(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(people.grid_worker), State.CLOSED, people)
        clock.move_to(at(2026, 3, 6, 15))
        case = services.grievance_reopen(case, people.centre_staff, reason="回访不满意")
    assert case.handle_due_at == at(2026, 3, 13, 15)
