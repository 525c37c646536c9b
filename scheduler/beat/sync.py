"""Make Redis hold exactly the schedules we were given, keeping the state of unchanged ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from scheduler.core.instants import to_ms
from scheduler.core.messages import definition_text
from scheduler.core.model import Schedule, digest_of
from scheduler.store.leader import LeaderStore
from scheduler.store.reads import Reads
from scheduler.store.values import Upsert

log = logging.getLogger("sched.scheduler")

SYNC_CHUNK = 1000
LOG_EACH_UP_TO = 20  # more changes than this are logged as counts


def sync(
    store: LeaderStore, reads: Reads, token: str, schedules: Mapping[str, Schedule],
    now: datetime, progress: Callable[[], None] = lambda: None,
) -> dict[str, str]:  # fmt: skip
    """Sync and return name -> added/changed/updated/removed.

    Works in chunks, so syncing 100,000 schedules needs neither 100,000 round trips nor
    every stored definition in memory at once. While one chunk is written (Redis' time),
    the next is read and made (Python's): a second thread waits on the write. Each name is
    in one chunk only, so no read depends on a write still in flight.
    """
    report: dict[str, str] = {}
    names = list(schedules)

    def chunks() -> Iterator[list[Upsert]]:
        for start in range(0, len(names), SYNC_CHUNK):
            progress()
            yield _changed(reads, schedules, names[start : start + SYNC_CHUNK], now)

    for items, results in store.upsert_chunks(token, chunks()):
        report.update(zip((i.name for i in items), results, strict=True))
    for name in file_owned(reads) - set(schedules):
        if store.remove(token, name, to_ms(now), "files") == "1":
            report[name] = "removed"
    _log(report)
    return report


def _changed(reads: Reads, schedules: Mapping[str, Schedule], chunk: list[str],
             now: datetime) -> list[Upsert]:  # fmt: skip
    """What to write for ``chunk``: each schedule whose definition or trigger differs from
    what Redis holds (or that Redis does not hold, or holds as a tombstone)."""
    states = reads.states(chunk)
    items = []
    for name in chunk:
        schedule = schedules[name]
        canonical, state = schedule.canonical(), states.get(name)
        digest = digest_of(canonical)
        trigger_key = schedule.trigger_key()
        if (
            state is not None
            and not state.removed
            and (state.digest, state.trigger_key) == (digest, trigger_key)
        ):
            continue
        next_fire = schedule.first_fire(now, state.settled() if state else ())
        next_ms = to_ms(next_fire) if next_fire else None
        body = definition_text(canonical, digest, "files", schedule.source or "files")
        items.append(Upsert(name, body, digest, trigger_key, next_ms, schedule.due_ms(next_ms),
                            "files", schedule.source))  # fmt: skip
    return items


def file_owned(reads: Reads) -> set[str]:
    """The schedules the files own. Redis written before the API existed has no owner sets:
    every definition there came from the files."""
    names = reads.owned("files")
    if not names and not reads.owned("api"):
        return reads.names()
    return names


def _log(report: dict[str, str]) -> None:
    for name, what in sorted(report.items()):
        if what.startswith("conflict:"):
            log.error("schedule %s is not synced: the API owns a schedule of that name (sched "
                      "add); remove one of the two", name)  # fmt: skip
    changed = {name: what for name, what in report.items() if what != "updated"}
    if len(changed) <= LOG_EACH_UP_TO:
        for name, what in sorted(changed.items()):
            log.info("schedule %s %s", name, what)
        return
    counts = {what: list(changed.values()).count(what) for what in set(changed.values())}
    log.info("synced schedules: %s", ", ".join(f"{n} {w}" for w, n in sorted(counts.items())))


def owner_conflicts(reads: Reads, schedules: Mapping[str, Schedule]) -> list[str]:
    """One message per schedule the files declare under a name the API owns."""
    owned = reads.owned_among("api", sorted(schedules))
    return [
        f"{schedules[name].source}: schedules.{name}: the API owns a schedule of this name "
        "(added with sched add or Client.add); rename this one, or remove the API's first "
        f"(sched remove {name})"
        for name in sorted(set(schedules) & owned)
    ]
