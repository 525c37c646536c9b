"""Cron expressions: parsing (through croniter) and matching naive wall-clock times.

This module knows nothing of time zones. It answers one question: which naive local
times does an expression match? ``scheduler.core.triggers`` turns those into instants and
owns the daylight-saving rules.

croniter parses the fields (names, ranges, steps, lists, ``L`` and ``#``) and reports
syntax errors. We do the matching ourselves because croniter decides day-of-month /
day-of-week combination from the expanded sets, not from the text: Vixie cron treats a
field that *starts with* ``*`` (``*/2``) as unrestricted, and so do we.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from croniter import croniter

from scheduler.errors import CronError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELDS_5 = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELDS_6 = ("second", *_FIELDS_5)
_ALLOWED = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31 or L",
    "month": "1-12 or jan-dec",
    "day-of-week": "0-7 or sun-sat (0 and 7 are Sunday), with N#K for the K-th and LN for the last",
}
# Letters croniter would accept in places that would silently change meaning for us:
# W (nearest weekday) loses its W in croniter.expand, H is Jenkins-style hashing.
_UNSUPPORTED = {
    "day-of-month": re.compile(r"[wW]"),
    "second": re.compile(r"[A-Za-z]"),
    "minute": re.compile(r"[A-Za-z]"),
    "hour": re.compile(r"[A-Za-z]"),
}
# A schedule can only be rejected as "never fires" after looking at every calendar the
# Gregorian cycle has: it repeats every 400 years.
SEARCH_YEARS = 400
_ONE_S = timedelta(seconds=1)


_SINGLE_RANGE = re.compile(r"([^-/,]+)-([^-/,]+)(/\d+)?")
# croniter's Jenkins-style fields: H hashes the job's id (refused without one) and R picks a
# random value at each parse, so two schedulers, or validate and run, would disagree.
_HASHED = re.compile(r"[hHrR](\(\d+-\d+\))?(/\d+)?")
_NAMES = {
    "month": {m: i for i, m in enumerate(calendar.month_abbr) if m},
    "day-of-week": {d: (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)},
}


def _number(field_name: str, token: str) -> int | None:
    # ASCII only, as in cron: str.isdigit() is also true for "¹", which int() refuses.
    if token.isascii() and token.isdigit():
        return int(token)
    names = {k.lower(): v for k, v in _NAMES.get(field_name, {}).items()}
    return names.get(token.lower())


def _normalise(field_name: str, field: str) -> str:
    """Rewrite one-value ranges (``5-5``, ``5-05``, ``mon-1``) as the value.

    croniter expands such a range to ``*`` (every value), which would make ``0 5-5 * * *``
    fire every hour.
    """
    items = []
    for item in field.split(","):
        match = _SINGLE_RANGE.fullmatch(item)
        if match:
            low, high = _number(field_name, match[1]), _number(field_name, match[2])
            if low is not None and low == high:
                item = str(low)
        items.append(item)
    return ",".join(items)


def _is_star(field: str) -> bool:
    return field.startswith(("*", "?"))


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: the sets each field allows."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    last_day: bool
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    nth_weekdays: dict[int, frozenset[int | str]]
    dom_star: bool
    dow_star: bool
    # cronie's and Vixie cron's "wildcard" job: the minute or hour field (or our seconds
    # field) is written starting with `*`. Such a job follows real time across DST changes.
    wildcard: bool = False

    @property
    def every_hour(self) -> bool:
        """True when the hour field matches all 24 hours (``*``, ``*/1``, ``0-23``)."""
        return len(self.hours) == 24

    @classmethod
    def parse(cls, expression: str) -> CronSpec:
        """The expression's spec; parsed once while in use (validation, every zone's
        trigger and every schedule of a million share the few thousand expressions)."""
        return _parsed(expression)

    @classmethod
    def _parse(cls, expression: str) -> CronSpec:
        text = " ".join(expression.split())
        if text.startswith("@"):
            if text.lower() not in MACROS:
                raise CronError(f"unknown macro {text!r}; use one of {', '.join(sorted(MACROS))}")
            text = MACROS[text.lower()]
        fields = text.split(" ") if text else []
        if len(fields) not in (5, 6):
            raise CronError(
                f"expected 5 fields (minute hour day-of-month month day-of-week) "
                f"or 6 with a leading seconds field, got {len(fields)}"
            )
        names = _FIELDS_6 if len(fields) == 6 else _FIELDS_5
        fields = [_normalise(name, f) for name, f in zip(names, fields, strict=True)]
        expanded, nth = _expand_fields(fields, names)
        # croniter puts seconds last; we keep fields in (second, minute, ...) order.
        expanded = [expanded[5], *expanded[:5]] if len(fields) == 6 else [[0], *expanded]
        sec, minute, hour, dom, month, dow = expanded
        star_dom = _is_star(fields[names.index("day-of-month")])
        star_dow = _is_star(fields[names.index("day-of-week")])
        spec = cls(
            expression=expression,
            seconds=_full(sec, 0, 59),
            minutes=_full(minute, 0, 59),
            hours=_full(hour, 0, 23),
            days=frozenset(d for d in _full(dom, 1, 31) if isinstance(d, int)),
            last_day="l" in dom,
            months=frozenset(_full(month, 1, 12)),
            weekdays=frozenset(d % 7 for d in _full(dow, 0, 6)),
            nth_weekdays={int(k): frozenset(v) for k, v in nth.items()},
            dom_star=star_dom,
            dow_star=star_dow,
            wildcard=any(
                fields[names.index(name)].startswith("*")
                for name in ("second", "minute", "hour")
                if name in names
            ),
        )
        spec._check_can_fire()
        return spec

    def day_matches(self, year: int, month: int, day: int) -> bool:
        last = calendar.monthrange(year, month)[1]
        dom_ok = day in self.days or (self.last_day and day == last)
        weekday = (calendar.weekday(year, month, day) + 1) % 7
        dow_ok = weekday in self.weekdays
        if dow_ok and weekday in self.nth_weekdays:
            wanted = self.nth_weekdays[weekday]
            dow_ok = (day - 1) // 7 + 1 in wanted or ("l" in wanted and day + 7 > last)
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_match(self, start: datetime) -> datetime | None:
        """The first naive time at or after ``start`` (whole seconds) that matches."""
        year, month, day = start.year, start.month, start.day
        floor: tuple[int, int, int] | None = (start.hour, start.minute, start.second)
        while year <= start.year + SEARCH_YEARS:
            if month in self.months:
                last = calendar.monthrange(year, month)[1]
                while day <= last:
                    if self.day_matches(year, month, day):
                        hms = self._first_time_from(floor)
                        if hms is not None:
                            return datetime(year, month, day, *hms)
                    day += 1
                    floor = None
            month, day, floor = month + 1, 1, None
            if month > 12:
                year, month = year + 1, 1
        return None

    def _first_time_from(self, floor: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if floor is None:
            return self.hours[0], self.minutes[0], self.seconds[0]
        hour, minute, second = floor
        for h in self.hours[bisect_left(self.hours, hour) :]:
            if h > hour:
                return h, self.minutes[0], self.seconds[0]
            for m in self.minutes[bisect_left(self.minutes, minute) :]:
                if m > minute:
                    return h, m, self.seconds[0]
                i = bisect_left(self.seconds, second)
                if i < len(self.seconds):
                    return h, m, self.seconds[i]
        return None

    def _check_can_fire(self) -> None:
        if not self.nth_weekdays and (self.last_day or min(self.days, default=32) <= 28):
            return  # each of days 1 to 28 and the last day falls on every weekday, in a year
        for year in range(2000, 2000 + SEARCH_YEARS):
            for month in sorted(self.months):
                last = calendar.monthrange(year, month)[1]
                if any(self.day_matches(year, month, d) for d in range(1, last + 1)):
                    return
        raise CronError(f"{self.expression!r} names no date that exists; it would never fire")


def _full(values: list[int | str], low: int, high: int) -> tuple[int, ...]:
    if "*" in values:  # a list is the union of its items, `*` included
        return tuple(range(low, high + 1))
    return tuple(sorted({v for v in values if isinstance(v, int)}))


_NTH = re.compile(r"[^,]*(#|^[lL])[^,]*")


def _expand_fields(
    fields: list[str], names: tuple[str, ...]
) -> tuple[list[list[int | str]], dict[int, set[int | str]]]:
    """croniter's expansion, except that a day-of-week list may mix plain weekdays with
    ``N#K`` and ``LN`` items (croniter refuses): the plain ones match every week."""
    index = names.index("day-of-week")
    items = fields[index].split(",")
    special = [item for item in items if _NTH.fullmatch(item)]
    plain = [item for item in items if not _NTH.fullmatch(item)]
    if not special or not plain:
        return _compose(fields, names)
    with_special = [*fields[:index], ",".join(special), *fields[index + 1 :]]
    with_plain = [*fields[:index], ",".join(plain), *fields[index + 1 :]]
    expanded, nth = _compose(with_special, names)
    every_week = _compose(with_plain, names)[0][4]
    weekly = {d % 7 for d in _full(every_week, 0, 6)}
    expanded[4] = [*every_week, *expanded[4]]
    return expanded, {day: found for day, found in nth.items() if day % 7 not in weekly}


def _compose(
    fields: list[str], names: tuple[str, ...]
) -> tuple[list[list[int | str]], dict[int, set[int | str]]]:
    """What ``croniter.expand`` gives for the whole expression, field by field, in its
    order (minute, hour, day-of-month, month, day-of-week, then the seconds). croniter
    expands each field from its own text and the number of fields alone; the one exception,
    a full day-of-month or day-of-week list written as ``*`` or not depending on the other
    field, means the same set to ``_full``. So each field is expanded once while it is in
    use: a million schedules made by code, each at its own minute and hour, share a few
    hundred fields. The first field that is wrong is the error."""
    parts = [_field(name, field, len(fields)) for name, field in zip(names, fields, strict=True)]
    if len(fields) == 6:
        parts = [*parts[1:], parts[0]]
    nth = {day: set(found) for day, found in parts[4][1]}
    return [list(values) for values, _ in parts], nth


FieldExpansion = tuple[tuple[int | str, ...], tuple[tuple[int, frozenset[int | str]], ...]]


@lru_cache(maxsize=4096)
def _field(name: str, field: str, count: int) -> FieldExpansion:
    """One field expanded by croniter alone (every other field ``*``), so that an error
    names the field that is wrong, with its ``N#K`` items."""
    _check_ranges(field, name)
    pattern = _UNSUPPORTED.get(name)
    if (pattern is not None and pattern.search(field)) or _HASHED.fullmatch(field):
        raise CronError(f"{name} field {field!r} is not supported; allowed: {_ALLOWED[name]}")
    names = _FIELDS_6 if count == 6 else _FIELDS_5
    probe = ["*"] * count
    probe[names.index(name)] = field
    try:
        expanded, nth = croniter.expand(" ".join(probe), second_at_beginning=count == 6)
    except (ValueError, TypeError, KeyError, IndexError):
        raise _invalid(name, field) from None
    position = names.index(name) - 1 if count == 6 else names.index(name)
    found = tuple((int(day), frozenset(items)) for day, items in dict(nth).items())
    return tuple(expanded[position if position >= 0 else 5]), found


_FIELD_MAX = {"second": 59, "minute": 59, "hour": 23, "day-of-month": 31, "month": 12,
              "day-of-week": 6}  # fmt: skip
_FIELD_MIN = {"day-of-month": 1, "month": 1}
_SUNDAY_AS_7 = 7


def _check_ranges(field: str, name: str) -> None:
    """A reversed range (``5-1``) is an error, as in cron, with the two ranges it means."""
    first, last = _FIELD_MIN.get(name, 0), _FIELD_MAX[name]
    top = _SUNDAY_AS_7 if name == "day-of-week" else last
    for item in field.split(","):
        match = _SINGLE_RANGE.fullmatch(item)
        if not match:
            continue
        low, high = _number(name, match[1]), _number(name, match[2])
        if low is None or high is None or low <= high:
            continue
        if low > top or high < first:
            # Not a range to rewrite (`61-60`); croniter would even read `5-0` as `5-31`.
            raise _invalid(name, field)
        step = match[3] or ""
        # `7-1` starts on Sunday, which the part from 0 already holds.
        head = "" if low == _SUNDAY_AS_7 else f"{_span(low, last)}{step},"
        raise CronError(
            f"{name} field {field!r}: {item!r} is a reversed range; write "
            f"{head}{_span(first, high)}{step} for the values it wraps around"
        )


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def _invalid(name: str, field: str) -> CronError:
    return CronError(
        f"{name} field {field!r} is invalid; allowed: {_ALLOWED[name]}, "
        "with ranges a-b, steps */n and lists a,b"
    )


def naive_after(wall: datetime) -> datetime:
    """The first whole second strictly after a naive wall time."""
    return wall.replace(microsecond=0) + _ONE_S


@lru_cache(maxsize=10_000)
def _parsed(expression: str) -> CronSpec:
    return CronSpec._parse(expression)
