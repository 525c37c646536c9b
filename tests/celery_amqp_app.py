"""The Celery app the worker of tests/test_brokers_amqp.py runs: its broker is
``SCHED_TEST_BROKER_URL``; its one task appends what it was called with, as a JSON line, to
the file ``SCHED_TEST_RECORD``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from celery import Celery

app = Celery("celery_amqp_app", broker=os.environ["SCHED_TEST_BROKER_URL"])
app.conf.broker_connection_retry_on_startup = True


@app.task(bind=True, name="sched_test.record")  # type: ignore[untyped-decorator]
def record(self: Any, *args: Any, **kwargs: Any) -> None:
    request = self.request
    seen = {
        "task_id": request.id,
        "args": list(args),
        "kwargs": kwargs,
        "sched_run_id": request.sched_run_id,
        "sched_fire_at": request.sched_fire_at,
        "priority": request.delivery_info.get("priority"),
        "routing_key": request.delivery_info.get("routing_key"),
    }
    with Path(os.environ["SCHED_TEST_RECORD"]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(seen) + "\n")
