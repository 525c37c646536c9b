"""Schedules for people browsing them (the web page and its API): a page at a time, filtered
and sorted in Redis' order where it can be, so 100,000 schedules cost one page's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.core.describe import describe
from scheduler.core.instants import ms_text
from scheduler.core.messages import Event
from scheduler.core.model import Schedule
from scheduler.ops.views import first_fire, stored_with_owner
from scheduler.store import Store
from scheduler.store.values import ScheduleState

SORTS = ("name", "next")
PAGE_MAX = 500
MATCH_MAX = 100_000  # names matched and sorted for one page (every schedule, at the limit)


@dataclass(frozen=True)
class Summary:
    name: str
    in_words: str
    written: str  # the trigger as written: a cron expression or `every 10s`
    timezone: str
    enabled: bool
    paused: bool
    next_fire_ms: int | None
    last_fire_ms: int | None
    runs: int
    missed: int
    last_event: Event | None

    def to_json(self) -> dict[str, Any]:
        last = self.last_event
        latest = None if last is None else {"event": last.event, "at": last.at}
        return {"name": self.name, "trigger": self.written, "in_words": self.in_words,
                "timezone": self.timezone, "enabled": self.enabled, "paused": self.paused,
                "next_fire_at": ms_text(self.next_fire_ms),
                "last_fire_at": ms_text(self.last_fire_ms), "runs": self.runs,
                "missed": self.missed, "last_event": latest}  # fmt: skip


@dataclass(frozen=True)
class Page:
    total: int  # schedules matching the filter
    offset: int
    rows: list[Summary]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "offset": self.offset,
                "schedules": [row.to_json() for row in self.rows]}  # fmt: skip


def browse(store: Store, query: str = "", sort: str = "name", offset: int = 0,
           limit: int = 100) -> Page:  # fmt: skip
    """One page of schedules whose name contains ``query`` (any case), by name or by next
    fire time (schedules that never fire again last)."""
    limit = max(1, min(limit, PAGE_MAX))
    offset = max(0, offset)
    if sort == "next" and not query:
        due = store.reads.due_count()
        names = store.reads.by_due(offset, limit) if offset < due else []
        if len(names) < limit:  # then the ones that never fire again, by name
            never = sorted(store.reads.names() - set(store.reads.by_due(0, due)))
            names += never[max(0, offset - due) : max(0, offset - due) + limit - len(names)]
        total = store.reads.count()
    else:
        wanted = query.lower()
        matching = sorted(n for n in store.reads.names() if wanted in n.lower())[:MATCH_MAX]
        total = len(matching)
        if sort == "next":
            states = store.reads.states(matching)
            matching.sort(key=lambda n: (_next(states.get(n)) is None, _next(states.get(n)) or 0,
                                         n))  # fmt: skip
        names = matching[offset : offset + limit]
    return Page(total, offset, summaries(store, names))


def _next(state: ScheduleState | None) -> int | None:
    return None if state is None else state.next_ms


def summaries(store: Store, names: list[str]) -> list[Summary]:
    definitions = store.reads.definitions_of(names)
    states = store.reads.states(names)
    latest = store.reads.latest_events(names)
    rows = []
    for name in names:
        if name not in definitions:
            continue  # removed meanwhile
        schedule = Schedule.from_json(definitions[name]["schedule"])
        state = states.get(name)
        rows.append(summary(schedule, state, latest.get(name)))
    return rows


def summary(schedule: Schedule, state: ScheduleState | None, last: Event | None) -> Summary:
    written = f"cron {schedule.cron}" if schedule.cron else schedule.describe_trigger()
    words = written if schedule.at else describe(schedule.cron, schedule.every_s)
    return Summary(
        schedule.name, words, written, schedule.timezone,
        schedule.enabled, bool(state and state.paused), _next(state),
        None if state is None else state.last_fire_ms, 0 if state is None else state.runs,
        0 if state is None else state.missed, last,
    )  # fmt: skip


@dataclass(frozen=True)
class Detail:
    schedule: Schedule
    summary: Summary
    upcoming: list[datetime]
    history: list[Event]
    source: str  # "path:line" of its definition, "api", or '' where no line is known
    owner: str = "files"  # files | api

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "definition": self.schedule.shown(),
                "owner": self.owner, "source": self.source or None,
                "upcoming": [ms_text(int(t.timestamp() * 1000)) for t in self.upcoming],
                "history": [e.to_json() for e in self.history]}  # fmt: skip


def detail(store: Store, name: str, now: datetime, count: int = 10, source: str = "") -> Detail:
    """One schedule: its summary, next ``count`` fire times, history, definition and owner.
    ``source`` is where this process loaded it from; the stored source is used otherwise."""
    schedule, state, (owner, stored_source) = stored_with_owner(store, name)
    history = store.reads.history(name)
    first = first_fire(schedule, state, now)
    fires = list(schedule.fires_from(first, None, count)) if schedule.enabled else []
    row = summary(schedule, state, history[0] if history else None)
    known = source or (stored_source if stored_source != "files" else "")
    return Detail(schedule, row, fires, history, known, owner)
