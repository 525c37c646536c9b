"""Time zones: IANA names, and the instants at which a zone's UTC offset changes.

zoneinfo answers "what is the offset at this instant" but not "when does it change".
The daylight-saving rules in ``scheduler.core.triggers`` need the second, so we find each
year's transitions once (sampling, then bisection to the second) and cache them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from scheduler.core.names import closest

# No real zone has changed its offset twice within this step (the closest pair in
# tzdata since 1970 is weeks apart), so sampling at it finds every transition.
_SAMPLE_STEP = timedelta(hours=6)
_ONE_S = timedelta(seconds=1)

# Names that tzdata carries for compatibility but that are abbreviations, not places:
# they have no history of their own and users who write them usually mean a region.
ABBREVIATION_HINTS = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
    "MST": "America/Denver", "MDT": "America/Denver",
    "CST": "America/Chicago", "CDT": "America/Chicago",
    "EST": "America/New_York", "EDT": "America/New_York",
    "HST": "Pacific/Honolulu", "AKST": "America/Anchorage",
    "GMT": "Europe/London", "BST": "Europe/London",
    "CET": "Europe/Berlin", "CEST": "Europe/Berlin", "MET": "Europe/Berlin",
    "WET": "Europe/Lisbon", "EET": "Europe/Athens", "EEST": "Europe/Athens",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "KST": "Asia/Seoul",
    "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney",
    "EST5EDT": "America/New_York", "CST6CDT": "America/Chicago",
    "MST7MDT": "America/Denver", "PST8PDT": "America/Los_Angeles",
}  # fmt: skip


class ZoneNameError(ValueError):
    """A time zone name that is not a usable IANA region name."""


@cache
def _region_names() -> frozenset[str]:
    return frozenset(
        name for name in available_timezones()
        if ("/" in name and not name.startswith(("posix/", "right/"))) or name == "UTC"
    )  # fmt: skip


@cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA region name (``Europe/Berlin``, ``UTC``), or a clear error."""
    if name in ABBREVIATION_HINTS:
        raise ZoneNameError(
            f"{name!r} is an abbreviation, not an IANA time zone; "
            f"use a region name such as {ABBREVIATION_HINTS[name]!r}"
        )
    if name in _region_names():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    close = closest(name, sorted(_region_names()))
    hint = f"; did you mean {close!r}?" if close else "; use an IANA name such as 'Europe/Berlin'"
    raise ZoneNameError(f"unknown time zone {name!r}{hint}")


@dataclass(frozen=True)
class Segment:
    """An interval of instants ``[start, end)`` over which a zone's offset is constant."""

    start: datetime
    end: datetime
    offset: timedelta

    def wall(self, instant: datetime) -> datetime:
        """The naive local wall time of an instant inside this segment."""
        return (instant + self.offset).replace(tzinfo=None)

    def instant(self, wall: datetime) -> datetime:
        """The instant at which this segment shows the naive wall time ``wall``."""
        return (wall - self.offset).replace(tzinfo=UTC)


def offset_at(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


@cache
def transitions_in_year(tz: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """Every instant in a UTC year at which the zone's offset changes."""
    found: list[datetime] = []
    at = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    before = offset_at(tz, at - _ONE_S)
    while at < end + _SAMPLE_STEP:
        now = offset_at(tz, at)
        if now != before:
            low, high = at - _SAMPLE_STEP, at
            while high - low > _ONE_S:
                mid = low + (high - low) / 2
                mid = mid.replace(microsecond=0)
                if offset_at(tz, mid) == before:
                    low = mid
                else:
                    high = mid
            if high.year == year:
                found.append(high)
            before = now
        at += _SAMPLE_STEP
    return tuple(found)


def segment_at(tz: ZoneInfo, instant: datetime) -> Segment:
    """The segment containing ``instant``; bounded by real transitions, else by year ends.

    A year-end bound where the offset does not change is harmless to every caller: the
    next segment simply has the same offset.
    """
    year = instant.astimezone(UTC).year
    near = [t for y in (year - 1, year, year + 1) for t in transitions_in_year(tz, y)]
    start = max((t for t in near if t <= instant), default=datetime(year - 1, 1, 1, tzinfo=UTC))
    end = min((t for t in near if t > instant), default=datetime(year + 2, 1, 1, tzinfo=UTC))
    return Segment(start, end, offset_at(tz, instant))
