"""sched's side of ``bench_worker.py``: fill a queue with runs, or offer runs at a steady rate.

Runs with the project's Python (sched installed):

    python bench/worker_sched.py fill URL N             # N `noop` runs, then prints seconds
    python bench/worker_sched.py fill URL N TASK [ARG [TIMEOUT_S]]
                                                        # `spin ARG` / `hang` runs (bench_prefork)
    python bench/worker_sched.py produce URL RATE SECS  # `stamp` runs, fire_at = now

A run is enqueued exactly as ``Store.ops.enqueue`` does it (``trigger``/``backfill``: its
script call, ``OpsStore.enqueue_call``, one per run with its history event, announced to
the workers), only pipelined, a thousand calls per
round trip when filling and one round trip per batch when producing. The messages are
``run_message()``'s, from an interval schedule with default policies (one attempt, no
timeout, no expiry; ``fill`` with a TIMEOUT_S sets the schedule's ``timeout``), so the worker
does all it does for a real run.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import redis
from worker_probe import paced

from scheduler.core.instants import to_ms
from scheduler.core.messages import event, priority_score, run_message
from scheduler.core.model import Schedule
from scheduler.store import Run, Store
from scheduler.store.client import Call

FILL_BATCH = 1000


def schedule(name: str, args: tuple[int, ...] = (), timeout_s: int | None = None) -> Schedule:
    return Schedule(name=name, task=f"bench_tasks:{name}", timezone="UTC", every_s=60,
                    args=args, timeout_s=timeout_s)  # fmt: skip


def _enqueue(store: Store, sched: Schedule, seq: int) -> Call:
    """``Store.ops.enqueue``'s script call for one run of ``sched``, due now."""
    now = datetime.now(UTC)
    run_id = f"{sched.name}@{seq}"
    message = run_message(sched, run_id, now, now, "schedule", 1)
    run = Run(run_id, sched.queue, priority_score(sched.priority, to_ms(now)), message)
    return store.ops.enqueue_call(sched.name, run, event("enqueued", now, run_id=run_id))


def fill(url: str, count: int, sched: Schedule | None = None) -> float:
    """Enqueue ``count`` runs (default: no-op); the seconds it took."""
    store = Store(redis.Redis.from_url(url))
    sched = sched or schedule("noop")
    started = time.perf_counter()
    for first in range(0, count, FILL_BATCH):
        store.conn.run_all([_enqueue(store, sched, seq)
                            for seq in range(first, min(count, first + FILL_BATCH))])  # fmt: skip
    return time.perf_counter() - started


def produce(url: str, rate: float, seconds: float) -> int:
    """Enqueue ``stamp`` runs due now, at ``rate`` a second for ``seconds``; how many."""
    store = Store(redis.Redis.from_url(url))
    sched = schedule("stamp")
    seq = 0

    def batch(count: int) -> None:
        nonlocal seq
        calls = [_enqueue(store, sched, seq + i) for i in range(count)]
        seq += count
        store.conn.run_all(calls)

    return paced(rate, seconds, batch)


def main(argv: list[str]) -> None:
    if argv[0] == "fill":
        task = argv[3] if len(argv) > 3 else "noop"
        args = (int(argv[4]),) if len(argv) > 4 and argv[4] else ()
        timeout_s = int(argv[5]) if len(argv) > 5 else None
        print(json.dumps({"seconds": fill(argv[1], int(argv[2]), schedule(task, args, timeout_s))}))
    elif argv[0] == "produce":
        print(json.dumps({"sent": produce(argv[1], float(argv[2]), float(argv[3]))}))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
