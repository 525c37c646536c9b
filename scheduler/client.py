"""The Python client: schedules from application code.

    from scheduler import Client

    sched = Client("redis://localhost:6379/0")
    sched.add("report-acme", task="app.reports:send", cron="0 9 * * mon", timezone="Europe/Berlin",
              kwargs={"tenant": "acme"})
    sched.enqueue("app.mail:remind", delay=3600, kwargs={"user": 42})

Every field is the YAML field of the same name, with the same forms (durations as ``"90s"``,
``"1h30m"`` or whole seconds) and the same checks; a wrong one raises ``ScheduleError`` with
the YAML message, named by field path. Schedules added here are owned by the API: the
files cannot declare them, and this client cannot change the files'. The leader picks them
up within a second, with no reload.

Instants are Redis' clock, so that a client on a host whose clock is off computes the same
first fire time the leader would.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from scheduler.config.values import Checker
from scheduler.core.instants import from_ms
from scheduler.core.messages import Event
from scheduler.core.model import Schedule
from scheduler.ops import actions, schedules, views
from scheduler.ops.schedules import Definition, Page
from scheduler.store import Store, connect

__all__ = ["Client", "Definition", "Page"]


class Client:
    def __init__(self, redis_url: str, namespace: str = "sched", timeout_s: float = 5.0) -> None:
        self.store = Store(connect(redis_url, timeout_s), namespace)
        self._checker = Checker()  # what add_many checked, kept for its next calls

    def now(self) -> datetime:
        return from_ms(self.store.reads.server_ms())

    def close(self) -> None:
        self.store.client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schedules ------------------------------------------------------------------

    def add(self, name: str, *, task: str | None = None, cron: str | None = None,
            every: str | int | None = None, at: datetime | str | None = None,
            args: Iterable[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
            **fields: Any) -> Schedule:  # fmt: skip
        """A new schedule; ``celery_task=`` instead of ``task`` hands it to Celery. Values
        go to the parsers as given (a wrong type is reported, never converted)."""
        given = {"task": task, "cron": cron, "every": every, "at": at, "args": args,
                 "kwargs": kwargs, **fields}  # fmt: skip
        return schedules.add(self.store, name, given, self.now(), by="client")

    def add_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> builtins.list[str]:
        """Many schedules at once, pipelined: (name, fields) pairs, fields as for ``add``.
        All are checked before any is written. Per schedule: added, or exists."""
        return schedules.add_many(self.store, items, self.now(), by="client",
                                  check=self._checker)  # fmt: skip

    def update(self, name: str, **changes: Any) -> Schedule:
        """Change fields of a schedule this API owns; a field set to None is removed."""
        return schedules.update(self.store, name, changes, self.now(), by="client")

    def remove(self, name: str) -> None:
        schedules.remove(self.store, name, self.now(), by="client")

    def get(self, name: str) -> Definition:
        return schedules.get(self.store, name)

    def list(self, prefix: str | None = None, cursor: int = 0, count: int = 1000) -> Page:
        """A page of schedule names (files' and API's), from ``cursor`` (0 to start); the
        page's ``cursor`` continues, 0 when done."""
        return schedules.names(self.store, prefix or "", cursor, count)

    def names(self, prefix: str | None = None) -> Iterator[str]:
        """Every schedule name, page by page."""
        cursor = 0
        while True:
            page = self.list(prefix, cursor)
            yield from page.names
            cursor = page.cursor
            if not cursor:
                return

    # -- operating them -------------------------------------------------------------

    def pause(self, name: str) -> bool:
        return actions.pause(self.store, name, self.now(), by="client")

    def resume(self, name: str) -> bool:
        return actions.resume(self.store, name, self.now(), by="client").changed

    def trigger(self, name: str) -> str:
        """One run now, outside the schedule's timeline; its run id."""
        return actions.trigger(self.store, name, self.now(), by="client")

    def upcoming(self, name: str, count: int = 10) -> builtins.list[datetime]:
        [found] = views.upcoming_online(self.store, [name], count, self.now(), None)
        return [f.astimezone(UTC) for f in found.fires]

    def history(self, name: str, limit: int = 100) -> builtins.list[Event]:
        return views.history(self.store, name, limit)

    def enqueue(self, task: str, args: Iterable[Any] | None = None,
                kwargs: Mapping[str, Any] | None = None,
                at: datetime | None = None, delay: float | None = None, *,
                name: str | None = None, **fields: Any) -> Schedule:  # fmt: skip
        """One run of ``task`` at ``at``, after ``delay`` seconds, or now: a one-off
        schedule (``at:``), dispatched exactly once, kept in history. ``queue``, ``retry``,
        ``timeout`` and the other fields apply as for ``add``."""
        given = {"args": args, "kwargs": kwargs, **fields}
        return schedules.enqueue(self.store, task, self.now(), at, delay, given, name, "client")
