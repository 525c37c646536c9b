"""The redbeat side of ``bench_scale.py``: create many RedBeatSchedulerEntry objects.

Runs with the comparison venv's Python (``bench/.venv-celery``), never with the project's:

    bench/.venv-celery/bin/python bench/scale_redbeat.py create SPEC.json

The spec names the Redis URL (``redbeat_url``), the index range (``first``, ``count``), the
way to write (``mode``) and a time cap (``cap_s``); one JSON line goes to stdout: entries
written, seconds spent (building the entries and writing them; the app set-up is not
timed).

* ``save``: ``RedBeatSchedulerEntry(...).save()`` per entry, redbeat's API. Each save is its
  own pipeline of three commands (HSET definition, HSETNX meta, ZADD): one round trip per
  entry; redbeat has no call that writes many entries at once.
* ``pipelined``: the same ``save()`` calls, with redbeat's ``get_redis`` handing out one
  shared pipeline that the benchmark executes every 1,000 entries (as sched's ``add_many``
  does). It writes exactly what ``save()`` writes; it is what a user could do by reaching
  into redbeat, not a redbeat feature.

* ``bulk``: only to fill the database for the memory rows (as sched's side has its bulk
  loader): what ``save()`` writes for 1,440 entries, recorded once, written again for every
  other entry under its own name (the same definition, meta and score as its template's).

The mix matches sched's (``bench_scale.py``): a quarter each of monthly, weekly and daily
crontabs (Celery's crontab has no per-entry time zone: they are in the app's, UTC) and
intervals of 1 to 7 days; ``last_run_at`` is now, so nothing is due at once.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import celery_side

CHUNK = 1000
TEMPLATES = 1440  # as sched's bulk loader (bench_scale.BULK_TEMPLATES)


def entry_args(i: int, schedules: Any) -> dict[str, Any]:
    crontab = schedules.crontab
    kind = i % 4
    if kind == 0:
        schedule = crontab(minute=i % 60, hour=i % 24, day_of_month=1 + i % 28)
    elif kind == 1:
        schedule = crontab(minute=i % 60, hour=i % 24, day_of_week=i % 7)
    elif kind == 2:
        schedule = crontab(minute=i % 60, hour=i % 24)
    else:
        schedule = schedules.schedule(timedelta(days=1 + i % 7))
    return {"name": f"s{i:07d}", "task": celery_side.TASK, "schedule": schedule,
            "kwargs": {"tenant": i}}  # fmt: skip


class SharedPipeline:
    """What ``get_redis(app).pipeline()`` returns in ``pipelined`` mode: the one pipeline,
    whose ``execute`` inside ``save()`` only queues (the benchmark executes it)."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        if name == "execute":
            return lambda: []
        return getattr(self.pipe, name)


class Recorder:
    """A pipeline that keeps the commands ``save()`` gives it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def pipeline(self, *args: object, **kwargs: object) -> Recorder:
        return self

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def bulk(app: Any, module: Any, schedules: Any, spec: dict[str, Any]) -> dict[str, Any]:
    real_get_redis, client = module.get_redis, module.get_redis(app)
    last_run = datetime.now(UTC)
    templates = []
    for k in range(TEMPLATES):
        recorder = Recorder()
        module.get_redis = lambda app=None, recorder=recorder: recorder
        entry = module.RedBeatSchedulerEntry(app=app, **entry_args(k, schedules))
        entry.last_run_at = last_run
        entry.save()
        templates.append((f"s{k:07d}", recorder.calls))
    module.get_redis = real_get_redis
    first, count, cap_s = int(spec["first"]), int(spec["count"]), float(spec["cap_s"])
    started, written = time.perf_counter(), 0
    for start in range(first, first + count, CHUNK):
        stop = min(first + count, start + CHUNK)
        pipe = client.pipeline(transaction=False)
        for i in range(start, stop):
            old, calls = templates[i % TEMPLATES]
            new = f"s{i:07d}"
            for name, args in calls:
                getattr(pipe, name)(*(renamed(a, old, new) for a in args))
        pipe.execute()
        written = stop - first
        if time.perf_counter() - started > cap_s:
            break
    return {"created": written, "seconds": time.perf_counter() - started, "mode": "bulk",
            "cut": written < count}  # fmt: skip


def renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {renamed(k, old, new): v for k, v in value.items()}
    return value


def create(spec: dict[str, Any]) -> dict[str, Any]:
    app = celery_side.make_app({**spec, "groups": [], "broker_url": spec["redbeat_url"],
                                "max_interval_s": 1, "lock_timeout_s": 5})  # fmt: skip
    module: Any = importlib.import_module("redbeat.schedulers")
    schedules = importlib.import_module("celery.schedules")
    entry_cls = module.RedBeatSchedulerEntry
    client = module.get_redis(app)
    first, count, cap_s = int(spec["first"]), int(spec["count"]), float(spec["cap_s"])
    if spec["mode"] == "bulk":
        return bulk(app, module, schedules, spec)
    real_get_redis = module.get_redis
    started = time.perf_counter()
    written = 0
    for start in range(first, first + count, CHUNK):
        stop = min(first + count, start + CHUNK)
        last_run = datetime.now(UTC)
        if spec["mode"] == "pipelined":
            pipe = client.pipeline(transaction=False)
            shared = SharedPipeline(pipe)
            module.get_redis = lambda app=None, shared=shared: type(
                "R", (), {"pipeline": lambda self, *a, **k: shared}
            )()
        for i in range(start, stop):
            entry = entry_cls(app=app, **entry_args(i, schedules))
            entry.last_run_at = last_run
            entry.save()
        if spec["mode"] == "pipelined":
            module.get_redis = real_get_redis
            pipe.execute()
        written = stop - first
        if time.perf_counter() - started > cap_s:
            break
    return {"created": written, "seconds": time.perf_counter() - started,
            "mode": spec["mode"], "cut": written < count}  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "create":
        print(json.dumps(create(json.loads(Path(argv[1]).read_text()))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
