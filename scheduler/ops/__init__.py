"""Operator actions (``actions``) and views (``views``) with typed results: the CLI and
the web page use these, never the store directly."""

from scheduler.errors import BackfillError, UnknownScheduleError
from scheduler.ops.actions import (
    MAX_BACKFILL_RUNS,
    Backfilled,
    Change,
    Resumed,
    backfill,
    dead_retry,
    pause,
    plan,
    purge_dead,
    purge_dead_letter,
    repair,
    resume,
    trigger,
)
from scheduler.ops.views import (
    Status,
    Upcoming,
    dead_letter,
    dead_letters,
    history,
    status,
    stored_schedule,
    stored_schedules,
    upcoming_online,
)

__all__ = [
    "MAX_BACKFILL_RUNS",
    "BackfillError",
    "Backfilled",
    "Change",
    "Resumed",
    "Status",
    "UnknownScheduleError",
    "Upcoming",
    "backfill",
    "dead_letter",
    "dead_letters",
    "dead_retry",
    "history",
    "pause",
    "plan",
    "purge_dead",
    "purge_dead_letter",
    "repair",
    "resume",
    "status",
    "stored_schedule",
    "stored_schedules",
    "trigger",
    "upcoming_online",
]
