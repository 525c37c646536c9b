"""The JSON API behind the page: the same facts as the CLI, and the POST actions."""

from __future__ import annotations

import json
from http import HTTPStatus
from importlib import resources

from scheduler import ops
from scheduler.core.instants import ms_text, to_ms
from scheduler.ops import browse, views
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
    count = r.number("upcoming", 10, 0, 100)
    found = browse.detail(c.store, name, c.now(), count, c.sources().get(name, ""))
    return reply(found.to_json())


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


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/api/status", status),
    ("GET", "/api/schedules", schedules),
    ("GET", f"/api/schedules/{NAME}", schedule),
    ("GET", f"/api/schedules/{NAME}/history", history),
    ("GET", "/api/dead", dead),
    ("GET", "/api/queues", queues),
    ("GET", "/api/workers", workers),
    ("GET", "/api/openapi.json", openapi),
    ("POST", f"/api/schedules/{NAME}/pause", pause),
    ("POST", f"/api/schedules/{NAME}/resume", resume),
    ("POST", f"/api/schedules/{NAME}/trigger", trigger),
    ("POST", f"/api/dead/{RUN_ID}/retry", dead_retry),
    ("POST", f"/api/dead/{RUN_ID}/purge", dead_purge),
]
