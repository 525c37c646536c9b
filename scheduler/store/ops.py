"""Operator writes: pause and resume, enqueue (trigger, backfill), revive and purge dead letters."""

from __future__ import annotations

from scheduler.store.client import Call, Connection
from scheduler.store.keys import BACKFILL_MEMORY, HISTORY_LEN
from scheduler.store.values import CounterFix, Run, ms_arg

REPAIR_PAGE = 2000  # definitions per call of the one full check (~10 ms of Redis each)


class OpsStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.keys = conn.keys

    def set_paused(
        self, name: str, paused: bool, event: str, next_ms: int | None = None,
        due_ms: int | None = None, missed: int = 0, last_missed_ms: int | None = None,
    ) -> bool:  # fmt: skip
        keys = [self.keys.due, self.keys.state(name), self.keys.history(name)]
        args = [name, "1" if paused else "0", ms_arg(next_ms), ms_arg(due_ms), missed,
                ms_arg(last_missed_ms), event, HISTORY_LEN]  # fmt: skip
        return bool(self.conn.run("pause", keys, args))

    def enqueue(self, name: str, run: Run, event: str, backfill_ms: int | None = None,
                outbox: bool = False) -> bool:  # fmt: skip
        """Enqueue a run for sched's workers or, with ``outbox``, a Celery message (an
        outbox entry) for the leader's relay; False if it was enqueued before."""
        return bool(self.conn.run(*self.enqueue_call(name, run, event, backfill_ms, outbox)))

    def enqueue_call(self, name: str, run: Run, event: str, backfill_ms: int | None = None,
                     outbox: bool = False) -> Call:  # fmt: skip
        """``enqueue``'s script call, for callers that pipeline many (``Connection.run_all``)."""
        k = self.keys
        keys = [k.runs, k.queue(run.queue), k.queues, k.backfilled(name), k.history(name),
                k.state(name), k.counting]  # fmt: skip
        if outbox:
            keys[:2] = [k.outbox_messages, k.outbox]
        args: list[str | int] = [run.run_id, run.score, run.message, run.queue]
        args += [ms_arg(backfill_ms), event, HISTORY_LEN, BACKFILL_MEMORY]
        args += ["outbox" if outbox else "queue", name]
        return ("enqueue", keys, args)

    def revive(self, run: Run, schedule: str, event: str) -> bool:
        k = self.keys
        keys = [k.dead, k.dead_index, k.runs, k.queue(run.queue), k.queues, k.state(schedule),
                k.history(schedule), k.counting]  # fmt: skip
        args: list[str | int] = [run.run_id, run.score, run.message, run.queue, event, HISTORY_LEN,
                                 schedule]  # fmt: skip
        return bool(self.conn.run("revive", keys, args))

    def repair_counters(self) -> list[CounterFix]:
        """Recompute every schedule's active/waiting counters from the runs that exist;
        the ones that were wrong, with their old and new values."""
        k = self.keys
        keys = [k.runs, k.claims, k.defs, k.workers, k.celery_inflight, k.counting,
                k.counting_ready]  # fmt: skip
        fixes: list[CounterFix] = []
        cursor = ""  # the check; then, once, the full check page by page (repair.lua)
        while True:
            cursor_reply, *flat = self.conn.run("repair", keys, [k.prefix, cursor, REPAIR_PAGE])
            rows = [flat[i : i + 5] for i in range(0, len(flat), 5)]
            fixes += [CounterFix(row[0].decode(), *(int(x) for x in row[1:])) for row in rows]
            cursor = "0" if cursor_reply == b"full" else cursor_reply.decode()
            if cursor == "0" and cursor_reply != b"full":
                return fixes

    def purge_dead_letter(self, run_id: str, schedule: str, event: str) -> bool:
        """Drop one dead letter, recording ``event`` in its schedule's history; False if
        there was none."""
        keys = [self.keys.dead, self.keys.dead_index, self.keys.history(schedule)]
        return bool(self.conn.run("purge", keys, [run_id, event, HISTORY_LEN]))

    def purge_dead(self) -> int:
        count = int(self.conn.call("zcard", self.keys.dead_index))
        self.conn.call("delete", self.keys.dead, self.keys.dead_index)
        return count
