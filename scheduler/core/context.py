"""What a running task can see and say: ``current_run()`` and ``Retry``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunContext:
    """The run a task is executing (a contract: external checks read these fields)."""

    schedule: str
    run_id: str
    fire_at: datetime  # the scheduled fire time, timezone-aware UTC
    attempt: int  # 1 for the first attempt
    queue: str
    worker: str


_current: ContextVar[RunContext | None] = ContextVar("sched_current_run", default=None)


def current_run() -> RunContext:
    """The context of the run being executed; raises LookupError outside a run."""
    run = _current.get()
    if run is None:
        raise LookupError("current_run() is only available inside a task run by a sched worker")
    return run


def set_current_run(run: RunContext | None) -> None:
    _current.set(run)


class Retry(Exception):
    """Raise from a task to ask for another attempt, after ``delay`` seconds if given.

    The schedule's ``max_attempts`` still bounds the attempts.
    """

    def __init__(self, delay: float | None = None, reason: str = "") -> None:
        super().__init__(reason or "the task asked to be retried")
        self.delay = delay
