"""Working days, working hours and deadline arithmetic (Beijing time).

Working time is working days × working hours. Working days are Monday–Friday, minus the
State Council's public holidays, plus its make-up working days (调休). The arrangement comes
from the chinese-calendar package for the years it knows, overridden by national
``CalendarDay`` rows that admins enter or import (``manage.py import_holidays``) for later
years; a region adds the rows of itself and of its ancestors (autonomous regions' own
statutory holidays, e.g. 藏历新年 in Tibet). A year with neither package nor national rows
counts Monday–Friday, and ``calendar_warnings`` says so for pages to show.

Working hours come from ``settings.WORKING_HOURS`` (default 08:30–12:00 and 14:30–18:00),
so a working day is 7 hours of working time. Periods are half-open: 12:00 is not a working
instant, but a deadline whose working time runs out exactly at 12:00 ends at 12:00.

Usage: build one ``WorkCalendar(region)`` per request or sweep and reuse it; it reads one
version stamp from the database on first use and then works from an in-process cache of
working days per (year, regions with rows). Every datetime must be aware; results are
aware in Asia/Shanghai.
"""

from __future__ import annotations

import bisect
import calendar as pycalendar
import csv
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from grids.calendar_models import (
    CalendarDay,
    CalendarVersion,
    CalendarYear,
    DayKind,
    bump_calendar_version,
)
from grids.models import Region

TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_HOURS = [("08:30", "12:00"), ("14:30", "18:00")]
_US = 1_000_000  # microseconds per second: all arithmetic is in integer microseconds
_DAY_US = 86_400 * _US
# A calendar where no day works (an admin marked everything a holiday) must not loop
# forever looking for the next working day.
_MAX_YEARS_AHEAD = 50


class DeadlineUnit(models.TextChoices):
    DAYS = "days", _("working days")
    HOURS = "hours", _("working hours")


# --- Working hours ------------------------------------------------------------------------


def _parse_clock(text: str) -> int:
    try:
        hours, minutes = (int(part) for part in str(text).split(":"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"WORKING_HOURS: {text!r} is not HH:MM") from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ImproperlyConfigured(f"WORKING_HOURS: {text!r} is not a time of day")
    return (hours * 3600 + minutes * 60) * _US


def working_periods() -> tuple[tuple[int, int], ...]:
    """The working periods of a day as (start, end) microseconds after midnight."""
    raw = getattr(settings, "WORKING_HOURS", DEFAULT_WORKING_HOURS)
    periods = tuple((_parse_clock(start), _parse_clock(end)) for start, end in raw)
    if not periods:
        raise ImproperlyConfigured("WORKING_HOURS needs at least one period")
    previous_end = 0
    for start, end in periods:
        if not previous_end <= start < end:
            raise ImproperlyConfigured(
                "WORKING_HOURS: periods must be in order, each ending after it starts"
            )
        previous_end = end
    return periods


# --- Year tables and their cache ---------------------------------------------------------


def _package_year(year: int) -> list[bool] | None:
    """The package's working-day flags for each day of the year, or None if it lacks it."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        # Its data can begin or end inside a year only in theory; check the last day too.
        chinese_calendar.is_workday(date(year, 12, 31))
    except NotImplementedError:
        return None
    first = date(year, 1, 1).toordinal()
    return [chinese_calendar.is_workday(date.fromordinal(first + i)) for i in range(_days_in(year))]


_package_cache: dict[int, list[bool] | None] = {}


def package_knows(year: int) -> bool:
    """Whether the chinese-calendar package has the State Council's data for `year`."""
    if year not in _package_cache:
        _package_cache[year] = _package_year(year)
    return _package_cache[year] is not None


def _days_in(year: int) -> int:
    return 366 if pycalendar.isleap(year) else 365


@dataclass(frozen=True)
class _Year:
    year: int
    first: int  # ordinal of 1 January
    flags: bytes  # one byte per day of the year: 1 = working day
    days: list[int]  # ordinals of the working days, ascending
    has_data: bool  # False: counted Monday–Friday for want of data


@dataclass
class _Meta:
    """What one calendar stamp knows before any year is loaded."""

    national_years: frozenset[int]  # years with national rows
    complete_years: frozenset[int]
    regions_with_rows: frozenset[int]
    regional_years: dict[int, frozenset[int]]  # region id -> years with rows
    years: dict[tuple, _Year] = field(default_factory=dict)


_lock = threading.Lock()
_cache: dict[str, _Meta] = {}


def reset_cache() -> None:
    """Forget every cached year (tests; the version stamp makes it unnecessary otherwise)."""
    with _lock:
        _cache.clear()


def _current_stamp() -> str:
    return CalendarVersion.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""


def _load_meta() -> _Meta:
    national = CalendarDay.objects.filter(region__isnull=True).dates("date", "year")
    regional: dict[int, set[int]] = {}
    for region_id, day in CalendarDay.objects.filter(region__isnull=False).values_list(
        "region_id", "date"
    ):
        regional.setdefault(region_id, set()).add(day.year)
    return _Meta(
        national_years=frozenset(d.year for d in national),
        complete_years=frozenset(
            CalendarYear.objects.filter(complete=True).values_list("year", flat=True)
        ),
        regions_with_rows=frozenset(regional),
        regional_years={k: frozenset(v) for k, v in regional.items()},
    )


def _meta_for(stamp: str) -> _Meta:
    with _lock:
        meta = _cache.get(stamp)
    if meta is not None:
        return meta
    meta = _load_meta()
    with _lock:
        # Another stamp's years are stale for good: a stamp never comes back.
        _cache.clear()
        _cache[stamp] = meta
    return meta


def _build_year(year: int, meta: _Meta, regions: tuple[int, ...]) -> _Year:
    first = date(year, 1, 1).toordinal()
    count = _days_in(year)
    package_knows(year)
    flags = _package_cache[year]
    if flags is None:
        # Monday–Friday: ordinal 1 (0001-01-01) was a Monday, so (ordinal - 1) % 7 < 5.
        flags = [(first + i - 1) % 7 < 5 for i in range(count)]
    flags = bytearray(flags)
    end = date(year, 12, 31)
    national = CalendarDay.objects.filter(region__isnull=True, date__range=(date(year, 1, 1), end))
    for day, kind in national.values_list("date", "kind"):
        flags[day.toordinal() - first] = kind == DayKind.WORKDAY
    if regions:
        depth = {region_id: i for i, region_id in enumerate(regions)}
        rows = CalendarDay.objects.filter(
            region_id__in=regions, date__range=(date(year, 1, 1), end)
        ).values_list("region_id", "date", "kind")
        # Root first, so that a deeper region's row wins over its ancestor's.
        for _region_id, day, kind in sorted(rows, key=lambda row: depth[row[0]]):
            flags[day.toordinal() - first] = kind == DayKind.WORKDAY
    return _Year(
        year=year,
        first=first,
        flags=bytes(flags),
        days=[first + i for i in range(count) if flags[i]],
        has_data=(
            package_knows(year) or year in meta.national_years or year in meta.complete_years
        ),
    )


# --- The calendar -------------------------------------------------------------------------


def _local(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if timezone.is_naive(dt):
        raise ValueError("naive datetime: working-time arithmetic needs an aware datetime")
    return dt.astimezone(TZ)


def _tod(dt: datetime) -> int:
    return (dt.hour * 3600 + dt.minute * 60 + dt.second) * _US + dt.microsecond


def _at(ordinal: int, tod_us: int) -> datetime:
    # Asia/Shanghai has had no daylight saving time since 1991: midnight + offset is exact.
    midnight = datetime.combine(date.fromordinal(ordinal), time(0), tzinfo=TZ)
    return midnight + timedelta(microseconds=tod_us)


def _to_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


class WorkCalendar:
    """The working calendar of one region (None: national), with deadline arithmetic.

    Cheap to build; reads the version stamp once, at first use, then works from a snapshot.
    `fallback_years` collects the years it had to count Monday–Friday, for warnings.
    """

    def __init__(self, region: Region | int | None = None):
        self._region = region
        self._regions: tuple[int, ...] | None = None
        self._meta: _Meta | None = None
        self._years: dict[int, _Year] = {}
        self.periods = working_periods()
        self.day_length_us = sum(end - start for start, end in self.periods)
        self.fallback_years: set[int] = set()

    # -- loading

    def _snapshot(self) -> _Meta:
        if self._meta is None:
            self._meta = _meta_for(_current_stamp())
            self._regions = self._relevant_regions(self._meta)
        return self._meta

    def _relevant_regions(self, meta: _Meta) -> tuple[int, ...]:
        """The region's ancestors (root first, itself last) that have calendar rows."""
        if self._region is None or not meta.regions_with_rows:
            # Most of the country has no regional days: no tree query at all.
            return ()
        region = self._region
        if not isinstance(region, Region):
            region = Region.objects.only("tree_id", "lft", "rght", "parent_id").get(pk=region)
        ids = region.get_ancestors(include_self=True).values_list("pk", flat=True)
        return tuple(pk for pk in ids if pk in meta.regions_with_rows)

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is not None:
            return table
        meta = self._snapshot()
        key = (self._regions, year)
        with _lock:
            table = meta.years.get(key)
        if table is None:
            table = _build_year(year, meta, self._regions)
            with _lock:
                meta.years[key] = table
        self._years[year] = table
        if not table.has_data:
            self.fallback_years.add(year)
        return table

    # -- days

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (7 hours by default)."""
        return timedelta(microseconds=self.day_length_us)

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            day = _local(day).date()
        table = self._year(day.year)
        return bool(table.flags[day.toordinal() - table.first])

    def _is_working_ordinal(self, ordinal: int) -> bool:
        return self.is_working_day(date.fromordinal(ordinal))

    def _next_working_day(self, ordinal: int) -> int:
        """The first working day at or after `ordinal`."""
        year = date.fromordinal(ordinal).year
        for y in range(year, year + _MAX_YEARS_AHEAD):
            days = self._year(y).days
            i = bisect.bisect_left(days, ordinal)
            if i < len(days):
                return days[i]
        raise ValueError(f"no working day within {_MAX_YEARS_AHEAD} years after {ordinal}")

    def _nth_working_day(self, ordinal: int, n: int) -> int:
        """The n-th working day after the working day `ordinal` (n=0: itself)."""
        year, barren = date.fromordinal(ordinal).year, 0
        while barren < _MAX_YEARS_AHEAD:
            days = self._year(year).days
            barren = barren + 1 if not days else 0
            i = bisect.bisect_left(days, ordinal) + n
            if i < len(days):
                return days[i]
            n = i - len(days)
            year += 1
            ordinal = date(year, 1, 1).toordinal()
        raise ValueError(f"no working day within {_MAX_YEARS_AHEAD} years")

    def _working_days_between(self, start: int, end: int) -> int:
        """How many working days have ordinals in [start, end)."""
        if end <= start:
            return 0
        total = 0
        first_year, last_year = date.fromordinal(start).year, date.fromordinal(end - 1).year
        for y in range(first_year, last_year + 1):
            days = self._year(y).days
            total += bisect.bisect_left(days, end) - bisect.bisect_left(days, start)
        return total

    def working_days(self, start: date, end: date) -> list[date]:
        """The working days from `start` to `end`, both included."""
        result: list[date] = []
        for y in range(start.year, end.year + 1):
            days = self._year(y).days
            lo = bisect.bisect_left(days, start.toordinal())
            hi = bisect.bisect_right(days, end.toordinal())
            result.extend(date.fromordinal(o) for o in days[lo:hi])
        return result

    # -- within a day

    def _worked(self, tod_us: int) -> int:
        """Working time of a working day that has elapsed at `tod_us`."""
        total = 0
        for start, end in self.periods:
            if tod_us <= start:
                break
            total += min(tod_us, end) - start
        return total

    def _instant_after(self, worked_us: int) -> int:
        """The earliest time of day at which `worked_us` (> 0) of working time has elapsed."""
        for start, end in self.periods:
            length = end - start
            if worked_us <= length:
                return start + worked_us
            worked_us -= length
        raise AssertionError("more than a working day within one day")

    def _position(self, local: datetime) -> tuple[int, int]:
        """(ordinal, working time elapsed on that day at `local`; 0 on a day off)."""
        ordinal = local.toordinal()
        if not self._is_working_ordinal(ordinal):
            return ordinal, 0
        return ordinal, self._worked(_tod(local))

    # -- instants and durations

    def next_working_instant(self, dt: datetime) -> datetime:
        """The first working instant at or after `dt` (periods are half-open)."""
        local = _local(dt)
        ordinal, tod = local.toordinal(), _tod(local)
        if self._is_working_ordinal(ordinal):
            for start, end in self.periods:
                if tod < start:
                    return _at(ordinal, start)
                if tod < end:
                    return local
        return _at(self._next_working_day(ordinal + 1), self.periods[0][0])

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """When `duration` of working time has elapsed, counting from `start`.

        The clock starts at next_working_instant(start). The result is the earliest such
        instant: a duration that runs out exactly at 12:00 or 18:00 ends there, not at the
        start of the next period.
        """
        amount = _to_us(duration)
        if amount < 0:
            raise ValueError("duration must not be negative")
        if amount == 0:
            return self.next_working_instant(start)
        ordinal, worked = self._position(_local(start))
        if self._is_working_ordinal(ordinal):
            left_today = self.day_length_us - worked
            if amount <= left_today:
                return _at(ordinal, self._instant_after(worked + amount))
            amount -= left_today
        first = self._next_working_day(ordinal + 1)
        # amount > 0: whole days to skip, then 0 < rest <= one working day on the last one.
        skip, rest = divmod(amount, self.day_length_us)
        if rest == 0:
            skip, rest = skip - 1, self.day_length_us
        return _at(self._nth_working_day(first, skip), self._instant_after(rest))

    def add_working_days(self, start: datetime, days: float) -> datetime:
        return self.add_working_time(start, self.day_length * float(days))

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.add_working_time(start, timedelta(hours=float(hours)))

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a`."""
        day_a, worked_a = self._position(_local(a))
        day_b, worked_b = self._position(_local(b))
        if day_b >= day_a:
            whole = self._working_days_between(day_a, day_b)
        else:
            whole = -self._working_days_between(day_b, day_a)
        return timedelta(microseconds=whole * self.day_length_us + worked_b - worked_a)

    def deadline(
        self,
        start: datetime,
        amount: float,
        unit: str = DeadlineUnit.DAYS,
        calendar_hours: bool = False,
    ) -> datetime:
        """The deadline `amount` `unit` ("days" or "hours") after `start`.

        Normally working time: the clock starts at the next working instant. With
        `calendar_hours=True` (特急, the most urgent cases) it is wall-clock time from
        `start` itself, nights, weekends and holidays included: 2 days = 48 hours.
        """
        if unit not in DeadlineUnit.values:
            raise ValueError(f"unknown deadline unit {unit!r}")
        if amount < 0:
            raise ValueError("amount must not be negative")
        local = _local(start)
        if calendar_hours:
            hours = float(amount) * (24 if unit == DeadlineUnit.DAYS else 1)
            return local + timedelta(hours=hours)
        if unit == DeadlineUnit.DAYS:
            return self.add_working_days(local, amount)
        return self.add_working_hours(local, amount)

    # -- data coverage

    def has_data(self, year: int) -> bool:
        """Whether `year` has national holiday data (package or database rows)."""
        meta = self._snapshot()
        return package_knows(year) or year in meta.national_years or year in meta.complete_years

    def warnings(self, years: Iterable[int] | None = None) -> list[str]:
        """Warnings to show for `years` (default: the years this calendar has touched)."""
        meta = self._snapshot()
        chosen = sorted(set(years) if years is not None else set(self._years))
        result = []
        for year in chosen:
            if not self.has_data(year):
                result.append(
                    gettext("No holiday data for %(year)s: counting Monday–Friday.")
                    % {"year": year}
                )
            elif not package_knows(year) and year not in meta.complete_years:
                result.append(
                    gettext(
                        "Holiday data for %(year)s has not been marked complete: "
                        "some holidays or make-up days may be missing."
                    )
                    % {"year": year}
                )
            for region_id in self._regions or ():
                if year not in meta.regional_years.get(region_id, ()):
                    # The region has entered its own holidays for other years only.
                    result.append(
                        gettext("No regional holidays entered for %(year)s in %(region)s.")
                        % {"year": year, "region": _region_name(region_id)}
                    )
        return result


def _region_name(region_id: int) -> str:
    return Region.objects.filter(pk=region_id).values_list("name", flat=True).first() or "?"


# --- Module-level shortcuts ---------------------------------------------------------------


def is_working_day(day: date, region: Region | int | None = None) -> bool:
    return WorkCalendar(region).is_working_day(day)


def next_working_instant(dt: datetime, region: Region | int | None = None) -> datetime:
    return WorkCalendar(region).next_working_instant(dt)


def add_working_time(
    start: datetime, duration: timedelta, region: Region | int | None = None
) -> datetime:
    return WorkCalendar(region).add_working_time(start, duration)


def add_working_days(start: datetime, days: float, region: Region | int | None = None) -> datetime:
    return WorkCalendar(region).add_working_days(start, days)


def add_working_hours(
    start: datetime, hours: float, region: Region | int | None = None
) -> datetime:
    return WorkCalendar(region).add_working_hours(start, hours)


def working_time_between(a: datetime, b: datetime, region: Region | int | None = None) -> timedelta:
    return WorkCalendar(region).working_time_between(a, b)


def deadline(
    start: datetime,
    amount: float,
    unit: str = DeadlineUnit.DAYS,
    calendar_hours: bool = False,
    region: Region | int | None = None,
) -> datetime:
    """See WorkCalendar.deadline; `calendar_hours=True` is for 特急 (wall-clock hours)."""
    return WorkCalendar(region).deadline(start, amount, unit, calendar_hours)


def has_data(year: int) -> bool:
    """Whether `year` has national holiday data; without it the calendar counts Mon–Fri."""
    return WorkCalendar().has_data(year)


def calendar_warnings(region: Region | int | None, years: Iterable[int]) -> list[str]:
    """Warnings for pages: years without data, years not marked complete, and years for
    which a region with its own holidays (or an ancestor) has entered none."""
    return WorkCalendar(region).warnings(years)


# --- Admin data entry ---------------------------------------------------------------------

_KINDS = {
    "holiday": DayKind.HOLIDAY,
    "休": DayKind.HOLIDAY,
    "workday": DayKind.WORKDAY,
    "班": DayKind.WORKDAY,
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[str] = field(default_factory=list)


def import_calendar_csv(
    lines: Iterable[str], *, complete: bool = False, replace: bool = False
) -> ImportResult:
    """Import rows `date,kind,name,region_code` (a header row with these names first).

    Idempotent: a day is keyed by (date, region) and updated in place. kind is holiday or
    workday (also 休 / 班); an empty region_code means national. With `complete`, the
    years of the national rows are marked complete. With `replace`, rows of the same
    (year, region) pairs that the file does not list are deleted, so that a corrected
    file also removes days. Nothing is written if any row is invalid.
    """
    result = ImportResult()
    reader = csv.DictReader(lines)
    missing = {"date", "kind", "name", "region_code"} - set(reader.fieldnames or ())
    if missing:
        result.errors.append(
            gettext("missing columns: %(columns)s") % {"columns": ", ".join(sorted(missing))}
        )
        return result
    codes: set[str] = set()
    parsed: list[tuple[date, str, str, str]] = []
    for number, row in enumerate(reader, start=2):
        try:
            day = date.fromisoformat((row["date"] or "").strip())
        except ValueError:
            result.errors.append(
                gettext("line %(line)s: bad date %(value)r")
                % {"line": number, "value": row["date"]}
            )
            continue
        kind = _KINDS.get((row["kind"] or "").strip().lower())
        if kind is None:
            result.errors.append(
                gettext("line %(line)s: kind must be holiday or workday, not %(value)r")
                % {"line": number, "value": row["kind"]}
            )
            continue
        code = (row["region_code"] or "").strip()
        codes.add(code)
        parsed.append((day, kind, (row["name"] or "").strip(), code))
    regions = dict(Region.objects.filter(code__in=codes - {""}).values_list("code", "pk"))
    for code in sorted(codes - {""} - set(regions)):
        result.errors.append(gettext("unknown region code %(code)s") % {"code": code})
    seen: set[tuple[date, str]] = set()
    for day, _kind, _name, code in parsed:
        if (day, code) in seen:
            result.errors.append(
                gettext("%(date)s is listed twice for region %(code)s")
                % {"date": day, "code": code or gettext("national")}
            )
        seen.add((day, code))
    if result.errors:
        return result

    with transaction.atomic():
        existing = {
            (row.date, row.region_id): row
            for row in CalendarDay.objects.filter(
                date__in={day for day, *_ in parsed}
            ).select_for_update()
        }
        listed: set[tuple[date, int | None]] = set()
        for day, kind, name, code in parsed:
            region_id = regions.get(code)
            listed.add((day, region_id))
            row = existing.get((day, region_id))
            if row is None:
                CalendarDay.objects.create(date=day, kind=kind, name=name, region_id=region_id)
                result.created += 1
            elif (row.kind, row.name) != (kind, name):
                row.kind, row.name = kind, name
                row.save(update_fields=["kind", "name", "updated_at"])
                result.updated += 1
            else:
                result.unchanged += 1
        if replace:
            for year, region_id in {(day.year, region_id) for day, region_id in listed}:
                stale = CalendarDay.objects.filter(date__year=year, region_id=region_id)
                if region_id is None:
                    stale = CalendarDay.objects.filter(date__year=year, region__isnull=True)
                for row in stale:
                    if (row.date, row.region_id) not in listed:
                        row.delete()
                        result.deleted += 1
        if complete:
            for year in sorted({day.year for day, region_id in listed if region_id is None}):
                CalendarYear.objects.update_or_create(year=year, defaults={"complete": True})
        # Saves above already bump through signals; this covers a file with no changes too,
        # cheaply, and any future switch to bulk writes.
        bump_calendar_version()
    return result


def set_regional_holidays(
    region: Region, days: Iterable[date], name: str, kind: str = DayKind.HOLIDAY
) -> int:
    """Give `region` and its subtree extra days (e.g. 藏历新年 for 山南市); idempotent.

    Returns how many rows were created. The demo loader can use it; real dates come from
    the autonomous region's own notice each year.
    """
    created = 0
    for day in days:
        _row, new = CalendarDay.objects.update_or_create(
            date=day, region=region, defaults={"kind": kind, "name": name}
        )
        created += new
    return created
