"""sched: a periodic job scheduler for Python."""

from scheduler.context import Retry, RunContext, current_run
from scheduler.errors import ConfigError, CronError, SchedError

__all__ = ["ConfigError", "CronError", "Retry", "RunContext", "SchedError", "current_run"]
__version__ = "0.1.0"
