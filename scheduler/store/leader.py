"""The leader's side of the store: the lease, syncing definitions, and dispatch."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import redis

from scheduler.errors import SchedError
from scheduler.store.client import Call, Connection, Packed, check_replies, refusal
from scheduler.store.keys import HISTORY_LEN, TOMBSTONE_S
from scheduler.store.values import Step, Upsert, ms_arg

# Definitions per script call, several calls to a round trip. 250 (about 180 KB of
# arguments, 5 ms of Redis) cost Redis a third less CPU a definition than 1,000 did: a
# call's large buffers are where its allocator spent its time. Others wait less, too.
UPSERT_BATCH = 250


class LeaderStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.keys = conn.keys

    def acquire(self, token: str, ttl_ms: int, identity: str, now_ms: int) -> int:
        """Take or renew the lease; the lease's epoch, or 0 if someone else holds it."""
        return self.grant(token, ttl_ms, identity, now_ms)[0]

    def grant(self, token: str, ttl_ms: int, identity: str, now_ms: int) -> tuple[int, float]:
        """``acquire``, with Redis' time in ms (to the microsecond) when it answered."""
        keys = [self.keys.lease, self.keys.epoch, self.keys.leader, self.keys.replicas]
        epoch, redis_ms, micros = self.conn.run("acquire", keys, [token, ttl_ms, identity, now_ms])
        return int(epoch), int(redis_ms) + int(micros) / 1000

    def release(self, token: str) -> bool:
        return bool(self.conn.run("release", [self.keys.lease, self.keys.leader], [token]))

    def upsert(self, token: str, items: Sequence[Upsert]) -> list[str]:
        """Write definitions, UPSERT_BATCH to a script call, the calls pipelined in one round
        trip; per item added, changed, restored or updated, or (nothing written for it)
        conflict:<source of the other owner>, exists, missing. ``token`` '' for the API (no
        lease)."""
        k = self.keys
        calls: list[Call] = []
        for start in range(0, len(items), UPSERT_BATCH):
            batch = items[start : start + UPSERT_BATCH]
            keys = [k.lease, k.defs, k.due, k.owned("files"), k.owned("api"), k.counting_ready]
            # what items share (all of a sync's, all of an add_many's), sent once
            profiles: dict[tuple[str, bool, bool, str], int] = {}
            args: list[str | int] = []
            for item in batch:
                keys += [k.state(item.name), k.history(item.name)]
                shared = (item.owner, item.create_only, item.update_only, item.event)
                profile = profiles.setdefault(shared, len(profiles) + 1)
                args += [item.name, item.definition, item.trigger_key, ms_arg(item.next_ms),
                         ms_arg(item.due_ms), item.digest, item.source, profile]  # fmt: skip
            head: list[str | int] = [token, HISTORY_LEN, len(batch), len(profiles)]
            for owner, create_only, update_only, event in profiles:
                head += [owner, "1" if create_only else "", "1" if update_only else "", event]
            calls.append(("upsert", keys, head + args))
        replies = self.conn.run_all(calls)
        check_replies(replies, "upsert")
        return [r.decode() if isinstance(r, bytes) else str(r) for batch in replies for r in batch]

    def upsert_chunks(
        self, token: str, chunks: Iterable[list[Upsert]], in_flight: int = 1
    ) -> Iterator[tuple[list[Upsert], list[str]]]:
        """``upsert`` each chunk while the caller makes the next: each chunk, with its
        results, in order. Up to ``in_flight`` writes wait on Redis (its time) on threads of
        their own while ``chunks`` is drawn (the caller's); with more than one, chunks may
        reach Redis out of order, so no name may be in two. A write's error is raised when
        its chunk's turn comes, after the writes in flight end."""
        with ThreadPoolExecutor(in_flight, thread_name_prefix="sched-upsert") as writer:
            pending: deque[tuple[list[Upsert], Future[list[str]]]] = deque()
            for items in chunks:
                if items:
                    pending.append((items, writer.submit(self.upsert, token, items)))
                if len(pending) > in_flight:
                    items, done = pending.popleft()
                    yield items, done.result()
            while pending:
                items, done = pending.popleft()
                yield items, done.result()

    def remove(self, token: str, name: str, now_ms: int, owner: str = "files",
               event: str = "") -> str:  # fmt: skip
        """Stop a schedule; its state and history stay as a tombstone for a while. '1' if
        removed, '0' if there was none, or conflict:<source> (another owner's: kept).
        ``token`` '' for the API (no lease)."""
        k = self.keys
        keys = [k.lease, k.defs, k.due, k.state(name), k.history(name), k.owned("files"),
                k.owned("api")]  # fmt: skip
        args: list[str | int] = [token, name, now_ms, TOMBSTONE_S, owner, event, HISTORY_LEN]
        result = self.conn.run("remove", keys, args)
        return result.decode() if isinstance(result, bytes) else str(result)

    def due(self, now_ms: int, limit: int) -> list[str]:
        names = self.conn.call("zrangebyscore", self.keys.due, "-inf", now_ms, 0, limit)
        return [n.decode() for n in names]

    def next_due_ms(self) -> int | None:
        first = self.conn.call("zrange", self.keys.due, 0, 0, False, True)
        return int(first[0][1]) if first else None

    def dispatch(self, token: str, steps: Sequence[Step]) -> list[int]:
        """Apply a batch of steps atomically; per step, runs enqueued or -1 if refused."""
        _, keys, args = self.encode(token, steps)
        return [int(x) for x in self.conn.run("dispatch", keys, args)]

    def pack(self, token: str, batches: Sequence[Sequence[Step]]) -> Packed:
        """The dispatch calls of ``batches``, built and packed ahead of their instant."""
        return self.conn.pack([self.encode(token, batch) for batch in batches])

    def dispatch_all(self, packed: Packed) -> list[list[int] | SchedError]:
        """Batches ``pack``ed ahead, in one round trip; each applied atomically on its own.
        Per batch, what ``dispatch`` returns, or the error it raised (a later batch may
        have run where an earlier one was refused: each is its own compare-and-set)."""
        out: list[list[int] | SchedError] = []
        for reply in self.conn.send(packed):
            if isinstance(reply, redis.ResponseError):
                out.append(refusal(reply, "dispatch"))
            else:
                out.append([int(x) for x in reply])
        return out

    def encode(self, token: str, steps: Sequence[Step]) -> Call:
        """The dispatch script's call for a batch of steps (built ahead of the instant)."""
        k = self.keys
        keys = [k.lease, k.due, k.runs, k.queues, k.outbox_messages, k.celery_inflight,
                k.celery_deadlines, k.counting]  # fmt: skip
        args: list[str | int] = [token, HISTORY_LEN, len(steps)]
        for step in steps:
            keys += [k.state(step.name), self._target(step), k.history(step.name)]
            args += [step.name, step.expected_next_ms, ms_arg(step.new_next_ms),
                     ms_arg(step.new_due_ms), step.overlap, ms_arg(step.fired_ms), step.queue,
                     step.mode, step.missed, ms_arg(step.last_missed_ms), step.missed_event,
                     len(step.runs)]  # fmt: skip
            for run in step.runs:
                args += [run.run_id, run.score, run.message, run.skipped_event,
                         run.handoff_event, ms_arg(run.deadline_ms)]  # fmt: skip
        return ("dispatch", keys, args)

    def _target(self, step: Step) -> str:
        if step.mode == "celery":
            return step.celery_list
        if step.mode == "outbox":
            return self.keys.outbox
        return self.keys.queue(step.queue)
