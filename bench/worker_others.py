"""The Celery, Huey and Dramatiq side of ``bench_worker.py``: their apps, tasks and producers.

Runs only under the comparison venv's Python (``bench/.venv-workers``, created by
``bench_worker.py``; none of these packages is a dependency of sched). The same module is
what each worker imports (``PYTHONPATH=bench``), with ``BENCH_SIDE`` choosing the framework
and ``BENCH_BROKER_URL`` its Redis:

    celery -A worker_others worker --pool solo ...       BENCH_SIDE=celery
    huey_consumer worker_others.huey -k thread -w 1      BENCH_SIDE=huey
    dramatiq worker_others --processes 1 --threads 8     BENCH_SIDE=dramatiq

and what ``bench_worker.py`` calls to fill a queue or offer a steady rate:

    python bench/worker_others.py fill N               # N no-op tasks, then prints seconds
    python bench/worker_others.py fill N TASK [ARG [TIME_LIMIT_S]]
                                                       # `spin ARG` / `hang` (bench_prefork;
                                                       # TIME_LIMIT_S: Celery's time_limit)
    python bench/worker_others.py produce RATE SECONDS # `stamp` tasks at RATE per second
    python bench/worker_others.py versions

Each framework gets two tasks with explicit names (so a task enqueued from ``__main__``
matches the worker's): ``noop()`` and ``stamp(fire_ts)``; both only call ``PROBE.hit`` (see
``worker_probe.py``), exactly like sched's ``bench_tasks.py``. Everything else is each
framework's default: Celery ignores results, Huey keeps its default result store (a
``None`` result is not stored), Dramatiq keeps its default middleware.

Typed so that ``mypy --strict`` passes without these packages installed: they are imported
with ``importlib`` and handled as ``Any``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from worker_probe import PROBE, hang, paced, spin

SIDE = os.environ.get("BENCH_SIDE", "")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/1")


def noop() -> None:
    PROBE.hit()


def stamp(fire_ts: float) -> None:
    PROBE.hit(fire_ts)


app: Any = None  # celery
huey: Any = None
broker: Any = None  # dramatiq
tasks: dict[str, Any] = {}


def _celery() -> None:
    global app
    celery = importlib.import_module("celery")
    app = celery.Celery("bench", broker=BROKER_URL)
    app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
    tasks["noop"] = app.task(name="bench.noop")(noop)
    tasks["stamp"] = app.task(name="bench.stamp")(stamp)
    tasks["spin"] = app.task(name="bench.spin")(spin)
    tasks["hang"] = app.task(name="bench.hang")(hang)


def _huey() -> None:
    global huey
    huey = importlib.import_module("huey").RedisHuey("bench", url=BROKER_URL)
    tasks["noop"] = huey.task(name="noop")(noop)
    tasks["stamp"] = huey.task(name="stamp")(stamp)


def _dramatiq() -> None:
    global broker
    dramatiq = importlib.import_module("dramatiq")
    broker = importlib.import_module("dramatiq.brokers.redis").RedisBroker(url=BROKER_URL)
    dramatiq.set_broker(broker)
    tasks["noop"] = dramatiq.actor(noop, actor_name="noop", max_retries=0)
    tasks["stamp"] = dramatiq.actor(stamp, actor_name="stamp", max_retries=0)


if SIDE and __name__ != "__main__":  # as a script, main() uses the imported module's
    {"celery": _celery, "huey": _huey, "dramatiq": _dramatiq}[SIDE]()


def sender(name: str, time_limit_s: float | None = None) -> Callable[..., None]:
    """Enqueue one task by its framework's ordinary API (Celery only: with a hard
    ``time_limit``, which its prefork pool enforces by killing the child)."""
    task = tasks[name]
    if SIDE == "celery":
        limits = {"time_limit": time_limit_s} if time_limit_s else {}
        return lambda *args: task.apply_async(args, **limits)
    if SIDE == "huey":
        return lambda *args: task(*args)
    return lambda *args: task.send(*args)


def fill(count: int, name: str = "noop", args: tuple[int, ...] = (),
         time_limit_s: float | None = None) -> float:  # fmt: skip
    send = sender(name, time_limit_s)
    started = time.perf_counter()
    for _ in range(count):
        send(*args)
    return time.perf_counter() - started


def produce(rate: float, seconds: float) -> int:
    send = sender("stamp")

    def batch(count: int) -> None:
        for _ in range(count):
            send(int(time.time() * 1000) / 1000)  # ms, like sched's fire_at_ms

    return paced(rate, seconds, batch)


def versions() -> dict[str, str]:
    names = ("celery", "kombu", "billiard", "huey", "dramatiq", "redis")
    found = {}
    for name in names:  # bench_prefork's venv (requirements-compare.txt) has Celery only
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def main(argv: list[str]) -> None:
    if argv[0] == "fill":
        name = argv[2] if len(argv) > 2 else "noop"
        args = (int(argv[3]),) if len(argv) > 3 and argv[3] else ()
        limit = float(argv[4]) if len(argv) > 4 else None
        print(json.dumps({"seconds": fill(int(argv[1]), name, args, limit)}))
    elif argv[0] == "produce":
        print(json.dumps({"sent": produce(float(argv[1]), float(argv[2]))}))
    elif argv[0] == "versions":
        print(json.dumps(versions()))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    # Through the module, so that task names are the workers' (Huey names a task after the
    # module that defines it).
    importlib.import_module("worker_others").main(sys.argv[1:])
