"""sched: a periodic job scheduler for Python.

The public API: what a task can see (``current_run``) and say (``Retry``), the ``Client``
that adds schedules from code, and sched's errors. Everything else is reached through the
``sched`` command.
"""

from scheduler.client import Client
from scheduler.core.context import Retry, RunContext, current_run
from scheduler.errors import (
    ConfigError,
    CronError,
    OwnershipError,
    SchedError,
    ScheduleError,
    ScheduleExistsError,
    UnknownScheduleError,
)
from scheduler.version import __version__

__all__ = [
    "Client",
    "ConfigError",
    "CronError",
    "OwnershipError",
    "Retry",
    "RunContext",
    "SchedError",
    "ScheduleError",
    "ScheduleExistsError",
    "UnknownScheduleError",
    "__version__",
    "current_run",
]
