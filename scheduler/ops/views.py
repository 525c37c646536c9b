"""What operators see, as typed values: schedules as Redis holds them, status, upcoming
fire times, history and dead letters. The CLI (and later the web page) render these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.core.instants import from_ms, ms_text
from scheduler.core.messages import DeadLetter, Event
from scheduler.core.model import Schedule
from scheduler.core.names import closest
from scheduler.errors import UnknownScheduleError
from scheduler.store import Store
from scheduler.store.reads import LeaderInfo, WorkerInfo
from scheduler.store.values import ScheduleState


def stored_schedules(store: Store) -> dict[str, Schedule]:
    definitions = store.reads.definitions()
    return {name: Schedule.from_json(body["schedule"]) for name, body in definitions.items()}


def unknown(name: str, known: list[str]) -> UnknownScheduleError:
    found = closest(name, known)
    hint = f"; did you mean {found!r}?" if found else ""
    return UnknownScheduleError(f"no schedule named {name!r} in Redis{hint}")


def stored_schedule(store: Store, name: str) -> tuple[Schedule, ScheduleState | None]:
    schedule, state, _ = stored_with_owner(store, name)
    return schedule, state


def owner_of(body: dict[str, Any]) -> tuple[str, str]:
    """A stored definition's owner (files or api) and source (file:line, or the owner where
    no line is known); definitions written before owners existed are the files'."""
    owner = str(body.get("owner", "files"))
    return owner, str(body.get("source") or owner)


def stored_with_owner(
    store: Store, name: str
) -> tuple[Schedule, ScheduleState | None, tuple[str, str]]:
    body = store.reads.definition(name)
    if body is None:
        raise unknown(name, sorted(store.reads.names()))
    state = store.reads.states([name]).get(name)
    return Schedule.from_json(body["schedule"]), state, owner_of(body)


@dataclass(frozen=True)
class ScheduleRow:
    schedule: str
    paused: bool
    next_fire_at: str | None
    last_fire_at: str | None
    runs: int
    missed: int
    last_missed_at: str | None
    owner: str = "files"  # files | api
    source: str = "files"  # file:line, or api (or files where no line is known)


@dataclass(frozen=True)
class Status:
    leader: LeaderInfo
    schedules: list[ScheduleRow]
    queues: dict[str, int]
    dead_letters: int = 0
    dead_dropped: int = 0  # dropped by the dead-letter queue's count and age bounds
    workers: list[WorkerInfo] = field(default_factory=list)
    outbox: int = 0  # Celery messages waiting for the relay
    outbox_oldest_at: str | None = None
    celery_in_flight: int = 0

    @property
    def unserved(self) -> list[str]:
        """Queues with runs waiting and no live worker taking from them."""
        served = {queue for worker in self.workers for queue in worker.queues}
        return [q for q, depth in self.queues.items() if depth and q not in served]

    def to_json(self) -> dict[str, Any]:
        rows = [row.__dict__ for row in self.schedules]
        dead = {"count": self.dead_letters, "dropped": self.dead_dropped}
        return {"leader": self.leader.to_json(), "schedules": rows, "queues": self.queues,
                "unserved_queues": self.unserved, "workers": [w.to_json() for w in self.workers],
                "dead_letters": dead,
                "celery": {"outbox": self.outbox, "outbox_oldest_at": self.outbox_oldest_at,
                           "in_flight": self.celery_in_flight}}  # fmt: skip


def status(store: Store) -> Status:
    definitions = store.reads.definitions()  # read in full: an unknown version fails here
    names = sorted(definitions)
    states = store.reads.states(names)
    rows = []
    for name in names:
        state = states.get(name) or ScheduleState(None, None, None, False, 0, None, 0, None)
        rows.append(ScheduleRow(name, state.paused, ms_text(state.next_ms),
                                ms_text(state.last_fire_ms), state.runs, state.missed,
                                ms_text(state.last_missed_ms),
                                *owner_of(definitions[name])))  # fmt: skip
    kept, dropped = store.reads.dead_counts()
    outbox, oldest_ms, in_flight = store.reads.celery_counts()
    return Status(store.reads.leader(), rows, store.reads.queue_depths(), kept, dropped,
                  store.reads.workers(), outbox, ms_text(oldest_ms), in_flight)  # fmt: skip


def history(store: Store, name: str, limit: int) -> list[Event]:
    events = store.reads.history(name, limit)
    if not events:
        stored_schedule(store, name)  # raises for an unknown name
    return events


def dead_letters(store: Store, limit: int = 1000) -> list[DeadLetter]:
    return store.reads.dead_letters(limit)


def dead_letter(store: Store, run_id: str) -> DeadLetter | None:
    return store.reads.dead_letter(run_id)


@dataclass(frozen=True)
class Upcoming:
    schedule: Schedule
    fires: list[datetime]
    paused: bool
    done: bool = False  # a one-off that has fired (or was recorded missed): nothing to come
    owner: str = "files"  # files | api


def upcoming_online(
    store: Store, names: list[str], count: int, start: datetime, until: datetime | None
) -> list[Upcoming]:
    """Next fire times from Redis state: the stored next fire time, then the trigger's."""
    definitions = store.reads.definitions()  # the owner rides along: no read per schedule
    schedules = {name: Schedule.from_json(body["schedule"]) for name, body in definitions.items()}
    for name in names:
        if name not in schedules:
            raise unknown(name, list(schedules))
    chosen = [schedules[n] for n in (names or sorted(schedules))]
    states = store.reads.states([s.name for s in chosen])
    out = []
    for schedule in chosen:
        state = states.get(schedule.name)
        done = one_off_done(schedule, state)
        first = None if done else first_fire(schedule, state, start)
        fires = list(schedule.fires_from(first, until, count))
        owner, _ = owner_of(definitions[schedule.name])
        out.append(Upcoming(schedule, fires, bool(state and state.paused), done, owner))
    return out


def one_off_done(schedule: Schedule, state: ScheduleState | None) -> bool:
    """A one-off whose state has no next fire time because its instant fired or was
    missed (not merely one that no leader has dispatched yet)."""
    if schedule.at is None or state is None or state.next_ms is not None:
        return False
    return schedule.at in state.settled()


def first_fire(schedule: Schedule, state: ScheduleState | None, start: datetime) -> datetime | None:
    """The first fire time at or after ``start``: from the next fire time Redis holds (a
    paused or missed schedule may hold an older one), then the trigger's."""
    first = from_ms(state.next_ms) if state and state.next_ms is not None else None
    while first is not None and first < start:
        first = schedule.next_fire(first)
    return first


@dataclass(frozen=True)
class QueueRow:
    queue: str
    depth: int
    oldest_ms: int | None  # when its longest-waiting run was put on it
    served: bool  # a live worker takes from it


def queues(store: Store) -> tuple[list[QueueRow], list[WorkerInfo]]:
    """Every queue with its depth, oldest waiting run and whether it is served; and the
    live workers (read once for both)."""
    depths = store.reads.queue_depths()
    oldest = store.reads.queue_oldest_ms(sorted(depths))
    workers = store.reads.workers()
    served = {q for w in workers for q in w.queues}
    rows = [QueueRow(q, depth, oldest.get(q), q in served) for q, depth in sorted(depths.items())]
    return rows, workers
