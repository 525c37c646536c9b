"""Every Redis key name sched uses: the one table of them.

All keys live under one namespace (default ``sched``) inside a hash tag, ``{sched}:...``,
so every multi-key script runs on one Redis Cluster slot.

| key | type | holds |
| --- | --- | --- |
| ``{ns}:lease`` | string, TTL | the leader's random token; expires unless renewed |
| ``{ns}:epoch`` | integer | incremented on every new lease (fencing epoch) |
| ``{ns}:leader`` | hash | token, epoch, identity, since_ms of the latest leader |
| ``{ns}:replicas`` | sorted set | scheduler replica identity -> when it last asked for the lease (Redis' ms); older than a minute: dropped |
| ``{ns}:defs`` | hash | schedule name -> definition JSON (synced from the files, or written through the API) |
| ``{ns}:counting`` | set | schedules whose overlap counters a run has raised since the last repair: what ``repair.lua`` checks, so a new leader's check costs what runs, not what exists (``{ns}:counting:ready`` marks it complete) |
| ``{ns}:owned:files``, ``{ns}:owned:api`` | set | the names each owner holds: a schedule belongs to the files or to the API, never both |
| ``{ns}:due`` | sorted set | schedule name -> due instant in ms (next fire plus jitter) |
| ``{ns}:state:<name>`` | hash | next_ms, due_ms, trigger_key, digest, paused, runs, last_fire_ms, missed, last_missed_ms, skipped, active (runs queued, running or waiting to retry), waiting (not yet started), duplicates (always 0: an invariant check), removed_ms (a tombstone: the schedule was removed then; the key expires after 7 days), owner (files or api), source (file:line, or api) |
| ``{ns}:history:<name>`` | list | newest-first events (JSON), capped at ``HISTORY_LEN`` |
| ``{ns}:backfilled:<name>`` | sorted set | fire ms already enqueued by ``sched backfill`` |
| ``{ns}:runs`` | hash | run id -> run message JSON, until a worker acknowledges it |
| ``{ns}:queue:<queue>`` | sorted set | run ids ready to run, by priority then enqueue time; also the name of the pub/sub channel on which every script that adds runs announces them (workers subscribe to ``{ns}:queue:*``) |
| ``{ns}:queues`` | set | names of queues that have been used |
| ``{ns}:claims`` | hash | run id -> worker id while a worker holds the run (``|s`` appended once started) |
| ``{ns}:deliveries`` | hash | run id -> times started without an outcome (poison detection) |
| ``{ns}:workers`` | sorted set | worker id -> last heartbeat ms |
| ``{ns}:worker:<id>`` | set | run ids the worker holds (delivered again if it dies) |
| ``{ns}:abandoned:<id>`` | hash | ``run id#attempt`` -> schedule name: attempts the worker gave up on at their timeout that still run in abandoned threads (they count as running for overlap until they return) |
| ``{ns}:worker_info:<id>`` | string, TTL | the worker's description (host, pid, queues, concurrency, pool), renewed by each heartbeat |
| ``{ns}:retries`` | sorted set | run id -> ms when its next attempt is due |
| ``{ns}:dead`` | hash | run id -> dead letter JSON (run, error, attempts, times) |
| ``{ns}:dead_index`` | sorted set | run id -> ms it was dead-lettered |
| ``{ns}:dead_dropped`` | integer | dead letters dropped by the count and age bounds |
| ``{ns}:outbox`` | sorted set | run id -> ms it was written: Celery messages for a broker other than sched's own Redis, until the relay's broker confirmed them |
| ``{ns}:outbox:messages`` | hash | run id -> outbox entry JSON (broker URL, priority, kombu's Redis envelope) |
| ``{ns}:celery:inflight`` | hash | run id -> ``sent`` or ``started``: Celery runs of schedules with an ``overlap`` rule, until ``report_outcomes`` reports their end |
| ``{ns}:celery:deadlines`` | sorted set | run id -> ms after which an in-flight Celery run that reported nothing stops counting as active |
| *queue* (no namespace) | list | Celery's own queue lists, in kombu's naming (``celery``, ``celery\x06\x163``, ...): the dispatch script pushes onto them when the broker is sched's own Redis |

Definitions (what the files say) are kept apart from state (what has happened), so a
redeploy that changes nothing about a schedule's trigger keeps its next fire time.

The Lua scripts in ``lua/`` name the keys they take in their headers, in these terms.
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass

HISTORY_LEN = 100  # events kept per schedule
BACKFILL_MEMORY = 100_000  # backfilled fire times remembered per schedule (oldest dropped)
DEAD_MAX = 10_000  # dead letters kept (Sidekiq's default), oldest dropped first
DEAD_MAX_AGE_S = 180 * 86400  # dead letters older than this are dropped (six months)
TOMBSTONE_S = 7 * 86400  # how long a removed schedule's state and history are kept


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
    def replicas(self) -> str:
        return self._k("replicas")

    @property
    def defs(self) -> str:
        return self._k("defs")

    @property
    def counting(self) -> str:
        return self._k("counting")

    @property
    def counting_ready(self) -> str:
        return self._k("counting", "ready")

    def owned(self, owner: str) -> str:
        return self._k("owned", owner)

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

    def abandoned(self, worker_id: str) -> str:
        return self._k("abandoned", worker_id)

    def worker_info(self, worker_id: str) -> str:
        return self._k("worker_info", worker_id)

    @property
    def retries(self) -> str:
        return self._k("retries")

    @property
    def dead(self) -> str:
        return self._k("dead")

    @property
    def dead_index(self) -> str:
        return self._k("dead_index")

    @property
    def dead_dropped(self) -> str:
        return self._k("dead_dropped")

    @property
    def outbox(self) -> str:
        return self._k("outbox")

    @property
    def outbox_messages(self) -> str:
        return self._k("outbox", "messages")

    @property
    def celery_inflight(self) -> str:
        return self._k("celery", "inflight")

    @property
    def celery_deadlines(self) -> str:
        return self._k("celery", "deadlines")
