"""A Celery app for the hand-off tests: its tasks record what they were given, one JSON line
per execution, to the file named by ``SCHED_TEST_RECORD``.

Started by the tests as a real ``celery worker`` (``-A celery_app``), with the broker from
``CELERY_BROKER_URL``; ``SCHED_TEST_REPORT=1`` adds sched's ``report_outcomes`` hook.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery

app = Celery("sched_test", broker=os.environ.get("CELERY_BROKER_URL", "memory://"))
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)
if os.environ.get("SCHED_TEST_REPORT") == "1":
    from scheduler.celery import report_outcomes

    report_outcomes(app)


def _record(kind: str, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    line = {
        "kind": kind,
        "id": request.id,
        "run_id": getattr(request, "sched_run_id", None),
        "fire_at": getattr(request, "sched_fire_at", None),
        "args": list(args),
        "kwargs": kwargs,
        "delivery_info": request.delivery_info,
        "pid": os.getpid(),
        "at": time.time(),
    }
    with open(os.environ["SCHED_TEST_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.task(name="proj.tasks.record", bind=True)
def record(self: Any, *args: Any, **kwargs: Any) -> None:
    _record("ran", self.request, args, kwargs)


@app.task(name="proj.tasks.sleep", bind=True)
def sleep(self: Any, seconds: float) -> None:
    _record("began", self.request, (seconds,), {})
    time.sleep(seconds)
    _record("ended", self.request, (seconds,), {})


@app.task(name="proj.tasks.fail", bind=True)
def fail(self: Any) -> None:
    _record("ran", self.request, (), {})
    raise RuntimeError("the task failed on purpose")
