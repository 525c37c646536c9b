"""Where attempts run: a pool of threads or of long-lived child processes (prefork), behind
one protocol."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from scheduler.store.values import Claimed
from scheduler.worker.execute import Result, execute, failed


@dataclass
class Job:
    claimed: Claimed
    started: datetime
    deadline: float | None  # time.monotonic() at which the attempt times out
    result: Result | None = None
    abandoned: bool = False
    handle: Any = None  # the pool's own bookkeeping (thread or child)
    entry: str = ""  # abandoned at its timeout but still running: its entry in Redis


class Pool(Protocol):
    def submit(self, job: Job) -> None:
        """Start the job's attempt."""

    def abandon(self, job: Job) -> bool:
        """Give up on a job past its timeout; its slot is free at once. True when the
        attempt keeps running anyway (a thread cannot be stopped): the pool reports the
        job again, ``abandoned``, from ``finished`` when it really returns."""

    def finished(self, wait_s: float) -> list[Job]:
        """Jobs that finished; waits up to ``wait_s`` for one when none has, or until
        ``wake``."""

    def wake(self) -> None:
        """End a wait in ``finished`` now, or the next one at once (any thread may call it:
        runs were announced)."""

    def close(self) -> None:
        """Stop every slot."""


class ThreadPool:
    """N threads; a thread stuck past a timeout is abandoned and replaced.

    Python cannot stop a thread: an abandoned task keeps running until it returns, but it
    no longer holds a slot. Its job is reported from ``finished`` once more, marked
    ``abandoned``, when it returns, so that overlap counts it as running until then. Use
    the prefork pool for tasks that can hang.
    """

    def __init__(self, size: int, worker_id: str) -> None:
        self.worker_id = worker_id
        self.done: queue_module.SimpleQueue[Job | None] = queue_module.SimpleQueue()  # None: wake
        self.jobs: queue_module.SimpleQueue[Job | None] = queue_module.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()  # orders a job's result against its abandonment
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
            try:
                result = execute(job.claimed.message, self.worker_id)
            except BaseException as exc:  # never lose a slot: every job gets an outcome
                result = failed(exc)
            with self.lock:
                job.result = result
                abandoned = job.abandoned
            self.done.put(job)
            if abandoned:
                return  # replaced at the timeout; this thread retires

    def submit(self, job: Job) -> None:
        self.jobs.put(job)

    def abandon(self, job: Job) -> bool:
        with self.lock:
            job.abandoned = True
            lingering = job.result is None
        if lingering:  # its thread retires when the task returns: a new one takes the slot
            if job.handle in self.threads:
                self.threads.remove(job.handle)
            self._spawn()
        return lingering

    def finished(self, wait_s: float) -> list[Job]:
        got = []
        try:
            got.append(self.done.get(timeout=wait_s) if wait_s > 0 else self.done.get_nowait())
            while True:
                got.append(self.done.get_nowait())
        except queue_module.Empty:
            pass
        return [job for job in got if job is not None]

    def wake(self) -> None:
        self.done.put(None)

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


ORPHAN_CHECK_S = 0.5  # how often a prefork child checks that its worker is alive
START_ALLOWANCE_S = 60.0  # for a new child to start and take its first run; its timeout
# runs from the moment the child says it began the run
BEGIN = "begin"  # what a child says when it takes a run, before running it


def _child(conn: Connection, worker_id: str, worker_pid: int) -> None:
    """A prefork child: run the attempts the parent sends, one at a time, until told to stop.

    Ctrl-C reaches every process of the terminal's group: the child ignores it, and its
    worker decides (finish within the grace period, or hand back and kill). A child whose
    worker died (SIGKILL, OOM) exits within ``ORPHAN_CHECK_S``, mid-task: its run is
    delivered again elsewhere, and must not go on running here as well.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # a group of its own: a timeout kill takes the
        os.setsid()  # processes the task started with it
    threading.Thread(target=_exit_with, args=(worker_pid,), daemon=True).start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        try:  # when it began, by the host's monotonic clock (one clock for every process)
            conn.send((BEGIN, time.monotonic()))
        except (BrokenPipeError, OSError):
            return
        result = execute(message, worker_id)
        # Only plain, bounded strings cross the pipe: an exception object may not pickle.
        try:
            conn.send((result.error is None, result.error_type, result.error_message,
                       result.traceback))  # fmt: skip
        except (BrokenPipeError, OSError):
            return


def _exit_with(worker_pid: int) -> None:
    """Exit when the worker is gone, or the forkserver (which ends with the worker): a
    dead worker not yet reaped by its own parent still answers ``kill(pid, 0)``."""
    server = os.getppid()
    while True:
        time.sleep(ORPHAN_CHECK_S)
        try:
            os.kill(worker_pid, 0)
        except OSError:
            os._exit(70)
        if os.getppid() != server:
            os._exit(70)


@dataclass
class Child:
    process: BaseProcess
    conn: Connection
    runs: int = 0
    job: Job | None = None


class PreforkPool:
    """N long-lived child processes, like Celery's prefork pool: a run costs a message on a
    pipe, not a process start.

    A run past its timeout has its child killed and replaced; a child that dies (a
    segfault, ``os._exit``) fails only the attempt it ran and is replaced; with
    ``max_runs_per_child`` a child is retired and replaced after that many runs (against
    leaks). Children come from a ``forkserver``: a clean process, not a copy of this one's
    threads and connections.
    """

    def __init__(self, size: int, worker_id: str, max_runs_per_child: int = 0) -> None:
        self.worker_id = worker_id
        self.max_runs = max_runs_per_child
        self.context = multiprocessing.get_context("forkserver")
        # Imported once in the fork server, so a new child (at start, after a timeout kill,
        # when recycled) is ready in milliseconds instead of importing sched again.
        self.context.set_forkserver_preload(["scheduler.worker.pools"])
        self.idle: deque[Child] = deque()
        self.busy: list[Child] = []
        self.replaced = 0  # children replaced: timeouts, deaths and recycling
        self._bell, self._ringer = os.pipe()  # ``wake`` writes, ``finished`` waits
        os.set_blocking(self._bell, False)
        os.set_blocking(self._ringer, False)
        for _ in range(size):
            self.idle.append(self._spawn())

    def _spawn(self) -> Child:
        parent, child = self.context.Pipe(duplex=True)
        process = self.context.Process(target=_child, args=(child, self.worker_id, os.getpid()),
                                       daemon=True, name="sched-prefork")  # fmt: skip
        process.start()
        child.close()
        return Child(process, parent)

    def submit(self, job: Job) -> None:
        while self.idle and not self.idle[0].process.is_alive():  # died while idle (OOM)
            self._stop(self.idle.popleft(), kill=True)  # its replacement takes the run
        child = self.idle.popleft() if self.idle else self._spawn()
        child.job = job
        job.handle = child
        if job.deadline is not None:  # set again when the child begins the run
            job.deadline += START_ALLOWANCE_S
        self.busy.append(child)
        with contextlib.suppress(OSError):  # it died idle: _reap reports the attempt failed
            child.conn.send(job.claimed.message)

    def abandon(self, job: Job) -> bool:
        child: Child = job.handle
        job.abandoned = True
        self.busy.remove(child)
        self._stop(child, kill=True)
        self.idle.append(self._spawn())
        return False

    def finished(self, wait_s: float) -> list[Job]:
        jobs = self._reap()
        if not jobs and wait_s > 0:
            handles: list[Any] = [h for c in self.busy for h in (c.conn, c.process.sentinel)]
            wait([self._bell, *handles], timeout=wait_s)
            jobs = self._reap()
        with contextlib.suppress(OSError):  # rung meanwhile: the wake is answered by returning
            while os.read(self._bell, 4096):
                pass
        return jobs

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake is already pending
            os.write(self._ringer, b"!")

    def _reap(self) -> list[Job]:
        done = []
        for child in list(self.busy):
            report = None
            while report is None and child.conn.poll():
                try:
                    said = child.conn.recv()
                except (EOFError, OSError):  # died without a word: os._exit, a signal
                    break
                if said[0] == BEGIN:
                    self._began(child, said[1])
                else:
                    report = said
            if report is None and child.process.is_alive():
                continue
            job = child.job
            assert job is not None
            self.busy.remove(child)
            child.job = None
            child.runs += 1
            if report is None:
                child.process.join()
                job.result = _result(None, child.process.exitcode)
                self._stop(child, kill=True)
                self.idle.append(self._spawn())
            else:
                job.result = _result(report, None)
                if self.max_runs and child.runs >= self.max_runs:
                    self._stop(child, kill=False)
                    self.idle.append(self._spawn())
                else:
                    self.idle.append(child)
            done.append(job)
        return done

    @staticmethod
    def _began(child: Child, at: float) -> None:
        """The child took its run at ``at``: the run's timeout counts from then, not from
        the moment it was handed over (a new child may have needed that time to start)."""
        job = child.job
        timeout_s = job.claimed.message.timeout_s if job is not None else None
        if job is not None and timeout_s:
            job.deadline = at + timeout_s

    def _stop(self, child: Child, kill: bool) -> None:
        self.replaced += 1
        if kill:
            _kill_group(child.process)
        else:
            try:
                child.conn.send(None)
            except (BrokenPipeError, OSError):
                child.process.kill()
        child.process.join(timeout=5)
        if child.process.is_alive():  # pragma: no cover - a child ignoring its stop
            child.process.kill()
            child.process.join()
        child.conn.close()

    def close(self) -> None:
        for child in self.busy:
            if child.job is not None:
                child.job.abandoned = True
            _kill_group(child.process)
        for child in self.idle:
            try:
                child.conn.send(None)
            except (BrokenPipeError, OSError):
                child.process.kill()
        for child in [*self.busy, *self.idle]:
            child.process.join(timeout=5)
            if child.process.is_alive():  # pragma: no cover
                child.process.kill()
                child.process.join()
            child.conn.close()
        self.busy.clear()
        self.idle.clear()
        for end in (self._bell, self._ringer):
            with contextlib.suppress(OSError):
                os.close(end)


def _kill_group(process: BaseProcess) -> None:
    """SIGKILL a child and every process its task started (its process group)."""
    if process.pid is not None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()


def _result(report: tuple[bool, str, str, str] | None, exitcode: int | None) -> Result:
    if report is None:
        text = f"the run's process exited with code {exitcode} before reporting an outcome"
        return Result(RuntimeError(text), "ProcessDied", text, "")
    ok, kind, text, trace = report
    return Result(None if ok else RuntimeError(text), kind, text, trace)


POOLS = ("prefork", "thread")
ALIASES = {"process": "prefork"}  # the name of the earlier process pool


def make_pool(kind: str, size: int, worker_id: str, max_runs_per_child: int = 0) -> Pool:
    if ALIASES.get(kind, kind) == "prefork":
        return PreforkPool(size, worker_id, max_runs_per_child)
    return ThreadPool(size, worker_id)
