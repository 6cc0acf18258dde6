"""The working-day calendar: holidays, make-up days, working hours, regions, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from grids.calendar_models import CalendarDay, CalendarYear, DayKind
from grids.workcalendar import (
    DeadlineUnit,
    WorkCalendar,
    add_working_days,
    add_working_hours,
    add_working_time,
    calendar_warnings,
    deadline,
    has_data,
    is_working_day,
    next_working_instant,
    set_regional_holidays,
    working_time_between,
)

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)


def at(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_weekends_do_not_count():
    assert is_working_day(date(2026, 3, 13))  # Friday
    assert not is_working_day(date(2026, 3, 14))
    assert not is_working_day(date(2026, 3, 15))
    # Friday 17:00 + 2 working hours: one hour on Friday, one on Monday.
    assert add_working_hours(at(2026, 3, 13, 17), 2) == at(2026, 3, 16, 9, 30)


def test_national_day_2026_example_from_architecture():
    # The package's 2026 data: 10-01..10-07 off, Saturday 10-10 a make-up working day.
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 10, 10))
    assert not is_working_day(date(2026, 10, 11))
    due = add_working_days(at(2026, 9, 30, 10), 5)
    assert due == at(2026, 10, 13, 10)
    assert due.tzinfo == SH


def test_spring_festival_2026_with_make_up_days():
    # The package: Saturday 02-14 and Saturday 02-28 work; 02-15..02-23 off.
    assert is_working_day(date(2026, 2, 14))
    assert not any(is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert is_working_day(date(2026, 2, 24))
    assert is_working_day(date(2026, 2, 28))
    # Friday 02-13 10:00 + 1 working day: 5.5 h on Friday, 1.5 h on make-up Saturday.
    assert add_working_days(at(2026, 2, 13, 10), 1) == at(2026, 2, 14, 10)
    # From the make-up Saturday the next working day is after the festival.
    assert add_working_days(at(2026, 2, 14, 10), 1) == at(2026, 2, 24, 10)


def test_lunch_break_and_period_ends():
    assert add_working_hours(at(2026, 3, 16, 11, 30), 1) == at(2026, 3, 16, 15)
    # Working time that runs out exactly at a period's end ends there.
    assert add_working_hours(at(2026, 3, 16, 11), 1) == at(2026, 3, 16, 12)
    assert add_working_days(at(2026, 3, 16, 8, 30), 1) == at(2026, 3, 16, 18)
    assert add_working_days(at(2026, 3, 16, 8, 30), 2) == at(2026, 3, 17, 18)
    # Starting during lunch: the clock starts at 14:30.
    assert add_working_hours(at(2026, 3, 16, 12, 40), 1) == at(2026, 3, 16, 15, 30)
    assert next_working_instant(at(2026, 3, 16, 12)) == at(2026, 3, 16, 14, 30)


def test_after_hours_start_on_friday_evening():
    friday_evening = at(2026, 3, 13, 19)
    assert next_working_instant(friday_evening) == at(2026, 3, 16, 8, 30)
    assert add_working_hours(friday_evening, 1) == at(2026, 3, 16, 9, 30)
    assert add_working_time(friday_evening, timedelta(0)) == at(2026, 3, 16, 8, 30)
    # Before the morning starts, the same day's 08:30.
    assert next_working_instant(at(2026, 3, 16, 7)) == at(2026, 3, 16, 8, 30)
    assert next_working_instant(at(2026, 3, 16, 9)) == at(2026, 3, 16, 9)


def test_start_on_a_holiday():
    assert next_working_instant(at(2026, 10, 3, 9)) == at(2026, 10, 8, 8, 30)
    assert add_working_hours(at(2026, 10, 3, 9), 1) == at(2026, 10, 8, 9, 30)


def test_urgent_counts_calendar_hours():
    start = at(2026, 3, 13, 20)  # Friday evening
    assert deadline(start, 24, DeadlineUnit.HOURS, calendar_hours=True) == at(2026, 3, 14, 20)
    assert deadline(start, 2, DeadlineUnit.DAYS, calendar_hours=True) == at(2026, 3, 15, 20)
    # The same amounts in working time.
    assert deadline(start, 24, DeadlineUnit.HOURS) == add_working_hours(start, 24)
    assert deadline(start, 2, "days") == at(2026, 3, 17, 18)
    with pytest.raises(ValueError):
        deadline(start, 2, "weeks")


def test_aware_datetimes_only_and_results_in_beijing_time():
    with pytest.raises(ValueError):
        add_working_hours(datetime(2026, 3, 16, 9), 1)  # noqa: DTZ001
    with pytest.raises(ValueError):
        add_working_time(at(2026, 3, 16, 9), -H)
    # 01:00 UTC is 09:00 in Beijing.
    due = add_working_hours(datetime(2026, 3, 16, 1, tzinfo=UTC), 1)
    assert due == at(2026, 3, 16, 10)
    assert due.utcoffset() == timedelta(hours=8)


def test_regional_holiday_applies_to_the_subtree_only(tree):
    # Illustrative dates: the real ones come from the Tibet Autonomous Region's notice.
    losar = [date(2026, 3, 17), date(2026, 3, 18)]
    set_regional_holidays(tree.city, losar, "藏历新年")
    assert not WorkCalendar(tree.grid_a1).is_working_day(date(2026, 3, 17))
    assert not WorkCalendar(tree.grid_b1.pk).is_working_day(date(2026, 3, 18))
    assert not WorkCalendar(tree.city).is_working_day(date(2026, 3, 17))
    assert WorkCalendar(tree.other_county).is_working_day(date(2026, 3, 17))
    assert WorkCalendar().is_working_day(date(2026, 3, 17))
    # Monday 17:00 + 2 working hours: Tuesday and Wednesday are off in the subtree.
    start = at(2026, 3, 16, 17)
    assert add_working_hours(start, 2, region=tree.grid_a1) == at(2026, 3, 19, 9, 30)
    assert add_working_hours(start, 2, region=tree.other_county) == at(2026, 3, 17, 9, 30)
    # A deeper region's row wins over its ancestor's: this village works on 03-18.
    CalendarDay.objects.create(
        date=date(2026, 3, 18), kind=DayKind.WORKDAY, name="调休", region=tree.village_a
    )
    assert WorkCalendar(tree.grid_a1).is_working_day(date(2026, 3, 18))
    assert not WorkCalendar(tree.grid_b1).is_working_day(date(2026, 3, 18))
    # Entering the days again changes nothing.
    assert set_regional_holidays(tree.city, losar, "藏历新年") == 0
    # A region with days of its own for 2026 only is warned about 2027's.
    assert calendar_warnings(tree.grid_a1, [2026]) == []
    CalendarYear.objects.create(year=2027, complete=True)  # national 2027 is no concern here
    assert calendar_warnings(tree.other_county, [2027]) == []
    (message,) = calendar_warnings(tree.grid_b1, [2027])
    assert "2027" in message and "山南市" in message


def test_year_without_data_counts_monday_to_friday_and_warns():
    assert not has_data(2099)
    assert has_data(2026)
    assert is_working_day(date(2099, 1, 1))  # a Thursday: no holiday data, so it works
    assert not is_working_day(date(2099, 1, 3))  # Saturday
    calendar = WorkCalendar()
    assert calendar.add_working_days(at(2099, 1, 2, 8, 30), 1) == at(2099, 1, 2, 18)
    assert calendar.fallback_years == {2099}
    (message,) = calendar_warnings(None, [2026, 2099])
    assert "2099" in message
    assert calendar.warnings() == [message]


def test_year_boundary_into_a_year_without_data():
    calendar = WorkCalendar()
    # Thursday 2026-12-31 17:00 + 2 h: 2027 is unknown, so Friday 01-01 counts as working.
    assert calendar.add_working_hours(at(2026, 12, 31, 17), 2) == at(2027, 1, 1, 9, 30)
    assert calendar.fallback_years == {2027}


def test_database_rows_override_the_national_calendar():
    calendar = WorkCalendar()
    assert calendar.is_working_day(date(2026, 3, 18))
    # An admin marks an extra national holiday, and turns a package holiday into work.
    CalendarDay.objects.create(date=date(2026, 3, 18), kind=DayKind.HOLIDAY, name="特别休假")
    CalendarDay.objects.create(date=date(2026, 10, 7), kind=DayKind.WORKDAY, name="改为上班")
    # A calendar already built keeps its snapshot; a new one sees the rows at once.
    assert calendar.is_working_day(date(2026, 3, 18))
    fresh = WorkCalendar()
    assert not fresh.is_working_day(date(2026, 3, 18))
    assert fresh.is_working_day(date(2026, 10, 7))
    # Deleting the row restores the package's answer.
    CalendarDay.objects.filter(date=date(2026, 3, 18)).delete()  # signals: per-row delete
    assert is_working_day(date(2026, 3, 18))


def test_entered_year_counts_as_data_and_is_warned_until_complete():
    CalendarDay.objects.create(date=date(2027, 1, 1), kind=DayKind.HOLIDAY, name="元旦")
    assert has_data(2027)
    assert not is_working_day(date(2027, 1, 1))
    with translation.override("en"):
        (message,) = calendar_warnings(None, [2027])
    assert "2027" in message and "complete" in message
    CalendarYear.objects.create(year=2027, complete=True)
    assert calendar_warnings(None, [2027]) == []


def test_working_time_between_over_a_weekend_and_a_holiday():
    assert working_time_between(at(2026, 3, 13, 17), at(2026, 3, 16, 9, 30)) == 2 * H
    # Wednesday before National Day to the first day back: 5.5 h + 1.5 h.
    assert working_time_between(at(2026, 9, 30, 10), at(2026, 10, 8, 10)) == 7 * H
    assert working_time_between(at(2026, 10, 8, 10), at(2026, 9, 30, 10)) == -7 * H
    # Nothing elapses inside a holiday, a weekend or a lunch break.
    assert working_time_between(at(2026, 10, 2, 9), at(2026, 10, 6, 17)) == timedelta(0)
    assert working_time_between(at(2026, 3, 16, 12), at(2026, 3, 16, 14, 30)) == timedelta(0)
    # A suspended period moves a deadline by the working time it took.
    calendar = WorkCalendar()
    due = calendar.add_working_days(at(2026, 9, 28, 9), 3)
    suspended = calendar.working_time_between(at(2026, 9, 29, 16), at(2026, 10, 9, 11))
    assert calendar.add_working_time(due, suspended) > due


def test_round_trip_add_then_measure():
    calendar = WorkCalendar()
    starts = [
        at(2026, 9, 30, 10),
        at(2026, 2, 13, 17, 59),
        at(2026, 2, 14, 0),
        at(2026, 10, 3, 12),
        at(2026, 3, 16, 12),
        at(2026, 3, 16, 18),
        at(2026, 12, 30, 15, 15),
        at(2099, 12, 31, 23, 59),
    ]
    durations = [
        timedelta(minutes=1),
        timedelta(hours=3, minutes=30),
        7 * H,
        timedelta(hours=7, seconds=1),
        35 * H,
        timedelta(days=3, microseconds=7),
        400 * 7 * H,
    ]
    for start in starts:
        for duration in durations:
            end = calendar.add_working_time(start, duration)
            assert calendar.working_time_between(start, end) == duration, (start, duration)
            # The end is the earliest such instant: a minute less is not enough.
            earlier = end - timedelta(minutes=1)
            assert calendar.working_time_between(start, earlier) < duration


def test_working_hours_come_from_settings(settings):
    settings.WORKING_HOURS = [("09:00", "17:00")]
    calendar = WorkCalendar()
    assert calendar.day_length == 8 * H
    assert calendar.add_working_days(at(2026, 3, 16, 9), 1) == at(2026, 3, 16, 17)
    assert calendar.add_working_hours(at(2026, 3, 16, 12), 1) == at(2026, 3, 16, 13)


def test_import_holidays_command_is_idempotent(tree, tmp_path, capsys):
    path = tmp_path / "2027.csv"
    path.write_text(
        "date,kind,name,region_code\n"
        "2027-01-01,holiday,元旦,\n"
        "2027-02-06,休,春节,\n"
        "2027-02-20,workday,春节调休,\n"
        "2027-03-09,holiday,藏历新年,540500000000\n",
        encoding="utf-8",
    )
    call_command("import_holidays", str(path), "--complete")
    call_command("import_holidays", str(path))
    assert CalendarDay.objects.count() == 4
    assert "unchanged 4" in capsys.readouterr().out
    assert CalendarYear.objects.get(year=2027).complete
    assert is_working_day(date(2027, 2, 20))  # a Saturday made a working day
    assert not is_working_day(date(2027, 3, 9), region=tree.grid_a1)
    assert is_working_day(date(2027, 3, 9), region=tree.other_county)
    # --replace drops the national 2027 days the corrected file no longer lists.
    path.write_text("date,kind,name,region_code\n2027-01-01,holiday,元旦,\n", encoding="utf-8")
    call_command("import_holidays", str(path), "--replace")
    assert set(CalendarDay.objects.values_list("name", flat=True)) == {"元旦", "藏历新年"}
    # A bad file imports nothing.
    path.write_text(
        "date,kind,name,region_code\n2027-05-01,holiday,劳动节,\n2027-05-02,holiday,x,999\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="999"):
        call_command("import_holidays", str(path))
    assert not CalendarDay.objects.filter(date=date(2027, 5, 1)).exists()
