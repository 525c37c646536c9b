"""Schedules owned by the API: add, update, remove and list them at run time.

An API schedule lives in Redis only. Its definition is written with the same script as a
file's (``upsert.lua``) and the same first fire time rule, so the leader, which reads the
API's definitions of what is due from Redis, dispatches it within one tick of the call and
with the same compare-and-set: exactly once per fire time. A schedule belongs to the files
or to the API, never both; each refuses the other's.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from scheduler.config.values import Checker, Copy, clean, plain, schedule_from
from scheduler.core.collector import collector_paused
from scheduler.core.instants import to_ms, utc_text
from scheduler.core.jitter import due_ms
from scheduler.core.messages import CopyTemplate, definition_and_digest, event
from scheduler.core.model import Schedule
from scheduler.errors import (
    OwnershipError,
    ScheduleExistsError,
    UnknownScheduleError,
    UsageError,
)
from scheduler.store import Store, Upsert
from scheduler.store.values import ScheduleState

API = "api"
WRITERS = 2  # add_many's chunks in flight at once


@dataclass(frozen=True)
class Definition:
    """A stored schedule: what it is, who owns it, and where it came from."""

    schedule: Schedule
    owner: str  # files | api
    source: str  # file:line, or api
    fields: dict[str, Any]  # the API's fields as given ({} for the files')
    state: ScheduleState | None


def _upsert(schedule: Schedule, fields: Mapping[str, Any], now: datetime, create: bool = False,
            update: bool = False, settled: Iterable[datetime] = (), by: str | None = None,
            firsts: dict[str, int | None] | None = None,
            note: str | None = None) -> Upsert:  # fmt: skip
    # Used only when the trigger is new or changed (upsert.lua keeps an unchanged one's).
    # ``firsts``: first fire times by trigger within one batch (the same trigger at the
    # same instant has the same one); ``note``: the history event, when already made.
    trigger_key, next_ms = _first(schedule, now, settled, firsts)
    body, digest = definition_and_digest(schedule, API, dict(fields))
    if note is None:
        note = event("added" if create else "changed", now, by=by)
    return Upsert(schedule.name, body, digest, trigger_key, next_ms, schedule.due_ms(next_ms),
                  API, API, create, update, note)  # fmt: skip


def _first(schedule: Schedule, now: datetime, settled: Iterable[datetime] = (),
           firsts: dict[str, int | None] | None = None) -> tuple[str, int | None]:  # fmt: skip
    """The trigger key and the first fire time (ms) it gives at ``now``, from ``firsts`` when
    the batch has met the trigger already."""
    trigger_key = schedule.trigger_key()
    if firsts is not None and trigger_key in firsts:
        return trigger_key, firsts[trigger_key]
    next_fire = schedule.first_fire(now, list(settled))
    next_ms = to_ms(next_fire) if next_fire else None
    if firsts is not None:
        firsts[trigger_key] = next_ms
    return trigger_key, next_ms


def _check(name: str, result: str) -> str:
    if result.startswith("conflict:"):
        source = result.partition(":")[2]
        raise OwnershipError(f"schedule {name!r} is defined in {source}: change it there, "
                             "the API cannot")  # fmt: skip
    if result == "exists":
        raise ScheduleExistsError(f"schedule {name!r} exists; use update to change it")
    if result == "missing":
        raise UnknownScheduleError(f"no schedule named {name!r}")
    return result


def add(store: Store, name: str, fields: Mapping[str, Any], now: datetime,
        by: str | None = None) -> Schedule:  # fmt: skip
    """A new API schedule; ScheduleError if a field is wrong, ScheduleExistsError if the
    name is taken, OwnershipError if the files own it."""
    given = clean(fields)
    schedule = schedule_from(name, given)
    [result] = store.leader.upsert("", [_upsert(schedule, given, now, create=True, by=by)])
    _check(name, result)
    return schedule


def add_many(store: Store, items: Iterable[tuple[str, Mapping[str, Any]]], now: datetime,
             chunk: int = 1000, by: str | None = None,
             check: Checker | None = None) -> list[str]:  # fmt: skip
    """Add many API schedules, ``chunk`` to a round trip; every one is checked before any
    is written, so a bad one writes nothing. Returns per schedule added, or exists. A name
    the files own is not written and raises OwnershipError once every other one is.

    While one chunk is written (Redis' time), the next is made (Python's): a second
    thread waits on the round trip, which leaves the interpreter free. ``check``: a Checker
    kept from earlier calls (what it has checked it need not check again)."""
    with collector_paused():
        return _add_many(store, items, now, chunk, by, check or Checker())


def _add_many(store: Store, items: Iterable[tuple[str, Mapping[str, Any]]], now: datetime,
              chunk: int, by: str | None, check: Checker) -> list[str]:  # fmt: skip
    checked: list[_Checked] = []
    for name, fields in items:
        given = clean(fields)
        like = check.like(name, given)
        checked.append((name, given, *like) if like else (name, given, check(name, given), None))
    make = _Maker(now, event("added", now, by=by))
    # Two chunks in flight keep Redis busy while it reads the next one; a name given twice
    # must meet Redis in order (the first is added, the second exists), so then one.
    in_flight = WRITERS if len({name for name, *_ in checked}) == len(checked) else 1
    results: list[str] = []
    chunks = ([make(*item) for item in checked[start : start + chunk]]
              for start in range(0, len(checked), chunk))  # fmt: skip
    for _, written in store.leader.upsert_chunks("", chunks, in_flight):
        results += written
    for (name, *_), result in zip(checked, results, strict=True):
        if result.startswith("conflict:"):
            _check(name, result)  # the first, once the others are written
    return results


# name, fields as given, the schedule (or the template it is a copy of), and the copy's
# arguments (None: the schedule is itself)
_Checked = tuple[str, dict[str, Any], Schedule, Copy | None]


class _Maker:
    """The Upsert of each checked schedule of one add_many. A copy of a template (the same
    fields but name and arguments) takes the template's trigger and first fire time, and
    its definition is the template's canonical JSON with its own three spliced in."""

    def __init__(self, now: datetime, note: str) -> None:
        self.now, self.note = now, note
        self.firsts: dict[str, int | None] = {}
        # by template (alive while add_many holds it, so its id is its own)
        self.templates: dict[int, tuple[CopyTemplate | None, str, int | None]] = {}

    def __call__(self, name: str, given: dict[str, Any], schedule: Schedule,
                 copy: Copy | None) -> Upsert:  # fmt: skip
        if copy is None:
            return _upsert(schedule, given, self.now, create=True, firsts=self.firsts,
                           note=self.note)  # fmt: skip
        known = self.templates.get(id(schedule))
        if known is None:
            known = (CopyTemplate.of(schedule, API, API),
                     *_first(schedule, self.now, (), self.firsts))  # fmt: skip
            self.templates[id(schedule)] = known
        template, trigger_key, next_ms = known
        if template is None:
            whole = replace(schedule, name=name, args=tuple(copy.args), kwargs=copy.kwargs)
            return _upsert(whole, given, self.now, create=True, firsts=self.firsts, note=self.note)
        body, digest = template.definition(name, copy.args_text, copy.kwargs_text, given)
        return Upsert(name, body, digest, trigger_key, next_ms,
                      due_ms(name, schedule.jitter_s, next_ms), API, API, True, False,
                      self.note)  # fmt: skip


def update(store: Store, name: str, changes: Mapping[str, Any], now: datetime,
           by: str | None = None) -> Schedule:  # fmt: skip
    """Change fields of an API schedule (None removes a field). A changed trigger gets a
    new next fire time, as a changed file does; anything else keeps it."""
    current = get(store, name)
    if current.owner != API:
        raise OwnershipError(f"schedule {name!r} is defined in {current.source}: change it "
                             "there, the API cannot")  # fmt: skip
    merged = {**current.fields, **{k: plain(v) for k, v in changes.items()}}
    given = clean(merged)
    schedule = schedule_from(name, given)
    settled = current.state.settled() if current.state else []
    [result] = store.leader.upsert("", [_upsert(schedule, given, now, update=True,
                                                settled=settled, by=by)])  # fmt: skip
    _check(name, result)
    return schedule


def remove(store: Store, name: str, now: datetime, by: str | None = None) -> None:
    """Remove an API schedule. Runs already enqueued still run; its state and history stay
    a week as a tombstone, as for a schedule removed from the files."""
    result = store.leader.remove("", name, to_ms(now), API, event("removed", now, by=by))
    if result == "0":
        raise UnknownScheduleError(f"no schedule named {name!r}")
    _check(name, result)


def get(store: Store, name: str) -> Definition:
    body = store.reads.definition(name)
    if body is None:
        raise UnknownScheduleError(f"no schedule named {name!r}")
    owner = body.get("owner", "files")
    source = body.get("source", "files")
    schedule = replace(Schedule.from_json(body["schedule"]), source=source)
    state = store.reads.states([name]).get(name)
    return Definition(schedule, owner, source, body.get("fields", {}), state)


@dataclass(frozen=True)
class Page:
    names: list[str]
    cursor: int  # pass it back for the next page; 0 when this was the last


def names(store: Store, prefix: str = "", cursor: int = 0, count: int = 1000) -> Page:
    found, after = store.reads.scan_names(prefix, cursor, count)
    return Page(found, after)


def one_off_name(now: datetime) -> str:
    """A unique name for an ``enqueue``d run: when it was asked for, and a random part."""
    return f"once-{utc_text(now)[:19].replace(':', '').replace('-', '')}-{secrets.token_hex(4)}"


def enqueue(store: Store, task: str, now: datetime, at: datetime | None = None,
            delay_s: float | None = None, fields: Mapping[str, Any] | None = None,
            name: str | None = None, by: str | None = None) -> Schedule:  # fmt: skip
    """One run of ``task``: at ``at``, after ``delay_s``, or now. It is a one-off API
    schedule (``at:``), so it is dispatched exactly once and shows in history."""
    if at is not None and delay_s is not None:
        raise UsageError("enqueue: give at or delay, not both")
    when = at if at is not None else now + timedelta(seconds=delay_s or 0)
    if when.microsecond:  # at: is whole seconds; never earlier than asked
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    given = {**(fields or {}), "task": task, "at": when}
    return add(store, name or one_off_name(now), given, now, by)
