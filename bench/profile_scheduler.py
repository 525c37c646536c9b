"""Where sched's time and memory go: the reproductions behind bench/RESULTS.md's analysis.

Not a benchmark against anything, and not a test: a profiling aid that wraps the Store's
methods and looks at ``scheduler.config._constructor`` (if it still exists), so it may need
updating when those change. Run from the repository root:

    python bench/profile_scheduler.py tick 2000     # one tick dispatching 2,000 due fires
    python bench/profile_scheduler.py tick 2000 --cprofile
    python bench/profile_scheduler.py load 20000    # memory kept by loading schedule files

``tick N``: N schedules every 1 s on an embedded Redis, synced, then a few real
``Scheduler.tick`` calls that each dispatch all N (planned at the instant, not built ahead),
with the time spent in the Store's Redis calls summed per method (``LeaderStore.due``:
ZRANGEBYSCORE; ``Reads.states``: one HGETALL per schedule, pipelined, when the leader reads
state back; ``LeaderStore.dispatch``: ``lua/dispatch.lua``, packing and reading included),
the rest (planning, run messages, JSON: Python in the Scheduler), and the time Redis itself
spent running the dispatch script.

``load N``: writes N schedules to YAML files (5,000 per file) and measures with tracemalloc
what ``scheduler.config.load`` leaves allocated, before and after emptying the PyYAML
constructor that ``scheduler/config.py`` keeps at module level.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from bench_scheduler import Group, write_schedules  # bench/ is on sys.path when run as a script

from scheduler import config
from scheduler.beat import Scheduler
from scheduler.core.model import Schedule
from scheduler.store import Store
from scheduler.store.embedded import EmbeddedRedis, free_port


def profile_tick(n: int, ticks: int, use_cprofile: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), port=free_port()).start()
        try:
            client = redis.Redis.from_url(server.url)
            store = Store(client)
            schedules = {
                f"s{i:06d}": Schedule(
                    name=f"s{i:06d}", task="scheduler.tasks:heartbeat", timezone="UTC", every_s=1
                )
                for i in range(n)
            }
            replica = Scheduler(store, schedules, identity="profile")
            start = datetime(2026, 11, 21, 16, tzinfo=UTC)
            replica.elect(start)
            replica.tick(start - timedelta(milliseconds=500))  # sync only: nothing due yet
            print(f"{n:,} schedules due per tick, batches of {replica.batch_size}")
            for k in range(ticks):
                at = start + timedelta(seconds=k)
                replica.elect(at)
                if use_cprofile and k == ticks - 1:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    replica.tick(at)
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                else:
                    timed_tick(replica, client, at)
        finally:
            server.kill()


def timed_tick(replica: Scheduler, client: redis.Redis, at: datetime) -> None:
    """Run one real ``tick`` with the Store's Redis calls timed; the rest is Python."""
    parts = {"due": replica.store.leader, "states": replica.store.reads,
             "dispatch": replica.store.leader}  # fmt: skip
    spent = dict.fromkeys(parts, 0.0)
    originals = {name: getattr(owner, name) for name, owner in parts.items()}

    def timed(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return call

    for name, owner in parts.items():
        setattr(owner, name, timed(name))
    client.config_resetstat()
    try:
        began = time.perf_counter()
        enqueued = replica.tick(at)
        total = time.perf_counter() - began
    finally:
        for name, owner in parts.items():
            delattr(owner, name)  # back to the class's methods
    stats: Any = client.info("commandstats")
    script_ms = int(stats.get("cmdstat_evalsha", {}).get("usec", 0)) / 1000
    python = total - sum(spent.values())
    shown = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in spent.items())
    print(
        f"tick: {enqueued:,} runs in {total * 1000:.0f} ms ({total / max(enqueued, 1) * 1e6:.0f}"
        f" µs per run): {shown}, the rest (Python in Scheduler) {python * 1000:.0f} ms; "
        f"Redis ran dispatch.lua for {script_ms:.0f} ms of dispatch"
    )


def profile_load(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "schedules"
        write_schedules(directory, [Group("s", n, 3600, math.ceil(time.time()) + 600, 3600)])
        constructor = getattr(config, "_constructor", None)
        cache: dict[Any, Any] = getattr(constructor, "constructed_objects", {})
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        rounds: list[float] = []
        loaded = None
        for _ in range(2):
            loaded = config.load([directory])
            gc.collect()
            rounds.append((tracemalloc.get_traced_memory()[0] - base) / 2**20)
        cached = len(cache)
        cache.clear()
        gc.collect()
        kept = (tracemalloc.get_traced_memory()[0] - base) / 2**20
        tracemalloc.stop()
        assert loaded is not None
        print(f"{len(loaded.schedules):,} schedules loaded twice (a start, then a reload)")
        print(f"allocated after the first load:  {rounds[0]:7.1f} MiB")
        print(f"allocated after the second load: {rounds[1]:7.1f} MiB (first result dropped)")
        print(f"YAML nodes held by scheduler.config._constructor: {cached:,}")
        print(f"allocated once that cache is emptied: {kept:7.1f} MiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    tick = sub.add_parser("tick", help="time the phases of a tick dispatching N fires")
    tick.add_argument("n", type=int)
    tick.add_argument("--ticks", type=int, default=4)
    tick.add_argument("--cprofile", action="store_true", help="cProfile the last tick")
    load = sub.add_parser("load", help="memory kept by loading N schedules from YAML")
    load.add_argument("n", type=int)
    args = parser.parse_args(argv)
    if args.what == "tick":
        profile_tick(args.n, args.ticks, args.cprofile)
    else:
        profile_load(args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
