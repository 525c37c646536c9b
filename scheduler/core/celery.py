"""Celery's task message, built by sched: protocol 2 in kombu's Redis envelope.

sched never imports Celery to hand a run to a Celery worker. It writes the message a
``celery`` client would (``app.send_task``), byte for byte in the parts a worker reads, so
that the leader's dispatch script can push it in the same atomic step as its
compare-and-set. The JSON is built here, in Python: Lua's cjson would turn an argument like
2**60 into a float.

Contract: the headers ``sched_run_id`` and ``sched_fire_at`` (ISO 8601, UTC) reach the
task as ``self.request.sched_run_id`` and ``self.request.sched_fire_at``.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scheduler.core.model import JSONValue, Overlap, Schedule
from scheduler.core.urls import redact
from scheduler.errors import StateVersionError

# The namespace of task ids: uuid5(namespace, run id), so a fire time always has one id.
TASK_ID_NAMESPACE = uuid.UUID("5c3d6f1e-9a57-4f0b-8f43-2b1d8e7a6c10")
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's Redis transport: one list per step
KOMBU_SEP = "\x06\x16"  # between a queue's name and its priority step, as kombu writes it
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_COMPACT = (",", ":")


def celery_task_id(run_id: str) -> str:
    """The Celery task id of a run: the same run (schedule, fire time) always has the same."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, run_id))


def redis_priority(priority: int) -> int:
    """sched's priority (0-9, 9 first, 5 by default) as kombu's Redis priority (0 first).

    Celery's Redis workers read four lists in the order 0, 3, 6, 9, and a message Celery
    sends without a priority goes to the first. sched's default, and everything above it,
    go there too, so a schedule that names no priority competes evenly with the app's own
    tasks: 5-9 -> 0, 3-4 -> 3, 1-2 -> 6, 0 -> 9.
    """
    if priority >= 5:
        return 0
    if priority >= 3:
        return 3
    if priority >= 1:
        return 6
    return 9


def redis_list(queue: str, priority: int) -> str:
    """The Redis list kombu reads for ``queue`` at sched's ``priority``."""
    step = redis_priority(priority)
    return f"{queue}{KOMBU_SEP}{step}" if step else queue


def amqp_priority(priority: int) -> int:
    """sched's priority as AMQP's (0-9, higher first, as sched's): the same number. It takes
    effect only on a queue declared with ``x-max-priority``."""
    return priority


@dataclass(frozen=True, slots=True)
class CeleryMessage:
    """One run as a Celery task message (protocol 2)."""

    task_id: str
    queue: str
    priority: int  # sched's
    headers: dict[str, Any]
    body: bytes  # JSON: [args, kwargs, embed]

    @classmethod
    def for_run(
        cls, schedule: Schedule, run_id: str, fire_at: datetime, fire_text: str, origin: str
    ) -> CeleryMessage:
        """The message for ``schedule``'s run ``run_id`` due at ``fire_at``; ``origin`` names
        the sender (``sched@host``), as Celery's ``origin`` header does."""
        task_id = celery_task_id(run_id)
        args: list[JSONValue] = list(schedule.args)
        expires = None
        if schedule.expires_s is not None:
            expires = (fire_at + timedelta(seconds=schedule.expires_s)).astimezone(UTC)
        headers: dict[str, Any] = {
            "lang": "py",
            "task": schedule.task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": expires.isoformat() if expires is not None else None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [schedule.timeout_s, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": repr(args),
            "kwargsrepr": repr(schedule.kwargs),
            "origin": origin,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
            "sched_run_id": run_id,
            "sched_fire_at": fire_text,
        }
        body = json.dumps([args, schedule.kwargs, _EMBED], separators=_COMPACT).encode()
        return cls(task_id, schedule.queue, schedule.priority, headers, body)

    def redis_envelope(self, delivery_tag: str) -> str:
        """What kombu's Redis transport keeps in the queue's list. ``delivery_tag`` must be
        unique: kombu drops a message without one."""
        return json.dumps(
            {
                "body": base64.b64encode(self.body).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": self.headers,
                "properties": {
                    "correlation_id": self.task_id,
                    "reply_to": "",
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": self.queue},
                    "priority": redis_priority(self.priority),
                    "body_encoding": "base64",
                    "delivery_tag": delivery_tag,
                },
            },
            separators=_COMPACT,
        )

    @classmethod
    def from_envelope(cls, text: str | bytes, priority: int) -> CeleryMessage:
        """The message inside a Redis envelope (how the relay reads its outbox)."""
        data = json.loads(text)
        headers = data["headers"]
        queue = data["properties"]["delivery_info"]["routing_key"]
        return cls(headers["id"], queue, priority, headers, base64.b64decode(data["body"]))


def new_delivery_tag() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A Celery message waiting in sched's Redis for the relay to publish it to a broker
    other than sched's own Redis. The routing fields are kept beside the envelope so that
    the relay never parses it to publish to a Redis or to record the hand-off."""

    run_id: str
    broker_url: str  # '' for the relay's default broker
    priority: int  # sched's
    envelope: str  # the Redis envelope (the AMQP relay unpacks it)
    queue: str
    task_id: str
    fire_at: str  # the run's fire time, UTC text

    @classmethod
    def of(cls, message: CeleryMessage, run_id: str, broker_url: str, envelope: str
           ) -> OutboxEntry:  # fmt: skip
        return cls(run_id, broker_url, message.priority, envelope, message.queue,
                   message.task_id, str(message.headers["sched_fire_at"]))  # fmt: skip

    def dumps(self) -> str:
        return json.dumps(
            {"v": 1, "kind": "outbox", "run_id": self.run_id, "broker_url": self.broker_url,
             "priority": self.priority, "queue": self.queue, "task_id": self.task_id,
             "fire_at": self.fire_at, "envelope": self.envelope},
            separators=_COMPACT,
        )  # fmt: skip

    @classmethod
    def loads(cls, text: str | bytes) -> OutboxEntry:
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("v") != 1 or d.get("kind") != "outbox":
            raise StateVersionError(
                f"an outbox entry of version {d.get('v') if isinstance(d, dict) else None!r}; "
                "this sched reads version 1. Upgrade sched, or let the sched that wrote it "
                "relay it"
            )
        return cls(d["run_id"], d["broker_url"], d["priority"], d["envelope"], d["queue"],
                   d["task_id"], d["fire_at"])  # fmt: skip


@dataclass(frozen=True, slots=True)
class Published:
    """What a broker did with a batch the relay published: only ``confirmed`` ones may leave
    the outbox; ``refused`` ones (no queue of that name, a broker's nack) stay, with why."""

    confirmed: list[str]  # run ids
    refused: dict[str, str]  # run id -> the broker's reason


# -- where a Celery schedule's messages go ------------------------------------------------

RedisIdentity = tuple[str, int | str, int]  # (host, port, db) or ("unix", path, db)
REDIS_SCHEMES = ("redis", "rediss", "unix")
_LOOPBACK = {"localhost": "127.0.0.1", "::1": "127.0.0.1", "": "127.0.0.1"}


def redis_identity(url: str) -> RedisIdentity | None:
    """The server and database a Redis URL names, or None for another kind of broker;
    ValueError for a database or port that is not a number."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        return None
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        return ("unix", parts.path, _db(query.get("db", "0"), url))
    db = parts.path.lstrip("/") or query.get("db", "0")
    host = (parts.hostname or "").lower()
    return (_LOOPBACK.get(host, host), parts.port or 6379, _db(db, url))


def _db(text: str, url: str) -> int:
    # parse_qsl drops a blank ?db=, so an empty text cannot reach here
    if not text.isdigit():
        raise ValueError(f"database {text!r} of {redact(url)!r} is not a number")
    return int(text)


@dataclass(frozen=True, slots=True)
class Route:
    """How a Celery schedule's runs reach their broker: ``celery``, pushed by the dispatch
    script itself (the broker is sched's own Redis: exactly once), or ``outbox``, published
    by the relay (any other broker: at least once)."""

    mode: str
    broker_url: str


@dataclass(frozen=True, slots=True)
class CeleryRouting:
    """What a leader knows to route Celery schedules: the server and database it stores
    state in, the broker for schedules that name none, and its name as a sender."""

    store: RedisIdentity | None
    default_broker_url: str | None = None  # None: sched's own Redis
    origin: str = "sched"

    def route(self, schedule: Schedule) -> Route:
        url = schedule.celery_broker_url or self.default_broker_url
        if url is None:
            return Route("celery", "")
        identity = redis_identity(url)
        if identity is not None and identity == self.store:
            return Route("celery", url)
        return Route("outbox", url)


OUTCOME_WINDOW_DEFAULT_S = 3600  # per missing expires or timeout
OUTCOME_GRACE_S = 60


def outcome_deadline_ms(schedule: Schedule, handed_ms: int) -> int | None:
    """When a Celery run of a schedule with an ``overlap`` rule stops counting as active if
    ``report_outcomes`` never reports its end (a Celery worker killed mid-task sends
    nothing): after it could have waited (``expires``) and run (``timeout``), each an hour
    when not set, plus a minute. None for ``overlap: allow``: such runs are not counted."""
    if schedule.overlap is Overlap.ALLOW:
        return None
    wait_s = schedule.expires_s if schedule.expires_s is not None else OUTCOME_WINDOW_DEFAULT_S
    run_s = schedule.timeout_s if schedule.timeout_s is not None else OUTCOME_WINDOW_DEFAULT_S
    return handed_ms + (wait_s + run_s + OUTCOME_GRACE_S) * 1000
