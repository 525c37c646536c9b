"""Schedule files: YAML in, checked ``Schedule`` values out, every problem reported.

We compose the YAML into nodes (which carry line and column) with PyYAML's safe loader
and build values ourselves, so that nothing but plain scalars, lists and mappings is
ever constructed, and every message can say ``path:line:column`` and which field.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scheduler.durations import parse_duration_s
from scheduler.errors import ConfigError, CronError, DurationError, Problem, SchedError
from scheduler.model import (
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Backoff,
    JSONValue,
    Misfire,
    Overlap,
    RetryPolicy,
    Schedule,
)
from scheduler.triggers import CronTrigger
from scheduler.zones import ZoneNameError, zone

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # after alias expansion: stops "billion laughs" files
MAX_ARGS_BYTES = 64 * 1024  # args and kwargs of one schedule, as JSON
MAX_RETRY_ATTEMPTS = 100
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
QUEUE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TASK_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
EXCEPTION_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_ALLOWED_TAGS = _SCALAR_TAGS | {_TAG + "seq", _TAG + "map", _TAG + "merge"}

TOP_KEYS = ("defaults", "schedules")
SCHEDULE_KEYS = (
    "task", "cron", "every", "timezone", "args", "kwargs", "queue", "priority", "retry",
    "timeout", "expires", "jitter", "start", "end", "enabled", "description", "misfire",
    "misfire_grace", "overlap",
)  # fmt: skip
# What `defaults:` may set: everything but what names a schedule's own work and trigger.
DEFAULT_KEYS = tuple(
    k for k in SCHEDULE_KEYS if k not in ("task", "cron", "every", "args", "kwargs", "description")
)
RETRY_KEYS = ("max_attempts", "backoff", "initial", "max", "jitter", "retry_on")


class PathError(SchedError):
    """A path given on the command line that does not exist or holds no schedule file."""


@dataclass
class LoadedSchedules:
    schedules: dict[str, Schedule]
    files: list[Path]


class _Invalid(Exception):
    """Raised inside a field parser; the caller records it as a Problem."""

    def __init__(self, message: str, node: Node | None = None) -> None:
        super().__init__(message)
        self.node = node


def _fail(message: str, node: Node | None = None) -> NoReturn:
    raise _Invalid(message, node)


@dataclass
class _File:
    """One file being read: where problems go, and how many nodes it may expand to."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    nodes_left: int = MAX_NODES
    spot: str = ""  # the field being read, for problems found deep inside its value
    # One per file: a constructor remembers every node it built (a module-wide one leaked
    # every file ever loaded, on each reload of a long-running scheduler).
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def problem(self, node: Node | None, where: str, message: str) -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(Problem(self.path, line, column, where, message))

    def visit(self, node: Node) -> None:
        if node.tag not in _ALLOWED_TAGS:
            _fail(
                f"YAML tag {node.tag!r} is not allowed; schedule files hold plain values only", node
            )
        self.nodes_left -= 1
        if self.nodes_left < 0:
            _fail(
                f"the file expands to more than {MAX_NODES} YAML nodes "
                "(anchors and aliases count each time they are used); split or simplify it",
                node,
            )


# -- scalars -------------------------------------------------------------------------


def _scalar(node: Node, f: _File) -> object:
    f.visit(node)
    if not isinstance(node, ScalarNode):
        _fail(f"expected a single value, got a {_kind(node)}", node)
    try:
        return f.constructor.construct_object(node)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        kind = node.tag.removeprefix(_TAG)
        _fail(f"{node.value!r} looks like a {kind} but is not a valid one: {exc}", node)


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "value"


def _yaml11_hint(node: ScalarNode, value: object) -> str:
    if not node.style and node.tag != _TAG + "str":  # plain: None (Python) or "" (libyaml)
        shown = "null" if value is None else json.dumps(value, default=str)
        return (
            f"; YAML reads the unquoted {node.value!r} as {type(value).__name__} {shown}, "
            f'put it in quotes: "{node.value}"'
        )
    return ""


def _string(node: Node, f: _File, *, allow_empty: bool = False) -> str:
    value = _scalar(node, f)
    if not isinstance(value, str):
        assert isinstance(node, ScalarNode)
        _fail(f"expected a string{_yaml11_hint(node, value)}", node)
    if not allow_empty and not value.strip():
        _fail("must not be empty", node)
    return value


def _boolean(node: Node, f: _File) -> bool:
    value = _scalar(node, f)
    if not isinstance(value, bool):
        _fail(f"expected true or false, got {_show(node)}", node)
    return value


def _integer(node: Node, f: _File, low: int, high: int) -> int:
    value = _scalar(node, f)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"expected a whole number from {low} to {high}, got {_show(node)}", node)
    if not low <= value <= high:
        _fail(f"{value} is out of range; allowed: {low} to {high}", node)
    return value


def _duration(node: Node, f: _File, minimum_s: int = 0) -> int:
    value = _scalar(node, f)
    try:
        seconds = parse_duration_s(value)
    except DurationError as exc:
        _fail(str(exc), node)
    if seconds < minimum_s:
        _fail(f"must be at least {minimum_s}s, got {_show(node)}", node)
    return seconds


def _choice(node: Node, f: _File, choices: Sequence[str]) -> str:
    value = _string(node, f)
    if value not in choices:
        _fail(f"{value!r} is not one of {', '.join(choices)}{_did_you_mean(value, choices)}", node)
    return value


def _show(node: Node) -> str:
    return repr(node.value) if isinstance(node, ScalarNode) else f"a {_kind(node)}"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- datetimes -----------------------------------------------------------------------


@dataclass(frozen=True)
class _LocalTime:
    """A `start`/`end` as written; naive ones take the schedule's zone once it is known."""

    value: datetime
    node: Node


def _datetime(node: Node, f: _File) -> _LocalTime:
    value = _scalar(node, f)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            _fail(
                f"{value!r} is not an ISO 8601 date-time; write e.g. 2026-01-31T09:00:00+01:00 "
                "(without an offset it is taken in the schedule's time zone)",
                node,
            )
    else:
        _fail(f"expected an ISO 8601 date-time, got {_show(node)}", node)
    if parsed.microsecond:
        _fail("must be whole seconds", node)
    return _LocalTime(parsed, node)


def _resolve(local: _LocalTime, tz_name: str) -> datetime:
    if local.value.tzinfo is not None:
        return local.value.astimezone(UTC)
    # A naive local time in a gap is moved forward past it, like a cron fire time.
    tz = zone(tz_name)
    instant = local.value.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.value:
        instant = local.value.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return instant


# -- JSON arguments ------------------------------------------------------------------


def _json(node: Node, f: _File, where: str) -> JSONValue:
    f.visit(node)
    if isinstance(node, SequenceNode):
        return [_json(item, f, f"{where}[{i}]") for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        return {
            key: _json(value, f, f"{where}.{key}") for key, _, value in _mapping(node, f, where)
        }
    value = _scalar(node, f)
    if isinstance(value, float) and not math.isfinite(value):
        _fail(f"{node.value!r} is not a JSON number; only finite numbers are allowed", node)
    if isinstance(value, (date, datetime)):
        _fail(
            f"YAML reads the unquoted {node.value!r} as a date, which is not JSON; "
            f'put it in quotes: "{node.value}"',
            node,
        )
    return value


def _mapping(node: Node, f: _File, where: str) -> list[tuple[str, Node, Node]]:
    """The string-keyed pairs of a mapping.

    A duplicate key, a merge key or a key that is not a string is recorded as a problem
    and left out, so the rest of the mapping is still checked.
    """
    f.visit(node)
    if not isinstance(node, MappingNode):
        _fail(f"expected a mapping of key: value, got {_show(node)}", node)
    seen: dict[str, Node] = {}
    out = []
    for key_node, value_node in node.value:
        if key_node.tag == _TAG + "merge":
            f.problem(key_node, where, "merge keys (<<) are not supported; use a defaults: block")
            continue
        try:
            key = _scalar(key_node, f)
            if not isinstance(key, str):
                assert isinstance(key_node, ScalarNode)
                _fail(f"keys must be strings{_yaml11_hint(key_node, key)}", key_node)
        except _Invalid as exc:
            f.problem(exc.node, f.spot or where, str(exc))
            continue
        if key in seen:
            first = seen[key].start_mark.line + 1
            message = f"duplicate key {key!r} (first defined on line {first})"
            f.problem(key_node, f"{f.spot or where}.{key}", message)
            continue
        seen[key] = key_node
        out.append((key, key_node, value_node))
    return out


# -- a file --------------------------------------------------------------------------

_Parser = Callable[[Node, _File], object]


def _retry_on(node: Node, f: _File) -> tuple[str, ...]:
    f.visit(node)
    if not isinstance(node, SequenceNode):
        _fail(
            "expected a list of exception class names, e.g. [ConnectionError, TimeoutError]", node
        )
    names = []
    for item in node.value:
        name = _string(item, f)
        if not EXCEPTION_RE.fullmatch(name):
            _fail(f"{name!r} is not an exception class name (e.g. ConnectionError)", item)
        names.append(name)
    return tuple(names)


_RETRY_PARSERS: dict[str, _Parser] = {
    "max_attempts": lambda n, f: _integer(n, f, 1, MAX_RETRY_ATTEMPTS),
    "backoff": lambda n, f: Backoff(_choice(n, f, [b.value for b in Backoff])),
    "initial": lambda n, f: _duration(n, f),
    "max": lambda n, f: _duration(n, f),
    "jitter": _boolean,
    "retry_on": _retry_on,
}


def _task(node: Node, f: _File) -> str:
    value = _string(node, f)
    if not TASK_RE.fullmatch(value):
        _fail(f"{value!r} is not a task reference; write module.path:callable", node)
    return value


def _timezone(node: Node, f: _File) -> str:
    value = _string(node, f)
    try:
        zone(value)
    except ZoneNameError as exc:
        _fail(str(exc), node)
    return value


def _queue(node: Node, f: _File) -> str:
    value = _string(node, f)
    if not QUEUE_RE.fullmatch(value):
        _fail(f"{value!r} is not a queue name; use 1-64 letters, digits, '-', '_', '.'", node)
    return value


def _args(node: Node, f: _File) -> tuple[JSONValue, ...]:
    if not isinstance(node, SequenceNode):
        _fail(f"expected a list of arguments, got {_show(node)}", node)
    value = _json(node, f, f.spot)
    assert isinstance(value, list)
    return tuple(value)


def _kwargs(node: Node, f: _File) -> dict[str, JSONValue]:
    if not isinstance(node, MappingNode):
        _fail(f"expected a mapping of keyword arguments, got {_show(node)}", node)
    value = _json(node, f, f.spot)
    assert isinstance(value, dict)
    return value


def _cron(node: Node, f: _File) -> str:
    value = _string(node, f)
    try:
        CronTrigger(value, zone("UTC"))
    except CronError as exc:
        _fail(str(exc), node)
    return value


_FIELD_PARSERS: dict[str, _Parser] = {
    "task": _task,
    "cron": _cron,
    "every": lambda n, f: _duration(n, f, minimum_s=1),
    "timezone": _timezone,
    "args": _args,
    "kwargs": _kwargs,
    "queue": _queue,
    "priority": lambda n, f: _integer(n, f, PRIORITY_MIN, PRIORITY_MAX),
    "timeout": lambda n, f: _duration(n, f, minimum_s=1),
    "expires": lambda n, f: _duration(n, f, minimum_s=1),
    "jitter": lambda n, f: _duration(n, f),
    "start": _datetime,
    "end": _datetime,
    "enabled": _boolean,
    "description": lambda n, f: _string(n, f, allow_empty=True),
    "misfire": lambda n, f: Misfire(_choice(n, f, [m.value for m in Misfire])),
    "misfire_grace": lambda n, f: _duration(n, f),
    "overlap": lambda n, f: Overlap(_choice(n, f, [o.value for o in Overlap])),
}


@dataclass
class _Fields:
    """The parsed fields of one block (a schedule or defaults), with their nodes."""

    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    retry: dict[str, Any] = field(default_factory=dict)
    retry_nodes: dict[str, Node] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # keys written, valid or not
    ok: bool = True


def _read_block(node: Node, f: _File, where: str, allowed: Sequence[str]) -> _Fields:
    fields = _Fields()
    try:
        pairs = _mapping(node, f, where)
    except _Invalid as exc:
        f.problem(exc.node, where, str(exc))
        fields.ok = False
        return fields
    for key, key_node, value_node in pairs:
        spot = f"{where}.{key}"
        if key not in allowed:
            fields.ok = False
            hint = _did_you_mean(key, allowed)
            if key in SCHEDULE_KEYS:
                f.problem(key_node, spot, f"{key!r} cannot be set in defaults; set it per schedule")
            else:
                f.problem(
                    key_node, spot, f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}"
                )
            continue
        try:
            f.spot = spot
            fields.present.add(key)
            if key == "retry":
                _read_retry(value_node, f, spot, fields)
            else:
                fields.values[key] = _FIELD_PARSERS[key](value_node, f)
                fields.nodes[key] = value_node
        except _Invalid as exc:
            fields.ok = False
            f.problem(exc.node, spot, str(exc))
        finally:
            f.spot = ""
    return fields


def _read_retry(node: Node, f: _File, where: str, fields: _Fields) -> None:
    for key, key_node, value_node in _mapping(node, f, where):
        spot = f"{where}.{key}"
        if key not in RETRY_KEYS:
            fields.ok = False
            message = f"unknown key {key!r}{_did_you_mean(key, RETRY_KEYS)}; allowed: "
            f.problem(key_node, spot, message + ", ".join(RETRY_KEYS))
            continue
        try:
            fields.retry[key] = _RETRY_PARSERS[key](value_node, f)
            fields.retry_nodes[key] = value_node
        except _Invalid as exc:
            fields.ok = False
            f.problem(exc.node, spot, str(exc))


def _build(
    name: str, name_node: Node, own: _Fields, defaults: _Fields, f: _File
) -> Schedule | None:
    where = f"schedules.{name}"
    values = {**defaults.values, **own.values}
    nodes = {**defaults.nodes, **own.nodes}
    ok = own.ok
    if "task" not in own.present:
        f.problem(name_node, f"{where}.task", "missing required key 'task' (module.path:callable)")
        ok = False
    triggers = [k for k in ("cron", "every") if k in own.present]
    if not triggers:
        f.problem(name_node, where, 'needs a trigger: cron: "<expression>" or every: <duration>')
        ok = False
    if len(triggers) == 2 and own.nodes.get("every"):
        f.problem(own.nodes["every"], f"{where}.every", "give either cron or every, not both")
        ok = False
    retry_values = {**defaults.retry, **own.retry}
    retry_nodes = {**defaults.retry_nodes, **own.retry_nodes}
    retry = RetryPolicy(
        **{{"initial": "initial_s", "max": "max_s"}.get(k, k): v for k, v in retry_values.items()}
    )
    if retry.max_s < retry.initial_s:
        node = retry_nodes.get("max") or retry_nodes.get("initial")
        f.problem(node, f"{where}.retry.max", "must not be shorter than retry.initial")
        ok = False
    if not ok:
        return None
    timezone = values.get("timezone", "UTC")
    start = _resolve(values["start"], timezone) if "start" in values else None
    end = _resolve(values["end"], timezone) if "end" in values else None
    if start is not None and end is not None and end <= start:
        f.problem(nodes["end"], f"{where}.end", "must be later than start")
        return None
    schedule = Schedule(
        name=name,
        task=values["task"],
        timezone=timezone,
        cron=values.get("cron"),
        every_s=values.get("every"),
        args=values.get("args", ()),
        kwargs=values.get("kwargs", {}),
        queue=values.get("queue", "default"),
        priority=values.get("priority", PRIORITY_DEFAULT),
        retry=retry,
        timeout_s=values.get("timeout"),
        expires_s=values.get("expires"),
        jitter_s=values.get("jitter", 0),
        start=start,
        end=end,
        enabled=values.get("enabled", True),
        description=values.get("description", ""),
        misfire=values.get("misfire", Misfire.COALESCE),
        misfire_grace_s=values.get("misfire_grace"),
        overlap=values.get("overlap", Overlap.ALLOW),
        source=f"{f.path}:{name_node.start_mark.line + 1}",
    )
    size = len(json.dumps([list(schedule.args), schedule.kwargs]).encode())
    if size > MAX_ARGS_BYTES:
        node = own.nodes.get("args") or own.nodes.get("kwargs")
        f.problem(
            node,
            f"{where}.args",
            f"args and kwargs are {size} bytes as JSON; the limit is {MAX_ARGS_BYTES}",
        )
        return None
    if start is not None and schedule.next_fire(start - timedelta(seconds=1)) is None:
        f.problem(
            nodes["start"], f"{where}.start", "the schedule never fires between start and end"
        )
        return None
    return schedule


def _read_text(path: Path, f: _File) -> str | None:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        f.problem(None, "(file)", f"file is {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        where = "(file)"
        f.problems.append(
            Problem(f.path, line, column, where, "not UTF-8 text: save the file as UTF-8")
        )
        return None


# libyaml's composer (shipped in PyYAML's wheels) builds the same nodes, with positions,
# about ten times faster than the pure-Python one; 100,000 schedules load in seconds.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, f: _File) -> Node | None:
    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        f.problems.append(Problem(f.path, line, column, "(file)", f"invalid YAML: {exc.problem}"))
        return None
    except yaml.YAMLError as exc:
        f.problems.append(Problem(f.path, 1, 1, "(file)", f"invalid YAML: {exc}"))
        return None
    if not documents:
        message = "the file is empty; expected a mapping with a 'schedules:' key"
        f.problems.append(Problem(f.path, 1, 1, "(file)", message))
        return None
    if len(documents) > 1:
        f.problem(
            documents[1], "(file)", "several YAML documents (---) in one file; use one per file"
        )
        return None
    return documents[0]


def _read_file(path: Path, f: _File) -> list[tuple[str, Node, Schedule | None]]:
    text = _read_text(path, f)
    root = _compose(text, f) if text is not None else None
    if root is None:
        return []
    try:
        top = {key: (key_node, value) for key, key_node, value in _mapping(root, f, "(file)")}
    except _Invalid:
        message = f"the file must be a mapping with a 'schedules:' key, got {_show(root)}"
        f.problem(root, "(file)", message)
        return []
    for key, (key_node, _) in top.items():
        if key not in TOP_KEYS:
            hint = _did_you_mean(key, TOP_KEYS)
            f.problem(key_node, key, f"unknown key {key!r}{hint}; allowed: {', '.join(TOP_KEYS)}")
    defaults = _Fields()
    if "defaults" in top:
        defaults = _read_block(top["defaults"][1], f, "defaults", DEFAULT_KEYS)
    if "schedules" not in top:
        f.problem(root, "(file)", "missing the 'schedules:' key")
        return []
    try:
        entries = _mapping(top["schedules"][1], f, "schedules")
    except _Invalid as exc:
        f.problem(exc.node, "schedules", str(exc))
        return []
    out = []
    for name, name_node, body in entries:
        where = f"schedules.{name}"
        if not NAME_RE.fullmatch(name):
            f.problem(
                name_node, where, "invalid schedule name; use 1-128 letters, digits, '-', '_', '.'"
            )
            continue
        own = _read_block(body, f, where, SCHEDULE_KEYS)
        schedule = _build(name, name_node, own, defaults, f)
        out.append((name, name_node, schedule if defaults.ok else None))
    return out


def schedule_files(paths: Sequence[Path]) -> list[Path]:
    """The files named: a directory stands for its ``*.yaml`` and ``*.yml`` files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                raise PathError(f"{path}: no *.yaml or *.yml files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise PathError(f"{path}: no such file or directory")
    return files


def load(paths: Sequence[Path]) -> LoadedSchedules:
    """Read and check schedule files; raise ConfigError with every problem found."""
    files = schedule_files(paths)
    problems: list[Problem] = []
    schedules: dict[str, Schedule] = {}
    first_seen: dict[str, str] = {}
    for path in files:
        f = _File(str(path))
        try:
            entries = _read_file(path, f)
        except _Invalid as exc:  # the node budget ran out
            f.problem(exc.node, "(file)", str(exc))
            entries = []
        for name, name_node, schedule in entries:
            where = f"{f.path}:{name_node.start_mark.line + 1}"
            if name in first_seen:
                f.problem(
                    name_node,
                    f"schedules.{name}",
                    f"duplicate schedule name; first defined at {first_seen[name]}",
                )
                continue
            first_seen[name] = where
            if schedule is not None:
                schedules[name] = schedule
        problems.extend(f.problems)
    if problems:
        raise ConfigError(problems)
    return LoadedSchedules(schedules, files)


def check_imports(schedules: Iterable[Schedule]) -> list[str]:
    """Import every task; return one message per task that is missing or not callable."""
    messages = []
    for schedule in schedules:
        module_name, _, attribute = schedule.task.partition(":")
        prefix = f"{schedule.source}: schedules.{schedule.name}.task"
        try:
            target: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except ImportError as exc:
            messages.append(f"{prefix}: cannot import module {module_name!r}: {exc}")
            continue
        except AttributeError:
            messages.append(f"{prefix}: module {module_name!r} has no attribute {attribute!r}")
            continue
        except Exception as exc:  # importing user code may raise anything
            messages.append(
                f"{prefix}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
            )
            continue
        if not callable(target):
            messages.append(f"{prefix}: {schedule.task!r} is not callable")
    return messages
