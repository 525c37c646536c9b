"""The worker's side of the store: claim, start, acknowledge, retry, dead-letter, reap."""

from __future__ import annotations

import re
from collections.abc import Sequence

from scheduler.core.messages import PRIORITY_SLOT, RunMessage
from scheduler.core.model import PRIORITY_MAX
from scheduler.errors import StoreError
from scheduler.store.client import Call, Connection, check_replies, translated
from scheduler.store.keys import DEAD_MAX, DEAD_MAX_AGE_S, HISTORY_LEN
from scheduler.store.values import Claimed, Outcome


class WorkerStore:
    def __init__(
        self, conn: Connection, worker_id: str, dead_max: int = DEAD_MAX,
        dead_max_age_s: int = DEAD_MAX_AGE_S,
    ) -> None:  # fmt: skip
        self.conn = conn
        self.keys = conn.keys
        self.worker_id = worker_id
        self.dead_max = dead_max
        self.dead_max_age_s = dead_max_age_s

    def claim(self, queue: str, count: int, now_ms: int, start: int = 0) -> list[Claimed]:
        """Take up to ``count`` runs; each with its deliveries (starts so far, plus this one).

        The first ``start`` runs never started before are also marked started, as
        ``settle`` would (``Claimed.started``): a worker with that many free slots runs them
        without another round trip. A run delivered again is not: its worker checks it
        (poison, suspect) before it starts.
        """
        k = self.keys
        keys = [k.queue(queue), k.runs, k.claims, k.deliveries, k.workers,
                k.worker(self.worker_id)]  # fmt: skip
        flat = self.conn.run("claim", keys, [self.worker_id, now_ms, count, start, k.prefix])
        return [
            Claimed(
                flat[i].decode(), RunMessage.loads(flat[i + 1]), int(flat[i + 2]), flat[i + 3] == 1
            )
            for i in range(0, len(flat), 4)
        ]

    def finish(
        self,
        outcomes: Sequence[Outcome],
        now_ms: int,
        started: Sequence[tuple[str, str]] = (),
    ) -> list[bool]:
        """Acknowledge outcomes; per outcome, False where the run was no longer ours."""
        return self.settle(outcomes, now_ms, started)[1]

    def settle(
        self,
        outcomes: Sequence[Outcome],
        now_ms: int,
        started: Sequence[tuple[str, str]] = (),
        returned: Sequence[str] = (),
    ) -> tuple[list[bool], list[bool]]:
        """Mark runs (run id, schedule) started, acknowledge outcomes and release abandoned
        attempts that ``returned`` (their entries), in one round trip.

        Returns per started run whether it is still ours to run, and per outcome whether
        it was recorded (False where the run was no longer ours). Every script is
        idempotent, so the whole round trip can be sent again after a lost reply.
        """
        k = self.keys
        calls: list[Call] = []
        for run_id, schedule in started:
            keys = [k.claims, k.state(schedule), k.deliveries]
            calls.append(("start", keys, [self.worker_id, run_id]))
        for o in outcomes:
            keys = [k.runs, k.claims, k.deliveries, k.worker(self.worker_id), k.retries]
            keys += [k.dead, k.dead_index, k.state(o.schedule), k.history(o.schedule)]
            keys += [k.queue(o.queue), k.dead_dropped, k.abandoned(self.worker_id)]
            args: list[str | int] = [self.worker_id, o.run_id, o.kind, o.new_message, o.due_ms]
            args += [o.dead_letter, o.event, HISTORY_LEN, now_ms, self.dead_max,
                     now_ms - self.dead_max_age_s * 1000, o.abandoned, o.schedule]  # fmt: skip
            calls.append(("finish", keys, args))
        if returned:
            calls.append(("returned", [k.abandoned(self.worker_id)], [k.prefix, *returned]))
        replies = self.conn.run_all(calls)
        check_replies(replies, "finish")
        replies = [bool(x) for x in replies]
        ends = len(started) + len(outcomes)
        return replies[: len(started)], replies[len(started) : ends]

    def held(self) -> dict[str, RunMessage | None]:
        """The runs Redis says this worker holds, with their messages (None if gone)."""
        ids = sorted(self.conn.call("smembers", self.keys.worker(self.worker_id)))
        if not ids:
            return {}
        owners = self.conn.call("hmget", self.keys.claims, ids)
        bodies = self.conn.call("hmget", self.keys.runs, ids)
        mine = (self.worker_id.encode(), f"{self.worker_id}|s".encode())
        return {
            run_id.decode(): RunMessage.loads(body) if body is not None else None
            for run_id, owner, body in zip(ids, owners, bodies, strict=True)
            if owner in mine
        }

    def heartbeat(self, description: str = "{}", ttl_s: int = 60) -> int:
        """Beat by Redis' clock, with the worker's description (JSON) living ``ttl_s``;
        Redis' time in ms."""
        keys = [self.keys.workers, self.keys.worker_info(self.worker_id)]
        return int(self.conn.run("heartbeat", keys, [self.worker_id, description, ttl_s]))

    def promote(self, now_ms: int, limit: int = 1000) -> int:
        """Move retries that are due back to their queues; how many moved."""
        keys = [self.keys.retries, self.keys.runs, self.keys.queues]
        args: list[str | int] = [self.keys.prefix, now_ms, limit, PRIORITY_MAX, PRIORITY_SLOT]
        return int(self.conn.run("promote", keys, args))

    def reap(self, now_ms: int, timeout_ms: int) -> int:
        """Deliver again the runs of workers silent for ``timeout_ms``; how many."""
        keys = [self.keys.workers, self.keys.claims, self.keys.runs]
        args: list[str | int] = [self.keys.prefix, now_ms, timeout_ms, PRIORITY_MAX,
                                 PRIORITY_SLOT]  # fmt: skip
        return int(self.conn.run("reap", keys, args))

    def announcements(self) -> Announcements:
        """A subscription to the announcements of runs arriving on any queue."""
        return Announcements(self.conn)

    def leave(self) -> None:
        """Forget this worker's heartbeat (after a graceful stop handed its runs back), and
        its abandoned attempts (their threads end with it)."""
        self.conn.run("returned", [self.keys.abandoned(self.worker_id)], [self.keys.prefix])
        self.conn.call("zrem", self.keys.workers, self.worker_id)
        self.conn.call("delete", self.keys.worker_info(self.worker_id))


class Announcements:
    """Runs arriving on queues, as announced by the scripts that put them there.

    Each script that puts runs on a queue (dispatch, enqueue, promote, reap, revive, a
    handback) publishes on the channel named like the queue's key; this is one pattern
    subscription to all of them, on its own connection. Pub/sub keeps nothing: an
    announcement made while the subscription is not confirmed is lost, which is why a
    waiting worker claims once after ``confirmed`` and never waits longer than a bound.
    """

    def __init__(self, conn: Connection) -> None:
        self._prefix = conn.keys.queue("")
        self._pubsub = conn.client.pubsub()  # type: ignore[no-untyped-call]
        try:
            with translated("psubscribe"):
                self._pubsub.psubscribe(_glob_escaped(self._prefix) + "*")
        except StoreError:
            self._pubsub.close()  # its connection goes back to the pool
            raise

    def confirmed(self, timeout_s: float) -> bool:
        """Wait for Redis to confirm the subscription: from then on nothing is missed."""
        with translated("psubscribe"):
            reply = self._pubsub.get_message(timeout=timeout_s)
        return reply is not None and reply["type"] == "psubscribe"

    def receive(self, timeout_s: float) -> str | None:
        """The queue of the next announcement within ``timeout_s``, or None."""
        with translated("psubscribe"):
            reply = self._pubsub.get_message(timeout=timeout_s)
        if reply is None or reply["type"] != "pmessage":
            return None
        return bytes(reply["channel"]).decode()[len(self._prefix) :]

    def close(self) -> None:
        with translated("punsubscribe"):
            self._pubsub.close()


def _glob_escaped(text: str) -> str:
    """``text`` matched literally by a Redis glob pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
