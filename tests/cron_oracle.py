"""A brute-force oracle for cron fire times across DST changes.

Deliberately independent of croniter and of ``scheduler``: it parses the cron dialect itself
and finds fire instants by walking every minute (or every second, for 6-field expressions)
of a window. It is slow and simple on purpose, so it can be read and trusted.

The rules it implements (the project's DST spec):

Rule A (cronie's "wildcard" jobs: the minute or hour field, or the seconds field, is
written starting with ``*``): follow real time.
    Walk every real instant u; fire at u iff the local wall time of u matches. So nothing
    fires in a spring-forward gap, and a fall-back repeated hour fires twice.

Rule B (every other expression): follow the wall clock. Walk every naive local wall time m
    that matches, and map it to one instant:
      * m exists exactly once          -> that instant;
      * m is ambiguous (fall-back)     -> its first occurrence (fold=0);
      * m does not exist (spring gap)  -> the transition instant that ends the gap.
    The fire instants are the set of those values (duplicates collapse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CronSpec",
    "matches",
    "oracle_fires",
    "parse",
    "resolve_wall_time",
    "transitions",
]


MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
DOW_NAMES: dict[str, int] = {
    name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
}

# Padding of the naive local-time walk for Rule B; larger than any DST shift (Troll: 2 h).
_PAD = timedelta(hours=4)


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the allowed values of every field."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (7 already folded onto 0)
    dom_restricted: bool
    dow_restricted: bool
    has_seconds: bool
    wildcard: bool = False  # the seconds, minute or hour field text starts with "*"

    @property
    def follows_real_time(self) -> bool:
        """Rule A applies to cronie's wildcard jobs."""
        return self.wildcard


def _value(text: str, lo: int, hi: int, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise ValueError(f"not a number or name: {text!r}")
    number = int(text)
    if not lo <= number <= hi:
        raise ValueError(f"{number} is outside {lo}-{hi}")
    return number


def _field(text: str, lo: int, hi: int, names: dict[str, int], allow_question: bool) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"bad step in {part!r}")
            step = int(step_text)
        if base == "*" or (base == "?" and allow_question):
            first, last = lo, hi
        elif "-" in base:
            left, _, right = base.partition("-")
            first, last = _value(left, lo, hi, names), _value(right, lo, hi, names)
            if first > last:
                raise ValueError(f"reversed range {part!r}")
        else:
            first = _value(base, lo, hi, names)
            last = hi if slash else first  # "a/n" means a-max/n
        values.update(range(first, last + 1, step))
    return values


def parse(expr: str) -> CronSpec:
    """Parse a 5-field or 6-field (leading seconds) expression, or a macro."""
    text = MACROS.get(expr.strip().lower(), expr)
    fields = text.split()
    if len(fields) == 5:
        fields = ["0", *fields]
        has_seconds = False
    elif len(fields) == 6:
        has_seconds = True
    else:
        raise ValueError(f"expected 5 or 6 fields: {expr!r}")
    second, minute, hour, dom, month, dow = fields
    weekdays = {day % 7 for day in _field(dow, 0, 7, DOW_NAMES, allow_question=True)}
    return CronSpec(
        seconds=frozenset(_field(second, 0, 59, {}, allow_question=False)),
        minutes=frozenset(_field(minute, 0, 59, {}, allow_question=False)),
        hours=frozenset(_field(hour, 0, 23, {}, allow_question=False)),
        days=frozenset(_field(dom, 1, 31, {}, allow_question=True)),
        months=frozenset(_field(month, 1, 12, MONTH_NAMES, allow_question=False)),
        weekdays=frozenset(weekdays),
        dom_restricted=not dom.startswith(("*", "?")),
        dow_restricted=not dow.startswith(("*", "?")),
        has_seconds=has_seconds,
        wildcard=any(field.startswith("*") for field in (second, minute, hour)),
    )


def matches(spec: CronSpec, wall: datetime) -> bool:
    """Whether a naive wall-clock time matches (the seconds field too)."""
    if (
        wall.second not in spec.seconds
        or wall.minute not in spec.minutes
        or wall.hour not in spec.hours
        or wall.month not in spec.months
    ):
        return False
    dom_ok = wall.day in spec.days
    dow_ok = wall.isoweekday() % 7 in spec.weekdays  # isoweekday: Monday=1 ... Sunday=7
    if spec.dom_restricted and spec.dow_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


def _offset_at(instant: int, zone: ZoneInfo) -> timedelta:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    assert offset is not None
    return offset


def _first_change(lo: int, hi: int, zone: ZoneInfo) -> int:
    """Smallest second t in (lo, hi] whose UTC offset differs from the offset at lo."""
    before = _offset_at(lo, zone)
    assert _offset_at(hi, zone) != before
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_at(mid, zone) == before:
            lo = mid
        else:
            hi = mid
    return hi


def resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """Map a naive wall time to its Rule-B fire instant (UTC)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    offset0, offset1 = first.utcoffset(), second.utcoffset()
    assert offset0 is not None and offset1 is not None
    if offset0 >= offset1:  # exists once, or ambiguous: the first occurrence is fold=0
        return first.astimezone(UTC)
    # In a gap: fold=0 uses the offset before the change (smaller), fold=1 the one after.
    naive_utc = wall.replace(tzinfo=UTC)
    earlier = int((naive_utc - offset1).timestamp())  # still before the transition
    later = int((naive_utc - offset0).timestamp())  # already after the transition
    assert _offset_at(earlier, zone) == offset0 and _offset_at(later, zone) == offset1
    return datetime.fromtimestamp(_first_change(earlier, later, zone), UTC)


def _ceil(instant: datetime, step: int) -> int:
    seconds = instant.timestamp()
    whole = int(seconds // step) * step
    return whole if whole >= seconds else whole + step


def oracle_fires(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """All fire instants u with start <= u < end, sorted, as UTC-aware datetimes."""
    assert start.tzinfo is not None and end.tzinfo is not None
    spec = parse(expr)
    step = 1 if spec.has_seconds else 60
    if spec.follows_real_time:  # Rule A: walk real instants
        fires: list[datetime] = []
        instant, stop = _ceil(start, step), end.timestamp()
        while instant < stop:
            local = datetime.fromtimestamp(instant, zone)
            offset = local.utcoffset()
            assert offset is not None and offset.total_seconds() % 60 == 0
            if matches(spec, local.replace(tzinfo=None)):
                fires.append(datetime.fromtimestamp(instant, UTC))
            instant += step
        return fires
    # Rule B: walk naive wall-clock times, map each match to one instant.
    found: set[datetime] = set()
    wall = start.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) - _PAD
    wall_end = end.astimezone(zone).replace(tzinfo=None) + _PAD
    tick = timedelta(seconds=step)
    while wall < wall_end:
        if matches(spec, wall):
            fire = resolve_wall_time(wall, zone)
            if start <= fire < end:
                found.add(fire)
        wall += tick
    return sorted(found)


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [start, end) at which the zone's UTC offset changes (to the second)."""
    found: list[datetime] = []
    hour = 3600
    instant = int(start.timestamp())
    stop = int(end.timestamp())
    while instant < stop:
        nxt = min(instant + hour, stop)
        if _offset_at(instant, zone) != _offset_at(nxt, zone):
            found.append(datetime.fromtimestamp(_first_change(instant, nxt, zone), UTC))
        instant = nxt
    return found
