"""Tasks the worker tests run (imported by workers in threads, child processes and
`sched worker` subprocesses; the tests put this folder on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from scheduler import Retry, current_run

CALLS: list[dict[str, object]] = []


def worker_pid() -> int:
    """The pid of the worker process that took the run (a prefork child's parent, not the
    child itself): worker ids are host:pid:suffix."""
    parts = current_run().worker.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else os.getpid()


def record(*args: object, **kwargs: object) -> None:
    run = current_run()
    CALLS.append(
        {
            "args": list(args),
            "kwargs": kwargs,
            "schedule": run.schedule,
            "run_id": run.run_id,
            "fire_at": run.fire_at,
            "attempt": run.attempt,
        }
    )


def fail(kind: str = "ConnectionError", message: str = "boom") -> None:
    errors: dict[str, type[Exception]] = {
        "ConnectionError": ConnectionError,
        "ValueError": ValueError,
    }
    raise errors[kind](message)


def ask_retry(delay: float) -> None:
    if current_run().attempt < 3:
        raise Retry(delay=delay)


def hang(seconds: float = 3600) -> None:
    time.sleep(seconds)


def die() -> None:
    os._exit(13)


def append_line(path: str, seconds: float = 0.0) -> None:
    """Sleeps, then appends one JSON line naming the run: evidence a run finished."""
    time.sleep(seconds)
    run = current_run()
    line = json.dumps({"run_id": run.run_id, "attempt": run.attempt, "pid": worker_pid()})
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(line + "\n")  # one write: concurrent writers append whole lines


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken too")


class _Exit(BaseException):
    """A BaseException that is neither Exception nor SystemExit."""


def zoo(kind: str) -> None:
    """A task that fails in one of the ways a task can break its worker."""
    if kind == "unprintable":
        raise _UnprintableError()
    if kind == "system_exit":
        raise SystemExit(3)
    if kind == "keyboard_interrupt":
        raise KeyboardInterrupt
    if kind == "base_exception":
        raise _Exit("not an Exception")
    if kind == "huge_message":
        raise ValueError("x" * (10 * 1024 * 1024))
    if kind == "generator_exit":
        raise GeneratorExit
    if kind == "ok":
        return
    raise AssertionError(f"unknown zoo kind {kind}")


def stamp(path: str, seconds: float) -> None:
    """Sleeps; appends one JSON line with when it started and ended (host clock), and where."""
    started = time.time()
    time.sleep(seconds)
    run = current_run()
    line = {"run_id": run.run_id, "pid": worker_pid(), "start": started, "end": time.time()}
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


async def async_append(path: str) -> None:
    """An `async def` task: its side effect proves it was awaited."""
    import asyncio

    await asyncio.sleep(0.01)
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"run_id": current_run().run_id}) + "\n")


def pid(path: str) -> None:
    """Appends the pid of the process that ran it."""
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(f"{os.getpid()}\n")


def spawn_and_hang(path: str) -> None:
    """Starts a process of its own (writing its pid), then hangs: a timeout kill must take
    that process too."""
    import subprocess

    child = subprocess.Popen(["sleep", "600"])
    Path(path).write_text(str(child.pid))
    time.sleep(3600)
