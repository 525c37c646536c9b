"""sched: a periodic job scheduler for Python."""

from scheduler.errors import ConfigError, CronError, SchedError

__all__ = ["ConfigError", "CronError", "SchedError"]
__version__ = "0.1.0"
