"""Every Redis command and key name sched uses. The rest of sched speaks plain values.

All keys live under one namespace (default ``sched``) inside a hash tag, ``{sched}:...``,
so every multi-key script runs on one Redis Cluster slot.

| key | type | holds |
| --- | --- | --- |
| ``{ns}:lease`` | string, TTL | the leader's random token; expires unless renewed |
| ``{ns}:epoch`` | integer | incremented on every new lease (fencing epoch) |
| ``{ns}:leader`` | hash | token, epoch, identity, since_ms of the latest leader |
| ``{ns}:defs`` | hash | schedule name -> definition JSON (synced from the files) |
| ``{ns}:due`` | sorted set | schedule name -> due instant in ms (next fire plus jitter) |
| ``{ns}:state:<name>`` | hash | next_ms, due_ms, trigger_key, digest, paused, runs, last_fire_ms, missed, last_missed_ms, skipped, active (runs queued, running or waiting to retry), waiting (not yet started), duplicates (always 0: an invariant check) |
| ``{ns}:history:<name>`` | list | newest-first events (JSON), capped at ``HISTORY_LEN`` |
| ``{ns}:backfilled:<name>`` | sorted set | fire ms already enqueued by ``sched backfill`` |
| ``{ns}:runs`` | hash | run id -> run message JSON, until a worker acknowledges it |
| ``{ns}:queue:<queue>`` | sorted set | run ids ready to run, by priority then enqueue time |
| ``{ns}:queues`` | set | names of queues that have been used |
| ``{ns}:claims`` | hash | run id -> worker id while a worker holds the run (``|s`` appended once started) |
| ``{ns}:deliveries`` | hash | run id -> times started without an outcome (poison detection) |
| ``{ns}:workers`` | sorted set | worker id -> last heartbeat ms |
| ``{ns}:worker:<id>`` | set | run ids the worker holds (delivered again if it dies) |
| ``{ns}:retries`` | sorted set | run id -> ms when its next attempt is due |
| ``{ns}:dead`` | hash | run id -> dead letter JSON (run, error, attempts, times) |
| ``{ns}:dead_index`` | sorted set | run id -> ms it was dead-lettered |

Definitions (what the files say) are kept apart from state (what has happened), so a
redeploy that changes nothing about a schedule's trigger keeps its next fire time.
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from scheduler.errors import SchedError

STATE_VERSION = 1
HISTORY_LEN = 100
BACKFILL_MEMORY = 100_000  # backfilled fire times remembered per schedule (oldest dropped)
_PRIORITY_SLOT = 10**13  # ms since the epoch stay below this until the year 2286


class StoreError(SchedError):
    """Redis could not be reached or answered with an error."""


class NotLeaderError(SchedError):
    """A state change was refused because this process no longer holds the lease."""


class StateVersionError(SchedError):
    """Stored state written by a newer (or unknown) version of sched."""


def dumps(kind: str, payload: dict[str, Any]) -> str:
    """Versioned JSON for everything sched stores: never pickle."""
    return json.dumps({"v": STATE_VERSION, "kind": kind, **payload}, separators=(",", ":"))


def loads(kind: str, text: str | bytes) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION or data.get("kind") != kind:
        version = data.get("v") if isinstance(data, dict) else None
        raise StateVersionError(
            f"stored {kind} has version {version!r}; this sched reads version {STATE_VERSION}. "
            "Upgrade sched, or use a fresh namespace (--namespace)"
        )
    return data


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` (certificates verified) or ``unix://`` URLs."""
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise StoreError(
            f"unsupported Redis URL {redact(url)!r}; use redis://, rediss:// or unix://"
        )
    tls: dict[str, Any] = {}
    if scheme == "rediss" and "ssl_cert_reqs" not in url:
        tls["ssl_cert_reqs"] = "required"  # verify the server's certificate unless told not to
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            **tls,
        )
    except ValueError as exc:
        raise StoreError(f"invalid Redis URL {redact(url)!r}: {exc}") from None


def priority_score(priority: int, enqueued_ms: int) -> int:
    """Higher priority first, then first in, first out."""
    return (9 - priority) * _PRIORITY_SLOT + enqueued_ms


@dataclass(frozen=True)
class Keys:
    namespace: str = "sched"

    def _k(self, *parts: str) -> str:
        return ":".join([f"{{{self.namespace}}}", *parts])

    @property
    def lease(self) -> str:
        return self._k("lease")

    @property
    def epoch(self) -> str:
        return self._k("epoch")

    @property
    def leader(self) -> str:
        return self._k("leader")

    @property
    def defs(self) -> str:
        return self._k("defs")

    @property
    def due(self) -> str:
        return self._k("due")

    @property
    def runs(self) -> str:
        return self._k("runs")

    @property
    def queues(self) -> str:
        return self._k("queues")

    def state(self, name: str) -> str:
        return self._k("state", name)

    def history(self, name: str) -> str:
        return self._k("history", name)

    def backfilled(self, name: str) -> str:
        return self._k("backfilled", name)

    def queue(self, queue: str) -> str:
        return self._k("queue", queue)

    @property
    def prefix(self) -> str:
        return f"{{{self.namespace}}}:"

    @property
    def claims(self) -> str:
        return self._k("claims")

    @property
    def deliveries(self) -> str:
        return self._k("deliveries")

    @property
    def workers(self) -> str:
        return self._k("workers")

    def worker(self, worker_id: str) -> str:
        return self._k("worker", worker_id)

    @property
    def retries(self) -> str:
        return self._k("retries")

    @property
    def dead(self) -> str:
        return self._k("dead")

    @property
    def dead_index(self) -> str:
        return self._k("dead_index")


@dataclass(frozen=True)
class ScheduleState:
    next_ms: int | None
    due_ms: int | None
    trigger_key: str | None
    paused: bool
    runs: int
    last_fire_ms: int | None
    missed: int
    last_missed_ms: int | None
    digest: str | None = None
    duplicates: int = 0
    skipped: int = 0
    active: int = 0  # runs queued, running or waiting to retry
    waiting: int = 0  # runs not yet started


@dataclass(frozen=True)
class Run:
    """A run to enqueue: its id, queue, priority score and message."""

    run_id: str
    queue: str
    score: int
    message: str
    fire_at: str = ""


@dataclass(frozen=True)
class Upsert:
    """One schedule definition to sync, with the next fire time to use if it is new."""

    name: str
    definition: str
    digest: str
    trigger_key: str
    next_ms: int | None
    due_ms: int | None


@dataclass
class Step:
    """What one dispatch does to one schedule: compare-and-set its next fire time."""

    name: str
    queue: str
    expected_next_ms: int
    new_next_ms: int | None
    new_due_ms: int | None
    overlap: str = "allow"
    runs: list[Run] = field(default_factory=list)
    fired_ms: int | None = None
    missed: int = 0
    last_missed_ms: int | None = None
    missed_event: str = ""  # history entry JSON when fire times were missed


def _int(value: bytes | None) -> int | None:
    return None if value is None or value == b"" else int(value)


_SCRIPTS = (
    "acquire", "release", "upsert", "remove", "dispatch", "pause", "enqueue",
    "claim", "start", "finish", "promote", "reap", "revive",
)  # fmt: skip


class Store:
    def __init__(self, client: redis.Redis, namespace: str = "sched") -> None:
        self.client = client
        self.keys = Keys(namespace)
        self._scripts = {
            name: client.register_script(
                resources.files("scheduler").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in _SCRIPTS
        }

    def _run(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return self._scripts[script](keys=list(keys), args=list(args))
        except redis.ResponseError as exc:
            if "NOTLEADER" in str(exc):
                raise NotLeaderError("the leader lease is no longer ours") from None
            raise StoreError(f"Redis refused {script}: {exc}") from None
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {type(exc).__name__}: {exc}") from None

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.client, method)(*args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {type(exc).__name__}: {exc}") from None

    # -- leadership -------------------------------------------------------------------

    def acquire(self, token: str, ttl_ms: int, identity: str, now_ms: int) -> int:
        """Take or renew the lease; the lease's epoch, or 0 if someone else holds it."""
        keys = [self.keys.lease, self.keys.epoch, self.keys.leader]
        return int(self._run("acquire", keys, [token, ttl_ms, identity, now_ms]))

    def release(self, token: str) -> bool:
        return bool(self._run("release", [self.keys.lease, self.keys.leader], [token]))

    def leader(self) -> dict[str, Any]:
        """Who leads: identity, epoch, since_ms and the lease's remaining ttl_ms (-2 if none)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.leader)
        pipe.pttl(self.keys.lease)
        pipe.get(self.keys.lease)
        try:
            info, ttl_ms, token = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {exc}") from None
        info = {k.decode(): v.decode() for k, v in info.items()}
        held = token is not None and info.get("token") == token.decode()
        return {
            "identity": info.get("identity") if held else None,
            "epoch": int(info.get("epoch", 0)),
            "since_ms": int(info["since_ms"]) if held and "since_ms" in info else None,
            "ttl_ms": int(ttl_ms) if held else None,
        }

    # -- definitions and state --------------------------------------------------------

    def definitions(self) -> dict[str, dict[str, Any]]:
        raw = self._call("hgetall", self.keys.defs)
        return {k.decode(): loads("definition", v) for k, v in raw.items()}

    def states(self, names: Sequence[str]) -> dict[str, ScheduleState]:
        if not names:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.state(name))
        try:
            rows = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {exc}") from None
        out = {}
        for name, row in zip(names, rows, strict=True):
            if not row:
                continue
            trigger_key = row.get(b"trigger_key")
            out[name] = ScheduleState(
                next_ms=_int(row.get(b"next_ms")),
                due_ms=_int(row.get(b"due_ms")),
                trigger_key=trigger_key.decode() if trigger_key is not None else None,
                paused=row.get(b"paused") == b"1",
                runs=_int(row.get(b"runs")) or 0,
                last_fire_ms=_int(row.get(b"last_fire_ms")),
                missed=_int(row.get(b"missed")) or 0,
                last_missed_ms=_int(row.get(b"last_missed_ms")),
                digest=row[b"digest"].decode() if b"digest" in row else None,
                duplicates=_int(row.get(b"duplicates")) or 0,
                skipped=_int(row.get(b"skipped")) or 0,
                active=_int(row.get(b"active")) or 0,
                waiting=_int(row.get(b"waiting")) or 0,
            )
        return out

    def names(self) -> set[str]:
        """The names of every schedule Redis holds a definition for."""
        return {name.decode() for name in self._call("hkeys", self.keys.defs)}

    def upsert(self, token: str, items: Sequence[Upsert]) -> list[str]:
        """Sync definitions in one pipelined round trip; per item added/changed/updated."""
        script = self._scripts["upsert"]
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            keys = [self.keys.lease, self.keys.defs, self.keys.due, self.keys.state(item.name)]
            args = [token, item.name, item.definition, item.trigger_key, _ms(item.next_ms),
                    _ms(item.due_ms), item.digest]  # fmt: skip
            script(keys=keys, args=args, client=pipe)
        try:
            results = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {type(exc).__name__}: {exc}") from None
        for result in results:
            if isinstance(result, redis.ResponseError):
                if "NOTLEADER" in str(result):
                    raise NotLeaderError("the leader lease is no longer ours")
                raise StoreError(f"Redis refused upsert: {result}")
        return [r.decode() if isinstance(r, bytes) else str(r) for r in results]

    def remove(self, token: str, name: str) -> None:
        keys = [self.keys.lease, self.keys.defs, self.keys.due, self.keys.state(name)]
        self._run("remove", [*keys, self.keys.history(name)], [token, name])

    def due(self, now_ms: int, limit: int) -> list[str]:
        names = self._call("zrangebyscore", self.keys.due, "-inf", now_ms, 0, limit)
        return [n.decode() for n in names]

    def next_due_ms(self) -> int | None:
        first = self._call("zrange", self.keys.due, 0, 0, False, True)
        return int(first[0][1]) if first else None

    def dispatch(self, token: str, steps: Sequence[Step], at: str) -> list[int]:
        """Apply a batch of steps atomically; per step, runs enqueued or -1 if refused."""
        keys = [self.keys.lease, self.keys.due, self.keys.runs, self.keys.queues]
        args: list[str | int] = [token, HISTORY_LEN, at, len(steps)]
        for step in steps:
            keys.append(self.keys.state(step.name))
            keys.append(self.keys.queue(step.queue))
            keys.append(self.keys.history(step.name))
            args += [step.name, step.expected_next_ms, _ms(step.new_next_ms),
                     _ms(step.new_due_ms), step.overlap, _ms(step.fired_ms), step.queue,
                     step.missed, _ms(step.last_missed_ms), step.missed_event,
                     len(step.runs)]  # fmt: skip
            for run in step.runs:
                args += [run.run_id, run.score, run.message, run.fire_at]
        return [int(x) for x in self._run("dispatch", keys, args)]

    def set_paused(
        self, name: str, paused: bool, event: str, next_ms: int | None = None,
        due_ms: int | None = None, missed: int = 0, last_missed_ms: int | None = None,
    ) -> bool:  # fmt: skip
        keys = [self.keys.due, self.keys.state(name), self.keys.history(name)]
        args = [name, "1" if paused else "0", _ms(next_ms), _ms(due_ms), missed,
                _ms(last_missed_ms), event, HISTORY_LEN]  # fmt: skip
        return bool(self._run("pause", keys, args))

    def enqueue(self, name: str, run: Run, event: str, backfill_ms: int | None = None) -> bool:
        keys = [self.keys.runs, self.keys.queue(run.queue), self.keys.queues,
                self.keys.backfilled(name), self.keys.history(name),
                self.keys.state(name)]  # fmt: skip
        args: list[str | int] = [run.run_id, run.score, run.message, run.queue]
        args += [_ms(backfill_ms), event, HISTORY_LEN, BACKFILL_MEMORY]
        return bool(self._run("enqueue", keys, args))

    # -- queues and history -----------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        names = sorted(n.decode() for n in self._call("smembers", self.keys.queues))
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.zcard(self.keys.queue(name))
        try:
            return dict(zip(names, (int(x) for x in pipe.execute()), strict=True))
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {exc}") from None

    def queued_runs(self, queue: str) -> list[dict[str, Any]]:
        """Every message waiting on a queue, in the order workers will take them."""
        ids = self._call("zrange", self.keys.queue(queue), 0, -1)
        if not ids:
            return []
        bodies = self._call("hmget", self.keys.runs, ids)
        return [loads("run", body) for body in bodies if body is not None]

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        ids = self._call("zrevrange", self.keys.dead_index, 0, limit - 1)
        if not ids:
            return []
        bodies = self._call("hmget", self.keys.dead, ids)
        return [loads("dead", body) for body in bodies if body is not None]

    def dead_letter(self, run_id: str) -> dict[str, Any] | None:
        body = self._call("hget", self.keys.dead, run_id)
        return None if body is None else loads("dead", body)

    def revive(self, run: Run, schedule: str, event: str) -> bool:
        k = self.keys
        keys = [k.dead, k.dead_index, k.runs, k.queue(run.queue), k.queues, k.state(schedule),
                k.history(schedule)]  # fmt: skip
        args: list[str | int] = [run.run_id, run.score, run.message, run.queue, event, HISTORY_LEN]
        return bool(self._run("revive", keys, args))

    def purge_dead(self) -> int:
        count = int(self._call("zcard", self.keys.dead_index))
        self._call("delete", self.keys.dead, self.keys.dead_index)
        return count

    def history(self, name: str, limit: int = HISTORY_LEN) -> list[dict[str, Any]]:
        rows = self._call("lrange", self.keys.history(name), 0, limit - 1)
        return [loads("event", row) for row in rows]


@dataclass(frozen=True)
class Claimed:
    run_id: str
    message: dict[str, Any]
    deliveries: int


@dataclass(frozen=True)
class Outcome:
    """What a worker reports for one run it holds."""

    run_id: str
    schedule: str
    queue: str
    kind: str  # succeeded | failed | expired | retry | dead | handback
    event: str = ""  # history entry JSON
    new_message: str = ""  # retry: the message of the next attempt
    due_ms: int = 0  # retry: when the next attempt is due; handback: the queue score
    dead_letter: str = ""  # dead: the dead letter JSON


class WorkerStore:
    """The worker's side of the store: claim, acknowledge, retry, dead-letter, reap."""

    def __init__(self, store: Store, worker_id: str) -> None:
        self.store = store
        self.keys = store.keys
        self.worker_id = worker_id

    def claim(self, queue: str, count: int, now_ms: int, max_deliveries: int) -> list[Claimed]:
        k = self.keys
        keys = [k.queue(queue), k.runs, k.claims, k.deliveries, k.workers,
                k.worker(self.worker_id), k.dead, k.dead_index]  # fmt: skip
        args: list[str | int] = [k.prefix, self.worker_id, now_ms, count, max_deliveries]
        at = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds")
        flat = self.store._run("claim", keys, [*args, HISTORY_LEN, at.replace("+00:00", "Z")])
        return [
            Claimed(flat[i].decode(), loads("run", flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    def finish(
        self,
        outcomes: Sequence[Outcome],
        now_ms: int,
        started: Sequence[tuple[str, str]] = (),
    ) -> list[bool]:
        """Mark runs (run id, schedule) started and acknowledge outcomes, in one round trip.

        Returns, per outcome, False where the run was no longer ours.
        """
        k = self.keys
        script = self.store._scripts["finish"]
        pipe = self.store.client.pipeline(transaction=False)
        for run_id, schedule in started:
            self.store._scripts["start"](
                keys=[k.claims, k.state(schedule), k.deliveries],
                args=[self.worker_id, run_id],
                client=pipe,
            )
        for o in outcomes:
            keys = [k.runs, k.claims, k.deliveries, k.worker(self.worker_id), k.retries]
            keys += [k.dead, k.dead_index, k.state(o.schedule), k.history(o.schedule)]
            keys.append(k.queue(o.queue))
            args: list[str | int] = [self.worker_id, o.run_id, o.kind, o.new_message, o.due_ms]
            args += [o.dead_letter, o.event, HISTORY_LEN, now_ms]
            script(keys=keys, args=args, client=pipe)
        try:
            return [bool(x) for x in pipe.execute()[len(started) :]]
        except redis.RedisError as exc:
            raise StoreError(f"Redis unavailable: {type(exc).__name__}: {exc}") from None

    def heartbeat(self, now_ms: int) -> None:
        self.store._call("zadd", self.keys.workers, {self.worker_id: now_ms})

    def promote(self, now_ms: int, limit: int = 1000) -> int:
        keys = [self.keys.retries, self.keys.runs, self.keys.queues]
        return int(
            self.store._run("promote", keys, [self.keys.prefix, now_ms, limit, _PRIORITY_SLOT])
        )

    def reap(self, now_ms: int, timeout_ms: int) -> int:
        keys = [self.keys.workers, self.keys.claims, self.keys.runs]
        args: list[str | int] = [self.keys.prefix, now_ms, timeout_ms, _PRIORITY_SLOT]
        return int(self.store._run("reap", keys, args))

    def leave(self) -> None:
        """Forget this worker's heartbeat (after a graceful stop handed its runs back)."""
        self.store._call("zrem", self.keys.workers, self.worker_id)


def _ms(value: int | None) -> str:
    return "" if value is None else str(value)
