"""sched's one error hierarchy: every failure a user can meet is a SchedError.

The CLI turns a SchedError into a message and an exit code; anything else reaching the
user is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class SchedError(Exception):
    """Root of every error sched raises on purpose."""


class CronError(SchedError, ValueError):
    """A cron expression that cannot be parsed, or can never fire."""


class DurationError(SchedError, ValueError):
    """A duration that is not of the form 30s, 5m, 1h30m, 2d or whole seconds."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a schedule file, with where it is."""

    path: str
    line: int
    column: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.where}: {self.message}"


class ConfigError(SchedError):
    """Schedule files that do not validate; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PathError(SchedError):
    """A path given on the command line that does not exist or holds no schedule file."""


class StoreError(SchedError):
    """Redis could not be reached or answered with an error."""


class NotLeaderError(SchedError):
    """A state change was refused because this process no longer holds the lease."""


class StateVersionError(SchedError):
    """Stored state written by a newer (or unknown) version of sched."""


class UnknownScheduleError(SchedError):
    """An operator command named a schedule that Redis does not hold."""


class BackfillError(SchedError):
    """A backfill range that is not in the past, or too large."""


class UsageError(SchedError):
    """A command-line value that cannot be used (exit code 2)."""


class RedisUrlError(StoreError, UsageError):
    """A Redis URL that is malformed or of a scheme sched does not speak."""


class BrokerError(SchedError):
    """A Celery broker the relay publishes to could not be reached or refused a batch."""


class ScheduleError(ConfigError):
    """A schedule given through the API (``Client``, ``sched add``/``edit``, the HTTP API)
    that does not validate. It carries the same problems a file would, each named by its
    field path (``schedules.NAME.FIELD: message``) instead of file:line."""

    def __str__(self) -> str:
        return "\n".join(f"{p.where}: {p.message}" for p in self.problems)


class OwnershipError(SchedError):
    """A change through the API to a schedule the files own (or the reverse)."""


class ScheduleExistsError(SchedError):
    """``add`` of a name that is already a schedule."""
