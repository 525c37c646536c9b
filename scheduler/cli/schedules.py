"""Schedules from the command line, owned by the API as the Client's are: add, edit, remove,
and enqueue one run. Each field is the YAML field of the same name, checked the same way."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from scheduler.cli.app import app
from scheduler.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    NameArg,
    Namespace,
    RedisUrl,
    fail,
    open_store,
)
from scheduler.config.nodes import MAX_JSON_DEPTH
from scheduler.core.instants import from_ms
from scheduler.errors import ScheduleError, UsageError
from scheduler.ops import schedules
from scheduler.store import Store


def _opt(flag: str, text: str) -> Any:
    return typer.Option(flag, help=text, show_default=False)


Task = Annotated[str | None, _opt("--task", "module.path:callable.")]
CeleryTask = Annotated[str | None, _opt("--celery-task", "A Celery task's registered name.")]
Cron = Annotated[str | None, _opt("--cron", "A cron expression.")]
Every = Annotated[str | None, _opt("--every", "An interval: 90s, 1h30m or seconds.")]
At = Annotated[str | None, _opt("--at", "Once, at this ISO 8601 instant.")]
Zone = Annotated[str | None, _opt("--timezone", "IANA zone the cron fields are read in.")]
Args = Annotated[str | None, _opt("--args", "Positional arguments, as a JSON list.")]
Kwargs = Annotated[str | None, _opt("--kwargs", "Keyword arguments, a JSON object: '{\"k\": 1}'.")]
Queue = Annotated[str | None, _opt("--queue", "The queue.")]
Priority = Annotated[int | None, _opt("--priority", "0-9, higher first.")]
Retry = Annotated[
    str | None, _opt("--retry", "The retry policy, a JSON object: '{\"max_attempts\": 3}'.")
]
Timeout = Annotated[str | None, _opt("--timeout", "A duration.")]
Expires = Annotated[str | None, _opt("--expires", "A duration.")]
Jitter = Annotated[str | None, _opt("--jitter", "A duration.")]
Start = Annotated[str | None, _opt("--start", "ISO 8601 date-time.")]
End = Annotated[str | None, _opt("--end", "ISO 8601 date-time.")]
Enabled = Annotated[bool | None, _opt("--enabled/--disabled", "Whether it fires.")]
Description = Annotated[str | None, _opt("--description", "Free text.")]
Misfire = Annotated[str | None, _opt("--misfire", "coalesce, all or skip.")]
MisfireGrace = Annotated[str | None, _opt("--misfire-grace", "A duration.")]
Overlap = Annotated[str | None, _opt("--overlap", "allow, skip or queue_one.")]
Broker = Annotated[str | None, _opt("--celery-broker-url", "celery_task: the broker.")]
JSON_FIELDS = ("args", "kwargs", "retry")


def _value(field: str, text: Any) -> Any:
    """A field's value as the YAML would hold it: JSON fields parsed, a duration of digits
    a number of seconds, everything else as given."""
    if not isinstance(text, str):
        return text
    if field in JSON_FIELDS:
        try:
            return json.loads(text)
        except ValueError:
            return text  # not JSON: the field's parser says what it expected
        except RecursionError:
            flag = f"--{field.replace('_', '-')}"
            raise UsageError(f"{flag}: the JSON nests deeper than {MAX_JSON_DEPTH} levels, the "
                             "most a value may") from None  # fmt: skip
    if field in ("every", "timeout", "expires", "jitter", "misfire_grace") and text.isdigit():
        return int(text)
    return text


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    return {field: _value(field, value) for field, value in given.items() if value is not None}


def _now(store: Store) -> datetime:
    """Redis' clock: the one the leader dispatches by."""
    return from_ms(store.reads.server_ms())


def _report(exc: ScheduleError) -> typer.Exit:
    for line in str(exc).splitlines():
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(EXIT_INVALID)


@app.command()
def add(
    name: NameArg,
    task: Task = None, celery_task: CeleryTask = None, cron: Cron = None, every: Every = None,
    at: At = None, timezone: Zone = None, args: Args = None, kwargs: Kwargs = None,
    queue: Queue = None, priority: Priority = None, retry: Retry = None,
    timeout: Timeout = None, expires: Expires = None, jitter: Jitter = None,
    start: Start = None, end: End = None, enabled: Enabled = None,
    description: Description = None, misfire: Misfire = None,
    misfire_grace: MisfireGrace = None, overlap: Overlap = None,
    celery_broker_url: Broker = None,
    redis_url: RedisUrl = None, namespace: Namespace = "sched",
) -> None:  # fmt: skip
    """Add a schedule owned by the API (not by the files); the leader takes it up at once."""
    fields = _fields(dict(locals()) | {"name": None, "redis_url": None, "namespace": None})
    store = open_store(redis_url, namespace)
    try:
        schedule = schedules.add(store, name, fields, _now(store), by="cli")
    except ScheduleError as exc:
        raise _report(exc) from None
    typer.echo(f"{name}: added ({schedule.describe_trigger()})")


@app.command()
def edit(
    name: NameArg,
    task: Task = None, celery_task: CeleryTask = None, cron: Cron = None, every: Every = None,
    at: At = None, timezone: Zone = None, args: Args = None, kwargs: Kwargs = None,
    queue: Queue = None, priority: Priority = None, retry: Retry = None,
    timeout: Timeout = None, expires: Expires = None, jitter: Jitter = None,
    start: Start = None, end: End = None, enabled: Enabled = None,
    description: Description = None, misfire: Misfire = None,
    misfire_grace: MisfireGrace = None, overlap: Overlap = None,
    celery_broker_url: Broker = None,
    unset: Annotated[list[str] | None, _opt("--unset", "Remove this field (repeatable).")] = None,
    redis_url: RedisUrl = None, namespace: Namespace = "sched",
) -> None:  # fmt: skip
    """Change fields of a schedule the API owns; a changed trigger gets a new next fire."""
    given = dict(locals()) | {"name": None, "redis_url": None, "namespace": None, "unset": None}
    changes: dict[str, Any] = _fields(given)
    changes |= {field.replace("-", "_"): None for field in unset or ()}
    if not changes:
        raise fail("nothing to change: give a field (e.g. --cron) or --unset FIELD", EXIT_USAGE)
    store = open_store(redis_url, namespace)
    try:
        schedule = schedules.update(store, name, changes, _now(store), by="cli")
    except ScheduleError as exc:
        raise _report(exc) from None
    typer.echo(f"{name}: changed ({schedule.describe_trigger()})")


@app.command()
def remove(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Remove a schedule the API owns; runs already enqueued still run."""
    store = open_store(redis_url, namespace)
    schedules.remove(store, name, _now(store), by="cli")
    typer.echo(f"{name}: removed")


@app.command()
def enqueue(
    task: Annotated[str, typer.Argument(help="module.path:callable.", show_default=False)],
    at: At = None,
    delay: Annotated[float | None, _opt("--delay", "Seconds from now.")] = None,
    args: Args = None, kwargs: Kwargs = None, queue: Queue = None, priority: Priority = None,
    retry: Retry = None, timeout: Timeout = None, expires: Expires = None,
    name: Annotated[str | None, _opt("--name", "Its name (default: once-TIME-RANDOM).")] = None,
    redis_url: RedisUrl = None, namespace: Namespace = "sched",
) -> None:  # fmt: skip
    """Run a task once: at an instant, after a delay, or now (a one-off schedule)."""
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise fail(f"--at: {at!r} is not an ISO 8601 date-time", EXIT_USAGE) from None
    fields = _fields({"args": args, "kwargs": kwargs, "queue": queue, "priority": priority,
                      "retry": retry, "timeout": timeout, "expires": expires})  # fmt: skip
    store = open_store(redis_url, namespace)
    try:
        schedule = schedules.enqueue(store, task, _now(store), when, delay, fields, name, "cli")
    except ScheduleError as exc:
        raise _report(exc) from None
    typer.echo(f"{schedule.name}: enqueued ({schedule.describe_trigger()})")
