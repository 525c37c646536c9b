"""The one line a Celery app adds so that sched sees how its runs end:

    from scheduler.celery import report_outcomes
    report_outcomes(app)

Celery workers report nothing to sched by default: ``sched history`` shows each hand-off
(``sent_to_celery``) and no more. With this hook, each task that sched handed over (it
carries the header ``sched_run_id``) records ``succeeded`` or ``failed`` in the schedule's
history, and its start and end move the counters that ``overlap`` reads. Tasks that did not
come from sched are left alone. A run whose worker dies mid-task (or that Celery's hard time
limit kills) reports nothing; the leader stops counting it after its deadline
(``core.celery.outcome_deadline_ms``) and records ``no_outcome``.

Reporting never fails a task: if sched's Redis cannot be reached, the outcome is logged and
lost.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import signals

from scheduler.core import clock
from scheduler.core.celery import REDIS_SCHEMES
from scheduler.core.instants import to_ms, utc_text
from scheduler.core.messages import Event
from scheduler.store import Store, connect

log = logging.getLogger("sched.celery")

_ENDED = {"SUCCESS": "succeeded", "FAILURE": "failed"}  # others (RETRY) are not an end


class _Reporter:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self._store: tuple[int, Store] | None = None  # (pid, store): one per worker process
        self._started: dict[str, int] = {}  # task id -> ms it started

    @property
    def store(self) -> Store:
        if self._store is None or self._store[0] != os.getpid():  # a forked pool process
            self._store = (os.getpid(), Store(connect(self.redis_url, 2.0), self.namespace))
        return self._store[1]

    def started(self, task_id: str, task: Any, **_: Any) -> None:
        run_id = _run_id(task)
        if run_id is None:
            return
        self._started[task_id] = to_ms(clock.utc_now())
        self._report(run_id, "started")

    def ended(self, task_id: str, task: Any, retval: Any = None, state: str = "",
              **_: Any) -> None:  # fmt: skip
        run_id = _run_id(task)
        kind = _ENDED.get(state)
        if run_id is None or kind is None:
            return
        now = clock.utc_now()
        began = self._started.pop(task_id, None)
        request = task.request
        note = Event(
            kind,
            utc_text(now),
            run_id=run_id,
            fire_at=getattr(request, "sched_fire_at", None),
            worker=getattr(request, "hostname", None),
            duration_ms=None if began is None else to_ms(now) - began,
            error=None if kind == "succeeded" else f"{type(retval).__name__}: {retval}",
            celery_id=task_id,
        ).dumps()
        self._report(run_id, "ended", note, to_ms(now) if kind == "succeeded" else None)

    def _report(self, run_id: str, what: str, note: str = "", success_ms: int | None = None
                ) -> None:  # fmt: skip
        try:
            self.store.celery.report(run_id, what, note, success_ms)
        except Exception:  # reporting must never fail the task
            log.warning("could not report %s of %s to sched", what, run_id, exc_info=True)


def _run_id(task: Any) -> str | None:
    value = getattr(task.request, "sched_run_id", None)
    return value if isinstance(value, str) else None


def report_outcomes(app: Any, redis_url: str | None = None, namespace: str | None = None
                    ) -> None:  # fmt: skip
    """Record the outcomes of the runs sched hands to this Celery app in sched's history.

    ``redis_url``: sched's Redis; by default ``SCHED_REDIS_URL``, else the app's broker when
    it is a Redis (the usual case: sched hands over through its own Redis). ``namespace``:
    by default ``SCHED_NAMESPACE``, else ``sched``.
    """
    url = redis_url or os.environ.get("SCHED_REDIS_URL")
    if not url:
        broker = str(app.conf.broker_url or "")
        if broker.partition("://")[0] not in REDIS_SCHEMES:
            raise ValueError(
                "report_outcomes: the app's broker is not a Redis; pass sched's Redis URL "
                "(redis_url=...) or set SCHED_REDIS_URL"
            )
        url = broker
    reporter = _Reporter(url, namespace or os.environ.get("SCHED_NAMESPACE", "sched"))
    signals.task_prerun.connect(reporter.started, weak=False)
    signals.task_postrun.connect(reporter.ended, weak=False)
