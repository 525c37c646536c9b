"""Schedules from Python values (the API's way in), through the very parsers a file goes
through: the values are written as one schedule block of YAML and read back, so every field,
limit and message is the YAML one, named by field path instead of file:line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from scheduler.config.emit import Block, schedule_file
from scheduler.config.files import read_document
from scheduler.config.nodes import Invalid, SourceFile
from scheduler.core.model import JSONValue, Schedule
from scheduler.errors import ScheduleError

API_SOURCE = "api"


def plain(value: Any) -> JSONValue:
    """A Python value as the YAML a user would write: datetimes as ISO 8601, durations as
    seconds, tuples as lists, enums as their value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds == int(seconds) else seconds
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def schedule_from(name: str, fields: Mapping[str, Any]) -> Schedule:
    """A checked schedule from field values (None leaves a field out); ScheduleError with
    every problem otherwise."""
    block = Block(name, [], {key: plain(value) for key, value in fields.items()
                             if value is not None})  # fmt: skip
    f = SourceFile(API_SOURCE)
    try:
        entries = read_document(schedule_file([], [block]), f)
    except Invalid as exc:  # the node budget ran out
        f.problem(exc.node, f"schedules.{name}", str(exc))
        entries = []
    if f.problems or not entries or entries[0][2] is None:
        raise ScheduleError(f.problems)
    return replace(entries[0][2], source=API_SOURCE)
