"""What a leader enqueues for a due schedule: the missed-run policy, jitter and the run
message. Pure: no Redis, no clock (``now`` is a parameter).

The run message (JSON, ``"v": 1, "kind": "run"``) is the contract between the scheduler
and the workers; its fields are listed in ``run_message``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.model import Misfire, Schedule

MISFIRE_ALL_CAP = 100  # runs one catch-up may enqueue for `misfire: all`
ON_TIME_S = 5  # a fire seen later than this after it was due is "missed" for `misfire: skip`
RUN_VERSION = 1


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jitter_ms(schedule: Schedule, fire_ms: int) -> int:
    """A delay in ``[0, jitter)`` that every replica computes alike for the same fire time."""
    if schedule.jitter_s <= 0:
        return 0
    digest = hashlib.sha256(f"{schedule.name}@{fire_ms}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (schedule.jitter_s * 1000)


def run_id_for(schedule: str, fire_ms: int) -> str:
    """Deterministic: the same (schedule, fire time) can only ever be one run."""
    return f"{schedule}@{fire_ms}"


class MessageTemplate:
    """The run message of one schedule with its constant part serialised once.

    A leader renders thousands of these a second; only the few fields that change per run
    are formatted each time.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        constant = {
            "v": RUN_VERSION,
            "kind": "run",
            "schedule": schedule.name,
            "task": schedule.task,
            "args": list(schedule.args),
            "kwargs": schedule.kwargs,
            "queue": schedule.queue,
            "priority": schedule.priority,
            "attempt": 1,
            "retry": schedule.retry.to_json(),
            "timeout_s": schedule.timeout_s,
            "overlap": schedule.overlap.value,
        }
        self.head = json.dumps(constant, separators=(",", ":"))[:-1]

    def render(
        self, run_id: str, fire_at: datetime, fire_text: str, now_text: str, origin: str,
        epoch: int,
    ) -> str:  # fmt: skip
        expires_at = "null"
        if self.schedule.expires_s is not None:
            expires_at = f'"{utc_text(fire_at + timedelta(seconds=self.schedule.expires_s))}"'
        return (
            f'{self.head},"run_id":{json.dumps(run_id)},"fire_at":"{fire_text}",'
            f'"fire_at_ms":{to_ms(fire_at)},"enqueued_at":"{now_text}",'
            f'"expires_at":{expires_at},"origin":"{origin}","epoch":{epoch}}}'
        )


def run_message(
    schedule: Schedule, run_id: str, fire_at: datetime, now: datetime, origin: str, epoch: int
) -> str:
    """The run message workers consume (version 1).

    Fields: run_id, schedule, task, args, kwargs, queue, priority, fire_at (UTC, ISO 8601),
    fire_at_ms, enqueued_at, attempt (1 for the first), retry (the schedule's policy),
    timeout_s, expires_at (null when the schedule has no ``expires``), overlap, origin
    (``schedule``, ``trigger`` or ``backfill``) and epoch (the leader's fencing epoch).
    """
    template = MessageTemplate(schedule)
    return template.render(run_id, fire_at, utc_text(fire_at), utc_text(now), origin, epoch)


def event(kind: str, now: datetime, **fields: Any) -> str:
    """A history entry (version 1): what happened to a schedule, and when."""
    body = {"v": 1, "kind": "event", "event": kind, "at": utc_text(now), **fields}
    return json.dumps(body, separators=(",", ":"))


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
    due: list[datetime] = []
    total = 0
    fire_at: datetime | None = next_fire
    while fire_at is not None and fire_at <= now:
        total += 1
        late_s = (now - fire_at).total_seconds() - jitter_ms(schedule, to_ms(fire_at)) / 1000
        if schedule.misfire is Misfire.SKIP:
            if late_s <= ON_TIME_S:
                due.append(fire_at)
        elif grace_s is None or late_s <= grace_s:
            due.append(fire_at)
            if len(due) > MISFIRE_ALL_CAP:
                del due[0]
        last_seen = fire_at
        fire_at = schedule.next_fire(fire_at)
    if schedule.misfire is Misfire.COALESCE:
        due = due[-1:]
    missed = total - len(due)
    last_missed = None
    if missed:
        ran = set(due)
        last_missed = (
            last_seen if last_seen not in ran else _last_not_in(schedule, next_fire, now, ran)
        )
    return Catchup(due, missed, last_missed, fire_at)


def _last_not_in(
    schedule: Schedule, first: datetime, now: datetime, ran: set[datetime]
) -> datetime:
    last = first
    fire_at: datetime | None = first
    while fire_at is not None and fire_at <= now:
        if fire_at not in ran:
            last = fire_at
        fire_at = schedule.next_fire(fire_at)
    return last


def count_fires(
    schedule: Schedule, first: datetime, until: datetime
) -> tuple[int, datetime | None]:
    """How many fire times lie in ``[first, until]`` (``first`` being one), and the last."""
    count, last = 0, None
    fire_at: datetime | None = first
    while fire_at is not None and fire_at <= until:
        count, last = count + 1, fire_at
        fire_at = schedule.next_fire(fire_at)
    return count, last
