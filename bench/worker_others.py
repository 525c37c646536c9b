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

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from worker_probe import PROBE, paced

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


def sender(name: str) -> Callable[..., None]:
    """Enqueue one task by its framework's ordinary API."""
    task = tasks[name]
    if SIDE == "celery":
        return lambda *args: task.apply_async(args)
    if SIDE == "huey":
        return lambda *args: task(*args)
    return lambda *args: task.send(*args)


def fill(count: int) -> float:
    send = sender("noop")
    started = time.perf_counter()
    for _ in range(count):
        send()
    return time.perf_counter() - started


def produce(rate: float, seconds: float) -> int:
    send = sender("stamp")

    def batch(count: int) -> None:
        for _ in range(count):
            send(int(time.time() * 1000) / 1000)  # ms, like sched's fire_at_ms

    return paced(rate, seconds, batch)


def versions() -> dict[str, str]:
    names = ("celery", "kombu", "huey", "dramatiq", "redis")
    return {name: version(name) for name in names}


def main(argv: list[str]) -> None:
    if argv[0] == "fill":
        print(json.dumps({"seconds": fill(int(argv[1]))}))
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
