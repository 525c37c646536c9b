"""Schedule files: which files a path names, reading each one, and loading them all."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode

from scheduler.config.build import Fields, build, read_block
from scheduler.config.fields import DEFAULT_KEYS, NAME_RE, SCHEDULE_KEYS, TOP_KEYS
from scheduler.config.nodes import Invalid, SourceFile, line_of, mapping, show
from scheduler.core.collector import collector_paused
from scheduler.core.model import (
    Schedule,
)
from scheduler.core.names import did_you_mean
from scheduler.core.resolve import TaskNotCallableError, resolve_task
from scheduler.errors import ConfigError, PathError, Problem

MAX_FILE_BYTES = 1024 * 1024


@dataclass
class LoadedSchedules:
    schedules: dict[str, Schedule]
    files: list[Path]


def read_text(path: Path, f: SourceFile) -> str | None:
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
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE_LOADER):  # type: ignore[misc]  # PyYAML's loaders are untyped
    """The safe loader, remembering each plain scalar's tag within a file.

    Both composers ask the (pure-Python) resolver for the tag of every scalar; the safe
    resolver has no path resolvers, so a scalar's tag depends on its text and quoting alone,
    and a file's repeated values (keys, task names, zones, durations) are resolved once.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not ScalarNode:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


LOADER: Any = _Loader


def _yaml_hint(problem: str, line: str) -> str:
    """One hint for the usual causes: a tab, or an indentation that does not line up."""
    if "\t" in line[: len(line) - len(line.lstrip())] or "'\\t'" in problem:
        return "; YAML does not allow tabs for indentation: indent with spaces"
    if any(p in problem for p in ("mapping values are not allowed", "expected <block end>",
                                  "could not find expected ':'",
                                  "did not find expected key")):  # fmt: skip
        return "; check the indentation of this line and the one above it"
    return ""


def compose(text: str, f: SourceFile) -> Node | None:
    try:
        documents = list(yaml.compose_all(text, Loader=LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        lines = text.splitlines()
        shown = lines[line - 1] if 0 < line <= len(lines) else ""
        message = f"invalid YAML: {exc.problem}{_yaml_hint(str(exc.problem), shown)}"
        f.problems.append(Problem(f.path, line, column, "(file)", message))
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


def read_file(path: Path, f: SourceFile) -> list[tuple[str, Node, Schedule | None]]:
    text = read_text(path, f)
    return read_document(text, f) if text is not None else []


def read_document(text: str, f: SourceFile) -> list[tuple[str, Node, Schedule | None]]:
    """The schedules of one file's text; problems go to ``f``."""
    root = compose(text, f)
    if root is None:
        return []
    return read_root(root, f)


def read_root(root: Node, f: SourceFile) -> list[tuple[str, Node, Schedule | None]]:
    """The schedules of a file's top node (or of nodes built from Python values)."""
    try:
        top = {key: (key_node, value) for key, key_node, value in mapping(root, f, "(file)")}
    except Invalid:
        message = f"the file must be a mapping with a 'schedules:' key, got {show(root)}"
        f.problem(root, "(file)", message)
        return []
    for key, (key_node, _) in top.items():
        if key not in TOP_KEYS:
            hint = did_you_mean(key, TOP_KEYS)
            f.problem(key_node, key, f"unknown key {key!r}{hint}; allowed: {', '.join(TOP_KEYS)}")
    defaults = Fields()
    if "defaults" in top:
        defaults = read_block(top["defaults"][1], f, "defaults", DEFAULT_KEYS)
    if "schedules" not in top:
        f.problem(root, "(file)", "missing the 'schedules:' key")
        return []
    try:
        entries = mapping(top["schedules"][1], f, "schedules")
    except Invalid as exc:
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
        own = read_block(body, f, where, SCHEDULE_KEYS)
        schedule = build(name, name_node, own, defaults, f)
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
    with collector_paused():
        return _load(files)


def _load(files: list[Path]) -> LoadedSchedules:
    problems: list[Problem] = []
    schedules: dict[str, Schedule] = {}
    first_seen: dict[str, str] = {}
    for path in files:
        f = SourceFile(str(path))
        try:
            entries = read_file(path, f)
        except Invalid as exc:  # the node budget ran out
            f.problem(exc.node, "(file)", str(exc))
            entries = []
        for name, name_node, schedule in entries:
            where = f"{f.path}:{line_of(name_node)}"
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
        if schedule.is_celery:
            continue  # a Celery task's name is resolved by the Celery worker, not here
        module_name, _, attribute = schedule.task.partition(":")
        prefix = f"{schedule.source}: schedules.{schedule.name}.task"
        try:
            resolve_task(schedule.task)
        except ImportError as exc:
            messages.append(f"{prefix}: cannot import module {module_name!r}: {exc}")
        except AttributeError:
            messages.append(f"{prefix}: module {module_name!r} has no attribute {attribute!r}")
        except TaskNotCallableError:
            messages.append(f"{prefix}: {schedule.task!r} is not callable")
        except Exception as exc:  # importing user code may raise anything
            messages.append(
                f"{prefix}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
            )
        else:
            problem = bind_problem(schedule)
            if problem:
                messages.append(problem)
    return messages


def bind_problem(schedule: Schedule) -> str:
    """'' when the schedule's ``args``/``kwargs`` fit its task's signature, else a message
    naming the field: a call that cannot bind would fail at every run."""
    task = resolve_task(schedule.task)
    try:
        signature = inspect.signature(task)
    except (TypeError, ValueError):  # a builtin or extension without a signature
        return ""
    try:
        signature.bind(*schedule.args, **schedule.kwargs)
    except TypeError as exc:
        field = "kwargs" if "keyword" in str(exc) else "args"
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        return (f"{schedule.source}: schedules.{schedule.name}.{field}: the arguments do not "
                f"fit {schedule.task}{bare}: {exc}")  # fmt: skip
    return ""


def celery_warnings(schedules: Iterable[Schedule]) -> list[str]:
    """What Celery cannot honour of a celery_task schedule, by schedule and field: the
    schedule is valid and runs, but a field does less than for a sched task."""
    messages = []
    for s in sorted(schedules, key=lambda s: s.name):
        if not s.is_celery:
            continue
        where = f"{s.source}: schedules.{s.name}"
        if s.overlap.value != "allow":
            messages.append(
                f"{where}.overlap: a Celery run's end reaches sched only through "
                "scheduler.celery.report_outcomes(app) in the Celery app; without it each run "
                "counts as running until expires + timeout + 60 s (an hour each when not set)"
            )
        if s.retry.max_attempts > 1:
            messages.append(
                f"{where}.retry: sched does not retry a Celery task (it only hands it over); "
                "use the task's autoretry_for or self.retry()"
            )
    return messages
