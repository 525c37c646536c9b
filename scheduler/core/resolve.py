"""Task references: ``module.path:attribute`` to the callable it names, imported once."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_TASKS: dict[str, Callable[..., Any]] = {}


class TaskNotCallableError(TypeError):
    pass


def resolve_task(task: str) -> Callable[..., Any]:
    """Import ``module:attribute`` (cached); ImportError/AttributeError propagate as they are."""
    found = _TASKS.get(task)
    if found is None:
        module_name, _, attribute = task.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise TaskNotCallableError(f"task {task!r} is not callable")
        found = _TASKS[task] = target
    return found
