"""Periods: presets, explicit dates, calendar buckets, DST days and every error message."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cost_mcp.config import WeekStart
from cost_mcp.errors import InvalidInputError
from cost_mcp.periods import (
    MAX_RANGE_DAYS,
    PRESETS,
    Granularity,
    Period,
    baseline,
    bucket_days,
    bucket_label,
    bucket_start,
    calendar_period,
    days_period,
    iso_second,
    local_date,
    periods_to_compare,
    previous_period,
    resolve_period,
    resolve_spec,
    to_ms,
)

UTC_ZONE = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
SANTIAGO = ZoneInfo("America/Santiago")  # DST changes at local midnight
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # half-hour DST shift

# Zones with unusual clocks: midnight changes, half-hour shifts, no DST, far from UTC.
ODD_ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
)

FRIDAY_NOV_20 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def utc_ms(iso: str) -> int:
    """UTC epoch ms of a naive ISO time read as UTC, computed without the code under test."""
    return calendar.timegm(datetime.fromisoformat(iso).timetuple()) * 1000


def d(iso: str) -> date:
    return date.fromisoformat(iso)


def at_noon_utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(hour=12, tzinfo=UTC)


def test_utc_ms_helper_matches_a_known_instant() -> None:
    assert utc_ms("2026-03-28T23:00") == 1_774_738_800_000


@given(st.integers(min_value=-(10**12), max_value=253_402_300_799_999))
def test_iso_second_is_the_instant_to_the_second(ts_ms: int) -> None:
    """As `cost-mcp doctor` and a push's warnings have always shown an instant (through a float of
    seconds, which this reads exactly): cut to its second, not rounded."""
    assert iso_second(ts_ms) == datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")
    assert iso_second(1_767_605_400_999) == "2026-01-05T09:30:00+00:00"


# --- presets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [
        ("today", "2026-11-20", "2026-11-20"),
        ("yesterday", "2026-11-19", "2026-11-19"),
        ("this_week", "2026-11-16", "2026-11-22"),
        ("last_week", "2026-11-09", "2026-11-15"),
        ("this_month", "2026-11-01", "2026-11-30"),
        ("last_month", "2026-10-01", "2026-10-31"),
        ("last_7_days", "2026-11-14", "2026-11-20"),
        ("last_30_days", "2026-10-22", "2026-11-20"),
        ("this_year", "2026-01-01", "2026-12-31"),
    ],
)
def test_each_preset_on_friday_nov_20(preset: str, first: str, last: str) -> None:
    p = resolve_period(preset, tz=PARIS, now=FRIDAY_NOV_20)
    assert (p.first_day, p.last_day, p.name) == (d(first), d(last), preset)
    assert p.start == datetime(p.first_day.year, p.first_day.month, p.first_day.day, tzinfo=PARIS)
    assert p.end.date() == d(last) + timedelta(days=1)
    assert p.days() == [d(first) + timedelta(days=i) for i in range(p.day_count)]


def test_presets_cover_every_name() -> None:
    for preset in PRESETS:
        assert resolve_period(preset, tz=PARIS, now=FRIDAY_NOV_20).name == preset


@pytest.mark.parametrize(
    ("preset", "label"),
    [
        ("this_week", "this_week: 2026-11-16 to 2026-11-22"),
        ("today", "today: 2026-11-20"),
        ("last_month", "last_month: 2026-10-01 to 2026-10-31"),
    ],
)
def test_label(preset: str, label: str) -> None:
    assert resolve_period(preset, tz=PARIS, now=FRIDAY_NOV_20).label() == label


@pytest.mark.parametrize(
    ("tz", "today"),
    [
        (UTC_ZONE, "2026-11-20"),
        (PARIS, "2026-11-21"),  # 23:30 UTC is already 00:30 on the 21st
        (TOKYO, "2026-11-21"),
        (NEW_YORK, "2026-11-20"),
    ],
)
def test_today_is_the_local_date_of_now(tz: ZoneInfo, today: str) -> None:
    p = resolve_period("today", tz=tz, now=datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    assert p.first_day == p.last_day == d(today)


@pytest.mark.parametrize(
    "spelling", ["this_week", "This_Week", "THIS-WEEK", "this week", "  this-week  ", "this__week"]
)
def test_preset_spelling_is_forgiven(spelling: str) -> None:
    assert resolve_period(spelling, tz=PARIS, now=FRIDAY_NOV_20).name == "this_week"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({}, "this_month"),
        ({"default": "last_7_days"}, "last_7_days"),
        ({"period": "", "start": "", "end": ""}, "this_month"),  # tool callers send "" for unused args
        ({"period": None, "start": "  "}, "this_month"),
    ],
)
def test_default_when_nothing_is_given(kwargs: dict[str, Any], name: str) -> None:
    assert resolve_period(**kwargs, tz=PARIS, now=FRIDAY_NOV_20).name == name


def test_now_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC).date()
    p = resolve_period("today", tz=UTC_ZONE)
    assert p.first_day in {before, datetime.now(UTC).date()}


# --- month lengths and the leap day ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "last", "days"),
    [
        ("2026-01-15", "2026-01-31", 31),
        ("2026-04-30", "2026-04-30", 30),
        ("2026-02-01", "2026-02-28", 28),
        ("2028-02-29", "2028-02-29", 29),
        ("2026-12-31", "2026-12-31", 31),
    ],
)
def test_this_month_ends_on_the_last_day_of_the_month(now: str, last: str, days: int) -> None:
    p = resolve_period("this_month", tz=UTC_ZONE, now=at_noon_utc(now))
    assert (p.first_day, p.last_day, p.day_count) == (d(now).replace(day=1), d(last), days)


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        ("2028-03-15", "2028-02-01", "2028-02-29"),
        ("2028-03-01", "2028-02-01", "2028-02-29"),
        ("2026-03-31", "2026-02-01", "2026-02-28"),
        ("2026-05-31", "2026-04-01", "2026-04-30"),
        ("2027-01-01", "2026-12-01", "2026-12-31"),  # January reaches back into last year
    ],
)
def test_last_month(now: str, first: str, last: str) -> None:
    p = resolve_period("last_month", tz=PARIS, now=at_noon_utc(now))
    assert (p.first_day, p.last_day) == (d(first), d(last))


def test_explicit_range_over_the_leap_day() -> None:
    p = resolve_period(start="2028-02-28", end="2028-03-01", tz=UTC_ZONE, now=FRIDAY_NOV_20)
    assert p.days() == [d("2028-02-28"), d("2028-02-29"), d("2028-03-01")]
    assert (p.start_ms, p.end_ms) == (utc_ms("2028-02-28T00:00"), utc_ms("2028-03-02T00:00"))


def test_leap_year_this_year_has_366_days() -> None:
    p = resolve_period("this_year", tz=UTC_ZONE, now=at_noon_utc("2028-07-01"))
    assert p.day_count == 366
    assert p.duration == timedelta(days=366)


# --- week start ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week_start", "now", "this_week", "last_week"),
    [
        ("monday", "2026-11-20", ("2026-11-16", "2026-11-22"), ("2026-11-09", "2026-11-15")),
        ("sunday", "2026-11-20", ("2026-11-15", "2026-11-21"), ("2026-11-08", "2026-11-14")),
        ("saturday", "2026-11-20", ("2026-11-14", "2026-11-20"), ("2026-11-07", "2026-11-13")),
        # On the week's first day, this week starts today.
        ("sunday", "2026-11-22", ("2026-11-22", "2026-11-28"), ("2026-11-15", "2026-11-21")),
        ("monday", "2026-11-16", ("2026-11-16", "2026-11-22"), ("2026-11-09", "2026-11-15")),
        # On the week's last day, this week ends today.
        ("sunday", "2026-11-21", ("2026-11-15", "2026-11-21"), ("2026-11-08", "2026-11-14")),
        # Weeks across January 1.
        ("monday", "2027-01-02", ("2026-12-28", "2027-01-03"), ("2026-12-21", "2026-12-27")),
        ("monday", "2027-01-05", ("2027-01-04", "2027-01-10"), ("2026-12-28", "2027-01-03")),
        ("sunday", "2027-01-01", ("2026-12-27", "2027-01-02"), ("2026-12-20", "2026-12-26")),
    ],
)
def test_week_start(
    week_start: WeekStart, now: str, this_week: tuple[str, str], last_week: tuple[str, str]
) -> None:
    for preset, (first, last) in (("this_week", this_week), ("last_week", last_week)):
        p = resolve_period(preset, tz=PARIS, week_start=week_start, now=at_noon_utc(now))
        assert (p.first_day, p.last_day, p.day_count) == (d(first), d(last), 7)


@pytest.mark.parametrize(
    ("preset", "now", "first", "last"),
    [
        ("yesterday", "2027-01-01", "2026-12-31", "2026-12-31"),
        ("last_7_days", "2027-01-03", "2026-12-28", "2027-01-03"),
        ("last_30_days", "2027-01-10", "2026-12-12", "2027-01-10"),
        ("this_year", "2027-01-01", "2027-01-01", "2027-12-31"),
        ("this_year", "2026-12-31", "2026-01-01", "2026-12-31"),
    ],
)
def test_year_boundary(preset: str, now: str, first: str, last: str) -> None:
    p = resolve_period(preset, tz=NEW_YORK, now=at_noon_utc(now))
    assert (p.first_day, p.last_day) == (d(first), d(last))


# --- DST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "start_utc", "end_utc", "hours"),
    [
        (PARIS, "2026-03-29", "2026-03-28T23:00", "2026-03-29T22:00", 23),
        (PARIS, "2026-10-25", "2026-10-24T22:00", "2026-10-25T23:00", 25),
        (PARIS, "2026-03-30", "2026-03-29T22:00", "2026-03-30T22:00", 24),
        (NEW_YORK, "2026-03-08", "2026-03-08T05:00", "2026-03-09T04:00", 23),
        (NEW_YORK, "2026-11-01", "2026-11-01T04:00", "2026-11-02T05:00", 25),
        # Santiago changes at midnight: 2026-09-06 00:00 never happens, the day starts at 01:00.
        (SANTIAGO, "2026-09-06", "2026-09-06T04:00", "2026-09-07T03:00", 23),
        (SANTIAGO, "2026-04-04", "2026-04-04T03:00", "2026-04-05T04:00", 25),
    ],
)
def test_dst_change_day(tz: ZoneInfo, day: str, start_utc: str, end_utc: str, hours: int) -> None:
    explicit = resolve_period(start=day, end=day, tz=tz, now=FRIDAY_NOV_20)
    local_noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=tz)
    bucket = calendar_period("day", local_noon, tz=tz, week_start="monday")
    for p in (explicit, bucket):
        assert (p.start_ms, p.end_ms) == (utc_ms(start_utc), utc_ms(end_utc))
        assert p.duration == hours * HOUR
        assert (p.end_ms - p.start_ms) // 3_600_000 == hours
        assert p.days() == [d(day)]
        assert local_date(p.start_ms, tz) == local_date(p.end_ms - 1, tz) == d(day)


def test_today_on_a_dst_day_is_23_hours() -> None:
    p = resolve_period("today", tz=PARIS, now=datetime(2026, 3, 29, 10, 0, tzinfo=UTC))
    assert p.duration == 23 * HOUR


def test_half_hour_dst_shift() -> None:
    # Lord Howe Island moves its clock by 30 minutes on 2026-04-05.
    p = calendar_period("day", datetime(2026, 4, 5, 1, 0, tzinfo=UTC), tz=LORD_HOWE, week_start="monday")
    assert p.first_day == d("2026-04-05")
    assert p.duration == timedelta(hours=24, minutes=30)


@pytest.mark.parametrize(
    ("tz", "preset", "now", "hours"),
    [
        (PARIS, "this_week", "2026-03-27", 7 * 24 - 1),
        (PARIS, "this_month", "2026-10-05", 31 * 24 + 1),
        (NEW_YORK, "this_month", "2026-03-20", 31 * 24 - 1),
        (NEW_YORK, "this_year", "2026-06-01", 365 * 24),  # the spring hour comes back in autumn
    ],
)
def test_periods_spanning_a_dst_change(tz: ZoneInfo, preset: str, now: str, hours: int) -> None:
    assert resolve_period(preset, tz=tz, now=at_noon_utc(now)).duration == hours * HOUR


def test_wall_clock_subtraction_would_hide_dst() -> None:
    # Why Period.duration exists: same-zone datetime subtraction is wall-clock time.
    p = days_period(d("2026-03-29"), d("2026-03-29"), tz=PARIS)
    assert p.end - p.start == 24 * HOUR
    assert p.duration == 23 * HOUR


# --- explicit dates -----------------------------------------------------------------------------


def test_end_is_inclusive_for_people() -> None:
    p = resolve_period(start="2026-03-01", end="2026-03-31", tz=PARIS, now=FRIDAY_NOV_20)
    last_ms_of_march = utc_ms("2026-03-31T21:59:59") + 999  # 23:59:59.999 CEST
    assert (p.first_day, p.last_day, p.day_count, p.name) == (d("2026-03-01"), d("2026-03-31"), 31, "custom")
    assert p.end_ms == utc_ms("2026-03-31T22:00")
    assert p.contains_ms(last_ms_of_march)
    assert p.contains_ms(p.end_ms - 1)
    assert not p.contains_ms(p.end_ms)
    assert p.label() == "custom: 2026-03-01 to 2026-03-31"


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        ("2026-11-01", None, "2026-11-01", "2026-11-20"),  # start alone runs through today
        ("2026-11-20", None, "2026-11-20", "2026-11-20"),
        (date(2026, 2, 1), date(2026, 2, 28), "2026-02-01", "2026-02-28"),
        ("2026-05-05", "2026-05-05", "2026-05-05", "2026-05-05"),
        (" 2026-05-05 ", "2026-05-06\n", "2026-05-05", "2026-05-06"),
        (datetime(2026, 5, 4, 23, 30, tzinfo=UTC), "2026-05-06", "2026-05-05", "2026-05-06"),
        ("2006-11-21", "2026-11-20", "2006-11-21", "2026-11-20"),  # 20 years is allowed
    ],
)
def test_explicit_dates(start: str | date, end: str | date | None, first: str, last: str) -> None:
    p = resolve_period(start=start, end=end, tz=PARIS, now=FRIDAY_NOV_20)
    assert (p.first_day, p.last_day, p.name) == (d(first), d(last), "custom")


def test_max_range_is_about_twenty_years() -> None:
    p = days_period(d("2000-01-01"), d("2000-01-01") + timedelta(days=MAX_RANGE_DAYS - 1), tz=UTC_ZONE)
    assert resolve_period(start=p.first_day, end=p.last_day, tz=UTC_ZONE, now=FRIDAY_NOV_20) == p


# --- errors -------------------------------------------------------------------------------------

ALL_PRESETS = re.escape(", ".join(PRESETS))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": "this_week", "start": "2026-11-01"}, r"use one or the other"),
        ({"period": "this_week", "end": "2026-11-01"}, r"use one or the other"),
        ({"end": "2026-11-01"}, r"`end` without `start`: pass `start` too \(YYYY-MM-DD\)"),
        (
            {"start": "2026-03-31", "end": "2026-03-01"},
            r"`start` 2026-03-31 is after `end` 2026-03-01: swap them",
        ),
        ({"start": "2026-12-01"}, r"`start` 2026-12-01 is after today \(2026-11-20\)"),
        ({"period": "thisweek"}, r"Unknown period 'thisweek'\. Did you mean 'this_week'\?"),
        ({"period": "last_moth"}, r"Did you mean 'last_month'\?"),
        ({"period": "banana"}, r"Unknown period 'banana'\. Write a period name \(" + ALL_PRESETS),
        ({"period": "thisweek"}, r"a month YYYY-MM, .*; or start/end as YYYY-MM-DD"),
        ({"default": "forever"}, r"Unknown period 'forever'"),
        (
            {"period": "All Time"},
            r"no period for the whole history: give the day of your first call as the start",
        ),
        ({"period": "2026-03-32"}, r"the date '2026-03-32' is not a real calendar date"),
        ({"period": "2026-03-31..2026-03-01"}, r"first date 2026-03-31 is after the last date 2026-03-01"),
        ({"start": "2026/03/01"}, r"`start` '2026/03/01' is not a date: use YYYY-MM-DD"),
        ({"start": "03/01/2026"}, r"use YYYY-MM-DD"),
        ({"start": "2026-3-1"}, r"use YYYY-MM-DD"),
        ({"start": "20260301"}, r"use YYYY-MM-DD"),
        ({"start": "2026-03-01T10:00"}, r"use YYYY-MM-DD"),
        ({"start": "yesterday"}, r"`start` 'yesterday' is not a date: use YYYY-MM-DD"),
        ({"start": "2026-02-30"}, r"`start` '2026-02-30' is not a real calendar date: use YYYY-MM-DD"),
        ({"start": "2026-01-01", "end": "2026-13-01"}, r"`end` '2026-13-01' is not a real calendar date"),
        ({"start": "2027-02-29", "end": "2027-03-01"}, r"not a real calendar date"),
        (
            {"start": "2000-01-01", "end": "2026-01-01"},
            r"spans 9498 days; the longest allowed is about 20 years \(7320 days\)",
        ),
        ({"start": "0001-01-01", "end": "0001-01-02"}, r"out of range: use a date between 1900-01-01"),
        ({"start": "2026-01-01", "end": "9999-12-31"}, r"`end` 9999-12-31 is out of range"),
        ({"start": 20260301}, r"is not a date: use YYYY-MM-DD"),
    ],
)
def test_resolve_period_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve_period(**kwargs, tz=PARIS, now=FRIDAY_NOV_20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "20260301"}, "`start` '20260301' is not a date: use YYYY-MM-DD, here 2026-03-01."),
        (
            {"start": "2026-01-01", "end": " 20260315"},
            "`end` ' 20260315' is not a date: use YYYY-MM-DD, here 2026-03-15.",
        ),
        (
            {"period": "20260301"},
            "Period '20260301' is a day without its dashes: write it as 2026-03-01 (YYYY-MM-DD).",
        ),
        (
            {"period": "20260101..20260301"},
            "the first date '20260101' is not a date: use YYYY-MM-DD, here 2026-01-01.",
        ),
        # A time of day (what a model sends for a start): the day it names, and why no time is taken.
        (
            {"start": "2026-03-01T10:00"},
            "`start` '2026-03-01T10:00' is not a date: use YYYY-MM-DD, here 2026-03-01: a period is whole "
            "days, both ends included, with no time of day.",
        ),
        # With an offset, the instant's day in the timezone: 23:30Z on March 1 is March 2 in Paris.
        (
            {"start": "2026-02-01", "end": "2026-03-01T23:30:00Z"},
            "`end` '2026-03-01T23:30:00Z' is not a date: use YYYY-MM-DD, here 2026-03-02, that instant's day "
            "in Europe/Paris: a period is whole days there, both ends included, with no time of day.",
        ),
        (
            {"start": "2026-03-01T25:00"},
            "`start` '2026-03-01T25:00' is not a date: use YYYY-MM-DD, e.g. 2026-03-31.",
        ),
        # eight digits that are no day keep the general example
        ({"start": "20261301"}, "`start` '20261301' is not a date: use YYYY-MM-DD, e.g. 2026-03-31."),
    ],
)
def test_a_ccusage_style_date_is_refused_naming_the_day(kwargs: dict[str, Any], message: str) -> None:
    """ccusage's --since/--until take 20260301, so a user coming from it types that: the refusal said
    only "e.g. 2026-03-31", now it names the day they meant, as it is written here. So too of a date
    with a time of day, which a model sends as a start (the CLI passes it on): its day, in the
    timezone when it has an offset."""
    with pytest.raises(InvalidInputError) as excinfo:
        resolve_period(**kwargs, tz=PARIS, now=FRIDAY_NOV_20)
    assert str(excinfo.value) == message


def test_unknown_period_error_names_every_preset() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        resolve_period("whenever", tz=PARIS, now=FRIDAY_NOV_20)
    assert all(preset in str(excinfo.value) for preset in PRESETS)
    assert "Did you mean" not in str(excinfo.value)


@pytest.mark.parametrize("granularity", ["year", "hour", "Day"])
def test_unknown_granularity(granularity: Any) -> None:
    with pytest.raises(
        InvalidInputError, match=rf"Unknown granularity '{granularity}': use one of day, week, month"
    ):
        bucket_start(d("2026-11-20"), granularity, "monday")
    with pytest.raises(InvalidInputError, match="Unknown granularity"):
        bucket_label(d("2026-11-20"), granularity)


@pytest.mark.parametrize("week_start", ["mon", "funday", ""])
def test_unknown_week_start(week_start: Any) -> None:
    with pytest.raises(
        InvalidInputError, match=rf"Unknown week start '{week_start}': use one of monday, tuesday"
    ):
        resolve_period("this_week", tz=PARIS, week_start=week_start, now=FRIDAY_NOV_20)
    with pytest.raises(InvalidInputError, match="Unknown week start"):
        resolve_period("today", tz=PARIS, week_start=week_start, now=FRIDAY_NOV_20)
    with pytest.raises(InvalidInputError, match="Unknown week start"):
        calendar_period("day", FRIDAY_NOV_20, tz=PARIS, week_start=week_start)


@pytest.mark.parametrize(
    "call",
    [
        lambda: resolve_period("today", tz=PARIS, now=datetime(2026, 11, 20, 15, 0)),
        lambda: calendar_period("day", datetime(2026, 11, 20), tz=PARIS, week_start="monday"),
        lambda: to_ms(datetime(2026, 11, 20)),
    ],
)
def test_naive_datetimes_are_a_programming_error(call: Any) -> None:
    # Not InvalidInputError: a naive "now" is a bug in our code, not something a caller can fix.
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


# --- calendar_period, previous_period, buckets ------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "at", "tz", "week_start", "first", "last"),
    [
        ("day", "2026-11-20T15:00", PARIS, "monday", "2026-11-20", "2026-11-20"),
        ("day", "2026-11-20T23:30", PARIS, "monday", "2026-11-21", "2026-11-21"),
        ("day", "2026-11-20T03:00", NEW_YORK, "monday", "2026-11-19", "2026-11-19"),
        ("week", "2026-11-20T15:00", PARIS, "monday", "2026-11-16", "2026-11-22"),
        ("week", "2026-11-20T15:00", PARIS, "sunday", "2026-11-15", "2026-11-21"),
        ("week", "2026-11-22T23:30", PARIS, "monday", "2026-11-23", "2026-11-29"),
        ("month", "2026-11-20T15:00", PARIS, "monday", "2026-11-01", "2026-11-30"),
        ("month", "2026-11-30T23:30", PARIS, "monday", "2026-12-01", "2026-12-31"),
        ("month", "2026-12-31T23:30", TOKYO, "monday", "2027-01-01", "2027-01-31"),
        ("month", "2028-02-10T00:00", UTC_ZONE, "monday", "2028-02-01", "2028-02-29"),
    ],
)
def test_calendar_period(
    granularity: Granularity, at: str, tz: ZoneInfo, week_start: WeekStart, first: str, last: str
) -> None:
    instant = datetime.fromisoformat(at).replace(tzinfo=UTC)
    p = calendar_period(granularity, instant, tz=tz, week_start=week_start)
    assert (p.first_day, p.last_day, p.name, p.tz) == (d(first), d(last), granularity, tz)
    assert p.contains_ms(to_ms(instant))


@pytest.mark.parametrize(
    ("first", "last", "prev_first", "prev_last"),
    [
        ("2026-11-01", "2026-11-30", "2026-10-02", "2026-10-31"),  # same length, not last month
        ("2026-11-16", "2026-11-22", "2026-11-09", "2026-11-15"),
        ("2026-11-20", "2026-11-20", "2026-11-19", "2026-11-19"),
        ("2027-01-01", "2027-01-03", "2026-12-29", "2026-12-31"),
        ("2028-03-01", "2028-03-02", "2028-02-28", "2028-02-29"),
    ],
)
def test_previous_period(first: str, last: str, prev_first: str, prev_last: str) -> None:
    p = days_period(d(first), d(last), tz=PARIS, name="this_month")
    prev = previous_period(p)
    assert (prev.first_day, prev.last_day, prev.name) == (d(prev_first), d(prev_last), "previous")
    assert prev.day_count == p.day_count
    assert prev.end_ms == p.start_ms


def test_previous_period_counts_days_not_hours() -> None:
    p = days_period(d("2026-03-30"), d("2026-03-30"), tz=PARIS)
    prev = previous_period(p)
    assert prev.days() == [d("2026-03-29")]
    assert prev.duration == 23 * HOUR


@pytest.mark.parametrize(
    ("day", "granularity", "week_start", "start", "label", "last"),
    [
        ("2026-11-20", "day", "monday", "2026-11-20", "2026-11-20", "2026-11-20"),
        ("2026-11-20", "week", "monday", "2026-11-16", "2026-11-16", "2026-11-22"),
        ("2026-11-16", "week", "monday", "2026-11-16", "2026-11-16", "2026-11-22"),
        ("2026-11-22", "week", "monday", "2026-11-16", "2026-11-16", "2026-11-22"),
        ("2026-11-20", "week", "sunday", "2026-11-15", "2026-11-15", "2026-11-21"),
        ("2026-11-20", "week", "saturday", "2026-11-14", "2026-11-14", "2026-11-20"),
        ("2026-11-20", "week", "friday", "2026-11-20", "2026-11-20", "2026-11-26"),
        ("2027-01-02", "week", "monday", "2026-12-28", "2026-12-28", "2027-01-03"),
        ("2026-11-20", "month", "monday", "2026-11-01", "2026-11", "2026-11-30"),
        ("2028-02-29", "month", "sunday", "2028-02-01", "2028-02", "2028-02-29"),
        ("2026-12-31", "month", "monday", "2026-12-01", "2026-12", "2026-12-31"),
        ("0999-05-05", "month", "monday", "0999-05-01", "0999-05", "0999-05-31"),
    ],
)
def test_buckets(
    day: str, granularity: Granularity, week_start: WeekStart, start: str, label: str, last: str
) -> None:
    """A day's bucket: its first day, its label, and back from the label its first and last days."""
    first = bucket_start(d(day), granularity, week_start)
    assert first == d(start)
    assert bucket_label(first, granularity) == label
    assert bucket_days(label, granularity) == (d(start), d(last))


@pytest.mark.parametrize(
    ("iso_utc", "tz", "day"),
    [
        ("2026-11-20T23:30", UTC_ZONE, "2026-11-20"),
        ("2026-11-20T23:30", PARIS, "2026-11-21"),
        ("2026-11-20T23:30", TOKYO, "2026-11-21"),
        ("2026-11-21T04:59", NEW_YORK, "2026-11-20"),
        ("2026-11-21T05:00", NEW_YORK, "2026-11-21"),
        ("1969-12-31T23:59", UTC_ZONE, "1969-12-31"),  # negative epoch ms
    ],
)
def test_local_date(iso_utc: str, tz: ZoneInfo, day: str) -> None:
    assert local_date(utc_ms(iso_utc), tz) == d(day)


def test_contains_ms_is_half_open() -> None:
    p = resolve_period("today", tz=NEW_YORK, now=FRIDAY_NOV_20)
    assert (p.start_ms, p.end_ms) == (utc_ms("2026-11-20T05:00"), utc_ms("2026-11-21T05:00"))
    assert p.contains_ms(p.start_ms)
    assert p.contains_ms(p.end_ms - 1)
    assert not p.contains_ms(p.start_ms - 1)
    assert not p.contains_ms(p.end_ms)


def test_period_is_frozen_and_comparable() -> None:
    a = resolve_period("this_week", tz=PARIS, now=FRIDAY_NOV_20)
    b = resolve_period(start="2026-11-16", end="2026-11-22", tz=PARIS, now=FRIDAY_NOV_20)
    assert (a.start, a.end) == (b.start, b.end)
    assert a != b  # the names differ
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    assert isinstance(a, Period)


# --- properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ODD_ZONES)
def test_days_of_a_year_tile_time(zone: str) -> None:
    tz = ZoneInfo(zone)
    year = days_period(d("2026-01-01"), d("2026-12-31"), tz=tz)
    previous_end = year.start_ms
    for day in year.days():
        p = days_period(day, day, tz=tz)
        assert p.start_ms == previous_end, day
        assert local_date(p.start_ms, tz) == day == local_date(p.end_ms - 1, tz)
        assert timedelta(hours=22) <= p.duration <= timedelta(hours=26), day
        previous_end = p.end_ms
    assert previous_end == year.end_ms


timestamps = st.integers(min_value=utc_ms("1990-01-01T00:00"), max_value=utc_ms("2040-01-01T00:00"))
zones = st.sampled_from(ODD_ZONES).map(ZoneInfo)
granularities = st.sampled_from(("day", "week", "month"))
week_starts = st.sampled_from(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))


def from_ms(ts_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)


@given(ts=timestamps, tz=zones, granularity=granularities, week_start=week_starts)
def test_calendar_period_contains_its_instant_and_abuts_its_neighbours(
    ts: int, tz: ZoneInfo, granularity: Granularity, week_start: WeekStart
) -> None:
    p = calendar_period(granularity, from_ms(ts), tz=tz, week_start=week_start)
    assert p.contains_ms(ts)
    assert bucket_start(local_date(ts, tz), granularity, week_start) == p.first_day
    before = calendar_period(granularity, from_ms(p.start_ms - 1), tz=tz, week_start=week_start)
    after = calendar_period(granularity, from_ms(p.end_ms), tz=tz, week_start=week_start)
    assert before.end_ms == p.start_ms
    assert after.start_ms == p.end_ms
    if granularity != "month":
        assert previous_period(p) == Period(before.start, before.end, "previous", tz)


@given(ts=timestamps, tz=zones, preset=st.sampled_from(PRESETS), week_start=week_starts)
def test_presets_hold_today_unless_they_are_in_the_past(
    ts: int, tz: ZoneInfo, preset: str, week_start: WeekStart
) -> None:
    p = resolve_period(preset, tz=tz, week_start=week_start, now=from_ms(ts))
    past = preset in {"yesterday", "last_week", "last_month"}
    assert p.contains_ms(ts) is not past
    assert p.first_day < p.end.date()
    prev = previous_period(p)
    assert (prev.end_ms, prev.day_count) == (p.start_ms, p.day_count)


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2028-02", "2028-02-01", "2028-02-29"),
        ("2026-12", "2026-12-01", "2026-12-31"),
        (" 2026-11 ", "2026-11-01", "2026-11-30"),
        ("2026-11-03", "2026-11-03", "2026-11-03"),
        ("2026-11-02..2026-11-08", "2026-11-02", "2026-11-08"),
        ("Last Week", "2026-11-09", "2026-11-15"),
    ],
)
def test_a_spec_names_a_month_a_day_a_range_or_a_preset(spec: str, first: str, last: str) -> None:
    """compare_periods' before/after have no start and end beside them: a month is written
    YYYY-MM, as one says "January against February"."""
    p = resolve_spec(spec, tz=PARIS, now=FRIDAY_NOV_20)
    assert (p.first_day.isoformat(), p.last_day.isoformat()) == (first, last)
    assert p.start == datetime.fromisoformat(first).replace(tzinfo=PARIS)


@pytest.mark.parametrize(
    ("spec", "fix"),
    [
        ("2026-13", "is not a month: write it as YYYY-MM"),
        ("9999-12", "is out of range: use a month between 1900-01 and 2999-12"),  # was a ValueError
        ("0000-01", "is out of range: use a month between 1900-01 and 2999-12"),
        ("last_fortnight", "a month YYYY-MM, or YYYY-MM-DD..YYYY-MM-DD"),
        ("last_weak", "Did you mean 'last_week'?"),
    ],
)
def test_a_spec_that_is_none_of_them_names_the_forms(spec: str, fix: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(fix)) as caught:
        resolve_spec(spec, tz=PARIS, now=FRIDAY_NOV_20)
    # Not the get_spend wording: these arguments have no start/end to pass instead.
    assert "start/end" not in str(caught.value)


@pytest.mark.parametrize(
    ("preset", "now", "prev_first", "prev_last", "in_progress"),
    [
        # Friday Nov 20: this month's 20 days so far against the 20 days before them.
        ("this_month", FRIDAY_NOV_20, "2026-10-12", "2026-10-31", True),
        ("this_week", FRIDAY_NOV_20, "2026-11-11", "2026-11-15", True),
        ("this_year", FRIDAY_NOV_20, "2025-02-11", "2025-12-31", True),
        # Over, or ending today: the whole previous period of equal length.
        ("last_month", FRIDAY_NOV_20, "2026-08-31", "2026-09-30", False),
        ("last_7_days", FRIDAY_NOV_20, "2026-11-07", "2026-11-13", False),
        ("today", FRIDAY_NOV_20, "2026-11-19", "2026-11-19", False),
        ("this_month", datetime(2026, 11, 30, 12, tzinfo=UTC), "2026-10-02", "2026-10-31", False),
        # The first day of a month: one day against the day before.
        ("this_month", datetime(2026, 12, 1, 9, tzinfo=UTC), "2026-11-30", "2026-11-30", True),
    ],
)
def test_a_period_in_progress_is_compared_with_as_many_days_as_have_passed(
    preset: str, now: datetime, prev_first: str, prev_last: str, in_progress: bool
) -> None:
    p = resolve_period(preset, tz=PARIS, now=now)
    base = baseline(p, now)
    assert (base.previous.first_day, base.previous.last_day) == (d(prev_first), d(prev_last))
    assert base.previous.end_ms == p.start_ms
    assert (base.note is not None) == in_progress
    if base.note:
        assert f"compared with the {base.previous.day_count} day" in base.note
        assert f"to {prev_last}" in base.note


def test_today_is_taken_in_the_periods_zone() -> None:
    """At 23:30 UTC on Nov 30 it is already December 1 in Paris: this month there has one day."""
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    p = resolve_period("this_month", tz=PARIS, now=now)
    assert p.first_day == d("2026-12-01")
    assert baseline(p, now).previous.days() == [d("2026-11-30")]


def test_compare_defaults_before_to_the_days_so_far() -> None:
    earlier, later, notes = periods_to_compare(None, "this_month", tz=PARIS, now=FRIDAY_NOV_20)
    assert (later.first_day, later.last_day) == (d("2026-11-01"), d("2026-11-30"))
    assert (earlier.first_day, earlier.last_day) == (d("2026-10-12"), d("2026-10-31"))
    assert len(notes) == 1 and "this_month is in progress: its 20 days so far" in notes[0]
    earlier, later, notes = periods_to_compare(None, None, tz=PARIS, now=FRIDAY_NOV_20)
    assert (earlier.first_day, later.first_day, notes) == (d("2026-11-02"), d("2026-11-09"), [])


def test_compare_notes_an_explicit_side_in_progress() -> None:
    earlier, later, notes = periods_to_compare("2026-10", "2026-11", tz=PARIS, now=FRIDAY_NOV_20)
    assert (earlier.day_count, later.day_count) == (31, 30)
    assert notes == [
        "after (2026-11-01 to 2026-11-30) is in progress: 20 of its 30 days have begun, so it holds "
        "fewer days' calls than the other side would when over"
    ]
    assert periods_to_compare("2026-09", "2026-10", tz=PARIS, now=FRIDAY_NOV_20)[2] == []


@pytest.mark.parametrize("spec", ["2026-12", "2026-11-03", "2026-11-02..2026-11-08", "Last Week"])
def test_a_period_is_read_as_compare_reads_it(spec: str) -> None:
    """One parser: `report --period 2026-11` was refused while `compare --after 2026-11` took it."""
    period = resolve_period(spec, tz=PARIS, now=FRIDAY_NOV_20)
    assert period == resolve_spec(spec, tz=PARIS, now=FRIDAY_NOV_20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"start": "٢٠٢٦-٠٣-٠١"},
            "`start` '٢٠٢٦-٠٣-٠١' is not a date: use YYYY-MM-DD, in the digits 0-9, here 2026-03-01.",
        ),
        (
            {"start": "2026-01-01", "end": "２０２６-０３-０１"},
            "`end` '２０２６-０３-０１' is not a date: use YYYY-MM-DD, in the digits 0-9, here 2026-03-01.",
        ),
        (
            {"period": "٢٠٢٦-٠٣-٠١"},
            "Period '٢٠٢٦-٠٣-٠١' is not written in the digits 0-9: write it as 2026-03-01 (YYYY-MM-DD).",
        ),
        # int() reads Arabic-Indic digits: this month was taken as March 2026 while its day was refused.
        (
            {"period": "٢٠٢٦-٠٣"},
            "Period '٢٠٢٦-٠٣' is not written in the digits 0-9: write it as 2026-03 (YYYY-MM).",
        ),
        (
            {"period": "2026-01-01..٢٠٢٦-٠٣-٠١"},
            "the last date '٢٠٢٦-٠٣-٠١' is not a date: use YYYY-MM-DD, in the digits 0-9, here 2026-03-01.",
        ),
    ],
)
def test_a_date_in_other_digits_is_refused_naming_the_form(kwargs: dict[str, Any], message: str) -> None:
    """The date patterns took any script's digits (``\\d``), which date.fromisoformat refuses: a date
    typed on an Arabic or a full-width keyboard was called "not a real calendar date", as if its day
    did not exist. It is now refused as not written in 0-9, naming the date as it is written here."""
    with pytest.raises(InvalidInputError) as excinfo:
        resolve_period(**kwargs, tz=PARIS, now=FRIDAY_NOV_20)
    assert str(excinfo.value) == message
