"""What operators and loops read: leader, definitions, state, queues, history, dead letters.

Read models are plain values (``ScheduleState``, ``Event``, ``DeadLetter``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.core.instants import ms_text
from scheduler.core.messages import PRIORITY_SLOT, DeadLetter, Event, RunMessage, loads
from scheduler.core.model import PRIORITY_MAX, PRIORITY_MIN
from scheduler.store.client import Call, Connection, check_replies, translated
from scheduler.store.keys import HISTORY_LEN
from scheduler.store.values import ScheduleState, int_or_none

STATES_PER_CALL = 1000  # state hashes read by one script call (Redis runs nothing else meanwhile)


@dataclass(frozen=True)
class LeaderInfo:
    """Who leads; identity, since_ms and ttl_ms are None while nobody holds the lease."""

    identity: str | None
    epoch: int
    since_ms: int | None
    ttl_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {"identity": self.identity, "epoch": self.epoch, "since_ms": self.since_ms,
                "ttl_ms": self.ttl_ms}  # fmt: skip


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    host: str
    queues: tuple[str, ...]
    concurrency: int
    pool: str
    in_flight: int  # runs it holds: claimed, running or about to start
    last_heartbeat_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.worker_id, "host": self.host, "queues": list(self.queues),
                "concurrency": self.concurrency, "pool": self.pool,
                "in_flight": self.in_flight,
                "last_heartbeat_at": ms_text(self.last_heartbeat_ms)}  # fmt: skip


class Reads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.keys = conn.keys

    def replicas(self) -> list[tuple[str, int]]:
        """Scheduler replicas seen in the last minute, with when (ms), the latest first."""
        rows = self.conn.call("zrevrange", self.keys.replicas, 0, 99, True)
        return [(identity.decode(), int(ms)) for identity, ms in rows]

    def ping(self) -> None:
        """Raise StoreError unless Redis answers."""
        self.conn.call("ping")

    def leader(self) -> LeaderInfo:
        pipe = self.conn.pipeline()
        pipe.hgetall(self.keys.leader)
        pipe.pttl(self.keys.lease)
        pipe.get(self.keys.lease)
        with translated("leader"):
            info, ttl_ms, token = pipe.execute()
        info = {k.decode(): v.decode() for k, v in info.items()}
        held = token is not None and info.get("token") == token.decode()
        return LeaderInfo(
            identity=info.get("identity") if held else None,
            epoch=int(info.get("epoch", 0)),
            since_ms=int(info["since_ms"]) if held and "since_ms" in info else None,
            ttl_ms=int(ttl_ms) if held else None,
        )

    def definitions(self) -> dict[str, dict[str, Any]]:
        raw = self.conn.call("hgetall", self.keys.defs)
        return {k.decode(): loads("definition", v) for k, v in raw.items()}

    def definitions_of(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The definitions of ``names`` that exist."""
        if not names:
            return {}
        rows = self.conn.call("hmget", self.keys.defs, list(names))
        return {name: loads("definition", row)
                for name, row in zip(names, rows, strict=True) if row is not None}  # fmt: skip

    def definition(self, name: str) -> dict[str, Any] | None:
        raw = self.conn.call("hget", self.keys.defs, name)
        return None if raw is None else loads("definition", raw)

    def latest_events(self, names: Sequence[str]) -> dict[str, Event | None]:
        """Each schedule's newest history event (None when it has none), in one round trip."""
        pipe = self.conn.pipeline()
        for name in names:
            pipe.lindex(self.keys.history(name), 0)
        with translated("latest events"):
            rows = pipe.execute()
        return {name: None if row is None else Event.loads(row)
                for name, row in zip(names, rows, strict=True)}  # fmt: skip

    def by_due(self, offset: int, count: int) -> list[str]:
        """Schedule names in the order they are due (the ones that never fire again are not
        in this order)."""
        rows = self.conn.call("zrange", self.keys.due, offset, offset + count - 1)
        return [row.decode() for row in rows]

    def due_count(self) -> int:
        return int(self.conn.call("zcard", self.keys.due))

    def count(self) -> int:
        """How many schedules Redis holds a definition for."""
        return int(self.conn.call("hlen", self.keys.defs))

    def server_ms(self) -> int:
        """Redis' clock, in ms: the time the API computes first fire times with."""
        seconds, micros = self.conn.call("time")
        return int(seconds) * 1000 + int(micros) // 1000

    def scan_names(self, prefix: str, cursor: int, count: int) -> tuple[list[str], int]:
        """About ``count`` schedule names starting with ``prefix`` from ``cursor``, and the
        cursor to continue from (0: done). Redis' HSCAN order: stable across pages."""
        pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"
        cursor, found = self.conn.call("hscan", self.keys.defs, cursor, pattern, count)
        return sorted(name.decode() for name in found), int(cursor)

    def owned_among(self, owner: str, names: Sequence[str]) -> set[str]:
        """Which of ``names`` ``owner`` holds: one round trip, whatever it holds in all."""
        if not names:
            return set()
        flags = self.conn.call("smismember", self.keys.owned(owner), list(names))
        return {name for name, flag in zip(names, flags, strict=True) if flag}

    def owned(self, owner: str) -> set[str]:
        """The names of the schedules ``owner`` (files or api) holds."""
        return {name.decode() for name in self.conn.call("smembers", self.keys.owned(owner))}

    def names(self) -> set[str]:
        """The names of every schedule Redis holds a definition for."""
        return {name.decode() for name in self.conn.call("hkeys", self.keys.defs)}

    def states(self, names: Sequence[str]) -> dict[str, ScheduleState]:
        """The stored state of each of ``names`` that has one, STATES_PER_CALL to a script
        call, all in one round trip."""
        if not names:
            return {}
        calls: list[Call] = [
            ("states", [self.keys.state(name) for name in names[i : i + STATES_PER_CALL]], [])
            for i in range(0, len(names), STATES_PER_CALL)
        ]
        replies = self.conn.run_all(calls)
        check_replies(replies, "states")
        rows = (row for reply in replies for row in reply)
        return {name: _state(dict(zip(row[::2], row[1::2], strict=True)))
                for name, row in zip(names, rows, strict=True) if row}  # fmt: skip

    def queue_depths(self) -> dict[str, int]:
        names = sorted(n.decode() for n in self.conn.call("smembers", self.keys.queues))
        pipe = self.conn.pipeline()
        for name in names:
            pipe.zcard(self.keys.queue(name))
        with translated("queue depths"):
            return dict(zip(names, (int(x) for x in pipe.execute()), strict=True))

    def queue_oldest_ms(self, queues: Sequence[str]) -> dict[str, int | None]:
        """Per queue, when its longest-waiting run was put on it (ms; None when empty).

        A queue is ordered by priority first, so the oldest run is the first of some
        priority band: one lookup per band, all in one round trip."""
        bands = range(PRIORITY_MAX - PRIORITY_MIN + 1)
        pipe = self.conn.pipeline()
        for queue in queues:
            for band in bands:
                low = band * PRIORITY_SLOT
                pipe.zrangebyscore(self.keys.queue(queue), low, f"({low + PRIORITY_SLOT}",
                                   start=0, num=1, withscores=True)  # fmt: skip
        with translated("queue ages"):
            replies = iter(pipe.execute())
        oldest: dict[str, int | None] = {}
        for queue in queues:
            firsts = [int(score) % PRIORITY_SLOT for band in bands
                      for _, score in next(replies)]  # fmt: skip
            oldest[queue] = min(firsts, default=None)
        return oldest

    def queued_runs(self, queue: str) -> list[RunMessage]:
        """Every message waiting on a queue, in the order workers will take them."""
        ids = self.conn.call("zrange", self.keys.queue(queue), 0, -1)
        if not ids:
            return []
        bodies = self.conn.call("hmget", self.keys.runs, ids)
        return [RunMessage.loads(body) for body in bodies if body is not None]

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Newest first."""
        ids = self.conn.call("zrevrange", self.keys.dead_index, 0, limit - 1)
        if not ids:
            return []
        bodies = self.conn.call("hmget", self.keys.dead, ids)
        return [DeadLetter.loads(body) for body in bodies if body is not None]

    def workers(self) -> list[WorkerInfo]:
        """Workers that heartbeat recently enough to still have a description, by id."""
        beats = self.conn.call("zrange", self.keys.workers, 0, -1, False, True)
        if not beats:
            return []
        pipe = self.conn.pipeline()
        for worker_id, _ in beats:
            pipe.get(self.keys.worker_info(worker_id.decode()))
            pipe.scard(self.keys.worker(worker_id.decode()))
        with translated("workers"):
            replies = pipe.execute()
        out = []
        for (worker_id, beat_ms), info, held in zip(beats, replies[0::2], replies[1::2],
                                                     strict=True):  # fmt: skip
            if info is None:
                continue  # silent for three worker timeouts: gone
            described = json.loads(info)
            out.append(WorkerInfo(worker_id.decode(), described.get("host", ""),
                                  tuple(described.get("queues", ())),
                                  int(described.get("concurrency", 0)),
                                  described.get("pool", ""), int(held), int(beat_ms)))  # fmt: skip
        return out

    def dead_counts(self) -> tuple[int, int]:
        """Dead letters kept, and dropped by the bounds so far."""
        pipe = self.conn.pipeline()
        pipe.zcard(self.keys.dead_index)
        pipe.get(self.keys.dead_dropped)
        with translated("dead counts"):
            kept, dropped = pipe.execute()
        return int(kept), int(dropped or 0)

    def celery_counts(self) -> tuple[int, int | None, int]:
        """Celery messages in the outbox, ms the oldest was written (None when empty), and
        Celery runs in flight (handed over under an overlap rule, end not yet reported)."""
        pipe = self.conn.pipeline()
        pipe.zcard(self.keys.outbox)
        pipe.zrange(self.keys.outbox, 0, 0, withscores=True)
        pipe.hlen(self.keys.celery_inflight)
        with translated("celery counts"):
            waiting, oldest, inflight = pipe.execute()
        return int(waiting), int(oldest[0][1]) if oldest else None, int(inflight)

    def dead_letter(self, run_id: str) -> DeadLetter | None:
        body = self.conn.call("hget", self.keys.dead, run_id)
        return None if body is None else DeadLetter.loads(body)

    def history(self, name: str, limit: int = HISTORY_LEN) -> list[Event]:
        rows = self.conn.call("lrange", self.keys.history(name), 0, limit - 1)
        return [Event.loads(row) for row in rows]


def _state(row: dict[bytes, bytes]) -> ScheduleState:
    trigger_key = row.get(b"trigger_key")
    return ScheduleState(
        next_ms=int_or_none(row.get(b"next_ms")),
        due_ms=int_or_none(row.get(b"due_ms")),
        trigger_key=trigger_key.decode() if trigger_key is not None else None,
        paused=row.get(b"paused") == b"1",
        runs=int_or_none(row.get(b"runs")) or 0,
        last_fire_ms=int_or_none(row.get(b"last_fire_ms")),
        missed=int_or_none(row.get(b"missed")) or 0,
        last_missed_ms=int_or_none(row.get(b"last_missed_ms")),
        digest=row[b"digest"].decode() if b"digest" in row else None,
        duplicates=int_or_none(row.get(b"duplicates")) or 0,
        skipped=int_or_none(row.get(b"skipped")) or 0,
        active=int_or_none(row.get(b"active")) or 0,
        waiting=int_or_none(row.get(b"waiting")) or 0,
        removed=b"removed_ms" in row,
        last_success_ms=int_or_none(row.get(b"last_success_ms")),
    )
