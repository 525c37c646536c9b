"""Operator actions on a running system: pause, resume, trigger, backfill, revive dead
letters, and plan (what a sync would change). The CLI is a thin layer over these."""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from scheduler.beat.sync import file_owned
from scheduler.core.celery import CeleryMessage, OutboxEntry, new_delivery_tag
from scheduler.core.durations import format_duration_s
from scheduler.core.instants import from_ms, to_ms, utc_text
from scheduler.core.messages import RunMessage, event
from scheduler.core.misfire import count_fires
from scheduler.core.model import Schedule
from scheduler.errors import BackfillError
from scheduler.ops.views import stored_schedule
from scheduler.store import Store
from scheduler.store.values import CounterFix, Run

MAX_BACKFILL_RUNS = 10_000


# ``by``: who acted, recorded with the event (an HTTP token's name); None from the CLI.


def pause(store: Store, name: str, now: datetime, by: str | None = None) -> bool:
    """Stop dispatching a schedule; False if it was already paused."""
    stored_schedule(store, name)
    return store.ops.set_paused(name, True, event("paused", now, by=by))


@dataclass(frozen=True)
class Resumed:
    changed: bool
    next_fire: datetime | None
    missed: int


def resume(store: Store, name: str, now: datetime, by: str | None = None) -> Resumed:
    """Continue from the next future fire time; the ones passed while paused are missed."""
    schedule, state = stored_schedule(store, name)
    if state is None or not state.paused:
        return Resumed(False, from_ms(state.next_ms) if state and state.next_ms else None, 0)
    missed, last_missed = 0, None
    if state.next_ms is not None:
        missed, last_missed = count_fires(schedule, from_ms(state.next_ms), now)
    next_fire = schedule.next_fire(now) if schedule.enabled else None
    next_ms = to_ms(next_fire) if next_fire else None
    note = event("resumed", now, missed=missed, by=by)
    last_ms = to_ms(last_missed) if last_missed else None
    changed = store.ops.set_paused(
        name, False, note, next_ms, schedule.due_ms(next_ms), missed, last_ms
    )
    return Resumed(changed, next_fire, missed)


def _run(
    schedule: Schedule, run_id: str, fire_at: datetime, now: datetime, origin: str,
    expires: bool = True,
) -> Run:  # fmt: skip
    if schedule.is_celery:
        return _celery_run(schedule, run_id, fire_at, now, expires)
    message = RunMessage.for_fire(schedule, run_id, fire_at, now, origin, epoch=0)
    if not expires:
        message = replace(message, expires_at=None)
    return Run(run_id, schedule.queue, message.score(to_ms(now)), message.dumps())


def _celery_run(schedule: Schedule, run_id: str, fire_at: datetime, now: datetime,
                expires: bool) -> Run:  # fmt: skip
    """An operator's run of a Celery schedule: an outbox entry, which the leader's relay
    publishes to the schedule's broker ('' stands for the leader's default)."""
    if not expires:
        schedule = replace(schedule, expires_s=None)
    origin = f"sched@{socket.gethostname()}"
    message = CeleryMessage.for_run(schedule, run_id, fire_at, utc_text(fire_at), origin)
    envelope = message.redis_envelope(new_delivery_tag())
    entry = OutboxEntry.of(message, run_id, schedule.celery_broker_url or "", envelope)
    return Run(run_id, schedule.queue, to_ms(now), entry.dumps())


def trigger(store: Store, name: str, now: datetime, by: str | None = None) -> str:
    """Enqueue one run now, with a run id of its own; the schedule's timeline is untouched."""
    schedule, _ = stored_schedule(store, name)
    run_id = f"{name}@trigger-{to_ms(now)}-{secrets.token_hex(4)}"
    run = _run(schedule, run_id, now, now, "trigger")
    note = event("triggered", now, run_id=run_id, fire_at=utc_text(now), by=by)
    store.ops.enqueue(name, run, note, outbox=schedule.is_celery)
    return run_id


@dataclass(frozen=True)
class Backfilled:
    enqueued: list[str]
    already: int
    expiring: int = 0  # fire times left out: past the schedule's `expires`, they would not run


def backfill(
    store: Store, name: str, start: datetime, until: datetime, now: datetime,
    ignore_expires: bool = False,
) -> Backfilled:  # fmt: skip
    """Enqueue every fire time in ``[start, until]``, each once however often this is repeated.

    A fire time already past the schedule's ``expires`` would only be recorded as expired:
    it is left out (and counted) unless ``ignore_expires``, and can be backfilled later."""
    if until > now:
        raise BackfillError(f"--until {utc_text(until)} is in the future; backfill is for the past")
    if until < start:
        raise BackfillError("--until is earlier than --from")
    schedule, _ = stored_schedule(store, name)
    fires = schedule.fire_times(start - timedelta(microseconds=1), until, MAX_BACKFILL_RUNS + 1)
    if len(fires) > MAX_BACKFILL_RUNS:
        raise BackfillError(
            f"the range holds more than {MAX_BACKFILL_RUNS} fire times; backfill at most "
            f"{MAX_BACKFILL_RUNS} at a time (narrow --from/--until)"
        )
    enqueued, already, expiring = [], 0, 0
    for fire_at in fires:
        fire_ms = to_ms(fire_at)
        expires_s = schedule.expires_s
        if not ignore_expires and expires_s and fire_at + timedelta(seconds=expires_s) < now:
            expiring += 1
            continue
        run_id = f"{name}@backfill-{fire_ms}"
        note = event("backfilled", now, run_id=run_id, fire_at=utc_text(fire_at))
        run = _run(schedule, run_id, fire_at, now, "backfill", expires=not ignore_expires)
        if store.ops.enqueue(name, run, note, backfill_ms=fire_ms, outbox=schedule.is_celery):
            enqueued.append(run_id)
        else:
            already += 1
    return Backfilled(enqueued, already, expiring)


def dead_retry(store: Store, run_id: str, now: datetime, by: str | None = None) -> bool:
    """Put a dead-lettered run back on its queue as attempt 1; False if it is not dead."""
    letter = store.reads.dead_letter(run_id)
    if letter is None:
        return False
    run = letter.run.revived(now)
    note = event("revived", now, run_id=run_id, fire_at=run.fire_at, by=by)
    revived = Run(run_id, run.queue, run.score(to_ms(now)), run.dumps())
    return store.ops.revive(revived, run.schedule, note)


def purge_dead_letter(store: Store, run_id: str, now: datetime, by: str | None = None) -> bool:
    """Delete one dead letter (recorded as ``purged`` in its schedule's history); False if
    there is none."""
    letter = store.reads.dead_letter(run_id)
    if letter is None:
        return False
    note = event("purged", now, run_id=run_id, fire_at=letter.run.fire_at, by=by)
    return store.ops.purge_dead_letter(run_id, letter.run.schedule, note)


def purge_dead(store: Store) -> int:
    """Delete every dead letter; how many there were."""
    return store.ops.purge_dead()


@dataclass(frozen=True)
class Change:
    kind: str  # "added", "removed", "changed", "conflict" (a name the API owns)
    name: str
    detail: str
    next_fire: datetime | None


def plan(store: Store, schedules: dict[str, Schedule], now: datetime) -> list[Change]:
    """What syncing ``schedules`` into Redis would change, without changing anything. The
    API's schedules are not the files' business: only a file naming one is reported."""
    stored = store.reads.definitions_of(sorted(file_owned(store.reads) | set(schedules)))
    states = store.reads.states(sorted(set(stored) & set(schedules)))
    changes = []
    for name in sorted(set(schedules) | set(stored)):
        local = schedules.get(name)
        owner = stored[name].get("owner", "files") if name in stored else "files"
        if local is None:
            changes.append(Change("removed", name, "no longer in the files", None))
            continue
        if owner != "files":
            changes.append(Change("conflict", name, "the API owns a schedule of this name: "
                                  "the sync refuses this one", None))  # fmt: skip
            continue
        if name not in stored:
            if not local.enabled:
                changes.append(Change("added", name, f"{local.describe_trigger()}, disabled", None))
            else:
                changes.append(Change("added", name, local.describe_trigger(),
                                      local.first_fire(now)))  # fmt: skip
            continue
        if stored[name].get("digest") == local.digest():
            continue
        before = Schedule.from_json(stored[name]["schedule"])
        fields = field_changes(before.shown(), local.shown())
        state = states.get(name)
        if before.trigger_key() != local.trigger_key():
            next_fire = local.first_fire(now, state.settled() if state else ())
            detail = f"{'; '.join(fields)} (trigger changed: next fire recomputed)"
        else:
            next_fire = from_ms(state.next_ms) if state and state.next_ms else None
            detail = f"{'; '.join(fields)} (next fire kept)"
        changes.append(Change("changed", name, detail, next_fire))
    return changes


# Stored names of fields as users write them in YAML, with durations in YAML's form.
_YAML_NAMES = {"every_s": "every", "timeout_s": "timeout", "expires_s": "expires",
               "jitter_s": "jitter", "misfire_grace_s": "misfire_grace"}  # fmt: skip


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``field: old -> new`` for each field that differs, by its YAML name."""
    out = []
    for key in sorted(after, key=lambda k: _YAML_NAMES.get(k, k)):
        if before.get(key) == after[key]:
            continue
        name = _YAML_NAMES.get(key, key)
        show = _duration_text if key in _YAML_NAMES else _json_text
        out.append(f"{name}: {show(before.get(key))} -> {show(after[key])}")
    return out


def _duration_text(value: Any) -> str:
    return "none" if value is None else format_duration_s(int(value))


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))


def repair(store: Store) -> list[CounterFix]:
    """Recompute the overlap counters of every schedule from the runs that exist."""
    return store.ops.repair_counters()
