"""The plain values the store takes and returns: the rest of sched never sees a Redis type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from scheduler.core.instants import from_ms
from scheduler.core.messages import RunMessage


@dataclass(frozen=True)
class ScheduleState:
    next_ms: int | None
    due_ms: int | None
    trigger_key: str | None
    paused: bool
    runs: int
    last_fire_ms: int | None
    missed: int
    last_missed_ms: int | None
    digest: str | None = None
    duplicates: int = 0
    skipped: int = 0
    active: int = 0  # runs queued, running or waiting to retry
    waiting: int = 0  # runs not yet started
    removed: bool = False  # a tombstone: kept after the schedule left the files
    last_success_ms: int | None = None  # when a run last succeeded (its worker's clock)

    def settled(self) -> list[datetime]:
        """The fire times last run and last missed: a one-off whose instant is among them
        is done (see ``Schedule.first_fire``)."""
        return [from_ms(ms) for ms in (self.last_fire_ms, self.last_missed_ms) if ms is not None]


@dataclass(frozen=True)
class Run:
    """A run to enqueue: its id, queue, priority score and message."""

    run_id: str
    queue: str
    score: int
    message: str  # RunMessage JSON; a Celery envelope (mode celery); an outbox entry (outbox)
    skipped_event: str = ""  # the history event to record if overlap skips the run
    handoff_event: str = ""  # mode celery: the history event of the hand-off
    deadline_ms: int | None = None  # a Celery run counted for overlap: when it stops counting


@dataclass(frozen=True)
class Upsert:
    """One schedule definition to sync, with the next fire time to use if it is new."""

    name: str
    definition: str
    digest: str
    trigger_key: str
    next_ms: int | None
    due_ms: int | None
    owner: str = "files"  # files | api: a schedule has one owner
    source: str = ""  # file:line, or api
    create_only: bool = False  # refuse ('exists') if the schedule exists
    update_only: bool = False  # refuse ('missing') if it does not
    event: str = ""  # history event JSON to record when written (the API's; '' for a sync)


@dataclass
class Step:
    """What one dispatch does to one schedule: compare-and-set its next fire time."""

    name: str
    queue: str
    expected_next_ms: int
    new_next_ms: int | None
    new_due_ms: int | None
    overlap: str = "allow"
    runs: list[Run] = field(default_factory=list)
    fired_ms: int | None = None
    missed: int = 0
    last_missed_ms: int | None = None
    missed_event: str = ""  # history entry JSON when fire times were missed
    mode: str = "sched"  # sched | celery (push onto ``celery_list``) | outbox (the relay's)
    celery_list: str = ""  # mode celery: the Redis list Celery's workers read


@dataclass(frozen=True)
class Claimed:
    run_id: str
    message: RunMessage
    deliveries: int
    started: bool = False  # the claim marked it started (a free slot was waiting for it)


@dataclass(frozen=True)
class Outcome:
    """What a worker reports for one run it holds."""

    run_id: str
    schedule: str
    queue: str
    kind: str  # succeeded | failed | expired | retry | defer | dead | handback
    event: str = ""  # history entry JSON
    new_message: str = ""  # retry: the message of the next attempt
    due_ms: int = 0  # retry: when the next attempt is due; handback: the queue score
    dead_letter: str = ""  # dead: the dead letter JSON
    abandoned: str = ""  # an attempt past its timeout still running (a thread): its entry


@dataclass(frozen=True)
class CounterFix:
    """A schedule whose overlap counters had drifted, before and after the repair."""

    schedule: str
    active_was: int
    waiting_was: int
    active: int
    waiting: int


def ms_arg(value: int | None) -> str:
    """An optional instant as a script argument: '' stands for none."""
    return "" if value is None else str(value)


def int_or_none(value: bytes | None) -> int | None:
    return None if value is None or value == b"" else int(value)
