"""What every benchmarked task does: count itself, and for latency runs record its lateness.

Shared by both sides of ``bench_worker.py``: sched's task module (``bench_tasks.py``, run by
``python -m scheduler worker``) and the competitors' (``worker_side.py``, run by the Celery,
Huey and Dramatiq workers from the comparison venv). It needs only ``redis``, which both
venvs have.

A task calls ``hit()``, which only bumps an in-memory counter (and appends a lateness in
seconds, if given) under a lock: the no-op stays a no-op, identical on every side. A daemon
thread, started on the first hit in each process (so also in forked children), flushes the
counts every ``FLUSH_S`` with one pipeline: ``INCRBY bench:done`` and ``RPUSH bench:lat``
on the Redis named by ``BENCH_PROBE_URL``. Reading ``bench:done`` from outside therefore
tells progress to within ``FLUSH_S``.

``paced()`` is the producers' shared clock for the latency benchmark. ``spin`` and ``hang``
are the task bodies of ``bench_prefork.py`` on every side: a fixed amount of pure-Python
work, and a run that never returns (it records its start time, then sleeps).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import redis

DONE_KEY = "bench:done"
LATENCY_KEY = "bench:lat"
FLUSH_S = 0.02


class Probe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.latencies: list[float] = []
        self.pid = 0

    def hit(self, fire_ts: float | None = None) -> None:
        started = time.time()
        with self.lock:
            if self.pid != os.getpid():  # first hit in this process (or a forked child)
                self.pid = os.getpid()
                self.count, self.latencies = 0, []
                threading.Thread(target=self._flush_forever, daemon=True).start()
            self.count += 1
            if fire_ts is not None:
                self.latencies.append(started - fire_ts)

    def _flush_forever(self) -> None:
        client = redis.Redis.from_url(os.environ["BENCH_PROBE_URL"])
        while True:
            time.sleep(FLUSH_S)
            with self.lock:
                count, latencies = self.count, self.latencies
                self.count, self.latencies = 0, []
            if not count:
                continue
            pipe = client.pipeline(transaction=False)
            pipe.incrby(DONE_KEY, count)
            if latencies:
                pipe.rpush(LATENCY_KEY, *(f"{x:.6f}" for x in latencies))
            pipe.execute()


PROBE = Probe()
HANG_S = 3600.0


def work(loops: int) -> int:
    """``loops`` rounds of pure-Python arithmetic, the GIL held throughout."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def spin(loops: int) -> int:
    total = work(loops)
    PROBE.hit()
    return total


def hang() -> None:
    """Record this start (its ``time.time()``) at once, then never return: only a kill at the
    run's time limit ends it. Written synchronously, not through the probe's flush thread:
    a child killed within 20 ms of starting must still be counted."""
    started = time.time()
    client = redis.Redis.from_url(os.environ["BENCH_PROBE_URL"])
    pipe = client.pipeline(transaction=False)
    pipe.incr(DONE_KEY)
    pipe.rpush(LATENCY_KEY, started)
    pipe.execute()
    time.sleep(HANG_S)


def paced(rate: float, seconds: float, send: Callable[[int], None]) -> int:
    """Call ``send(k)`` so that ``rate`` messages a second go out for ``seconds``; the total.

    Every millisecond or so it sends whatever is due by then, so a slow ``send`` catches up
    in bigger batches instead of lowering the offered rate.
    """
    started = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            return sent
        due = int(elapsed * rate) + 1 - sent
        if due > 0:
            send(due)
            sent += due
        time.sleep(0.001)
