"""The fields of a schedule: one parser per YAML key, each from a node to a checked value."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache

from yaml.nodes import MappingNode, Node, SequenceNode

from scheduler.config.nodes import (
    SourceFile,
    boolean,
    choice,
    duration,
    fail,
    integer,
    json_value,
    scalar,
    show,
    string,
)
from scheduler.core.celery import redis_identity
from scheduler.core.instants import EARLIEST, LATEST, RANGE_TEXT
from scheduler.core.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    Backoff,
    JSONValue,
    Misfire,
    Overlap,
)
from scheduler.core.triggers import CronTrigger
from scheduler.core.zones import ZoneNameError, segment_at, zone
from scheduler.errors import CronError

MAX_RETRY_ATTEMPTS = 100
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
QUEUE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TASK_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
CELERY_TASK_RE = re.compile(r"[\w.:/-]{1,255}")
BROKER_SCHEMES = ("redis", "rediss", "unix", "amqp", "amqps", "pyamqp")
EXCEPTION_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

TOP_KEYS = ("defaults", "schedules")
SCHEDULE_KEYS = (
    "task", "celery_task", "celery_broker_url", "cron", "every", "at", "timezone", "args", "kwargs",
    "queue", "priority", "retry", "timeout", "expires", "jitter", "start", "end", "enabled",
    "description", "misfire", "misfire_grace", "overlap",
)  # fmt: skip
# What `defaults:` may set: everything but what names a schedule's own work and trigger.
DEFAULT_KEYS = tuple(
    k for k in SCHEDULE_KEYS
    if k not in ("task", "celery_task", "cron", "every", "at", "args", "kwargs", "description")
)  # fmt: skip
RETRY_KEYS = ("max_attempts", "backoff", "initial", "max", "jitter", "retry_on")


# -- datetimes -----------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTime:
    """A `start`/`end`/`at` as written; naive ones take the schedule's zone once it is known."""

    value: datetime
    node: Node


def datetime_field(node: Node, f: SourceFile) -> LocalTime:
    value = scalar(node, f)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            fail(
                f"{value!r} is not an ISO 8601 date-time; write e.g. 2026-01-31T09:00:00+01:00 "
                "(without an offset it is taken in the schedule's time zone)",
                node,
            )
    else:
        fail(f"expected an ISO 8601 date-time, got {show(node)}", node)
    if parsed.microsecond:
        fail("must be whole seconds", node)
    if not EARLIEST.date() <= parsed.date() <= LATEST.date():
        fail(f"{parsed.date()} is out of range; dates must be {RANGE_TEXT}", node)
    return LocalTime(parsed, node)


def resolve_local(local: LocalTime, tz_name: str) -> datetime:
    if local.value.tzinfo is not None:
        return local.value.astimezone(UTC)
    # A naive local time shown twice (fall back) is its first occurrence (fold=0). One in a
    # spring-forward gap exists nowhere: it is moved to the first instant after the gap, as
    # a cron fire time is. fold=0 reads it with the offset from before the jump, which lands
    # past the transition; the segment found there starts at the transition.
    tz = zone(tz_name)
    instant = local.value.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.value:
        instant = segment_at(tz, instant).start
    return instant


Parser = Callable[[Node, SourceFile], object]


def retry_on_field(node: Node, f: SourceFile) -> tuple[str, ...]:
    f.visit(node)
    if not isinstance(node, SequenceNode):
        fail("expected a list of exception class names, e.g. [ConnectionError, TimeoutError]", node)
    names = []
    for item in node.value:
        name = string(item, f)
        if not EXCEPTION_RE.fullmatch(name):
            fail(f"{name!r} is not an exception class name (e.g. ConnectionError)", item)
        names.append(name)
    return tuple(names)


RETRY_PARSERS: dict[str, Parser] = {
    "max_attempts": lambda n, f: integer(n, f, 1, MAX_RETRY_ATTEMPTS),
    "backoff": lambda n, f: Backoff(choice(n, f, [b.value for b in Backoff])),
    "initial": lambda n, f: duration(n, f),
    "max": lambda n, f: duration(n, f),
    "jitter": boolean,
    "retry_on": retry_on_field,
}


def task_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    if not TASK_RE.fullmatch(value):
        fail(f"{value!r} is not a task reference; write module.path:callable", node)
    return value


def celery_task_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    if not CELERY_TASK_RE.fullmatch(value):
        fail(
            f"{value!r} is not a Celery task name; write the name the task is registered "
            "under, e.g. proj.tasks.cleanup",
            node,
        )
    return value


def broker_url_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    scheme, sep, _ = value.partition("://")
    if not sep or scheme not in BROKER_SCHEMES:
        fail(
            f"{value!r} is not a broker URL sched can publish to; use redis://, rediss://, "
            "unix:// or amqp://",
            node,
        )
    try:
        redis_identity(value)
    except ValueError as exc:
        fail(str(exc), node)
    return value


def timezone_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    try:
        zone(value)
    except ZoneNameError as exc:
        fail(str(exc), node)
    return value


def queue_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    if not QUEUE_RE.fullmatch(value):
        fail(f"{value!r} is not a queue name; use 1-64 letters, digits, '-', '_', '.'", node)
    return value


def args_field(node: Node, f: SourceFile) -> tuple[JSONValue, ...]:
    if not isinstance(node, SequenceNode):
        fail(f"expected a list of arguments, got {show(node)}", node)
    value = json_value(node, f, f.spot)
    assert isinstance(value, list)
    return tuple(value)


def kwargs_field(node: Node, f: SourceFile) -> dict[str, JSONValue]:
    if not isinstance(node, MappingNode):
        fail(f"expected a mapping of keyword arguments, got {show(node)}", node)
    value = json_value(node, f, f.spot)
    assert isinstance(value, dict)
    return value


def cron_field(node: Node, f: SourceFile) -> str:
    value = string(node, f)
    problem = cron_problem(value)
    if problem:
        fail(problem, node)
    return value


@lru_cache(maxsize=4096)
def cron_problem(expression: str) -> str:
    """What is wrong with a cron expression ('' if nothing): a million schedules made by
    code share a few thousand expressions, each parsed once."""
    try:
        CronTrigger(expression, zone("UTC"))
    except CronError as exc:
        return str(exc)
    return ""


FIELD_PARSERS: dict[str, Parser] = {
    "task": task_field,
    "celery_task": celery_task_field,
    "celery_broker_url": broker_url_field,
    "cron": cron_field,
    "every": lambda n, f: duration(n, f, minimum_s=1),
    "at": datetime_field,
    "timezone": timezone_field,
    "args": args_field,
    "kwargs": kwargs_field,
    "queue": queue_field,
    "priority": lambda n, f: integer(n, f, PRIORITY_MIN, PRIORITY_MAX),
    "timeout": lambda n, f: duration(n, f, minimum_s=1),
    "expires": lambda n, f: duration(n, f, minimum_s=1),
    "jitter": lambda n, f: duration(n, f),
    "start": datetime_field,
    "end": datetime_field,
    "enabled": boolean,
    "description": lambda n, f: string(n, f, allow_empty=True),
    "misfire": lambda n, f: Misfire(choice(n, f, [m.value for m in Misfire])),
    "misfire_grace": lambda n, f: duration(n, f),
    "overlap": lambda n, f: Overlap(choice(n, f, [o.value for o in Overlap])),
}
