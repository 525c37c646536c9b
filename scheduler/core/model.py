"""What a schedule is, once its file has been read and checked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.core.durations import format_duration_s
from scheduler.core.instants import utc_text
from scheduler.core.jitter import due_ms, jitter_ms
from scheduler.core.triggers import AtTrigger, CronTrigger, IntervalTrigger
from scheduler.core.urls import redact

JSONValue = Any  # JSON-serialisable: str, int, float, bool, None, list, dict[str, ...]
_ONE_US = timedelta(microseconds=1)
PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 0, 9, 5


class Misfire(StrEnum):
    """What to do with fire times that passed while no scheduler ran."""

    COALESCE = "coalesce"
    ALL = "all"
    SKIP = "skip"


class Overlap(StrEnum):
    """What to do with a fire time while an earlier run of the schedule is unfinished."""

    ALLOW = "allow"
    SKIP = "skip"
    QUEUE_ONE = "queue_one"


class Target(StrEnum):
    """Who executes a schedule's runs: sched's own workers, or Celery workers."""

    SCHED = "sched"
    CELERY = "celery"


class Backoff(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff: Backoff = Backoff.EXPONENTIAL
    initial_s: int = 10
    max_s: int = 600
    jitter: bool = True
    retry_on: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, JSONValue]) -> RetryPolicy:
        return cls(
            max_attempts=data["max_attempts"],
            backoff=Backoff(data["backoff"]),
            initial_s=data["initial_s"],
            max_s=data["max_s"],
            jitter=data["jitter"],
            retry_on=tuple(data["retry_on"]),
        )

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "max_attempts": self.max_attempts,
            "backoff": self.backoff.value,
            "initial_s": self.initial_s,
            "max_s": self.max_s,
            "jitter": self.jitter,
            "retry_on": list(self.retry_on),
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    task: str
    timezone: str
    cron: str | None = None
    every_s: int | None = None
    at: datetime | None = None  # a one-off: fires once, at this instant
    args: tuple[JSONValue, ...] = ()
    kwargs: dict[str, JSONValue] = field(default_factory=dict)
    queue: str = "default"
    priority: int = PRIORITY_DEFAULT
    retry: RetryPolicy = RetryPolicy()
    timeout_s: int | None = None
    expires_s: int | None = None
    jitter_s: int = 0
    start: datetime | None = None
    end: datetime | None = None
    enabled: bool = True
    description: str = ""
    misfire: Misfire = Misfire.COALESCE
    misfire_grace_s: int | None = None
    overlap: Overlap = Overlap.ALLOW
    target: Target = Target.SCHED  # CELERY: ``task`` is a Celery task's registered name
    celery_broker_url: str | None = None  # None: the process's --celery-broker-url
    source: str = ""  # "path:line" of its definition, for messages

    @property
    def is_celery(self) -> bool:
        return self.target is Target.CELERY

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def trigger(self) -> CronTrigger | IntervalTrigger | AtTrigger:
        if self.cron is not None:
            return _cron_trigger(self.cron, self.timezone)
        if self.at is not None:
            return AtTrigger(self.at)
        assert self.every_s is not None
        if self.start is not None:
            return IntervalTrigger(self.every_s, self.start)
        return IntervalTrigger(self.every_s)

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` within ``start``..``end`` (inclusive)."""
        if self.start is not None and after < self.start:
            after = self.start - _ONE_US
        fire_at = self.trigger.next_fire(after)
        if fire_at is None or (self.end is not None and fire_at > self.end):
            return None
        return fire_at

    def first_fire(self, now: datetime, settled: Collection[datetime] = ()) -> datetime | None:
        """The next fire time a schedule is given when it is added or its trigger changes.

        For a one-off, its instant even when that has passed, so that the missed-run policy
        decides whether it still runs late (otherwise a one-off written for a moment just
        gone would never run); None once its state has fired or missed that instant
        (``settled``: the state's last fire and last missed times). Else ``next_fire(now)``.
        A disabled schedule has none.
        """
        if not self.enabled:
            return None
        if self.at is not None:
            return None if self.at in settled else self.at
        return self.next_fire(now)

    def fires_from(
        self, first: datetime | None, until: datetime | None = None, limit: int | None = None
    ) -> Iterator[datetime]:
        """``first`` (a fire time) and the fire times after it, up to ``until`` (inclusive)
        and at most ``limit`` of them: the one walk over fire times that sched has."""
        count, fire_at = 0, first
        while fire_at is not None and (until is None or fire_at <= until):
            if limit is not None and count >= limit:
                return
            yield fire_at
            count += 1
            fire_at = self.next_fire(fire_at)

    def fire_times(
        self, after: datetime, until: datetime | None = None, limit: int | None = None
    ) -> list[datetime]:
        """Every fire time in ``(after, until]``, at most ``limit``; bounded by ``end`` too."""
        return list(self.fires_from(self.next_fire(after), until, limit))

    def jitter_ms(self, fire_ms: int) -> int:
        return jitter_ms(self.name, self.jitter_s, fire_ms)

    def due_ms(self, next_ms: int | None) -> int | None:
        """When the fire time ``next_ms`` is due: plus its jitter; None for never."""
        return due_ms(self.name, self.jitter_s, next_ms)

    def describe_trigger(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r}"
        if self.at is not None:
            return f"once at {self.at.astimezone(self.zone).isoformat()}"
        assert self.every_s is not None
        return f"every {format_duration_s(self.every_s)}"

    def to_json(self) -> dict[str, JSONValue]:
        """The definition as plain JSON (no ``source``): what is synced to Redis.

        The Celery keys appear only for Celery schedules, and ``at`` only for a one-off, so
        that the digest of any other schedule is what it was before they existed."""
        body: dict[str, JSONValue] = {
            "name": self.name,
            "task": self.task,
            "timezone": self.timezone,
            "cron": self.cron,
            "every_s": self.every_s,
            "args": list(self.args),
            "kwargs": self.kwargs,
            "queue": self.queue,
            "priority": self.priority,
            "retry": self.retry.to_json(),
            "timeout_s": self.timeout_s,
            "expires_s": self.expires_s,
            "jitter_s": self.jitter_s,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "enabled": self.enabled,
            "description": self.description,
            "misfire": self.misfire.value,
            "misfire_grace_s": self.misfire_grace_s,
            "overlap": self.overlap.value,
        }
        if self.at is not None:
            body["at"] = _iso(self.at)
        if self.is_celery:
            body["target"] = self.target.value
            body["celery_broker_url"] = self.celery_broker_url
        return body

    def shown(self) -> dict[str, JSONValue]:
        """``to_json`` as it may be shown (the web page, the API): no broker password."""
        body = self.to_json()
        if self.celery_broker_url:
            body["celery_broker_url"] = redact(self.celery_broker_url)
        return body

    @classmethod
    def from_json(cls, data: dict[str, JSONValue]) -> Schedule:
        """The inverse of ``to_json``: a schedule as stored in Redis."""
        return cls(
            name=data["name"],
            task=data["task"],
            timezone=data["timezone"],
            cron=data["cron"],
            every_s=data["every_s"],
            at=_parse_iso(data.get("at")),
            args=tuple(data["args"]),
            kwargs=dict(data["kwargs"]),
            queue=data["queue"],
            priority=data["priority"],
            retry=RetryPolicy.from_json(data["retry"]),
            timeout_s=data["timeout_s"],
            expires_s=data["expires_s"],
            jitter_s=data["jitter_s"],
            start=_parse_iso(data["start"]),
            end=_parse_iso(data["end"]),
            enabled=data["enabled"],
            description=data["description"],
            misfire=Misfire(data["misfire"]),
            misfire_grace_s=data["misfire_grace_s"],
            overlap=Overlap(data["overlap"]),
            target=Target(data.get("target", Target.SCHED.value)),
            celery_broker_url=data.get("celery_broker_url"),
        )

    def trigger_key(self) -> str:
        """Identifies when the schedule fires (``enabled`` included); a change of it
        recomputes the next fire time."""
        fields = [self.cron, self.every_s, self.timezone, _iso(self.start), _iso(self.end)]
        if self.at is not None:  # appended only when set: other schedules keep their key
            fields.append(_iso(self.at))
        return f"{_TRIGGER_TEXT(fields)}|enabled={self.enabled}"

    def canonical(self) -> str:
        """``to_json`` as compact JSON with sorted keys: what the digest is of."""
        return _CANONICAL_TEXT(self.to_json())

    def digest(self) -> str:
        return digest_of(self.canonical())


# json.dumps's encoders, made once (json.dumps makes one per call when given options)
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def plain_json_encoder(sort_keys: bool, separators: tuple[str, str] = (",", ":")
                       ) -> Callable[[JSONValue], str]:  # fmt: skip
    """JSON text of plain JSON values (no cycles: the caller has checked them), the very text
    of ``json.JSONEncoder(sort_keys=..., separators=...).encode``, at a third of its cost for
    a small value: ``encode`` makes its C encoder anew at every call, this makes it once.
    Where the C encoder is missing or takes other arguments: ``encode``."""
    encoder = json.JSONEncoder(sort_keys=sort_keys, separators=separators)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    item_separator, key_separator = separators
    try:
        raw = make(None, encoder.default, json.encoder.encode_basestring_ascii, None,
                   key_separator, item_separator, sort_keys, False, True)  # fmt: skip
        probe: JSONValue = {"b": [1, 2.5, None, True, "\u00e9\n"], "a": {}}
        if "".join(raw(probe, 0)) != encoder.encode(probe):
            return encoder.encode
    except TypeError:  # another signature
        return encoder.encode

    def encode(value: JSONValue) -> str:
        return "".join(raw(value, 0))

    return encode


# CANONICAL.encode of a schedule's to_json: plain JSON, and checked (no cycles: arguments
# nest at most MAX_JSON_DEPTH levels, as their parser allows)
_CANONICAL_TEXT = plain_json_encoder(sort_keys=True)
_TRIGGER_TEXT = plain_json_encoder(sort_keys=False, separators=(", ", ": "))  # json.dumps'


def digest_of(canonical: str) -> str:
    """The digest of a schedule from its ``canonical()`` JSON."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _whole_seconds_text(value)


ISO_CACHE = 4096  # instants kept with their text: about 200 bytes each


@lru_cache(maxsize=ISO_CACHE)
def _whole_seconds_text(value: datetime) -> str:
    # Whole seconds (start/end/at are validated so): the same text as utc_text without ".000".
    # Cached: a sync writes every schedule's start, and many schedules share one (a third of
    # the time of canonical() for 100,000 schedules). Equal instants have equal texts, so a
    # key equal in another zone gives the right answer.
    return utc_text(value).replace(".000Z", "Z")


def _parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


TRIGGER_CACHE = 10_000  # parsed (expression, zone) pairs kept: about 3 KB each


@lru_cache(maxsize=TRIGGER_CACHE)
def _cron_trigger(expression: str, timezone: str) -> CronTrigger:
    # Schedules are frozen values compared and copied freely; parse each expression once
    # while it is in use. Bounded: a million schedules may have a million expressions.
    return CronTrigger(expression, ZoneInfo(timezone))
