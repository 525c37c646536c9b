"""Celery's crontab, as sets of values, into a sched cron expression. Pure: no Celery.

Celery's ``crontab`` matches a day when its day of month *and* its day of week are in their
sets; sched's cron (like cron) runs on *either* when both fields are restricted. Where both
are restricted, the expression written here still names exactly Celery's days, through
one of two forms of sched's dialect, or the conversion is refused:

* a field written starting with ``*`` (``*/2``) leaves the other one ANDed with it;
* day of month 1-7 AND Monday is the first Monday, ``1#1`` (day of week ``N#K`` covers days
  ``7K-6`` to ``7K``), so days of month that are whole blocks of seven become ``#`` items.

Daylight saving: Celery reads its fields on the wall clock, so a time in a repeated hour
runs once. sched does that for a field not written with ``*`` (its "wildcard" jobs follow
real time instead), so in a zone that changes its offset the minute and hour fields are
written out (``0-59``, ``0-59/15``). Celery runs a time in a spring-forward gap at that time
plus the gap (02:30 at 03:30 CEST), sched at the end of the gap (03:00): ``gap_times``
finds the times of an entry that differ so, to be named in a warning.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.core.zones import offset_at, transitions_in_year
from scheduler.errors import SchedError

MINUTES, HOURS, DAYS, MONTHS, WEEKDAYS = (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)
_MONTH_DAYS_MAX = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in range(1, 13)}
_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec")  # fmt: skip
_BLOCK = 7  # N#K: the K-th N of the month, days 7K-6 to 7K


class InexactError(SchedError):
    """An entry whose fire times sched cannot reproduce exactly; says why."""


@dataclass(frozen=True)
class CrontabSets:
    """Celery's parsed fields: the values each allows (day of week 0 = Sunday)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]


def cron_expression(sets: CrontabSets, wall_clock: bool) -> str:
    """The five-field sched expression that fires on exactly the minutes Celery's does.

    ``wall_clock``: the zone changes its offset, so minute and hour are written without a
    leading ``*`` (see the module's docstring). Raises InexactError where no expression can.
    """
    minute = field(sets.minutes, *MINUTES, star=not wall_clock)
    hour = field(sets.hours, *HOURS, star=not wall_clock)
    month = field(sets.months, *MONTHS, star=True)
    dom, dow = _day_fields(sets)
    return f"{minute} {hour} {dom} {month} {dow}"


def _day_fields(sets: CrontabSets) -> tuple[str, str]:
    longest = max(_MONTH_DAYS_MAX[m] for m in sets.months)
    # Days no month of the set has never match: 30 in a February-only entry is no day.
    days = frozenset(d for d in sets.days_of_month if d <= longest)
    all_days = days == frozenset(range(1, longest + 1))
    all_weekdays = sets.days_of_week == frozenset(range(7))
    if all_days:
        return "*", field(sets.days_of_week, *WEEKDAYS, star=True)
    if all_weekdays:
        return field(days, *DAYS, star=True), "*"
    # Both restricted: Celery ANDs them, sched ORs them unless one starts with `*`.
    dom_step = _star_step(days, 1, longest)
    if dom_step is not None:
        return f"*/{dom_step}", field(sets.days_of_week, *WEEKDAYS, star=True)
    dow_step = _star_step(sets.days_of_week, *WEEKDAYS)
    if dow_step is not None:
        return field(days, *DAYS, star=True), f"*/{dow_step}"
    blocks = _whole_blocks(days, longest)
    if blocks is not None:
        items = [f"{w}#{k}" for w in sorted(sets.days_of_week) for k in blocks]
        return "*", ",".join(items)
    raise InexactError(
        f"Celery runs it on days that are both day_of_month {field(days, *DAYS, star=True)} and "
        f"day_of_week {_show(sets.days_of_week, _WEEKDAY_NAMES)}; sched's cron runs on either "
        "when both are restricted, and only whole weeks of the month (1-7, 8-14, 15-21, "
        "22-28, 29-31) or a day of month written as */N can be combined with a weekday"
    )


def _whole_blocks(days: frozenset[int], longest: int) -> list[int] | None:
    """The K of each whole block of seven days ``days`` is made of, or None."""
    blocks = []
    for k in range(1, 6):
        block = frozenset(range(_BLOCK * (k - 1) + 1, min(_BLOCK * k, longest) + 1))
        if not block:
            continue
        if block <= days:
            blocks.append(k)
        elif block & days:
            return None
    return blocks


def _star_step(values: Collection[int], low: int, high: int) -> int | None:
    ordered = sorted(values)
    for step in range(2, high - low + 1):
        if ordered == list(range(low, high + 1, step)):
            return step
    return None


def field(values: Collection[int], low: int, high: int, star: bool) -> str:
    """A compact field for ``values`` within ``low``-``high``: ``*`` (or ``low-high``), one
    step, or a list of ranges and values."""
    ordered = sorted(set(values))
    if ordered == list(range(low, high + 1)):
        return "*" if star else f"{low}-{high}"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], ordered[-1] + 1, step)):
            reaches_end = ordered[-1] + step > high
            if ordered[0] == low and reaches_end:
                return f"*/{step}" if star else f"{low}-{high}/{step}"
            return f"{ordered[0]}-{ordered[-1]}/{step}"
    return ",".join(_runs(ordered))


def _runs(ordered: list[int]) -> Iterable[str]:
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - start >= 2:
            yield f"{start}-{previous}"
        else:
            yield from (str(v) for v in range(start, previous + 1))
        if value is not None:
            start = previous = value


def _show(values: Collection[int], names: tuple[str, ...] | None = None) -> str:
    ordered = sorted(values)
    return ",".join(names[v] if names else str(v) for v in ordered)


def changes_offset(tz: ZoneInfo, now: datetime, years: int = 5) -> bool:
    """Whether the zone changes its UTC offset within ``years`` from ``now``."""
    return any(transitions_in_year(tz, now.year + i) for i in range(years + 1))


def gap_times(sets: CrontabSets, tz: ZoneInfo, now: datetime) -> list[str]:
    """The entry's times of day (``HH:MM``) at which Celery and sched part in a
    spring-forward gap of the zone this year or next: the first time the entry matches from
    the start of the gap, when it lies inside the gap but not at its start. (Celery moves
    it forward by the gap and continues from there; sched fires at the end of the gap.)"""
    found: set[str] = set()
    for year in (now.year, now.year + 1):
        for change in transitions_in_year(tz, year):
            before = offset_at(tz, change - timedelta(seconds=1))
            after = offset_at(tz, change)
            if after <= before:
                continue
            start_wall = (change + before).replace(tzinfo=None)
            end_wall = (change + after).replace(tzinfo=None)
            wall = start_wall
            while wall < end_wall:
                if wall.hour in sets.hours and wall.minute in sets.minutes:
                    if wall > start_wall:
                        found.add(time(wall.hour, wall.minute).strftime("%H:%M"))
                    break
                wall += timedelta(minutes=1)
    return sorted(found)


def parse_celery_field(spec: str, max_: int, min_: int = 0) -> frozenset[int]:
    """A crontab field in Celery's syntax, expanded as ``celery.schedules.crontab_parser``
    expands it (wrap-around ranges ``fri-mon``, steps over them, names), for reading
    django-celery-beat's rows where Celery is not installed. ValueError when invalid."""
    values: set[int] = set()
    for part in spec.split(","):
        if not part:
            raise ValueError("empty part")
        values |= set(_celery_part(part.strip(), max_, min_))
    for value in values:
        if not min_ <= value < max_ + min_:
            raise ValueError(f"{value} is out of range {min_}-{max_ + min_ - 1}")
    return frozenset(values)


def _celery_part(part: str, max_: int, min_: int) -> list[int]:
    base, slash, step_text = part.partition("/")
    if slash and not step_text:
        raise ValueError("empty filter")
    step = int(step_text) if slash else 1
    if step < 1:
        raise ValueError(f"step {step_text!r} must be at least 1")
    if base == "*":
        return list(range(min_, max_ + min_))[::step]
    low_text, dash, high_text = base.partition("-")
    if slash and not dash:
        raise ValueError(f"{part!r}: a step needs * or a range")
    low = _celery_number(low_text, max_, min_)
    if not dash:
        return [low]
    high = _celery_number(high_text, max_, min_)
    if high < low:  # wraps around the end, as Celery's crontab_parser reads it
        expanded = list(range(low, min_ + max_)) + list(range(min_, high + 1))
    else:
        expanded = list(range(low, high + 1))
    return expanded[::step]


def _celery_number(text: str, max_: int, min_: int) -> int:
    if not text or text.startswith("-"):
        raise ValueError("negative numbers not supported")
    if text.isascii() and text.isdigit():
        value = int(text)
    elif text[:3].lower() in _MONTH_NAMES:
        value = _MONTH_NAMES.index(text[:3].lower()) + 1
    elif text[:3].lower() in _WEEKDAY_NAMES:
        value = _WEEKDAY_NAMES.index(text[:3].lower())
    else:
        raise ValueError(f"invalid value {text!r}")
    if not min_ <= value <= min_ + max_ - 1:
        raise ValueError(f"{value} is out of range {min_}-{min_ + max_ - 1}")
    return value
