"""Workers: take runs from Redis, execute them, report every outcome.

Execution is at least once: a run stays claimed by its worker until the outcome is
recorded, and runs held by a worker whose heartbeat stops are delivered again. The loop
step ``process_once()`` is what tests drive; ``run()`` adds the timers and the shutdown.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import queue as queue_module
import random
import secrets
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from scheduler import clock
from scheduler.context import RunContext, set_current_run
from scheduler.dispatch import event, from_ms, to_ms, utc_text
from scheduler.model import RetryPolicy
from scheduler.retries import decide
from scheduler.store import Claimed, Outcome, Store, StoreError, WorkerStore, priority_score

log = logging.getLogger("sched.worker")

HEARTBEAT_EVERY_S = 1.0
WORKER_TIMEOUT_S = 10.0  # a worker silent this long is presumed dead; its runs come back
MAX_DELIVERIES = 5  # deliveries without an outcome before a run is dead-lettered as poison
GRACE_S = 30.0  # on SIGTERM, how long running runs may finish before they are handed back
TRACEBACK_LIMIT = 4000  # characters of traceback kept with a dead letter
IDLE_POLL_S = 0.005
CLAIM_BATCH = 100
PREFETCH = 32  # runs claimed beyond the free slots, to save round trips under load


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


_TASKS: dict[str, Callable[..., Any]] = {}


def resolve(task: str) -> Callable[..., Any]:
    """Import ``module:attribute`` once."""
    found = _TASKS.get(task)
    if found is None:
        module_name, _, attribute = task.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise TypeError(f"task {task!r} is not callable")
        found = _TASKS[task] = target
    return found


def _context(message: dict[str, Any], worker_id: str) -> RunContext:
    return RunContext(
        schedule=message["schedule"],
        run_id=message["run_id"],
        fire_at=from_ms(message["fire_at_ms"]),
        attempt=message["attempt"],
        queue=message["queue"],
        worker=worker_id,
    )


@dataclass
class Result:
    """How one attempt ended: ``error`` is None on success."""

    error: BaseException | None = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""


def execute(message: dict[str, Any], worker_id: str) -> Result:
    """Run one attempt in this thread; never raises."""
    set_current_run(_context(message, worker_id))
    try:
        resolve(message["task"])(*message["args"], **message["kwargs"])
        return Result()
    except BaseException as exc:  # a task's failure is an outcome, not ours
        text = "".join(traceback.format_exception(exc))[-TRACEBACK_LIMIT:]
        return Result(exc, type(exc).__name__, str(exc), text)
    finally:
        set_current_run(None)


# -- pools ------------------------------------------------------------------------------


@dataclass
class Job:
    claimed: Claimed
    started: datetime
    deadline: float | None  # time.monotonic() at which the attempt times out
    result: Result | None = None
    abandoned: bool = False
    handle: Any = None  # the pool's own bookkeeping (thread slot or process)


class ThreadPool:
    """N threads; a thread stuck past a timeout is abandoned and replaced.

    Python cannot stop a thread: an abandoned task keeps running until it returns, but it
    no longer holds a slot. Use the process pool for tasks that can hang.
    """

    def __init__(self, size: int, worker_id: str, done: queue_module.SimpleQueue[Job]) -> None:
        self.size = size
        self.worker_id = worker_id
        self.done = done
        self.jobs: queue_module.SimpleQueue[Job | None] = queue_module.SimpleQueue()
        self.threads: list[threading.Thread] = []
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._serve, daemon=True, name="sched-run")
        thread.start()
        self.threads.append(thread)

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job.handle = threading.current_thread()
            job.result = execute(job.claimed.message, self.worker_id)
            if job.abandoned:
                return  # replaced at the timeout; this thread retires
            self.done.put(job)

    def submit(self, job: Job) -> None:
        self.jobs.put(job)

    def abandon(self, job: Job) -> None:
        job.abandoned = True
        if job.handle in self.threads:
            self.threads.remove(job.handle)
        self._spawn()

    def poll(self) -> None:
        """Finished jobs arrive on ``done`` by themselves."""

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


def _child(conn: Connection, message: dict[str, Any], worker_id: str) -> None:
    result = execute(message, worker_id)
    conn.send((result.error is None, result.error_type, result.error_message, result.traceback))
    conn.close()


class ProcessPool:
    """One child process per attempt: a timeout kills it, a crash fails only that attempt."""

    def __init__(self, size: int, worker_id: str, done: queue_module.SimpleQueue[Job]) -> None:
        self.size = size
        self.worker_id = worker_id
        self.done = done
        self.running: list[Job] = []
        self.context = multiprocessing.get_context("forkserver")

    def submit(self, job: Job) -> None:
        parent, child = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_child, args=(child, job.claimed.message, self.worker_id), daemon=True
        )
        process.start()
        child.close()
        job.handle = (process, parent)
        self.running.append(job)

    def abandon(self, job: Job) -> None:
        process, parent = job.handle
        process.kill()
        process.join()
        parent.close()
        job.abandoned = True
        self.running.remove(job)

    def poll(self) -> None:
        for job in list(self.running):
            process, parent = job.handle
            report = None
            if parent.poll():
                try:
                    report = parent.recv()
                except EOFError:  # exited without a word: os._exit, a signal, a segfault
                    process.join()
            if report is None and process.is_alive():
                continue
            if report is not None:
                ok, kind, text, trace = report
                job.result = Result(None if ok else RuntimeError(text), kind, text, trace)
            else:
                process.join()
                code = process.exitcode
                text = f"the run's process exited with code {code} before reporting an outcome"
                job.result = Result(RuntimeError(text), "ProcessDied", text, "")
            process.join()
            parent.close()
            self.running.remove(job)
            self.done.put(job)

    def close(self) -> None:
        for job in list(self.running):
            self.abandon(job)


# -- outcomes ---------------------------------------------------------------------------


def _policy(message: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy.from_json(message["retry"])


def _fields(
    message: dict[str, Any], outcome: str, duration_ms: int | None = None, error: str = ""
) -> dict[str, Any]:
    """The structured fields of a run's log line (see ``scheduler.logs``)."""
    fields = {
        "schedule": message["schedule"],
        "run_id": message["run_id"],
        "attempt": message["attempt"],
        "outcome": outcome,
        "duration_ms": duration_ms,
    }
    if error:
        fields["error"] = error
    return fields


class _NamedError(Exception):
    """Stands for an error that happened in another process, keeping its class name."""


def _as_exception(result: Result) -> BaseException:
    if result.error is not None and result.error_type == type(result.error).__name__:
        return result.error
    # From a child process only the name travels; rebuild a class of that name so that
    # retry_on matches by name as it does in thread mode.
    cls: type[BaseException] = type(result.error_type or "Exception", (_NamedError,), {})
    return cls(result.error_message)


@dataclass
class Worker:
    store: Store
    queues: Sequence[str] = ("default",)
    concurrency: int = 4
    pool_kind: str = "thread"
    worker_id: str = field(default_factory=default_worker_id)
    now: Callable[[], datetime] = clock.utc_now
    rng: random.Random = field(default_factory=random.Random)
    max_deliveries: int = MAX_DELIVERIES
    worker_timeout_s: float = WORKER_TIMEOUT_S
    prefetch: int = PREFETCH

    def __post_init__(self) -> None:
        self.backend = WorkerStore(self.store, self.worker_id)
        self.done: queue_module.SimpleQueue[Job] = queue_module.SimpleQueue()
        pool_class = ProcessPool if self.pool_kind == "process" else ThreadPool
        self.pool: ThreadPool | ProcessPool = pool_class(
            self.concurrency, self.worker_id, self.done
        )
        self.running: dict[str, Job] = {}
        self.backlog: deque[Claimed] = deque()
        self.early: list[Job] = []  # finished jobs taken off `done` while waiting
        self.accepting = True
        self._next_queue = 0

    # -- one step -----------------------------------------------------------------------

    def process_once(self) -> int:
        """Record finished runs, time out stuck ones, start and take runs; returns runs taken.

        Runs are claimed ahead of free slots (up to ``prefetch``), which saves round trips;
        a prefetched run is claimed like a running one and comes back if this worker dies.
        """
        now = self.now()
        outcomes = self._collect(now) + self._time_out(now)
        if not self.accepting:
            if outcomes:
                self.backend.finish(outcomes, to_ms(now))
            return 0
        self._start(outcomes, now)
        wanted = self.concurrency + self.prefetch - len(self.running) - len(self.backlog)
        taken = 0
        for _ in range(len(self.queues)):
            if wanted - taken <= 0:
                break
            queue = self.queues[self._next_queue % len(self.queues)]
            self._next_queue += 1
            count = min(wanted - taken, CLAIM_BATCH)
            claimed = self.backend.claim(queue, count, to_ms(now), self.max_deliveries)
            self.backlog.extend(claimed)
            taken += len(claimed)
        if taken:
            self._start([], now)
        return taken

    def _start(self, outcomes: list[Outcome], now: datetime) -> None:
        """Report outcomes and mark the runs about to start, in one round trip; then start them.

        The start mark must reach Redis before the task runs: a task that kills its worker
        at once (``os._exit``) must still count the delivery, or it is never found poison.
        """
        jobs: list[Job] = []
        while self.backlog and len(self.running) + len(jobs) < self.concurrency:
            # A run started before without an outcome may be what killed its last worker:
            # it runs alone, so a poison run takes no innocent runs down with it again.
            suspect = self.backlog[0].deliveries > 1
            busy = bool(self.running) or bool(jobs)
            if (suspect and busy) or any(j.claimed.deliveries > 1 for j in self._all(jobs)):
                break
            item = self.backlog.popleft()
            message = item.message
            expires_at = message.get("expires_at")
            if expires_at is not None and now > datetime.fromisoformat(expires_at):
                outcomes.append(
                    self._outcome(message, "expired", self._event("expired", message, now))
                )
                log.info(
                    "run %s %s expired before it started",
                    message["schedule"],
                    item.run_id,
                    extra=_fields(message, "expired"),
                )
                continue
            timeout_s = message.get("timeout_s")
            deadline = time.monotonic() + timeout_s if timeout_s else None
            jobs.append(Job(item, now, deadline))
        if outcomes or jobs:
            started = [(job.claimed.run_id, job.claimed.message["schedule"]) for job in jobs]
            self.backend.finish(outcomes, to_ms(now), started)
        for job in jobs:
            self.running[job.claimed.run_id] = job
            self.pool.submit(job)

    def _all(self, pending: list[Job]) -> list[Job]:
        return [*self.running.values(), *pending]

    def wait(self, timeout_s: float) -> None:
        """Sleep until a run finishes or ``timeout_s`` passes, whichever comes first."""
        if isinstance(self.pool, ProcessPool) or not self.running:
            time.sleep(timeout_s)
            return
        with contextlib.suppress(queue_module.Empty):
            self.early.append(self.done.get(timeout=timeout_s))

    def _collect(self, now: datetime) -> list[Outcome]:
        self.pool.poll()
        outcomes = []
        while True:
            if self.early:
                job = self.early.pop()
            else:
                try:
                    job = self.done.get_nowait()
                except queue_module.Empty:
                    break
            if job.abandoned or self.running.pop(job.claimed.run_id, None) is None:
                continue
            assert job.result is not None
            outcomes.append(self._judge(job, job.result, now))
        return outcomes

    def _time_out(self, now: datetime) -> list[Outcome]:
        outcomes = []
        clock_now = time.monotonic()
        for run_id, job in list(self.running.items()):
            if job.deadline is not None and clock_now >= job.deadline:
                del self.running[run_id]
                self.pool.abandon(job)
                limit = job.claimed.message["timeout_s"]
                text = f"the run exceeded its timeout of {limit}s and was stopped"
                result = Result(TimeoutError(text), "TimeoutError", text, "")
                outcomes.append(self._judge(job, result, now))
        return outcomes

    def _judge(self, job: Job, result: Result, now: datetime) -> Outcome:
        message = job.claimed.message
        duration_ms = int((now - job.started).total_seconds() * 1000)
        base = {
            "started": utc_text(job.started),
            "finished": utc_text(now),
            "duration_ms": duration_ms,
        }
        if result.error is None:
            note = self._event("succeeded", message, now, **base)
            log.info(
                "run %s %s attempt %d succeeded in %d ms",
                message["schedule"],
                message["run_id"],
                message["attempt"],
                duration_ms,
                extra=_fields(message, "succeeded", duration_ms),
            )
            return self._outcome(message, "succeeded", note)
        error = f"{result.error_type}: {result.error_message}"[:500]
        decision = decide(_policy(message), message["attempt"], _as_exception(result), self.rng)
        if decision.retry:
            due = now + timedelta(seconds=decision.delay_s)
            nxt = {**message, "attempt": message["attempt"] + 1, "previous_error": error}
            note = self._event(
                "retrying", message, now, error=error, retry_at=utc_text(due), **base
            )
            log.warning(
                "run %s %s attempt %d failed (%s); retry at %s",
                message["schedule"],
                message["run_id"],
                message["attempt"],
                error,
                utc_text(due),
                extra=_fields(message, "retrying", duration_ms, error),
            )
            return self._outcome(
                message, "retry", note, new_message=json.dumps(nxt), due_ms=to_ms(due)
            )
        # Either way the run ends in the dead-letter queue: "dead" after retries were spent,
        # "failed" when its first attempt already was its last.
        kind = "dead" if message["attempt"] > 1 else "failed"
        letter = json.dumps(
            {
                "v": 1,
                "kind": "dead",
                "run": message,
                "dead_at_ms": to_ms(now),
                "error": {
                    "type": result.error_type,
                    "message": result.error_message,
                    "traceback": result.traceback,
                },
                "attempts": message["attempt"],
                "why": decision.why,
            }
        )
        note = self._event(kind, message, now, error=error, **base)
        log.error(
            "run %s %s attempt %d %s: %s (%s)",
            message["schedule"],
            message["run_id"],
            message["attempt"],
            kind,
            error,
            decision.why,
            extra=_fields(message, kind, duration_ms, error),
        )
        return self._outcome(message, "dead", note, dead_letter=letter)

    def _event(self, kind: str, message: dict[str, Any], now: datetime, **fields: Any) -> str:
        return event(
            kind,
            now,
            run_id=message["run_id"],
            fire_at=message["fire_at"],
            attempt=message["attempt"],
            worker=self.worker_id,
            **fields,
        )

    def _outcome(self, message: dict[str, Any], kind: str, note: str, **fields: Any) -> Outcome:
        return Outcome(
            message["run_id"], message["schedule"], message["queue"], kind, note, **fields
        )

    # -- upkeep and the loop ------------------------------------------------------------

    def upkeep(self) -> None:
        """Heartbeat, bring due retries back, deliver again the runs of dead workers."""
        now_ms = to_ms(self.now())
        self.backend.heartbeat(now_ms)
        self.backend.promote(now_ms)
        moved = self.backend.reap(now_ms, int(self.worker_timeout_s * 1000))
        if moved:
            log.warning("delivered %d runs of silent workers again", moved)

    def hand_back(self) -> int:
        """Return every unfinished run to its queue (graceful stop); the number returned."""
        now = self.now()
        outcomes = self._collect(now)
        back = []
        for job in self.running.values():
            message = job.claimed.message
            score = priority_score(message["priority"], to_ms(now))
            back.append(self._outcome(message, "handback", "", due_ms=score))
            job.abandoned = True
        for item in self.backlog:
            score = priority_score(item.message["priority"], to_ms(now))
            back.append(self._outcome(item.message, "handback", "", due_ms=score))
        self.running.clear()
        self.backlog.clear()
        self.backend.finish(outcomes + back, to_ms(now))
        return len(back)

    def run(self, stop: threading.Event, grace_s: float = GRACE_S) -> None:
        log.info(
            "worker %s taking runs from %s with %d %s slots",
            self.worker_id,
            ",".join(self.queues),
            self.concurrency,
            self.pool_kind,
        )
        next_upkeep = 0.0
        failures = 0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_upkeep:
                    self.upkeep()
                    next_upkeep = time.monotonic() + HEARTBEAT_EVERY_S
                taken = self.process_once()
                if failures:
                    log.info("Redis reachable again")
                failures = 0
            except StoreError as exc:
                if failures == 0:
                    log.error("Redis unreachable, retrying with backoff: %s", exc)
                failures += 1
                stop.wait(min(5.0, 0.1 * 2 ** min(failures, 6)))
                continue
            if not taken:
                self.wait(IDLE_POLL_S)
        self._stop(grace_s)

    def _stop(self, grace_s: float) -> None:
        # Stop taking runs; let running ones finish for the grace period, heartbeating so
        # that nobody delivers them again meanwhile; then hand back what is left.
        self.accepting = False
        deadline = time.monotonic() + grace_s
        next_beat = 0.0
        while self.running and time.monotonic() < deadline:
            self.process_once()
            self.wait(0.01)
            if time.monotonic() >= next_beat:
                self.backend.heartbeat(to_ms(self.now()))
                next_beat = time.monotonic() + HEARTBEAT_EVERY_S
        returned = self.hand_back()
        if returned:
            log.warning("handed %d unfinished runs back for redelivery", returned)
        self.pool.close()
        self.backend.leave()
        log.info("worker %s stopped", self.worker_id)
