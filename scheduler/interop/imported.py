"""What a Celery beat entry becomes: a sched schedule's fields, or a refusal with a reason.

Shared by both sources (a Celery app's ``beat_schedule``, django-celery-beat's tables): the
name rule, arguments, the options (queue, priority, expiry, time limit), the two triggers
and the file's text. Pure: time comes in as ``now``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from scheduler.config import MAX_ARGS_BYTES
from scheduler.config.emit import Block, problems_of, schedule_file
from scheduler.config.fields import CELERY_TASK_RE, QUEUE_RE
from scheduler.core.durations import MAX_DURATION_S, format_duration_s
from scheduler.core.model import JSONValue
from scheduler.core.triggers import CronTrigger
from scheduler.core.zones import ZoneNameError, zone
from scheduler.errors import CronError
from scheduler.interop.cronfields import (
    CrontabSets,
    InexactError,
    changes_offset,
    cron_expression,
    gap_times,
)

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_MAX = 128
GUIDE = "docs/migrating-from-celery-beat.md"


@dataclass(frozen=True)
class Imported:
    name: str  # sched's
    source: str  # Celery's
    fields: dict[str, JSONValue]


@dataclass(frozen=True)
class Refused:
    source: str
    reason: str


@dataclass
class ImportReport:
    """Every entry of a source, imported or refused, and the warnings to show."""

    origin: str
    schedules: list[Imported] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _taken: set[str] = field(default_factory=set)

    def add(self, source: str, convert: Callable[[list[str]], dict[str, JSONValue]]) -> None:
        """Convert one entry; ``convert`` appends its warnings (without the entry's name)
        and raises InexactError to refuse it."""
        notes: list[str] = []
        try:
            fields = convert(notes)
        except InexactError as exc:
            self.refused.append(Refused(source, str(exc)))
            return
        problems = problems_of(schedule_file([], [Block("entry", [], fields)]))
        if problems:
            reason = "; ".join(f"{p.where.removeprefix('schedules.entry.')}: {p.message}"
                               for p in problems)  # fmt: skip
            self.refused.append(Refused(source, f"sched refuses what it becomes: {reason}"))
            return
        name = self._name_for(source)
        self.warnings.extend(f"{source!r}: {note}" for note in notes)
        self.schedules.append(Imported(name, source, fields))

    def _name_for(self, source: str) -> str:
        name = _NOT_IN_NAME.sub("-", source).strip("-")[:NAME_MAX] or "entry"
        base, n = name, 1
        while name in self._taken:
            n += 1
            suffix = f"-{n}"
            name = base[: NAME_MAX - len(suffix)] + suffix
        self._taken.add(name)
        if name != source:
            self.warnings.append(
                f"{source!r}: named {name!r} (sched names are 1-128 letters, digits, '-', '_', "
                "'.', unique)"
            )
        return name

    def text(self, disabled: bool = False) -> str:
        header = [
            f"Imported by `sched import` from {self.origin}.",
            f"Each schedule hands its runs to a Celery worker (celery_task:); see {GUIDE}.",
        ]
        if disabled:
            header.append("Imported disabled (--disabled): enable them once Celery beat stops.")
        blocks = []
        for entry in sorted(self.schedules, key=lambda e: e.name):
            fields = dict(entry.fields)
            if disabled:
                fields["enabled"] = False
            comments = [f"Celery beat entry {entry.source!r}"] if entry.name != entry.source else []
            blocks.append(Block(entry.name, comments, fields))
        return schedule_file(header, blocks)


# -- arguments and options ----------------------------------------------------------


def task_name(task: object) -> str:
    if not isinstance(task, str) or not CELERY_TASK_RE.fullmatch(task):
        raise InexactError(f"task {task!r} is not a Celery task name sched can send")
    return task


def arguments(args: object, kwargs: object) -> dict[str, JSONValue]:
    """``args`` and ``kwargs`` as JSON values, each exactly as Celery would send them."""
    if args is None:
        args = []
    if kwargs is None:
        kwargs = {}
    if not isinstance(args, list | tuple):
        raise InexactError(f"args must be a list, got {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InexactError(f"kwargs must be a mapping, got {type(kwargs).__name__}")
    plain_args = [_plain(v, f"args[{i}]") for i, v in enumerate(args)]
    plain_kwargs = {}
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise InexactError(f"kwargs key {key!r} is not a string")
        plain_kwargs[key] = _plain(value, f"kwargs[{key!r}]")
    size = len(json.dumps([plain_args, plain_kwargs]).encode())
    if size > MAX_ARGS_BYTES:
        raise InexactError(f"args and kwargs are {size} bytes as JSON; sched's limit is "
                           f"{MAX_ARGS_BYTES}")  # fmt: skip
    fields: dict[str, JSONValue] = {}
    if plain_args:
        fields["args"] = plain_args
    if plain_kwargs:
        fields["kwargs"] = plain_kwargs
    return fields


def _plain(value: object, where: str) -> JSONValue:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InexactError(f"{where} is {value!r}, which JSON cannot hold")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InexactError(f"{where} has the key {key!r}, which JSON cannot hold")
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    raise InexactError(f"{where} is a {type(value).__name__} ({value!r}), not a JSON value")


def priority_from_celery(priority: int) -> int | None:
    """Celery's Redis priority (0 first) as sched's, so that the run lands in the same
    kombu list (``redis_priority`` in ``scheduler.core.celery`` is the other way); None for
    sched's default, which goes where Celery's 0-2 go."""
    if priority <= 2:
        return None
    if priority <= 5:
        return 4
    if priority <= 8:
        return 2
    return 0


MAPPED_OPTIONS = ("queue", "priority", "expires", "time_limit")


def options_fields(options: Mapping[str, object], notes: list[str]) -> dict[str, JSONValue]:
    """The options sched has a field for; every other option is named in a warning."""
    fields: dict[str, JSONValue] = {}
    queue = options.get("queue")
    if queue is not None:
        if not isinstance(queue, str) or not QUEUE_RE.fullmatch(queue):
            raise InexactError(f"queue {queue!r} is not a queue name sched can use "
                               "(1-64 letters, digits, '-', '_', '.')")  # fmt: skip
        fields["queue"] = queue
    priority = options.get("priority")
    if priority is not None:
        if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
            raise InexactError(f"priority {priority!r} is not a Celery priority (0-9)")
        mapped = priority_from_celery(min(priority, 9))
        if mapped is not None:
            fields["priority"] = mapped
    expires = options.get("expires")
    if isinstance(expires, datetime):
        notes.append("options.expires is an instant: imported as end: (no run after it)")
        fields["end"] = iso(end_before(expires))
    elif expires is not None:
        fields["expires"] = _seconds_option("expires", expires, notes)
    limit = options.get("time_limit")
    if limit is not None:
        fields["timeout"] = _seconds_option("time_limit", limit, notes)
    for key in sorted(set(options) - set(MAPPED_OPTIONS)):
        if options[key] not in (None, "", {}):
            notes.append(f"options.{key} ({options[key]!r}) is not imported: sched has no "
                         "such field (set it on the task or the queue in Celery)")  # fmt: skip
    return fields


def _seconds_option(name: str, value: object, notes: list[str]) -> str:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InexactError(f"options.{name} {value!r} is not a number of seconds")
    whole = max(1, math.ceil(seconds))
    if whole != seconds:
        notes.append(f"options.{name} {seconds:g}s is rounded to {whole}s (whole seconds)")
    if whole > MAX_DURATION_S:
        raise InexactError(f"options.{name} is longer than 100 years")
    return format_duration_s(whole)


# -- triggers ---------------------------------------------------------------------


def every_fields(seconds: float, first_fire: datetime | None) -> dict[str, JSONValue]:
    """An interval; ``first_fire`` anchors it (``start:``) where the source knows it."""
    if seconds < 1 or seconds != int(seconds):
        raise InexactError(f"its interval is {seconds:g}s; sched's are whole seconds, at "
                           "least 1")  # fmt: skip
    if seconds > MAX_DURATION_S:
        raise InexactError("its interval is longer than 100 years")
    fields: dict[str, JSONValue] = {"every": format_duration_s(int(seconds))}
    if first_fire is not None:
        fields["start"] = iso(first_fire)
    return fields


def cron_fields(
    sets: CrontabSets, zone_name: str, now: datetime, notes: list[str]
) -> dict[str, JSONValue]:
    tz = zone(zone_name)
    expression = cron_expression(sets, wall_clock=changes_offset(tz, now))
    try:
        CronTrigger(expression, tz)
    except CronError as exc:
        message = f"its crontab becomes {expression!r}, which sched refuses: {exc}"
        raise InexactError(message) from None
    for gap_time in gap_times(sets, tz, now):
        notes.append(
            f"{gap_time} falls in {zone_name}'s spring-forward gap: that day Celery runs it "
            "the length of the gap later, sched at the end of the gap (02:30 runs at 03:30 "
            "under Celery, 03:00 under sched)"
        )
    fields: dict[str, JSONValue] = {"cron": expression}
    if zone_name != "UTC":
        fields["timezone"] = zone_name
    return fields


def zone_name(tz: object) -> str:
    """An IANA name for a tzinfo: a ZoneInfo's key, a fixed whole-hour offset as Etc/GMT-N,
    a pytz zone's name. InexactError for anything else."""
    name: object
    if isinstance(tz, ZoneInfo):
        name = tz.key
    elif isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        hours, rest = divmod(int(offset.total_seconds()), 3600)
        if rest or not -12 <= hours <= 14:
            raise InexactError(f"time zone {tz!r} is a fixed offset that no IANA zone names")
        name = f"Etc/GMT{-hours:+d}" if hours else "UTC"
    else:
        name = getattr(tz, "zone", None)
    if not isinstance(name, str):
        raise InexactError(f"time zone {tz!r} has no IANA name; give Celery a zone such as "
                           "ZoneInfo('Europe/Berlin')")  # fmt: skip
    try:
        zone(name)
    except ZoneNameError as exc:
        raise InexactError(f"time zone: {exc}") from None
    return name


# -- instants -----------------------------------------------------------------------


def as_utc(value: datetime) -> datetime:
    """Naive instants are UTC (Django stores them so with USE_TZ = True)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ceil_second(value: datetime) -> datetime:
    value = as_utc(value)
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value


def continued(last_run_at: datetime, every: timedelta) -> datetime:
    """Beat's next run of an interval that last ran at ``last_run_at``: ``every`` after it,
    rounded up to the whole second, so the first run sched makes is never one beat made."""
    return ceil_second(last_run_at) + every


def end_before(value: datetime) -> datetime:
    """The last whole second before ``value``: a run at ``value`` is past it."""
    return ceil_second(value) - timedelta(seconds=1)


def iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
