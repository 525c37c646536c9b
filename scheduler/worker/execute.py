"""One attempt of one run, in the calling thread or process: never raises."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from scheduler.core.context import RunContext, set_current_run
from scheduler.core.instants import from_ms
from scheduler.core.messages import RunMessage
from scheduler.core.resolve import resolve_task

TRACEBACK_LIMIT = 4000  # characters of traceback kept with a dead letter (the last ones)
MESSAGE_LIMIT = 64 * 1024  # characters of an error message kept anywhere


@dataclass
class Result:
    """How one attempt ended: ``error`` is None on success."""

    error: BaseException | None = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    timed_out: bool = False  # stopped (or abandoned) at the run's timeout


def context(message: RunMessage, worker_id: str) -> RunContext:
    return RunContext(
        schedule=message.schedule,
        run_id=message.run_id,
        fire_at=from_ms(message.fire_at_ms),
        attempt=message.attempt,
        queue=message.queue,
        worker=worker_id,
    )


def execute(message: RunMessage, worker_id: str) -> Result:
    """Run one attempt in this thread."""
    set_current_run(context(message, worker_id))
    try:
        outcome = task_of(message.task)(*message.args, **message.kwargs)
        if inspect.isawaitable(outcome):  # an `async def` task runs to completion here
            asyncio.run(_awaited(outcome))
        return Result()
    except BaseException as exc:  # a task's failure is an outcome, not ours
        return failed(exc)
    finally:
        set_current_run(None)


class TaskImportError(Exception):
    """A task that cannot be imported where this worker runs."""


def task_of(task: str) -> Callable[..., Any]:
    """The callable ``task`` names; TaskImportError (with the fix) when it cannot be found."""
    try:
        return resolve_task(task)
    except (ImportError, AttributeError) as exc:
        raise TaskImportError(_import_help(task, f"{type(exc).__name__}: {exc}")) from exc


def missing_module(task: str) -> str:
    """'' when the module of ``task`` can be found on this worker's path, else why not, with
    the fix. Finds without importing (a parent package is imported, as Python must): the
    worker's loop never runs a task module's code, and a prefork parent never loads it."""
    module = task.partition(":")[0]
    try:
        if importlib.util.find_spec(module) is not None:
            return ""
    except ModuleNotFoundError as exc:
        return _import_help(task, f"ModuleNotFoundError: {exc}")
    except Exception:  # a parent package raised on import: the attempt itself will say so
        return ""
    return _import_help(task, f"ModuleNotFoundError: No module named {module!r}")


def _import_help(task: str, cause: str) -> str:
    module = task.partition(":")[0]
    return (f"cannot import task {task!r} ({cause}); the worker runs in {os.getcwd()} and "
            f"imports from {sys.path[0] or os.getcwd()} first: start it in the folder that "
            f"holds {module.split('.')[0]!r}, or pass --app-dir or set PYTHONPATH")  # fmt: skip


async def _awaited(awaitable: Awaitable[Any]) -> None:
    await awaitable


def failed(exc: BaseException) -> Result:
    """The outcome of an exception, whatever its ``__str__`` or traceback does."""
    return Result(exc, type(exc).__name__, message_of(exc), traceback_of(exc))


def message_of(exc: BaseException) -> str:
    """``str(exc)``, bounded; a placeholder when even that raises."""
    try:
        text = str(exc)
    except BaseException as inner:  # a task's exception may break its own __str__
        text = f"<{type(exc).__name__}: str() raised {type(inner).__name__}>"
    return text[:MESSAGE_LIMIT]


def traceback_of(exc: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(exc))
    except BaseException:
        try:
            frames = "".join(traceback.format_tb(exc.__traceback__))
        except BaseException:
            frames = ""
        text = f"{frames}{type(exc).__name__}: {message_of(exc)}"
    return text[-TRACEBACK_LIMIT:]
