"""sched: a periodic job scheduler for Python.

The public API: what a task can see (``current_run``) and say (``Retry``), and sched's
errors. Everything else is reached through the ``sched`` command.
"""

from scheduler.core.context import Retry, RunContext, current_run
from scheduler.errors import ConfigError, CronError, SchedError
from scheduler.version import __version__

__all__ = [
    "ConfigError",
    "CronError",
    "Retry",
    "RunContext",
    "SchedError",
    "__version__",
    "current_run",
]
