"""Building a ``Schedule`` from a block of fields and the file's ``defaults:``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from yaml.nodes import Node

from scheduler.config.fields import (
    FIELD_PARSERS,
    RETRY_KEYS,
    RETRY_PARSERS,
    SCHEDULE_KEYS,
    resolve_local,
)
from scheduler.config.nodes import Invalid, SourceFile, line_of, mapping
from scheduler.core.model import (
    PRIORITY_DEFAULT,
    Misfire,
    Overlap,
    RetryPolicy,
    Schedule,
    Target,
)
from scheduler.core.names import did_you_mean

CELERY_QUEUE = "celery"  # Celery's own default queue
MAX_ARGS_BYTES = 64 * 1024  # args and kwargs of one schedule, as JSON


def arguments_bytes(args: list[Any], kwargs: dict[str, Any]) -> int:
    """The size of args and kwargs as JSON, what MAX_ARGS_BYTES bounds (0 when both are
    empty: nothing to encode)."""
    return len(json.dumps([args, kwargs]).encode()) if args or kwargs else 0


@dataclass
class Fields:
    """The parsed fields of one block (a schedule or defaults), with their nodes."""

    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    retry: dict[str, Any] = field(default_factory=dict)
    retry_nodes: dict[str, Node] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # keys written, valid or not
    ok: bool = True


def read_block(node: Node, f: SourceFile, where: str, allowed: Sequence[str]) -> Fields:
    fields = Fields()
    try:
        pairs = mapping(node, f, where)
    except Invalid as exc:
        f.problem(exc.node, where, str(exc))
        fields.ok = False
        return fields
    for key, key_node, value_node in pairs:
        spot = f"{where}.{key}"
        if key not in allowed:
            fields.ok = False
            hint = did_you_mean(key, allowed)
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
                read_retry(value_node, f, spot, fields)
            else:
                fields.values[key] = FIELD_PARSERS[key](value_node, f)
                fields.nodes[key] = value_node
        except Invalid as exc:
            fields.ok = False
            f.problem(exc.node, spot, str(exc))
        finally:
            f.spot = ""
    return fields


def read_retry(node: Node, f: SourceFile, where: str, fields: Fields) -> None:
    for key, key_node, value_node in mapping(node, f, where):
        spot = f"{where}.{key}"
        if key not in RETRY_KEYS:
            fields.ok = False
            message = f"unknown key {key!r}{did_you_mean(key, RETRY_KEYS)}; allowed: "
            f.problem(key_node, spot, message + ", ".join(RETRY_KEYS))
            continue
        try:
            fields.retry[key] = RETRY_PARSERS[key](value_node, f)
            fields.retry_nodes[key] = value_node
        except Invalid as exc:
            fields.ok = False
            f.problem(exc.node, spot, str(exc))


def _no_window_for_one_off(where: str, own: Fields, defaults: Fields, f: SourceFile) -> bool:
    """``start``/``end`` bound a series of fire times; a one-off has one, so they are refused
    rather than silently ignored (or silently cancelling it), even when set in defaults."""
    ok = True
    for key in ("start", "end"):
        own_node, at_node = own.nodes.get(key), own.nodes.get("at")
        if key in own.present:
            ok = False  # an invalid value is reported already, by its parser
            if own_node is not None:
                message = f"does not apply to a one-off (at:); remove {key} or use cron or every"
                f.problem(own_node, f"{where}.{key}", message)
        elif key in defaults.present:
            ok = False
            if at_node is not None:
                message = (f"defaults.{key} does not apply to a one-off; set {key} on the "
                           "schedules it bounds instead of in defaults")  # fmt: skip
                f.problem(at_node, f"{where}.at", message)
    return ok


def build(
    name: str, name_node: Node, own: Fields, defaults: Fields, f: SourceFile,
    source: str | None = None,
) -> Schedule | None:  # fmt: skip
    """The schedule of a block (``source``: where it came from; by default file:line)."""
    where = f"schedules.{name}"
    values = {**defaults.values, **own.values}
    nodes = {**defaults.nodes, **own.nodes}
    ok = own.ok
    kinds = [k for k in ("task", "celery_task") if k in own.present]
    if not kinds:
        f.problem(name_node, f"{where}.task", "missing required key 'task' (module.path:callable)"
                  " or 'celery_task' (a Celery task's registered name)")  # fmt: skip
        ok = False
    elif len(kinds) == 2:
        bad: Node = own.nodes.get("celery_task") or name_node
        f.problem(bad, f"{where}.celery_task", "give either task or celery_task, not both")
        ok = False
    celery = kinds == ["celery_task"]
    if "celery_broker_url" in own.present and not celery:
        bad = own.nodes.get("celery_broker_url") or name_node
        f.problem(bad, f"{where}.celery_broker_url", "applies only to a celery_task schedule")
        ok = False
    triggers = [k for k in ("cron", "every", "at") if k in own.present]
    if not triggers:
        f.problem(name_node, where, 'needs a trigger: cron: "<expression>", every: <duration>'
                  " or at: <ISO 8601 date-time>")  # fmt: skip
        ok = False
    for extra in triggers[1:]:
        if own.nodes.get(extra):
            f.problem(own.nodes[extra], f"{where}.{extra}",
                      f"give either {triggers[0]} or {extra}, not both")  # fmt: skip
            ok = False
    if "at" in own.present:
        ok = _no_window_for_one_off(where, own, defaults, f) and ok
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
    at = resolve_local(values["at"], timezone) if "at" in values else None
    start = resolve_local(values["start"], timezone) if "start" in values else None
    end = resolve_local(values["end"], timezone) if "end" in values else None
    if start is not None and end is not None and end <= start:
        f.problem(nodes["end"], f"{where}.end", "must be later than start")
        return None
    schedule = Schedule(
        name=name,
        task=values["celery_task"] if celery else values["task"],
        timezone=timezone,
        cron=values.get("cron"),
        every_s=values.get("every"),
        at=at,
        args=values.get("args", ()),
        kwargs=values.get("kwargs", {}),
        queue=values.get("queue", CELERY_QUEUE if celery else "default"),
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
        target=Target.CELERY if celery else Target.SCHED,
        celery_broker_url=values.get("celery_broker_url") if celery else None,
        source=source or f"{f.path}:{line_of(name_node)}",
    )
    size = arguments_bytes(list(schedule.args), schedule.kwargs)
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
