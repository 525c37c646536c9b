"""Schedules from Python values (the API's way in), through the very parsers a file goes
through: the values become the YAML nodes a file of them would compose to (PyYAML's safe
representer, without writing and reading text back), so every field, limit and message is
the YAML one, named by field path instead of file:line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, SequenceNode

from scheduler.config.files import read_root
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
    given = {key: plain(value) for key, value in fields.items() if value is not None}
    f = SourceFile(API_SOURCE)
    try:
        entries = read_root(_nodes({"schedules": {name: given}}), f)
    except Invalid as exc:  # the node budget ran out
        f.problem(exc.node, f"schedules.{name}", str(exc))
        entries = []
    if f.problems or not entries or entries[0][2] is None:
        raise ScheduleError(f.problems)
    return replace(entries[0][2], source=API_SOURCE)


def _nodes(data: JSONValue) -> Node:
    """The nodes of ``{"schedules": {name: fields}}``, each marked with the line and column
    order it would have in a file (the name on line 2, a field per line after it), so that
    problems come out in the order a file would give them."""
    representer = yaml.representer.SafeRepresenter(sort_keys=False)
    root = representer.represent_data(data)
    assert isinstance(root, MappingNode)
    _mark(root, 0, [0])
    [(_, schedules)] = root.value
    for name_node, body in schedules.value:
        _mark(name_node, 1, [0])
        body.start_mark = _at(1, 1)
        for line, (key, value) in enumerate(body.value, start=2):
            column = [0]
            _mark(key, line, column)
            _mark(value, line, column)
    return root


def _at(line: int, column: int) -> Mark:
    return Mark(API_SOURCE, 0, line, column, None, 0)  # no text behind it


def _mark(node: Node, line: int, column: list[int]) -> None:
    """Give ``node`` and what it holds ``line`` and increasing columns (flow style)."""
    node.start_mark = node.end_mark = _at(line, column[0])
    column[0] += 1
    if isinstance(node, MappingNode):
        for key, value in node.value:
            _mark(key, line, column)
            _mark(value, line, column)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _mark(item, line, column)
