"""The store's Celery side: the outbox the relay empties, the in-flight Celery runs that
count for overlap, and publishing to a Celery broker that is a Redis server.

Publishing to Redis is kombu's ``_put`` without kombu: ``LPUSH`` of the envelope onto the
queue's list for its priority step (``core.celery.redis_list``).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from scheduler.core.celery import OutboxEntry, Published, redis_list
from scheduler.errors import BrokerError, SchedError
from scheduler.store.client import Connection, redact, translated
from scheduler.store.keys import HISTORY_LEN


def schedule_of(run_id: str) -> str:
    return run_id.rpartition("@")[0]


class CeleryStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.keys = conn.keys

    def outbox(self, limit: int) -> tuple[list[OutboxEntry], dict[str, str]]:
        """The oldest entries waiting for the relay, and those it cannot read (run id ->
        why: written by another version of sched), which stay where they are."""
        ids = self.conn.call("zrange", self.keys.outbox, 0, limit - 1)
        if not ids:
            return [], {}
        bodies = self.conn.call("hmget", self.keys.outbox_messages, ids)
        entries, unreadable = [], {}
        for run_id, body in zip(ids, bodies, strict=True):
            if body is None:
                continue
            try:
                entries.append(OutboxEntry.loads(body))
            except (SchedError, ValueError, KeyError, TypeError) as exc:
                unreadable[run_id.decode()] = str(exc)
        return entries, unreadable

    def relayed(self, confirmed: Sequence[tuple[str, str]]) -> int:
        """Remove confirmed entries, recording each one's event: (run id, event JSON)."""
        if not confirmed:
            return 0
        keys = [self.keys.outbox, self.keys.outbox_messages]
        keys += [self.keys.history(schedule_of(run_id)) for run_id, _ in confirmed]
        args: list[str | int] = [HISTORY_LEN]
        for run_id, note in confirmed:
            args += [run_id, note]
        return int(self.conn.run("relayed", keys, args))

    def overdue(self, now_ms: int, limit: int) -> list[str]:
        """In-flight Celery runs whose end was not reported before their deadline."""
        ids = self.conn.call("zrangebyscore", self.keys.celery_deadlines, "-inf", now_ms, 0,
                             limit)  # fmt: skip
        return [i.decode() for i in ids]

    def report(self, run_id: str, what: str, note: str = "", success_ms: int | None = None,
               now_ms: int = 0) -> bool:  # fmt: skip
        """A Celery run ``started``, ``ended`` or is ``overdue``; True if counters moved."""
        name = schedule_of(run_id)
        keys = [self.keys.celery_inflight, self.keys.celery_deadlines, self.keys.state(name),
                self.keys.history(name)]  # fmt: skip
        args: list[str | int] = [run_id, what, note, HISTORY_LEN,
                                 "" if success_ms is None else success_ms, now_ms]  # fmt: skip
        return int(self.conn.run("celery_outcome", keys, args)) == 1


class RedisPublisher:
    """Publishes outbox entries to a Celery broker that is a Redis server (or another
    database of sched's own)."""

    def __init__(self, client: redis.Redis, url: str = "") -> None:
        self.url = url or "sched's own Redis"
        self.client = client

    def publish(self, entries: Sequence[OutboxEntry]) -> Published:
        pipe = self.client.pipeline(transaction=False)
        for entry in entries:
            pipe.lpush(redis_list(entry.queue, entry.priority), entry.envelope)
        try:
            with translated("publish"):
                replies = pipe.execute(raise_on_error=False)
        except Exception as exc:
            raise BrokerError(f"Celery broker {redact(self.url)}: {exc}") from None
        confirmed, refused = [], {}
        for entry, reply in zip(entries, replies, strict=True):
            if isinstance(reply, redis.ResponseError):
                refused[entry.run_id] = f"Redis refused it: {reply}"
            else:
                confirmed.append(entry.run_id)
        return Published(confirmed, refused)

    def close(self) -> None:
        if self.url != "sched's own Redis":  # the store's client is not ours to close
            self.client.close()
