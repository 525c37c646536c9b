"""The one format of what sched stores and sends: run messages, history events and dead
letters, all versioned JSON (never pickle), and the queue's priority score.

Every producer and consumer goes through these classes; the Lua scripts take what they
need as arguments and never build or restate a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from scheduler.core.instants import EPOCH, to_ms, utc_text
from scheduler.core.model import (
    CANONICAL,
    PRIORITY_MAX,
    JSONValue,
    RetryPolicy,
    Schedule,
    digest_of,
    plain_json_encoder,
)
from scheduler.errors import StateVersionError

VERSION = 1
PRIORITY_SLOT = 10**13  # ms since the epoch stay below this until the year 2286
_COMPACT = (",", ":")


def priority_score(priority: int, enqueued_ms: int) -> int:
    """A queue's sort key: higher priority first, then first in, first out."""
    return (PRIORITY_MAX - priority) * PRIORITY_SLOT + enqueued_ms


def dumps(kind: str, payload: dict[str, Any]) -> str:
    """Versioned JSON for everything sched stores."""
    return json.dumps({"v": VERSION, "kind": kind, **payload}, separators=_COMPACT)


def loads(kind: str, text: str | bytes) -> dict[str, Any]:
    """The payload of a stored ``kind``; a clear error for another version or kind."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("v") != VERSION or data.get("kind") != kind:
        version = data.get("v") if isinstance(data, dict) else None
        raise StateVersionError(
            f"stored {kind} has version {version!r}; this sched reads version {VERSION}. "
            "Upgrade sched, or use a fresh namespace (--namespace)"
        )
    return data


def definition_and_digest(schedule: Schedule, owner: str,
                          fields: dict[str, Any] | None = None) -> tuple[str, str]:  # fmt: skip
    """A schedule as Redis holds it (``definition_text``) and its digest, from one encoding
    of the schedule (the digest's own canonical JSON is the definition's ``schedule``)."""
    canonical = schedule.canonical()
    digest = digest_of(canonical)
    return definition_text(canonical, digest, owner, schedule.source or owner, fields), digest


def definition_text(canonical: str, digest: str, owner: str, source: str,
                    fields: dict[str, Any] | None = None) -> str:  # fmt: skip
    """A schedule as Redis holds it: its canonical JSON, digest, owner (files or api), where
    it came from, and for the API the fields as given (what ``update`` merges into)."""
    return _definition(canonical, digest, PLAIN_COMPACT(_rest(owner, source, fields))[1:])


def _rest(owner: str, source: str, fields: dict[str, Any] | None) -> dict[str, Any]:
    """What a definition holds after its schedule."""
    rest: dict[str, Any] = {"owner": owner, "source": source}
    if fields is not None:
        rest["fields"] = fields
    return rest


def _definition(canonical: str, digest: str, rest_text: str) -> str:
    """A definition from its parts: ``rest_text`` is ``_rest``'s JSON without its ``{``."""
    head = f'{{"v":{VERSION},"kind":"definition","digest":"{digest}"'  # hex: nothing to escape
    return f'{head},"schedule":{canonical},{rest_text}'


class CopyTemplate:
    """The definition of a schedule with holes for its name, args and kwargs: the definition
    of any schedule that differs from it only in those (a reminder per user, a report per
    tenant), with the fields it was given, is a few small encodings spliced in, not a whole
    one. Byte for byte what ``definition_and_digest`` gives the copy."""

    def __init__(self, canonical: list[str], owner: str, source: str) -> None:
        self._canonical = canonical
        self._owner, self._source = owner, source
        # by the order of the given fields' keys: the text after the schedule, cut where
        # args and kwargs go (and which goes where); None: a value holds a hole's text
        self._rest: dict[tuple[str, ...], tuple[list[str], list[str]] | None] = {}

    @classmethod
    def of(cls, schedule: Schedule, owner: str, source: str) -> CopyTemplate | None:
        """The template of ``schedule``; None if another of its values holds a hole's
        text (then each copy is encoded whole)."""
        body = schedule.to_json()
        body.update(_HOLES)
        # the canonical order of keys: args, kwargs, name
        parts = _cut(CANONICAL.encode(body), [CANONICAL.encode(_HOLES[k]) for k in sorted(_HOLES)])
        return None if parts is None else cls(parts, owner, source)

    def definition(self, name: str, args_text: str, kwargs_text: str,
                   fields: dict[str, Any]) -> tuple[str, str]:  # fmt: skip
        """The definition and digest of the copy named ``name`` whose args and kwargs have
        the canonical JSON ``args_text`` and ``kwargs_text`` (``CANONICAL_PLAIN``'s), given
        ``fields``."""
        a, b, c, d = self._canonical
        canonical = f"{a}{args_text}{b}{kwargs_text}{c}{encode_basestring_ascii(name)}{d}"
        digest = digest_of(canonical)
        return _definition(canonical, digest, self._rest_of(fields)), digest

    def _rest_of(self, fields: dict[str, Any]) -> str:
        order = tuple(fields)
        known = self._rest.get(order, _UNKNOWN)
        if known is _UNKNOWN:
            holes = [key for key in order if key in _ARGUMENT_HOLES]
            with_holes = {**fields, **{key: _ARGUMENT_HOLES[key] for key in holes}}
            text = PLAIN_COMPACT(_rest(self._owner, self._source, with_holes))[1:]
            parts = _cut(text, [PLAIN_COMPACT(_HOLES[key]) for key in holes])
            known = self._rest[order] = None if parts is None else (parts, holes)
        if known is None:
            return PLAIN_COMPACT(_rest(self._owner, self._source, fields))[1:]
        assert isinstance(known, tuple)
        parts, holes = known
        texts = [parts[0]]
        for key, part in zip(holes, parts[1:], strict=True):
            texts += [PLAIN_COMPACT(fields[key]), part]
        return "".join(texts)


def _cut(text: str, holes: list[str]) -> list[str] | None:
    """``text`` cut at each of ``holes``, in order; None unless each is there once."""
    parts = []
    for hole in holes:
        if text.count(hole) != 1:
            return None
        before, _, text = text.partition(hole)
        parts.append(before)
    return [*parts, text]


_HOLES = {"args": "\x00args", "kwargs": "\x00kwargs", "name": "\x00name"}  # no JSON has these
_ARGUMENT_HOLES = {"args": _HOLES["args"], "kwargs": _HOLES["kwargs"]}
_UNKNOWN: Any = object()
CANONICAL_PLAIN = plain_json_encoder(sort_keys=True)  # CANONICAL.encode of checked values
PLAIN_COMPACT = plain_json_encoder(sort_keys=False)  # compact JSON of checked values


def run_id_for(schedule: str, fire_ms: int) -> str:
    """Deterministic: the same (schedule, fire time) can only ever be one run."""
    return f"{schedule}@{fire_ms}"


@dataclass(frozen=True, slots=True)
class RunMessage:
    """What a worker executes (a contract between scheduler and workers).

    ``fire_at`` is UTC text, ``expires_at`` is None when the schedule has no ``expires``,
    ``origin`` is ``schedule``, ``trigger`` or ``backfill``, ``epoch`` the fencing epoch of
    the leader that enqueued it (0 for operator commands).
    """

    run_id: str
    schedule: str
    task: str
    args: list[JSONValue]
    kwargs: dict[str, JSONValue]
    queue: str
    priority: int
    fire_at: str
    fire_at_ms: int
    enqueued_at: str
    attempt: int
    retry: RetryPolicy
    timeout_s: int | None
    expires_at: str | None
    overlap: str
    origin: str
    epoch: int
    previous_error: str | None = None
    deferred_since_ms: int | None = None  # first left by a worker that could not import it

    @classmethod
    def for_fire(
        cls, schedule: Schedule, run_id: str, fire_at: datetime, now: datetime, origin: str,
        epoch: int,
    ) -> RunMessage:  # fmt: skip
        return cls(
            run_id=run_id,
            schedule=schedule.name,
            task=schedule.task,
            args=list(schedule.args),
            kwargs=schedule.kwargs,
            queue=schedule.queue,
            priority=schedule.priority,
            fire_at=utc_text(fire_at),
            fire_at_ms=to_ms(fire_at),
            enqueued_at=utc_text(now),
            attempt=1,
            retry=schedule.retry,
            timeout_s=schedule.timeout_s,
            expires_at=_expires_at(schedule, fire_at),
            overlap=schedule.overlap.value,
            origin=origin,
            epoch=epoch,
        )

    def to_json(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        body["retry"] = self.retry.to_json()
        for optional in ("previous_error", "deferred_since_ms"):
            if body[optional] is None:
                del body[optional]
        return {"v": VERSION, "kind": "run", **body}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=_COMPACT)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunMessage:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["retry"] = RetryPolicy.from_json(data["retry"])
        return cls(**values)

    @classmethod
    def loads(cls, text: str | bytes) -> RunMessage:
        return cls.from_json(loads("run", text))

    @property
    def expires(self) -> datetime | None:
        return None if self.expires_at is None else datetime.fromisoformat(self.expires_at)

    def score(self, enqueued_ms: int) -> int:
        return priority_score(self.priority, enqueued_ms)

    def next_attempt(self, error: str) -> RunMessage:
        return replace(self, attempt=self.attempt + 1, previous_error=error)

    def revived(self, now: datetime) -> RunMessage:
        """Back from the dead-letter queue: a first attempt again."""
        return replace(self, attempt=1, enqueued_at=utc_text(now), previous_error=None)


def _expires_at(schedule: Schedule, fire_at: datetime) -> str | None:
    if schedule.expires_s is None:
        return None
    return utc_text(fire_at + timedelta(seconds=schedule.expires_s))


class MessageTemplate:
    """``RunMessage.for_fire(...).dumps()`` for one schedule, with its constant part
    serialised once: a leader renders thousands a second (a test keeps the two equal)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        constant = RunMessage.for_fire(schedule, "", EPOCH, EPOCH, "", 0)
        body = constant.to_json()
        for name in _PER_RUN:
            del body[name]
        self.head = json.dumps(body, separators=_COMPACT)[:-1]

    def render(
        self, run_id: str, fire_at: datetime, fire_text: str, now_text: str, origin: str,
        epoch: int,
    ) -> str:  # fmt: skip
        expires_at = _expires_at(self.schedule, fire_at)
        expires = "null" if expires_at is None else f'"{expires_at}"'
        return (
            f'{self.head},"run_id":{json.dumps(run_id)},"fire_at":"{fire_text}",'
            f'"fire_at_ms":{to_ms(fire_at)},"enqueued_at":"{now_text}",'
            f'"expires_at":{expires},"origin":"{origin}","epoch":{epoch}}}'
        )


_PER_RUN = ("run_id", "fire_at", "fire_at_ms", "enqueued_at", "expires_at", "origin", "epoch")


def run_message(
    schedule: Schedule, run_id: str, fire_at: datetime, now: datetime, origin: str, epoch: int
) -> str:
    """The JSON of ``RunMessage.for_fire``."""
    return RunMessage.for_fire(schedule, run_id, fire_at, now, origin, epoch).dumps()


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a schedule's history: what happened, and when (``at``, UTC text).

    Kinds: skipped, missed, succeeded, retrying, failed, dead, timed_out, expired, deferred,
    sent_to_celery (handed to a Celery broker), no_outcome (a Celery run counted for overlap
    that reported no end in time), and the operator events paused, resumed, triggered,
    backfilled, revived, and added, changed, removed (an API schedule's definition). Fields that do
    not apply are None and left out of the JSON.
    """

    event: str
    at: str
    run_id: str | None = None
    fire_at: str | None = None
    attempt: int | None = None
    worker: str | None = None
    started: str | None = None
    finished: str | None = None
    duration_ms: int | None = None
    error: str | None = None
    retry_at: str | None = None
    count: int | None = None
    missed: int | None = None
    last_missed: str | None = None
    by: str | None = None  # operator events: who (the HTTP token's name, or "cli")
    celery_id: str | None = None  # sent_to_celery and Celery outcomes: the Celery task id

    def to_json(self) -> dict[str, Any]:
        # getattr over the field names, not asdict: a leader writes one per hand-off
        body = {n: v for n in _EVENT_FIELDS if (v := getattr(self, n)) is not None}
        return {"v": VERSION, "kind": "event", **body}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=_COMPACT)

    @classmethod
    def loads(cls, text: str | bytes) -> Event:
        data = loads("event", text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def event(kind: str, now: datetime, **values: Any) -> str:
    """The JSON of a history event of ``kind`` at ``now``."""
    return Event(kind, utc_text(now), **values).dumps()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A run that failed for good, with its last error."""

    run: RunMessage
    dead_at_ms: int
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    why: str
    deliveries: int | None = None  # poison runs: starts without an outcome

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": VERSION,
            "kind": "dead",
            "run": self.run.to_json(),
            "dead_at_ms": self.dead_at_ms,
            "error": {
                "type": self.error_type,
                "message": self.error_message,
                "traceback": self.traceback,
            },
            "attempts": self.attempts,
            "why": self.why,
        }
        if self.deliveries is not None:
            body["deliveries"] = self.deliveries
        return body

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=_COMPACT)

    @classmethod
    def loads(cls, text: str | bytes) -> DeadLetter:
        data = loads("dead", text)
        error = data["error"]
        return cls(
            run=RunMessage.from_json(data["run"]),
            dead_at_ms=data["dead_at_ms"],
            error_type=error["type"],
            error_message=error["message"],
            traceback=error.get("traceback", ""),
            attempts=data["attempts"],
            why=data.get("why", ""),
            deliveries=data.get("deliveries"),
        )
