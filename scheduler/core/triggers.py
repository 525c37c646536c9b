"""Triggers: when a schedule fires, as UTC instants. Pure: no I/O, no clock.

Daylight-saving rules (cronie's and Vixie cron's; the README has them as a table):

* A "wildcard" expression, whose minute or hour field (or seconds field) is written
  starting with ``*``, follows *real time*: it fires at each instant whose local wall time
  matches. A spring-forward gap has no wall times, so nothing fires there; a fall-back
  hour shows its wall times twice, so it fires at both.
* Any other expression follows the *wall clock*: each matched wall time fires once. One
  that falls in a gap fires at the first instant after the gap, unless the gap swallows
  its whole date (Pacific/Apia, 30 December 2011), which then has no runs; one that falls
  in a repeated hour fires at its first occurrence.
* Interval triggers are elapsed time, ``anchor + k * every``, and ignore the zone.
* A one-off (``at``) is one instant, already resolved in its zone when the file was read.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from scheduler.core.cron import CronSpec, naive_after
from scheduler.core.zones import Segment, offset_at, segment_at

_ONE_S = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
# Interval schedules without a `start` count from here, so fire times never depend on
# when a scheduler happened to start (Celery beat's countdowns reset on restart).
INTERVAL_ANCHOR = datetime(1970, 1, 1, tzinfo=UTC)


class Trigger(Protocol):
    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (UTC), or None."""
        ...


class CronTrigger:
    def __init__(self, expression: str, tz: ZoneInfo) -> None:
        self.expression = expression
        self.tz = tz
        self.spec = CronSpec.parse(expression)

    @property
    def follows_real_time(self) -> bool:
        return self.spec.wildcard

    def next_fire(self, after: datetime) -> datetime | None:
        after = after.astimezone(UTC)
        if self.follows_real_time:
            return self._next_in_real_time(after)
        return self._next_on_wall_clock(after)

    def _next_in_real_time(self, after: datetime) -> datetime | None:
        # Walk the segments of constant offset in order; inside one, wall time and
        # real time advance together, so the first wall match is the first instant.
        segment = segment_at(self.tz, after)
        start = naive_after(segment.wall(after))
        while True:
            match = self.spec.next_match(start)
            if match is None:
                return None
            if match < segment.wall(segment.end):
                return segment.instant(match)
            segment = segment_at(self.tz, segment.end)
            start = segment.wall(segment.start)

    def _next_on_wall_clock(self, after: datetime) -> datetime | None:
        segment = segment_at(self.tz, after)
        start = naive_after(segment.wall(after))
        before = offset_at(self.tz, segment.start - _ONE_S)
        if before > segment.offset and after < segment.start + (before - segment.offset):
            # `after` is in the second pass of a repeated hour: the wall times shown
            # there already fired on the first pass; continue where the first pass ended.
            start = (segment.start + before).replace(tzinfo=None)
        while True:
            match = self.spec.next_match(start)
            if match is None:
                return None
            fire_at = self._first_instant_showing(match)
            if fire_at is None:  # the zone skipped the whole date: nothing of it runs
                start = datetime.combine(match.date() + _ONE_DAY, time())
                continue
            if fire_at > after:
                return fire_at
            start = match + _ONE_S

    def _first_instant_showing(self, wall: datetime) -> datetime | None:
        """The instant a wall time fires at, or None if the zone never shows its date."""
        first = wall.replace(tzinfo=self.tz, fold=0).utcoffset()
        second = wall.replace(tzinfo=self.tz, fold=1).utcoffset()
        assert first is not None and second is not None
        if first >= second:  # exists once, or twice (first pass has the larger offset)
            return (wall - first).replace(tzinfo=UTC)
        # In a gap: fold=0 applies the offset from before the jump, which lands just
        # past the transition; the segment found there starts at the transition.
        gap_end = _segment_start(self.tz, (wall - first).replace(tzinfo=UTC))
        # A gap that swallows a whole date (Pacific/Apia skipped 30 December 2011): that
        # date has no runs, so a daily job still runs once on each date the zone shows.
        # Cron agrees: it treats a jump of more than three hours as a clock change.
        midnight = datetime.combine(wall.date(), time())
        gap_start_wall = (gap_end + first).replace(tzinfo=None)
        gap_end_wall = (gap_end + second).replace(tzinfo=None)
        if gap_start_wall <= midnight and midnight + _ONE_DAY <= gap_end_wall:
            return None
        return gap_end


def _segment_start(tz: ZoneInfo, instant: datetime) -> datetime:
    segment: Segment = segment_at(tz, instant)
    return segment.start


class IntervalTrigger:
    def __init__(self, every_s: int, anchor: datetime = INTERVAL_ANCHOR) -> None:
        if every_s < 1:
            raise ValueError("an interval must be at least 1 second")
        self.every_s = every_s
        self.anchor = anchor.astimezone(UTC)

    def next_fire(self, after: datetime) -> datetime:
        elapsed_us = (after.astimezone(UTC) - self.anchor) // timedelta(microseconds=1)
        periods = elapsed_us // (self.every_s * 1_000_000) + 1
        return self.anchor + timedelta(seconds=periods * self.every_s)


class AtTrigger:
    """A one-off: the single instant ``at``, and nothing after it."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def next_fire(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None
