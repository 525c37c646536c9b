"""The JSON API behind the page: the same facts as the CLI, the actions, and the
schedules from code (``ops.schedules``: the verbs of ``Client``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import resources
from typing import Any

from scheduler import ops
from scheduler.core.instants import EARLIEST, LATEST, RANGE_TEXT, ms_text, to_ms
from scheduler.ops import browse, views
from scheduler.ops import schedules as defined
from scheduler.web.app import BadRequest, Context, Handler, Refused, Request, Response
from scheduler.web.app import json_response as reply

NAME = r"([A-Za-z0-9_.-]{1,128})"  # a schedule name, as the config allows
RUN_ID = r"([^/]{1,300})"


def schedules(c: Context, r: Request, _: list[str]) -> Response:
    sort = r.query.get("sort", "name")
    if sort not in browse.SORTS:
        raise BadRequest(f"sort: one of {', '.join(browse.SORTS)}")
    page = browse.browse(c.store, r.query.get("q", "")[:200], sort,
                         r.number("offset", 0, 0, 10**9), r.number("limit", 100, 1,
                                                                   browse.PAGE_MAX))  # fmt: skip
    return reply(page.to_json())


def schedule(c: Context, r: Request, args: list[str]) -> Response:
    (name,) = args
    return reply(_shown(c, name, r.number("upcoming", 10, 0, 100)))


def _shown(c: Context, name: str, count: int = 10) -> dict[str, Any]:
    return browse.detail(c.store, name, c.now(), count, c.sources().get(name, "")).to_json()


def history(c: Context, r: Request, args: list[str]) -> Response:
    (name,) = args
    events = ops.history(c.store, name, r.number("limit", 100, 1, 100))
    return reply([e.to_json() for e in events])


def dead(c: Context, r: Request, _: list[str]) -> Response:
    letters = ops.dead_letters(c.store, r.number("limit", 100, 1, 1000))
    return reply([letter.to_json() for letter in letters])


def queues(c: Context, r: Request, _: list[str]) -> Response:
    rows, _workers = views.queues(c.store)
    now_ms = to_ms(c.now())
    return reply([{"queue": q.queue, "depth": q.depth, "oldest_enqueued_at": ms_text(q.oldest_ms),
                   "oldest_age_s": None if q.oldest_ms is None
                   else round(max(0, now_ms - q.oldest_ms) / 1000, 3),
                   "served": q.served} for q in rows])  # fmt: skip


def workers(c: Context, r: Request, _: list[str]) -> Response:
    return reply([w.to_json() for w in c.store.reads.workers()])


def status(c: Context, r: Request, _: list[str]) -> Response:
    reads = c.store.reads
    kept, dropped = reads.dead_counts()
    return reply({"leader": reads.leader().to_json(), "schedules": reads.count(),
                  "queues": reads.queue_depths(), "workers": len(reads.workers()),
                  "dead_letters": {"count": kept, "dropped": dropped},
                  "actions": "allowed with a token" if c.writable else "read-only"})  # fmt: skip


def openapi(c: Context, r: Request, _: list[str]) -> Response:
    text = resources.files("scheduler.web").joinpath("openapi.json").read_bytes()
    json.loads(text)  # never serve a broken file
    return Response(HTTPStatus.OK, "application/json", text)


# -- actions ---------------------------------------------------------------------------------


def pause(c: Context, r: Request, args: list[str]) -> Response:
    changed = ops.pause(c.store, args[0], c.now(), by=c.who(r))
    return reply({"schedule": args[0], "paused": True, "changed": changed})


def resume(c: Context, r: Request, args: list[str]) -> Response:
    done = ops.resume(c.store, args[0], c.now(), by=c.who(r))
    return reply({"schedule": args[0], "paused": False, "changed": done.changed,
                  "missed": done.missed,
                  "next_fire_at": None if done.next_fire is None
                  else ms_text(to_ms(done.next_fire))})  # fmt: skip


def trigger(c: Context, r: Request, args: list[str]) -> Response:
    run_id = ops.trigger(c.store, args[0], c.now(), by=c.who(r))
    return reply({"schedule": args[0], "run_id": run_id}, HTTPStatus.ACCEPTED)


def dead_retry(c: Context, r: Request, args: list[str]) -> Response:
    by = c.who(r)
    if not ops.dead_retry(c.store, args[0], c.now(), by=by):
        raise Refused(HTTPStatus.NOT_FOUND, f"no dead letter {args[0]!r}")
    return reply({"run_id": args[0], "retried": True}, HTTPStatus.ACCEPTED)


def dead_purge(c: Context, r: Request, args: list[str]) -> Response:
    by = c.who(r)
    if not ops.purge_dead_letter(c.store, args[0], c.now(), by=by):
        raise Refused(HTTPStatus.NOT_FOUND, f"no dead letter {args[0]!r}")
    return reply({"run_id": args[0], "purged": True})


# -- schedules from code: the verbs of Client ------------------------------------------------


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key}: expected a JSON object")
    return value


def add(c: Context, r: Request, _: list[str]) -> Response:
    by = c.who(r)
    body = r.json_object(frozenset({"name", "fields"}))
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("name: expected a string")
    defined.add(c.store, name, _object(body, "fields"), c.now(), by=by)
    return reply(_shown(c, name), HTTPStatus.CREATED)


def change(c: Context, r: Request, args: list[str]) -> Response:
    by = c.who(r)
    body = r.json_object(frozenset({"fields"}))
    defined.update(c.store, args[0], _object(body, "fields"), c.now(), by=by)
    return reply(_shown(c, args[0]))


def remove(c: Context, r: Request, args: list[str]) -> Response:
    by = c.who(r)
    defined.remove(c.store, args[0], c.now(), by=by)
    return reply({"schedule": args[0], "removed": True})


def _at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None:
        raise BadRequest("at: expected an ISO 8601 date-time (e.g. 2026-03-29T00:00:00Z; "
                         "without an offset it is UTC)")  # fmt: skip
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if not EARLIEST <= at <= LATEST:
        raise BadRequest(f"at: out of range; dates must be {RANGE_TEXT}")
    return at


def _delay_s(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10**9:
        raise BadRequest("delay: expected seconds, a number from 0 to 1000000000")
    return float(value)


def enqueue(c: Context, r: Request, _: list[str]) -> Response:
    by = c.who(r)
    body = r.json_object(frozenset({"task", "args", "kwargs", "at", "delay", "fields",
                                    "name"}))  # fmt: skip
    task, name = body.get("task"), body.get("name")
    if not isinstance(task, str):
        raise BadRequest("task: expected a string, module.path:callable")
    if name is not None and not isinstance(name, str):
        raise BadRequest("name: expected a string")
    # args and kwargs go through the YAML parsers with the other fields, as Client's do.
    fields = {"args": body.get("args"), "kwargs": body.get("kwargs"), **_object(body, "fields")}
    one_off = defined.enqueue(c.store, task, c.now(), _at(body.get("at")),
                              _delay_s(body.get("delay")), fields, name, by)  # fmt: skip
    return reply({"name": one_off.name}, HTTPStatus.CREATED)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/api/status", status),
    ("GET", "/api/schedules", schedules),
    ("GET", f"/api/schedules/{NAME}", schedule),
    ("GET", f"/api/schedules/{NAME}/history", history),
    ("GET", "/api/dead", dead),
    ("GET", "/api/queues", queues),
    ("GET", "/api/workers", workers),
    ("GET", "/api/openapi.json", openapi),
    ("POST", "/api/schedules", add),
    ("PATCH", f"/api/schedules/{NAME}", change),
    ("DELETE", f"/api/schedules/{NAME}", remove),
    ("POST", "/api/enqueue", enqueue),
    ("POST", f"/api/schedules/{NAME}/pause", pause),
    ("POST", f"/api/schedules/{NAME}/resume", resume),
    ("POST", f"/api/schedules/{NAME}/trigger", trigger),
    ("POST", f"/api/dead/{RUN_ID}/retry", dead_retry),
    ("POST", f"/api/dead/{RUN_ID}/purge", dead_purge),
]
