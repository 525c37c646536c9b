"""The missed-run policy: which of the fire times that passed up to ``now`` run.

Pure: no Redis, no clock (``now`` is a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.core.instants import to_ms
from scheduler.core.model import Misfire, Schedule

MISFIRE_ALL_CAP = 100  # runs one catch-up may enqueue for `misfire: all`
ON_TIME_S = 5  # a fire seen later than this after it was due is "missed" for `misfire: skip`


@dataclass(frozen=True)
class Catchup:
    """The decision for one due schedule: which fire times run, and how many are missed."""

    run: list[datetime]
    missed: int
    last_missed: datetime | None
    next_fire: datetime | None


def plan_due(schedule: Schedule, next_fire: datetime, now: datetime) -> Catchup:
    """Apply the missed-run policy to every fire time from ``next_fire`` up to ``now``.

    Normally one fire time is due and runs. After downtime several are: ``coalesce`` runs
    the latest (if within ``misfire_grace``), ``all`` runs each within the grace, oldest
    first, at most ``MISFIRE_ALL_CAP`` (the most recent), ``skip`` runs only a fire time
    that is on time (due at most ``ON_TIME_S`` ago). Every other one counts as missed.
    """
    grace_s = schedule.misfire_grace_s
    grace = None if grace_s is None else timedelta(seconds=grace_s)
    on_time = timedelta(seconds=ON_TIME_S)
    due: list[datetime] = []
    missed: list[datetime] = []
    last_seen: datetime | None = None
    for fire_at in schedule.fires_from(next_fire, now):
        last_seen = fire_at
        # timedelta, not float seconds: 9.569 - 4.569 > 5 would call an on-time fire late
        late = now - fire_at - timedelta(milliseconds=schedule.jitter_ms(to_ms(fire_at)))
        if schedule.misfire is Misfire.SKIP:
            runs = late <= on_time
        else:
            runs = grace is None or late <= grace
        if runs:
            due.append(fire_at)
            if len(due) > MISFIRE_ALL_CAP:
                missed.append(due.pop(0))
        else:
            missed.append(fire_at)
    if schedule.misfire is Misfire.COALESCE and len(due) > 1:
        missed.extend(due[:-1])
        due = due[-1:]
    following = next_fire if last_seen is None else schedule.next_fire(last_seen)
    return Catchup(due, len(missed), max(missed) if missed else None, following)


def count_fires(
    schedule: Schedule, first: datetime, until: datetime
) -> tuple[int, datetime | None]:
    """How many fire times lie in ``[first, until]`` (``first`` being one), and the last."""
    count, last = 0, None
    for fire_at in schedule.fires_from(first, until):
        count, last = count + 1, fire_at
    return count, last
