"""Where attempts run: threads or one child process per attempt, behind one protocol."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection, wait
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
    handle: Any = None  # the pool's own bookkeeping (thread or process)


class Pool(Protocol):
    def submit(self, job: Job) -> None:
        """Start the job's attempt."""

    def abandon(self, job: Job) -> None:
        """Give up on a job past its timeout; its slot is free at once."""

    def finished(self, wait_s: float) -> list[Job]:
        """Jobs that finished; waits up to ``wait_s`` for one when none has."""

    def close(self) -> None:
        """Stop every slot."""


class ThreadPool:
    """N threads; a thread stuck past a timeout is abandoned and replaced.

    Python cannot stop a thread: an abandoned task keeps running until it returns, but it
    no longer holds a slot. Use the process pool for tasks that can hang.
    """

    def __init__(self, size: int, worker_id: str) -> None:
        self.worker_id = worker_id
        self.done: queue_module.SimpleQueue[Job] = queue_module.SimpleQueue()
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
            try:
                job.result = execute(job.claimed.message, self.worker_id)
            except BaseException as exc:  # never lose a slot: every job gets an outcome
                job.result = failed(exc)
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

    def finished(self, wait_s: float) -> list[Job]:
        jobs = []
        try:
            jobs.append(self.done.get(timeout=wait_s) if wait_s > 0 else self.done.get_nowait())
            while True:
                jobs.append(self.done.get_nowait())
        except queue_module.Empty:
            pass
        return jobs

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


def _child(conn: Connection, message: Any, worker_id: str) -> None:
    result = execute(message, worker_id)
    # Only plain, bounded strings cross the pipe: an exception object may not pickle.
    conn.send((result.error is None, result.error_type, result.error_message, result.traceback))
    conn.close()


class ProcessPool:
    """One child process per attempt: a timeout kills it, a crash fails only that attempt."""

    def __init__(self, size: int, worker_id: str) -> None:
        self.worker_id = worker_id
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

    def finished(self, wait_s: float) -> list[Job]:
        jobs = self._reap()
        if not jobs and wait_s > 0 and self.running:
            handles = [h for job in self.running for h in (job.handle[1], job.handle[0].sentinel)]
            wait(handles, timeout=wait_s)
            jobs = self._reap()
        return jobs

    def _reap(self) -> list[Job]:
        done = []
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
            process.join()
            job.result = _result(report, process.exitcode)
            parent.close()
            self.running.remove(job)
            done.append(job)
        return done

    def close(self) -> None:
        for job in list(self.running):
            self.abandon(job)


def _result(report: tuple[bool, str, str, str] | None, exitcode: int | None) -> Result:
    if report is None:
        text = f"the run's process exited with code {exitcode} before reporting an outcome"
        return Result(RuntimeError(text), "ProcessDied", text, "")
    ok, kind, text, trace = report
    return Result(None if ok else RuntimeError(text), kind, text, trace)


def make_pool(kind: str, size: int, worker_id: str) -> Pool:
    return ProcessPool(size, worker_id) if kind == "process" else ThreadPool(size, worker_id)
