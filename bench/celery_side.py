"""The Celery side of ``bench_scheduler.py``: one ``celery beat`` process, instrumented.

Runs with the comparison venv's Python (celery and celery-redbeat are not dependencies of
sched; ``bench_scheduler.py`` creates ``bench/.venv-celery`` from
``bench/requirements-compare.txt``), never with the project's:

    bench/.venv-celery/bin/python bench/celery_side.py beat SPEC.json
    bench/.venv-celery/bin/python bench/celery_side.py worker SPEC.json
    bench/.venv-celery/bin/python bench/celery_side.py versions

``beat`` starts Celery beat in this process (as ``celery beat`` does: ``app.Beat(...).run()``)
with the scheduler and ``beat_schedule`` that the JSON spec describes: ``persistent`` is
Celery's default ``PersistentScheduler`` (a shelve file), ``redbeat`` is
``redbeat.RedBeatScheduler``. The schedule is plain ``beat_schedule`` config, as users write
it: ``count`` entries of ``schedule=every_s`` seconds calling an unregistered task name, so
beat sends it by name. Entry *i* of a group gets ``last_run_at = first_due + (i % spread_s)
- every_s``, so that its first due time is exactly the one the spec asks for. A group with
``"relative": true`` uses ``schedule(every_s, relative=True)``: Celery rounds each due time
down to the interval's resolution (whole seconds for intervals under a minute), so an every-1 s
entry aims at whole-second boundaries instead of drifting by each send's lateness.

``worker`` runs one ``celery worker --pool solo`` (``bench_celery.py``; without heartbeats,
gossip and mingle unless the spec says ``"defaults": true``, as ``bench_idle.py`` does) on the
spec's broker,
with the task ``bench.noop`` that appends one JSON line per execution to the spec's
``record_file``: ``time.time()`` as the task's first statement, and the due instant from
the message's headers (sched's ``sched_fire_at``, or this module's ``bench_due``).

The instrumentation does not change what beat decides, only records it:

* each message sent carries two extra headers: ``bench_due``, the instant Celery itself
  considered the entry due (``last_run_at + run_every``, rounded as Celery rounds it for a
  relative schedule, read before beat advances the entry), and ``bench_pid``, this
  process's id (which replica sent it);
* the first ``tick()`` writes the time (``time.time()``) to the spec's ``ready_file``: the
  schedule is loaded and, for redbeat, the lock is held.

Typed so that ``mypy --strict`` passes without celery installed: celery is imported with
``importlib`` and handled as ``Any``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

TASK = "bench.noop"
QUEUE = "celery"  # kombu's Redis list for Celery's default queue


def beat_schedule(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schedule_mod = importlib.import_module("celery.schedules")
    entries: dict[str, dict[str, Any]] = {}
    for group in spec["groups"]:
        every = timedelta(seconds=group["every_s"])
        spread = int(group.get("spread_s", 0))
        for i in range(int(group["count"])):
            offset = i % spread if spread else 0
            first_due = datetime.fromtimestamp(group["first_due"] + offset, UTC)
            entries[f"{group['prefix']}{i:06d}"] = {
                "task": TASK,
                "schedule": schedule_mod.schedule(every, relative=bool(group.get("relative"))),
                "last_run_at": first_due - every,
            }
    return entries


def make_app(spec: dict[str, Any]) -> Any:
    celery_mod = importlib.import_module("celery")
    app = celery_mod.Celery("bench", broker=spec["broker_url"])
    app.conf.update(
        timezone="UTC",
        enable_utc=True,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        beat_max_loop_interval=spec["max_interval_s"],
        beat_schedule=beat_schedule(spec),
        redbeat_redis_url=spec["redbeat_url"],
        redbeat_lock_timeout=spec["lock_timeout_s"],
    )
    return app


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def due_at(entry: Any) -> datetime:
    """When Celery considers ``entry`` due: ``last_run_at + run_every``, rounded down to the
    interval's resolution for a relative schedule (``celery.utils.time.remaining``)."""
    remaining = importlib.import_module("celery.utils.time").remaining
    last = _aware(entry.last_run_at)
    schedule = entry.schedule
    due: datetime = last + remaining(last, schedule.run_every, now=last, relative=schedule.relative)
    return due


def instrumented(base: Any, ready_file: str) -> Any:
    """A subclass of ``base`` (a celery.beat.Scheduler) that only records what it does."""
    pid = os.getpid()

    def tick(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, "_bench_ready", False):
            self._bench_ready = True
            Path(ready_file).write_text(repr(time.time()))
        return base.tick(self, *args, **kwargs)

    def apply_async(
        self: Any, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        due = due_at(entry)
        self._bench_headers = {"bench_due": due.timestamp(), "bench_pid": pid}
        return base.apply_async(self, entry, producer=producer, advance=advance, **kwargs)

    def send_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **self._bench_headers}
        return base.send_task(self, *args, **kwargs)

    methods = {"tick": tick, "apply_async": apply_async, "send_task": send_task}
    return type(f"Bench{base.__name__}", (base,), methods)


def run_beat(spec: dict[str, Any]) -> None:
    app = make_app(spec)
    if spec["scheduler"] == "redbeat":
        base = importlib.import_module("redbeat").RedBeatScheduler
    else:
        base = importlib.import_module("celery.beat").PersistentScheduler
    scheduler = instrumented(base, spec["ready_file"])
    app.Beat(
        scheduler=scheduler,
        schedule=spec["schedule_file"],
        max_interval=spec["max_interval_s"],
        loglevel=spec.get("loglevel", "WARNING"),
        quiet=True,
    ).run()


def run_worker(spec: dict[str, Any]) -> None:
    """One idle ``celery worker --pool solo`` whose ``bench.noop`` records when it started."""
    celery_mod = importlib.import_module("celery")
    app = celery_mod.Celery("bench_worker", broker=spec["broker_url"])
    app.conf.update(
        timezone="UTC",
        enable_utc=True,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )
    record_file = spec["record_file"]

    def noop(self: Any, *args: Any, **kwargs: Any) -> None:
        started = time.time()
        request = self.request
        line = {
            "at": started,
            "id": request.id,
            "sched_fire_at": getattr(request, "sched_fire_at", None),
            "bench_due": getattr(request, "bench_due", None),
        }
        with open(record_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    app.task(name=TASK, bind=True)(noop)
    quiet = [] if spec.get("defaults") else ["--without-heartbeat", "--without-gossip",
                                              "--without-mingle"]  # fmt: skip
    app.worker_main(["worker", "--pool", "solo", "-Q", QUEUE, *quiet, "-l", "warning"])


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("celery", "kombu", "celery-redbeat", "redis")}


def main(argv: list[str]) -> int:
    if argv[:1] == ["versions"]:
        print(json.dumps(versions()))
        return 0
    if len(argv) == 2 and argv[0] == "beat":
        run_beat(json.loads(Path(argv[1]).read_text()))
        return 0
    if len(argv) == 2 and argv[0] == "worker":
        run_worker(json.loads(Path(argv[1]).read_text()))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
