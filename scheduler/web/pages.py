"""The web page: server-rendered HTML, every value escaped, one small script of our own
(``static/sched.js``) for refresh and actions; no build step, nothing from a CDN."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from http import HTTPStatus
from importlib import resources
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from scheduler import ops
from scheduler.core.instants import from_ms, ms_text, to_ms
from scheduler.core.messages import Event
from scheduler.ops import browse, views
from scheduler.web.app import BadRequest, Context, Handler, Request, Response

HTML = "text/html; charset=utf-8"
PAGE_SIZE = 100


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def relative(ms: int | None, now: datetime) -> str:
    """``in 5m`` / ``2.5h ago``."""
    if ms is None:
        return ""
    delta = (ms - to_ms(now)) / 1000
    seconds = abs(delta)
    if seconds < 60:
        text = f"{seconds:.0f}s"
    elif seconds < 3600:
        text = f"{seconds / 60:.0f}m"
    elif seconds < 86400:
        text = f"{seconds / 3600:.1f}h"
    else:
        text = f"{seconds / 86400:.1f}d"
    return f"in {text}" if delta >= 0 else f"{text} ago"


def when(ms: int | None, now: datetime, zone: str = "UTC") -> str:
    """UTC, the schedule's local time, and how far from now."""
    if ms is None:
        return "<span class=muted>never</span>"
    local = ""
    if zone != "UTC":
        local = from_ms(ms).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")
        local = f"<br><span class=muted>{e(local)}</span>"
    return (
        f"<time datetime='{e(ms_text(ms))}'>{e(ms_text(ms))}</time> "
        f"<span class=muted>({e(relative(ms, now))})</span>{local}"
    )


def layout(title: str, c: Context, body: str) -> bytes:
    mode = ("actions need a token" if c.writable
            else "read-only: set SCHED_HTTP_TOKEN to allow actions")  # fmt: skip
    token = ("<label>token <input id=token type=password autocomplete=off size=12></label>"
             if c.writable else "")  # fmt: skip
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>{e(title)} · sched</title><link rel=stylesheet href="/static/sched.css"></head>
<body data-writable="{str(c.writable).lower()}">
<header><a href="/"><b>sched</b></a> <a href="/">schedules</a> <a href="/dead">dead letters</a>
<a href="/system">queues and workers</a> <span class=mode>{e(mode)}</span> {token}</header>
<main id=content>{body}</main>
<p id=message role=status></p>
<script src="/static/sched.js"></script></body></html>"""
    return page.encode()


def table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """Cells are HTML already (escaped by the caller)."""
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table class='{e(cls)}'><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def button(action: str, url: str, label: str, c: Context) -> str:
    if not c.writable:
        return ""
    return f"<button data-action='{e(action)}' data-url='{e(url)}'>{e(label)}</button>"


def state_of(s: browse.Summary) -> str:
    return "disabled" if not s.enabled else "paused" if s.paused else "active"


def actions(s: browse.Summary, c: Context) -> str:
    """Pause or resume, and run now (none on a read-only page)."""
    url = f"/api/schedules/{quote(s.name)}"
    toggle = (button("resume", f"{url}/resume", "resume", c) if s.paused
              else button("pause", f"{url}/pause", "pause", c))  # fmt: skip
    return toggle + button("trigger", f"{url}/trigger", "run now", c)


def outcome(event: Event | None, now: datetime) -> str:
    if event is None:
        return "<span class=muted>none yet</span>"
    at = event.at
    ms = to_ms(datetime.fromisoformat(at.replace("Z", "+00:00"))) if at else None
    return (
        f"<span class='ev ev-{e(event.event)}'>{e(event.event)}</span> "
        f"<span class=muted>{e(relative(ms, now))}</span>"
    )


# -- pages -----------------------------------------------------------------------------------


def schedules_page(c: Context, r: Request, _: list[str]) -> Response:
    now = c.now()
    query, sort = r.query.get("q", "")[:200], r.query.get("sort", "name")
    if sort not in browse.SORTS:
        raise BadRequest(f"sort: one of {', '.join(browse.SORTS)}")
    offset = r.number("offset", 0, 0, 10**9)
    page = browse.browse(c.store, query, sort, offset, PAGE_SIZE)
    rows = []
    for s in page.rows:
        link = f"/schedules/{quote(s.name)}"
        state, act = state_of(s), actions(s, c)
        rows.append([f"<a href='{e(link)}'>{e(s.name)}</a>",
                     e(s.in_words) + (f"<br><code>{e(s.written)}</code>"
                                      if s.written != s.in_words else ""), e(s.timezone),
                     when(s.next_fire_ms if s.enabled and not s.paused else None, now,
                          s.timezone),
                     outcome(s.last_event, now), f"<span class='st st-{state}'>{state}</span>",
                     f"{s.runs} / {s.missed}", act])  # fmt: skip
    nav = []
    base = {"q": query, "sort": sort}
    if offset > 0:
        back = urlencode({**base, "offset": max(0, offset - PAGE_SIZE)})
        nav.append(f"<a href='/?{e(back)}'>previous</a>")
    if offset + PAGE_SIZE < page.total:
        nav.append(f"<a href='/?{e(urlencode({**base, 'offset': offset + PAGE_SIZE}))}'>next</a>")
    shown = f"{offset + 1}-{offset + len(page.rows)}" if page.rows else "0"
    form = f"""<form method=get class=filter>
<input name=q value="{e(query)}" placeholder="filter by name">
<select name=sort><option value=name{" selected" if sort == "name" else ""}>by name</option>
<option value=next{" selected" if sort == "next" else ""}>by next fire</option></select>
<button type=submit>show</button></form>"""
    body = (f"<h1>Schedules</h1>{form}<p class=muted>{shown} of {page.total}</p>"
            + table(["schedule", "trigger", "zone", "next fire", "last outcome", "state",
                     "runs / missed", ""], rows, "schedules")
            + f"<nav>{' '.join(nav)}</nav>")  # fmt: skip
    return Response(HTTPStatus.OK, HTML, layout("schedules", c, body))


def schedule_page(c: Context, r: Request, args: list[str]) -> Response:
    now = c.now()
    found = browse.detail(c.store, args[0], now, 10, c.sources().get(args[0], ""))
    s, schedule = found.summary, found.schedule
    acts = actions(s, c)
    upcoming = table(["fire time (UTC)", f"local ({schedule.timezone})", "when"],
                     [[e(ms_text(to_ms(t))), e(t.astimezone(schedule.zone).isoformat()),
                       e(relative(to_ms(t), now))] for t in found.upcoming])  # fmt: skip
    history = table(["at", "event", "attempt", "duration", "worker", "error", "by"],
                    [[e(ev.at), f"<span class='ev ev-{e(ev.event)}'>{e(ev.event)}</span>",
                      e(ev.attempt), e("" if ev.duration_ms is None else f"{ev.duration_ms} ms"),
                      e(ev.worker), f"<code>{e(ev.error)}</code>" if ev.error else "", e(ev.by)]
                     for ev in found.history], "history")  # fmt: skip
    definition = json.dumps(schedule.shown(), indent=2)
    source = ("<p>owned by the API (<code>sched add</code>, <code>Client.add</code> or "
              "<code>POST /api/schedules</code>)</p>" if found.owner == "api"
              else f"<p>owned by the files: defined at <code>{e(found.source)}</code></p>"
              if found.source else "<p>owned by the files</p>")  # fmt: skip
    state = state_of(s)
    body = f"""<h1>{e(s.name)} <span class='st st-{state}'>{state}</span></h1>
<p>{e(s.in_words)} · <code>{e(s.written)}</code> · {e(s.timezone)}
· task <code>{e(schedule.task)}</code> · queue <code>{e(schedule.queue)}</code></p><p>{acts}</p>
<h2>Upcoming</h2>{upcoming}<h2>History</h2>{history}
<h2>Definition</h2>{source}<pre>{e(definition)}</pre>"""
    return Response(HTTPStatus.OK, HTML, layout(s.name, c, body))


def dead_page(c: Context, r: Request, _: list[str]) -> Response:
    letters = ops.dead_letters(c.store, r.number("limit", 100, 1, 1000))
    kept, dropped = c.store.reads.dead_counts()
    rows = []
    for letter in letters:
        run_id = quote(letter.run.run_id, safe="")
        acts = button("retry", f"/api/dead/{run_id}/retry", "retry", c)
        acts += button("purge", f"/api/dead/{run_id}/purge", "purge", c)
        trace = (f"<details><summary>traceback</summary><pre>{e(letter.traceback)}</pre>"
                 "</details>" if letter.traceback else "")  # fmt: skip
        rows.append([f"<a href='/schedules/{e(quote(letter.run.schedule))}'>"
                     f"{e(letter.run.schedule)}</a>", f"<code>{e(letter.run.run_id)}</code>",
                     e(ms_text(letter.dead_at_ms)), e(letter.attempts),
                     f"<code>{e(letter.error_type)}: {e(letter.error_message[:500])}</code>"
                     f"{trace}", e(letter.why), acts])  # fmt: skip
    body = (f"<h1>Dead letters</h1><p class=muted>{kept} kept, {dropped} dropped by the "
            "bounds</p>" + table(["schedule", "run", "dead at", "attempts", "error", "why", ""],
                                 rows, "dead"))  # fmt: skip
    return Response(HTTPStatus.OK, HTML, layout("dead letters", c, body))


def system_page(c: Context, r: Request, _: list[str]) -> Response:
    now, reads = c.now(), c.store.reads
    leader = reads.leader()
    rows_of_queues, workers = views.queues(c.store)
    queues = table(["queue", "waiting", "oldest waiting since", "served"],
                   [[e(q.queue), e(q.depth), when(q.oldest_ms, now),
                     "yes" if q.served else "<b class=warn>no live worker</b>"]
                    for q in rows_of_queues])  # fmt: skip
    rows = [[e(w.worker_id), e(w.host), e(", ".join(w.queues)), e(f"{w.concurrency} {w.pool}"),
             e(w.in_flight), when(w.last_heartbeat_ms, now)] for w in workers]  # fmt: skip
    lead = "<b class=warn>none</b>"
    if leader.identity:
        lead = (
            f"<code>{e(leader.identity)}</code>, epoch {e(leader.epoch)}, since "
            f"{when(leader.since_ms, now)}"
        )
    replicas = ", ".join(
        f"<code>{e(who)}</code> ({'leader' if who == leader.identity else 'standby'}, "
        f"seen {e(relative(ms, now))})" for who, ms in reads.replicas())  # fmt: skip
    lead += f"</p><p>scheduler replicas: {replicas or 'none seen in the last minute'}"
    body = (f"<h1>Queues and workers</h1><p>leader: {lead}</p><h2>Queues</h2>{queues}"
            "<h2>Workers</h2>" + table(["worker", "host", "queues", "slots", "in flight",
                                        "last heartbeat"], rows))  # fmt: skip
    return Response(HTTPStatus.OK, HTML, layout("queues and workers", c, body))


def static(c: Context, r: Request, args: list[str]) -> Response:
    kinds = {"sched.js": "text/javascript; charset=utf-8", "sched.css": "text/css; charset=utf-8"}
    name = args[0]
    if name not in kinds:
        raise BadRequest("no such file")
    text = resources.files("scheduler.web").joinpath("static", name).read_bytes()
    return Response(HTTPStatus.OK, kinds[name], text, {"Cache-Control": "max-age=300"})


def error_page(status: HTTPStatus, text: str) -> bytes:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status.value}</title>"
            f"<link rel=stylesheet href='/static/sched.css'><main><h1>{status.value} "
            f"{e(status.phrase)}</h1><p>{e(text)}</p><p><a href='/'>schedules</a></p></main>"
            "</html>").encode()  # fmt: skip


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", schedules_page),
    ("GET", r"/schedules/([A-Za-z0-9_.-]{1,128})", schedule_page),
    ("GET", "/dead", dead_page),
    ("GET", "/system", system_page),
    ("GET", r"/static/([a-z.]{1,20})", static),
]
