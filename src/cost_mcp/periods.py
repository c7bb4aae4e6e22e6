"""The one period parser: turn "this_week", "last_month" or explicit dates into an exact time range.

Every range is half-open, ``[start, end)``, with both ends at local midnight in the configured
timezone. Calendar arithmetic is done on local *dates* and only then turned into instants, so a day
that contains a DST change is simply 23 or 25 hours long and consecutive days tile time with no gap
or overlap. SQL queries use :attr:`Period.start_ms` / :attr:`Period.end_ms` (UTC epoch milliseconds).

Presets that name a calendar period (``this_week``, ``this_month``, ``this_year``) cover the *whole*
period, including the days still to come: "this month" is November, not "November so far". The
rolling presets (``last_7_days``, ``last_30_days``) end with today, today included.

People write inclusive end dates ("to 2026-03-31" means all of March 31); :func:`resolve_period`
turns them into the exclusive internal end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cost_mcp.core_settings import WeekStart
from cost_mcp.errors import InvalidInputError
from cost_mcp.output import counted

Granularity = Literal["day", "week", "month"]

Preset = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "last_7_days",
    "last_30_days",
    "this_year",
]
"""A period by name: what the MCP tools take (an enum in their schema)."""
PRESETS: Final[tuple[str, ...]] = get_args(Preset)

PERIOD_FORMS: Final = "a day YYYY-MM-DD, a month YYYY-MM, or YYYY-MM-DD..YYYY-MM-DD (both included)"
"""The periods written as dates that every ``period`` argument takes beside the presets, in words."""
PERIOD_PATTERN: Final = r"^\d{4}-\d\d(-\d\d(\.\..{10})?)?$"
""":data:`PERIOD_FORMS` as a JSON Schema pattern, what the tools publish beside the presets' enum: short,
as every tool's list carries it; the parser (:func:`resolve_spec`) is what checks the days."""

GRANULARITIES: Final[tuple[Granularity, ...]] = get_args(Granularity)

#: Longest explicit range accepted: about 20 years. Longer is almost surely a typo in the year.
MAX_RANGE_DAYS: Final = 20 * 366

#: Explicit dates must fall in this window; it keeps ``end + 1 day`` and the UTC conversion of
#: midnights far from the limits of ``date``/``datetime``.
MIN_DATE: Final = date(1900, 1, 1)
MAX_DATE: Final = date(2999, 12, 31)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_ONE_DAY: Final = timedelta(days=1)
_DAY_MS: Final = 86_400_000
# ASCII digits only: \d takes every script's digits (Arabic-Indic ٢٠٢٦, full-width ２０２６), which
# date.fromisoformat refuses, so such a date was called "not a real calendar date" (see _in_ascii_digits).
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_COMPACT_DATE_RE: Final = re.compile(r"\d{8}", re.ASCII)
_MONTH_RE: Final = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_SEPARATORS_RE: Final = re.compile(r"[\s_-]+")
_WEEKDAY_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(get_args(WeekStart))}


@dataclass(frozen=True)
class PeriodArguments:
    """How the caller names its period arguments, so that an error names the fix as it was typed: a
    tool's ``start``, the CLI's ``--start`` (a person who typed ``--end`` was told to pass `start`)."""

    period: str = "period"
    start: str = "`start`"
    end: str = "`end`"

    @property
    def dates(self) -> str:
        """Both date arguments at once ("start/end", "--start/--end")."""
        return f"{self.start}/{self.end}".replace("`", "")


TOOL_ARGUMENTS: Final = PeriodArguments()
"""The MCP tools' names: ``period``, ``start``, ``end``."""

_SPEC_SIDES: Final = PeriodArguments(start="the first date", end="the last date")
"""The two sides of a ``YYYY-MM-DD..YYYY-MM-DD`` range, which has no start or end argument."""


@dataclass(frozen=True)
class Period:
    """A half-open range ``[start, end)`` of whole local days in ``tz``.

    ``start`` and ``end`` are aware datetimes at local midnight (``end`` exclusive). Subtracting them
    directly gives wall-clock time, which ignores DST; use :attr:`duration` or the ``*_ms`` values for
    elapsed time.
    """

    start: datetime
    end: datetime
    name: str
    tz: ZoneInfo

    @property
    def start_ms(self) -> int:
        """Inclusive start as UTC epoch milliseconds (``ts_ms >= start_ms``)."""
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        """Exclusive end as UTC epoch milliseconds (``ts_ms < end_ms``)."""
        return to_ms(self.end)

    @property
    def duration(self) -> timedelta:
        """Real elapsed time of the range: 23 or 25 hours for a single DST-change day."""
        return timedelta(milliseconds=self.end_ms - self.start_ms)

    @property
    def first_day(self) -> date:
        """The first local date in the range."""
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The last local date in the range (inclusive, for display)."""
        return self.end.date() - _ONE_DAY

    @property
    def day_count(self) -> int:
        """How many local dates the range covers."""
        return (self.end.date() - self.start.date()).days

    def days(self) -> list[date]:
        """Every local date in the range, in order."""
        first = self.first_day
        return [first + timedelta(days=i) for i in range(self.day_count)]

    def label(self) -> str:
        """A human label, e.g. ``"this_week: 2026-11-16 to 2026-11-22"`` or ``"today: 2026-11-20"``."""
        if self.day_count == 1:
            return f"{self.name}: {self.first_day.isoformat()}"
        return f"{self.name}: {self.first_day.isoformat()} to {self.last_day.isoformat()}"

    def contains_ms(self, ts_ms: int) -> bool:
        """Whether a UTC epoch-millisecond timestamp falls inside ``[start, end)``."""
        return self.start_ms <= ts_ms < self.end_ms

    def utc_dates_ms(self, margin_days: int = 0) -> tuple[int, int]:
        """``[start, end)`` in UTC epoch ms of the period's dates read as UTC dates, widened by
        ``margin_days`` on each side: provider APIs report UTC days, placed on their UTC date."""
        epoch = date(1970, 1, 1)
        first = (self.first_day - epoch).days - margin_days
        last = (self.last_day - epoch).days + 1 + margin_days
        return first * _DAY_MS, last * _DAY_MS


def to_ms(dt: datetime) -> int:
    """UTC epoch milliseconds of an aware datetime, in integer arithmetic (no float timestamp)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {dt!r}")
    return (dt - _EPOCH) // _ONE_MS


def ms_to_datetime(ts_ms: int) -> datetime:
    """UTC epoch milliseconds as an aware UTC datetime, exactly (no float seconds)."""
    return _EPOCH + timedelta(milliseconds=ts_ms)


MAX_AHEAD_MS: Final = _DAY_MS
"""How far ahead of the receiving server's clock a call another machine sends may be dated (a
laptop's clock a day off, its timezone set wrong): later is no call's time, and is refused."""
AHEAD_SAID_MS: Final = 5 * 60_000
"""How far ahead such a call may be dated without the answer saying so (it is stored at its arrival
either way): clocks drift by seconds, and a push loop or an exporter's batch sends calls a minute old."""


def arrival_time(ts_ms: int, now_ms: int) -> tuple[int, bool] | None:
    """When a call another machine sent (a team push, an OTLP event) is stored, received at
    ``now_ms``, and whether its sender is told its clock is ahead; None when it is dated more than
    :data:`MAX_AHEAD_MS` ahead (refused).

    No call happens after it is received: one dated later was stamped by a clock ahead of this
    server's, and kept at that date, today's answers and each day's total left it out while the
    month and its budgets counted it. Stored at its arrival, it counts today, where it was made."""
    if ts_ms <= now_ms:
        return ts_ms, False
    if ts_ms > now_ms + MAX_AHEAD_MS:
        return None
    return now_ms, ts_ms > now_ms + AHEAD_SAID_MS


def iso_utc(ts_ms: int) -> str:
    """UTC epoch milliseconds as ISO 8601 with a Z, as results show instants."""
    return ms_to_datetime(ts_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_second(ts_ms: int) -> str:
    """UTC epoch milliseconds as ISO 8601 to the second with its offset (``2026-01-05T09:30:00+00:00``),
    as `cost-mcp doctor` and a push's warnings show instants."""
    return ms_to_datetime(ts_ms).isoformat(timespec="seconds")


def utc_day(ts_ms: int) -> str:
    """The UTC date of epoch milliseconds as ``YYYY-MM-DD``: how provider bills name their days."""
    return ms_to_datetime(ts_ms).date().isoformat()


def local_date(ts_ms: int, tz: ZoneInfo) -> date:
    """The local date in ``tz`` of a UTC epoch-millisecond timestamp."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).astimezone(tz).date()


def wall_clock(moment: datetime, form: str = "%Y-%m-%d %H:%M") -> str:
    """An aware local datetime as ``form`` (``YYYY-MM-DD HH:MM``), with its zone's abbreviation when
    that wall time happens twice (the hour a clock is set back): New York's 01:00 EDT and 01:00 EST
    of 2026-11-01 are an hour apart, and read alike without it."""
    text = moment.strftime(form)
    if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
        text += f" {moment.tzname()}"
    return text


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """The first instant of local date ``d`` in ``tz``, as an aware datetime.

    Where midnight itself is skipped by a DST change (e.g. America/Santiago), ZoneInfo's ``fold=0``
    reads 00:00 with the offset in force before the change, which is exactly the changeover instant,
    so the day still begins at its first real moment.
    """
    return datetime.combine(d, time(0), tzinfo=tz)


def days_period(first: date, last: date, *, tz: ZoneInfo, name: str = "custom") -> Period:
    """The period covering local dates ``first`` through ``last``, both inclusive."""
    return Period(local_midnight(first, tz), local_midnight(last + _ONE_DAY, tz), name, tz)


def bucket_start(d: date, granularity: Granularity, week_start: WeekStart) -> date:
    """The first date of the day, week (starting on ``week_start``) or month containing ``d``."""
    _check_granularity(granularity)
    if granularity == "day":
        return d
    if granularity == "week":
        return d - timedelta(days=(d.weekday() - _weekday(week_start)) % 7)
    return d.replace(day=1)


def bucket_label(d: date, granularity: Granularity) -> str:
    """The label of the bucket starting on ``d``: ``"2026-11-16"`` (day, week) or ``"2026-11"`` (month).

    ``d`` should already be a :func:`bucket_start`; a week is labelled by its first day.
    """
    _check_granularity(granularity)
    if granularity == "month":
        return f"{d.year:04d}-{d.month:02d}"
    return d.isoformat()


def bucket_days(label: str, granularity: Granularity) -> tuple[date, date]:
    """The first and last local dates of the bucket :func:`bucket_label` labels ``label``
    (``"2026-11"``, a month: 2026-11-01 and 2026-11-30)."""
    _check_granularity(granularity)
    first = date.fromisoformat(f"{label}-01" if granularity == "month" else label)
    return first, _bucket_after(first, granularity) - _ONE_DAY


def calendar_period(granularity: Granularity, at: datetime, *, tz: ZoneInfo, week_start: WeekStart) -> Period:
    """The whole calendar day, week or month (in ``tz``) containing the aware instant ``at``.

    The period is named after the granularity (``"day"``, ``"week"``, ``"month"``).
    """
    _weekday(week_start)
    first = bucket_start(_today(at, tz), granularity, week_start)
    return Period(
        local_midnight(first, tz), local_midnight(_bucket_after(first, granularity), tz), granularity, tz
    )


def previous_period(p: Period) -> Period:
    """The range of the same number of local days ending where ``p`` starts, named ``"previous"``.

    This is a same-length window, not the previous calendar unit: before a 30-day November comes
    October 2 to 31. Day counts, not hours, are matched, so DST does not shift it.
    """
    first = p.first_day - timedelta(days=p.day_count)
    return Period(local_midnight(first, p.tz), local_midnight(p.first_day, p.tz), "previous", p.tz)


def in_progress(p: Period, today: date) -> bool:
    """Whether ``p`` has begun by ``today`` and has days after it: it holds only part of its calls."""
    return p.first_day <= today < p.last_day


@dataclass(frozen=True)
class Baseline:
    """What a period is compared with: ``previous``, and ``note`` saying why when it is not simply
    the whole previous period (``p`` is still in progress)."""

    previous: Period
    note: str | None = None


def baseline(p: Period, now: datetime) -> Baseline:
    """The period to compare ``p`` with at ``now``.

    A period that is over (or not begun) is compared with :func:`previous_period`. One still in
    progress holds only its days so far, so it is compared with as many days just before it:
    on December 4 "this month" is December 1-4 against November 27-30, not against 31 whole
    days (which read as -87% on every model). Today itself is partial on one side only; the note
    says so.
    """
    today = _today(now, p.tz)
    if not in_progress(p, today):
        return Baseline(previous_period(p))
    so_far = days_period(p.first_day, today, tz=p.tz, name=p.name)
    prev = previous_period(so_far)
    days = so_far.day_count
    return Baseline(
        prev,
        f"{p.name} is in progress: its {counted(days, 'day')} so far "
        f"({p.first_day.isoformat()} to {today.isoformat()}, today not over) are compared with the "
        f"{counted(days, 'day')} before "
        f"({prev.first_day.isoformat()} to {prev.last_day.isoformat()}), not with a whole "
        f"{p.day_count}-day period",
    )


def periods_to_compare(
    before: str | None,
    after: str | None,
    *,
    tz: ZoneInfo,
    week_start: WeekStart = "monday",
    now: datetime | None = None,
) -> tuple[Period, Period, list[str]]:
    """compare_periods' two sides from its arguments (see :func:`resolve_spec`), and notes on them.

    ``after`` defaults to last week, ``before`` to its :func:`baseline`. A side given explicitly
    that is still in progress is kept whole, with a note that it holds fewer days' calls; one not
    begun yet, or a ``before`` that begins after ``after``, is noted too (both were compared in
    silence, the change read as if it were real).
    """
    moment = datetime.now(UTC) if now is None else now
    later = resolve_spec(after or "last_week", tz=tz, week_start=week_start, now=moment)
    if not before:
        base = baseline(later, moment)
        return base.previous, later, [base.note] if base.note else []
    earlier = resolve_spec(before, tz=tz, week_start=week_start, now=moment)
    today = _today(moment, tz)
    notes = [
        f"{side} ({p.first_day.isoformat()} to {p.last_day.isoformat()}) is in progress: "
        f"{(today - p.first_day).days + 1} of its {p.day_count} days have begun, so it holds fewer "
        "days' calls than the other side would when over"
        for side, p in (("before", earlier), ("after", later))
        if in_progress(p, today)
    ]
    notes += [
        f"{side} ({p.first_day.isoformat()} to {p.last_day.isoformat()}) has not begun (today is "
        f"{today.isoformat()}): it holds no calls yet"
        for side, p in (("before", earlier), ("after", later))
        if p.first_day > today
    ]
    if earlier.first_day > later.first_day:
        notes.append(
            f"before ({earlier.first_day.isoformat()} to {earlier.last_day.isoformat()}) begins after "
            f"after ({later.first_day.isoformat()} to {later.last_day.isoformat()}): the change reads "
            "backwards; swap before and after"
        )
    return earlier, later, notes


def resolve_period(
    period: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    *,
    tz: ZoneInfo,
    week_start: WeekStart = "monday",
    now: datetime | None = None,
    default: str = "this_month",
    names: PeriodArguments = TOOL_ARGUMENTS,
) -> Period:
    """Resolve a period or explicit dates into a :class:`Period` in ``tz``.

    Give either ``period`` (one of :data:`PRESETS`, case, ``-`` and spaces forgiven, or any other form
    :func:`resolve_spec` reads: a month ``YYYY-MM``, a day, ``YYYY-MM-DD..YYYY-MM-DD``) or
    ``start``/``end`` dates (``YYYY-MM-DD`` strings or ``date`` objects). ``end`` is inclusive; with
    ``start`` alone the range runs through today. With none of them, ``default`` is used. Empty
    strings count as not given, since tool callers often send ``""`` for an unused argument.
    ``now`` (aware, default: the current time) fixes what "today" is. ``names``: what the caller
    calls these arguments, for the error messages.

    Raises :class:`InvalidInputError` with a message that says how to fix the input.
    """
    _weekday(week_start)  # fail on a bad week start even for presets that do not use it
    today = _today(datetime.now(UTC) if now is None else now, tz)
    period = period if period is not None and period.strip() else None
    start = _blank_to_none(start)
    end = _blank_to_none(end)

    if period is not None and (start is not None or end is not None):
        raise InvalidInputError(
            f"Got both {names.period} {period!r} and {names.dates} dates: use one or the other, "
            f"either a period name such as 'last_month' or {names.dates} as YYYY-MM-DD."
        )
    if start is None and end is None:
        if period is not None and preset_key(period) not in PRESETS:
            # One parser for every command: `report --period 2026-11` was refused while
            # `compare --after 2026-11` took it.
            return _resolve_spec(period, tz=tz, week_start=week_start, now=now, names=names)
        return preset_period(
            period if period is not None else default, tz=tz, week_start=week_start, today=today
        )
    if start is None:
        raise InvalidInputError(
            f"Got {names.end} without {names.start}: pass {names.start} too (YYYY-MM-DD), "
            "or a period such as 'last_30_days'."
        )

    first = parse_date(start, names.start, tz=tz)
    if end is None:
        last = today
        if first > last:
            raise InvalidInputError(
                f"{names.start} {first.isoformat()} is after today ({last.isoformat()}), where the "
                f"range ends when {names.end} is not given: pass a start on or before today, or "
                f"{names.end} as well."
            )
    else:
        last = parse_date(end, names.end, tz=tz)
        if first > last:
            raise InvalidInputError(
                f"{names.start} {first.isoformat()} is after {names.end} {last.isoformat()}: "
                "swap them (both dates are included)."
            )
    span = (last - first).days + 1
    if span > MAX_RANGE_DAYS:
        raise InvalidInputError(
            f"The range {first.isoformat()} to {last.isoformat()} spans {span} days; the longest allowed "
            f"is about 20 years ({MAX_RANGE_DAYS} days). Check the year, or narrow {names.dates}."
        )
    return days_period(first, last, tz=tz)


def preset_period(name: str, *, tz: ZoneInfo, week_start: WeekStart, today: date) -> Period:
    """The period a preset name means when the local date is ``today``.

    ``name`` is normalised first (see :func:`normalize_preset`).
    """
    preset = normalize_preset(name)
    if preset == "today":
        first, after = today, today + _ONE_DAY
    elif preset == "yesterday":
        first, after = today - _ONE_DAY, today
    elif preset == "this_week":
        first = bucket_start(today, "week", week_start)
        after = first + timedelta(days=7)
    elif preset == "last_week":
        after = bucket_start(today, "week", week_start)
        first = after - timedelta(days=7)
    elif preset == "this_month":
        first = today.replace(day=1)
        after = _bucket_after(first, "month")
    elif preset == "last_month":
        after = today.replace(day=1)
        first = (after - _ONE_DAY).replace(day=1)
    elif preset == "last_7_days":
        first, after = today - timedelta(days=6), today + _ONE_DAY
    elif preset == "last_30_days":
        first, after = today - timedelta(days=29), today + _ONE_DAY
    else:
        first, after = date(today.year, 1, 1), date(today.year + 1, 1, 1)
    return Period(local_midnight(first, tz), local_midnight(after, tz), preset, tz)


def preset_key(name: str) -> str:
    """``name`` spelt as presets are ("Last Week" → "last_week"); not checked against them."""
    return _SEPARATORS_RE.sub("_", name.strip().lower()).strip("_")


def normalize_preset(name: str) -> str:
    """The canonical preset for ``name`` ("This-Week" → "this_week"), or :class:`InvalidInputError`.

    The error lists the valid presets and suggests the closest one.
    """
    key = preset_key(name)
    if key in PRESETS:
        return key
    valid = ", ".join(PRESETS)
    if _DATE_RE.fullmatch(name.strip()):
        raise InvalidInputError(
            f"Period {name!r} looks like a date: pass dates as `start` (and `end`) instead, "
            f"or use one of: {valid}."
        )
    raise InvalidInputError(
        f"Unknown period {name!r}.{_closest_preset(key)} Valid periods: {valid}; "
        "or pass start/end as YYYY-MM-DD."
    )


_WHOLE_HISTORY = frozenset(
    {"all", "all_time", "alltime", "ever", "everything", "forever", "lifetime", "total"}
)
"""What people coming from ccusage (whose views show the whole history) type for it."""


def _closest_preset(key: str) -> str:
    """ " Did you mean 'last_week'?" for a mistyped preset, the way to ask for the whole history
    for a name of it, or nothing."""
    if key in _WHOLE_HISTORY:
        return (
            " There is no period for the whole history: give the day of your first call as the start "
            "(a start alone runs to today)."
        )
    import difflib  # only for a mistyped preset: the status line imports this module on every call

    close = difflib.get_close_matches(key, PRESETS, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def parse_date(value: str | date, field: str = "`date`", *, tz: ZoneInfo | None = None) -> date:
    """A ``YYYY-MM-DD`` string or a ``date`` as a ``date``, or :class:`InvalidInputError`.

    A ``datetime`` is reduced to its date, in ``tz`` when it is aware and ``tz`` is given. ``field``
    names the argument in the error message as the caller spells it: a tool's `start` in backticks,
    the CLI's ``--start``.
    """
    if isinstance(value, datetime):
        parsed = (
            value.astimezone(tz).date() if tz is not None and value.utcoffset() is not None else value.date()
        )
    elif isinstance(value, date):
        parsed = value
    elif isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(
                f"{field} {value!r} is not a real calendar date: use YYYY-MM-DD, e.g. 2026-03-31."
            ) from None
    else:
        compact = _compact_date(value) if isinstance(value, str) else None
        example = f"here {compact.isoformat()}" if compact is not None else "e.g. 2026-03-31"
        if isinstance(value, str) and (timed := _day_of_time(value, tz)) is not None:
            example = f"here {timed}"
        ascii_date = _in_ascii_digits(value.strip()) if isinstance(value, str) else None
        if ascii_date is not None and _DATE_RE.fullmatch(ascii_date):
            example = f"in the digits 0-9, here {ascii_date}"
        raise InvalidInputError(f"{field} {value!r} is not a date: use YYYY-MM-DD, {example}.")
    if not MIN_DATE <= parsed <= MAX_DATE:
        raise InvalidInputError(
            f"{field} {parsed.isoformat()} is out of range: use a date between "
            f"{MIN_DATE.isoformat()} and {MAX_DATE.isoformat()} (YYYY-MM-DD)."
        )
    return parsed


def _compact_date(text: str) -> date | None:
    """The day ``20260301`` spells, or None. ccusage's ``--since``/``--until`` take that form, so a
    user coming from it types it; the refusal then names the day as it is written here."""
    digits = text.strip()
    if not _COMPACT_DATE_RE.fullmatch(digits):
        return None
    try:
        return date.fromisoformat(f"{digits[:4]}-{digits[4:6]}-{digits[6:]}")
    except ValueError:
        return None


def _in_ascii_digits(text: str) -> str | None:
    """``text`` with the digits of other scripts it has (Arabic-Indic ٢٠٢٦, full-width ２０２６) as
    0-9, or None when it has none: the refusal of such a date names it as it is written here."""
    swapped = "".join(str(int(c)) if c.isdecimal() and not c.isascii() else c for c in text)
    return None if swapped == text else swapped


def _day_of_time(text: str, tz: ZoneInfo | None) -> str | None:
    """The day a date with a time of day names, for the refusal of it, or None: a model sends
    ``2026-03-01T00:00:00Z`` for a start, and was told only "e.g. 2026-03-31". Periods are whole local
    days, so the day is said as well as why: with an offset, the instant's day in ``tz`` (Kolkata's
    day of 2026-03-01T20:00:00Z is March 2); without one, the date as written."""
    stripped = text.strip()
    if not _DATE_RE.match(stripped) or len(stripped) <= 10 or stripped[10] not in "T ":
        return None
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    if moment.utcoffset() is None or tz is None:
        return f"{moment.date().isoformat()}: a period is whole days, both ends included, with no time of day"
    local = moment.astimezone(tz).date().isoformat()
    return (
        f"{local}, that instant's day in {tz.key}: a period is whole days there, both ends included, "
        "with no time of day"
    )


def _today(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None or now.utcoffset() is None:
        # A naive "now" could mean any zone; guessing would shift every boundary silently.
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now.astimezone(tz).date()


def _bucket_after(first: date, granularity: Granularity) -> date:
    """The first date of the bucket following the one that starts on ``first``."""
    if granularity == "day":
        return first + _ONE_DAY
    if granularity == "week":
        return first + timedelta(days=7)
    if first.month == 12:
        return date(first.year + 1, 1, 1)
    return date(first.year, first.month + 1, 1)


def _weekday(week_start: str) -> int:
    try:
        return _WEEKDAY_INDEX[week_start.strip().lower()]
    except KeyError:
        raise InvalidInputError(
            f"Unknown week start {week_start!r}: use one of {', '.join(_WEEKDAY_INDEX)}."
        ) from None


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise InvalidInputError(
            f"Unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}."
        )


def _blank_to_none(value: str | date | None) -> str | date | None:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def resolve_spec(
    spec: str, *, tz: ZoneInfo, week_start: WeekStart = "monday", now: datetime | None = None
) -> Period:
    """A period written as one string: a preset name, a date, a month ``YYYY-MM``, or
    ``YYYY-MM-DD..YYYY-MM-DD``.

    For arguments that name a whole period in one value (compare_periods' before and after), which
    have no start and end beside them. Raises :class:`InvalidInputError` saying which forms are
    accepted.
    """
    return _resolve_spec(spec, tz=tz, week_start=week_start, now=now)


def _resolve_spec(
    spec: str,
    *,
    tz: ZoneInfo,
    week_start: WeekStart,
    now: datetime | None,
    names: PeriodArguments | None = None,
) -> Period:
    """:func:`resolve_spec`; ``names`` when the spec was given as a period beside start and end
    arguments (:func:`resolve_period`), which its error then names as the other way to give one."""
    text = spec.strip()
    if month := _MONTH_RE.fullmatch(text):
        year, number = int(month[1]), int(month[2])
        if not 1 <= number <= 12:
            raise InvalidInputError(f"Period {spec!r} is not a month: write it as YYYY-MM, e.g. 2026-03.")
        # The dates' own bounds: 9999-12 ran past date's last year (a ValueError traceback).
        if not MIN_DATE.year <= year <= MAX_DATE.year:
            raise InvalidInputError(
                f"Period {spec!r} is out of range: use a month between {MIN_DATE:%Y-%m} and {MAX_DATE:%Y-%m}."
            )
        day_one = date(year, number, 1)
        day_last = _bucket_after(day_one, "month") - _ONE_DAY
        return resolve_period(None, day_one, day_last, tz=tz, week_start=week_start, now=now)
    if ".." in text:
        first, _, last = text.partition("..")
        if not first.strip() or not last.strip():
            raise InvalidInputError(
                f"Period {spec!r} needs both dates: write it as YYYY-MM-DD..YYYY-MM-DD (both included)."
            )
        return resolve_period(None, first, last, tz=tz, week_start=week_start, now=now, names=_SPEC_SIDES)
    if _DATE_RE.fullmatch(text):
        day = PeriodArguments(start="the date", end="the date")
        return resolve_period(None, text, text, tz=tz, week_start=week_start, now=now, names=day)
    compact = _compact_date(text)
    if compact is not None:
        raise InvalidInputError(
            f"Period {spec!r} is a day without its dashes: write it as {compact} (YYYY-MM-DD)."
        )
    ascii_spec = _in_ascii_digits(text)
    if ascii_spec is not None and (_MONTH_RE.fullmatch(ascii_spec) or _DATE_RE.fullmatch(ascii_spec)):
        form = "YYYY-MM" if _MONTH_RE.fullmatch(ascii_spec) else "YYYY-MM-DD"
        raise InvalidInputError(
            f"Period {spec!r} is not written in the digits 0-9: write it as {ascii_spec} ({form})."
        )
    if preset_key(text) not in PRESETS:
        dates = f"; or {names.dates} as YYYY-MM-DD" if names is not None else ""
        raise InvalidInputError(
            f"Unknown period {spec!r}.{_closest_preset(preset_key(text))} Write a period name "
            f"({', '.join(PRESETS)}), {PERIOD_FORMS}{dates}."
        )
    return resolve_period(text, tz=tz, week_start=week_start, now=now)


def parse_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The timezone named ``name``, or ``default`` for none; InvalidInputError names a fix for a bad name."""
    if not name or not name.strip():
        return default
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        pass
    # IANA names are case-sensitive on disk, but "utc" or "europe/paris" can only mean one zone.
    import zoneinfo  # only on a miss: listing the zones reads the whole zoneinfo tree

    by_fold = {z.casefold(): z for z in zoneinfo.available_timezones()}
    found = by_fold.get(name.strip().casefold())
    if found is not None:
        return ZoneInfo(found)
    raise InvalidInputError(
        f"unknown timezone {name!r}; {_zone_hint(name.strip(), by_fold.values())}use an IANA name such as "
        "'Europe/Paris', 'America/New_York' or 'UTC'"
    )


_OFFSET_RE = re.compile(r"(?:UTC|GMT|Z)?\s*[+-]\d{1,2}(?::?\d{2})?", re.IGNORECASE | re.ASCII)


def _zone_hint(name: str, zones: Iterable[str]) -> str:
    """What an unknown timezone name probably meant: the zone of a city named alone ("kolkata"),
    or that an offset ("+05:30") is no place (its days do not follow daylight saving time)."""
    if _OFFSET_RE.fullmatch(name):
        return f"a fixed offset such as {name!r} is not a place (its days ignore daylight saving time): "
    city = name.casefold().replace(" ", "_")
    matches = sorted(z for z in zones if "/" in z and z.rsplit("/", 1)[1].casefold() == city)
    if matches:
        return f"did you mean {' or '.join(repr(z) for z in matches[:3])}? "
    return ""


#: Zones whose names people use for a place's clock, which they do not follow: EST and MST never
#: change to daylight time (New York and Denver do); HST is Hawaii's clock, which never changes either.
_STANDARD_ONLY: Final = {"EST": "America/New_York", "MST": "America/Denver"}
_ETC_RE: Final = re.compile(r"Etc/GMT([+-])(\d{1,2})", re.ASCII)


def zone_notes(tz: ZoneInfo, at_ms: int) -> list[str]:
    """A warning for a timezone that is a fixed offset its name makes easy to mistake: ``EST``
    (no daylight time, unlike New York) or ``Etc/GMT+5`` (UTC-05:00, POSIX signs); else nothing."""
    name = str(tz.key)
    etc = _ETC_RE.fullmatch(name)
    if name not in _STANDARD_ONLY and etc is None:
        return []
    offset = offset_ms(tz, at_ms) // 60_000
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    posix = " (POSIX signs are the reverse of ISO 8601's)" if etc is not None else ""
    if etc is None:
        example, what = _STANDARD_ONLY[name], ", with no daylight saving time"
    else:
        example, what = ("America/New_York" if offset < 0 else "Asia/Kolkata"), ""
    return [
        f"timezone {name} is UTC{sign}{hours:02d}:{minutes:02d} all year{what}{posix}: name a place, "
        f"such as {example!r}, for its local days"
    ]


def offset_ms(tz: ZoneInfo, ts_ms: int) -> int:
    """``tz``'s offset from UTC at ``ts_ms``, in ms."""
    moment = datetime.fromtimestamp(ts_ms // 1000, tz)
    delta = moment.utcoffset()
    return int(delta.total_seconds()) * 1000 if delta is not None else 0
