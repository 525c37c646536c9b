"""Schedules from Python values (the API's way in), through the very parsers a file goes
through: the values become the YAML nodes a file of them would compose to (PyYAML's safe
representer, without writing and reading text back), so every field, limit and message is
the YAML one, named by field path instead of file:line."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, NamedTuple

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scheduler.config.build import MAX_ARGS_BYTES, Fields, arguments_bytes, build, read_retry
from scheduler.config.fields import FIELD_PARSERS, NAME_RE
from scheduler.config.files import read_root
from scheduler.config.nodes import MAX_JSON_DEPTH, Invalid, SourceFile
from scheduler.core.messages import CANONICAL_PLAIN
from scheduler.core.model import JSONValue, Schedule
from scheduler.errors import ScheduleError

API_SOURCE = "api"
CHECKED_LIMIT = 100_000  # field values a Checker keeps: about 200 bytes each
SHAPES_LIMIT = 10_000  # checked schedules it keeps as templates: about 2 KB each


def plain(value: Any, depth: int = 0) -> JSONValue:
    """A Python value as the YAML a user would write: datetimes as ISO 8601, durations as
    seconds, tuples as lists, enums as their value. What lies deeper than arguments may
    nest (a value that holds itself) is cut off: the check refuses what held it."""
    kind = type(value)
    if kind in _AS_THEY_ARE:
        return value
    if depth > MAX_JSON_DEPTH:
        return []
    # containers first, the common ones by their exact type (an ABC's isinstance is slow)
    if kind is list or isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    if kind is dict or isinstance(value, Mapping):
        return {k: plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds == int(seconds) else seconds
    if isinstance(value, Enum):
        return plain(value.value, depth)
    return value


_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})


def clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields as given, as stored and checked: plain values, None left out."""
    return {key: value if type(value) in _AS_THEY_ARE else plain(value)
            for key, value in fields.items() if value is not None}  # fmt: skip


def schedule_from(name: str, fields: Mapping[str, Any]) -> Schedule:
    """A checked schedule from field values (None leaves a field out); ScheduleError with
    every problem otherwise."""
    given = clean(fields)
    f = SourceFile(API_SOURCE)
    try:
        entries = read_root(_nodes({"schedules": {name: given}}), f)
    except Invalid as exc:  # the node budget ran out
        f.problem(exc.node, f"schedules.{name}", str(exc))
        entries = []
    if f.problems or not entries or entries[0][2] is None:
        raise ScheduleError(f.problems)
    return replace(entries[0][2], source=API_SOURCE)


class Checker:
    """``schedule_from`` for many schedules (``add_many``) at a fraction of the cost, with
    the same outcome for each.

    Every field's parser is a function of its value alone, so each distinct value goes
    through its parser once (from the node a file would have) and what it gave is kept;
    what combines fields, ``build``, runs for each schedule as for a file. ``args`` and
    ``kwargs`` that are plain JSON well within the limits are what their parser would give.
    Anything else, and any problem at all, sends the schedule through ``schedule_from``
    itself, so every message is exactly its message. A schedule whose fields but args and
    kwargs are those of one checked before is that one renamed (``like``). Kept: up to
    ``limit`` values and ``shapes_limit`` schedules, then they are forgotten and checked
    again. A Client keeps one for all its add_many calls.
    """

    def __init__(self, limit: int = CHECKED_LIMIT, shapes_limit: int = SHAPES_LIMIT) -> None:
        self._checked: dict[tuple[str, type, object], object] = {}
        self._shapes: dict[Shape, Schedule] = {}
        self._limit, self._shapes_limit = limit, shapes_limit

    def __call__(self, name: str, given: Mapping[str, JSONValue]) -> Schedule:
        like = self.like(name, given)
        if like is not None:
            template, copy = like
            return replace(template, name=name, args=tuple(copy.args), kwargs=copy.kwargs)
        schedule = self._quick(name, given)
        if schedule is None:
            return schedule_from(name, given)
        try:
            shape = _shape(given)
            if len(self._shapes) >= self._shapes_limit:
                self._shapes.clear()
            self._shapes[shape] = schedule
        except TypeError:  # unhashable: no shape
            pass
        return schedule

    def like(self, name: str, given: Mapping[str, JSONValue]) -> tuple[Schedule, Copy] | None:
        """``(template, copy)`` when the schedule is one checked before (every field but
        ``args`` and ``kwargs`` the same: a reminder per user, a report per tenant),
        renamed, with plain arguments of its own: nothing else of ``build`` depends on the
        name or the arguments but their size, checked here as there. Else None."""
        try:
            template = self._shapes.get(_shape(given))
        except TypeError:  # a value is unhashable (a mapping): no shape
            return None
        if template is None:
            return None
        args, kwargs = given.get("args", []), given.get("kwargs", {})
        if not (NAME_RE.fullmatch(name) and _plain_arguments(args, list)
                and _plain_arguments(kwargs, dict)):  # fmt: skip
            return None
        assert isinstance(args, list) and isinstance(kwargs, dict)
        copy = Copy(args, kwargs, CANONICAL_PLAIN(args) if args else "[]",
                    CANONICAL_PLAIN(kwargs) if kwargs else "{}")  # fmt: skip
        # build's limit is on json.dumps' text, with a space after each separator: at most
        # twice the compact text, so only arguments near the limit need that text
        compact = len(copy.args_text) + len(copy.kwargs_text)
        if 2 * compact + 4 > MAX_ARGS_BYTES and arguments_bytes(args, kwargs) > MAX_ARGS_BYTES:
            return None
        return template, copy

    def _quick(self, name: str, given: Mapping[str, JSONValue]) -> Schedule | None:
        if not NAME_RE.fullmatch(name):
            return None
        own = Fields()
        for key, value in given.items():
            if key == "args" or key == "kwargs":
                if not _plain_arguments(value, list if key == "args" else dict):
                    return None
                own.values[key] = tuple(value) if isinstance(value, list) else value
            else:
                parsed = self._field(key, value)
                if parsed is _REFUSED:
                    return None
                if key == "retry":
                    assert isinstance(parsed, dict)
                    own.retry = parsed
                    own.retry_nodes = dict.fromkeys(parsed, _PLACE)
                else:
                    own.values[key] = parsed
            own.present.add(key)
            own.nodes[key] = _PLACE
        f = SourceFile(API_SOURCE)
        schedule = build(name, _PLACE, own, _NO_DEFAULTS, f, source=API_SOURCE)
        return None if f.problems else schedule

    def _field(self, key: str, value: JSONValue) -> object:
        if isinstance(value, str | int | float):  # bool is an int; the type keeps 1 and True apart
            cache_key: tuple[str, type, object] = (key, type(value), value)
        elif key == "retry" and _plain_arguments(value, dict):
            cache_key = (key, dict, json.dumps(value, sort_keys=True))
        else:
            return _REFUSED
        found = self._checked.get(cache_key, _REFUSED)
        if found is _REFUSED:
            found = _parse_field(key, value)
            if found is not _REFUSED:  # only values that passed are kept
                if len(self._checked) >= self._limit:
                    self._checked.clear()
                self._checked[cache_key] = found
        return found


class Copy(NamedTuple):
    """The arguments of a schedule that is a renamed copy of a template, with their
    canonical JSON (``CANONICAL_PLAIN``: ASCII, so as many bytes as characters)."""

    args: list[JSONValue]
    kwargs: dict[str, JSONValue]
    args_text: str
    kwargs_text: str


Shape = tuple[tuple[str, type, object], ...]


def _shape(given: Mapping[str, JSONValue]) -> Shape:
    """Every field but args and kwargs, as a key (unhashable if one is a mapping)."""
    return tuple([(k, type(v), v) for k, v in given.items() if k != "args" and k != "kwargs"])


_REFUSED = object()
_NO_DEFAULTS = Fields()
# Stands for a field's node: a node is only used in a message, and a schedule with any
# message goes through schedule_from, which has the real ones.
_PLACE = ScalarNode("tag:yaml.org,2002:str", "", Mark(API_SOURCE, 0, 1, 1, None, 0))


def _parse_field(key: str, value: JSONValue) -> object:
    """What the field's parser gives for ``value`` alone, or _REFUSED if it has a problem."""
    parser = FIELD_PARSERS.get(key)
    if parser is None and key != "retry":
        return _REFUSED
    f = SourceFile(API_SOURCE)
    node = yaml.representer.SafeRepresenter().represent_data(value)
    _mark(node, 2, [0])
    try:
        if parser is not None:
            parsed = parser(node, f)
        else:
            fields = Fields()
            read_retry(node, f, "retry", fields)
            parsed = fields.retry if fields.ok else _REFUSED
    except Invalid:
        return _REFUSED
    return _REFUSED if f.problems else parsed


def _plain_arguments(value: object, kind: type) -> bool:
    """``args`` (a list) or ``kwargs`` (a mapping) that their parser would return as they
    are: plain JSON, at most 100 items a level and 8 levels deep. (``build`` refuses more
    than MAX_ARGS_BYTES of them, which is also well within the node budget.)"""
    return isinstance(value, kind) and _plain_json(value, 0)


def _plain_json(value: object, depth: int) -> bool:
    if depth > 8:
        return False
    if type(value) in _SCALARS or value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    items: Iterable[object]
    if isinstance(value, list):
        items = value
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                return False
        items = value.values()
    else:
        return False
    if len(value) > 100:
        return False
    # an item that is a scalar of its own type is taken as it is (the common case, and the
    # cost of a reminder's arguments), unless it lies deeper than the limit
    deep = depth >= 8
    for item in items:
        if (deep or type(item) not in _SCALARS) and not _plain_json(item, depth + 1):
            return False
    return True


_SCALARS = frozenset({str, int, bool, type(None)})  # plain JSON as they are (float: finite)


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
    """Give ``node`` and what it holds ``line`` and increasing columns (flow style). A node
    met again (a value given twice, or inside itself) keeps its first mark."""
    todo = [node]
    while todo:
        node = todo.pop()
        if node.start_mark is not None and node.start_mark.line == line:
            continue
        node.start_mark = node.end_mark = _at(line, column[0])
        column[0] += 1
        if isinstance(node, MappingNode):
            todo += [n for pair in reversed(node.value) for n in reversed(pair)]
        elif isinstance(node, SequenceNode):
            todo += reversed(node.value)
