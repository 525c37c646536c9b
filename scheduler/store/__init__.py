"""Every Redis command sched sends lives in this package; the rest of sched speaks plain
values (``values``, ``reads``) and sched's own errors.

``keys`` (the one table of key names) <- ``client`` (URLs, scripts, error translation) <-
one module per role: ``leader``, ``worker``, ``ops``, ``reads``. ``lua/`` holds one script
per atomic step. ``embedded`` starts a server of our own (the bundled Valkey, or Redis).
"""

from __future__ import annotations

import redis

from scheduler.store.celery import CeleryStore, RedisPublisher
from scheduler.store.client import Connection, connect, redact
from scheduler.store.keys import DEAD_MAX, DEAD_MAX_AGE_S, HISTORY_LEN, Keys
from scheduler.store.leader import LeaderStore
from scheduler.store.ops import OpsStore
from scheduler.store.reads import LeaderInfo, Reads
from scheduler.store.values import Claimed, Outcome, Run, ScheduleState, Step, Upsert
from scheduler.store.worker import WorkerStore


class Store:
    """One connection, and the store's role objects on it."""

    def __init__(self, client: redis.Redis, namespace: str = "sched") -> None:
        self.conn = Connection(client, namespace)
        self.client = client
        self.keys = self.conn.keys
        self.leader = LeaderStore(self.conn)
        self.ops = OpsStore(self.conn)
        self.reads = Reads(self.conn)
        self.celery = CeleryStore(self.conn)

    def identity(self) -> tuple[str, int | str, int]:
        """The server and database this store talks to, as ``redis_identity`` names them:
        a Celery broker URL naming the same is handed messages atomically."""
        kwargs = self.client.connection_pool.connection_kwargs
        db = int(kwargs.get("db", 0) or 0)
        if "path" in kwargs:
            return ("unix", str(kwargs["path"]), db)
        host = str(kwargs.get("host", "localhost")).lower()
        host = {"localhost": "127.0.0.1", "::1": "127.0.0.1"}.get(host, host)
        return (host, int(kwargs.get("port", 6379)), db)

    def worker(self, worker_id: str, dead_max: int = DEAD_MAX,
               dead_max_age_s: int = DEAD_MAX_AGE_S) -> WorkerStore:  # fmt: skip
        return WorkerStore(self.conn, worker_id, dead_max, dead_max_age_s)


__all__ = [
    "HISTORY_LEN",
    "Claimed",
    "Keys",
    "LeaderInfo",
    "Outcome",
    "RedisPublisher",
    "Run",
    "ScheduleState",
    "Step",
    "Store",
    "Upsert",
    "connect",
    "redact",
]
