"""Commands that look at and steer a running system: status, history, pause, resume,
trigger, backfill. Each is a thin layer over ``scheduler.ops``."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Annotated

import typer

from scheduler import ops
from scheduler.cli.app import app
from scheduler.cli.common import (
    EXIT_USAGE,
    AsJson,
    NameArg,
    Namespace,
    RedisUrl,
    Tz,
    fail,
    instant,
    open_store,
    operate,
)
from scheduler.cli.render import echo_table, when, zone_option
from scheduler.core import clock
from scheduler.core.messages import Event


@app.command()
def status(
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    as_json: AsJson = False,
    tz: Tz = "UTC",
) -> None:
    """Leader, epoch, lease, schedules with next due and missed counts, queue depths."""
    shown_in = zone_option(tz)
    view = ops.status(open_store(redis_url, namespace))
    if as_json:
        typer.echo(json.dumps(view.to_json(), indent=2))
        return
    leader = view.leader
    ttl = f"{leader.ttl_ms / 1000:.1f}s" if leader.ttl_ms is not None else "-"
    typer.echo(f"leader: {leader.identity or 'none'}  epoch: {leader.epoch}  lease left: {ttl}")
    for row in view.schedules:
        flag = " (paused)" if row.paused else ""
        where = f" ({row.source})" if row.source not in (row.owner, "") else ""
        typer.echo(
            f"{row.schedule}{flag}: next {when(row.next_fire_at, shown_in) or '-'}, "
            f"runs {row.runs}, "
            f"missed {row.missed}, "
            f"owner {row.owner}{where}"
        )
    for queue, depth in view.queues.items():
        alarm = "  (no live worker takes from this queue)" if queue in view.unserved else ""
        typer.echo(f"queue {queue}: {depth} waiting{alarm}")
    for w in view.workers:
        typer.echo(f"worker {w.worker_id}: queues {','.join(w.queues)}, {w.concurrency} "
                   f"{w.pool} slots, {w.in_flight} in flight, last heartbeat "
                   f"{when(w.last_heartbeat_ms, shown_in)}")  # fmt: skip
    typer.echo(f"dead letters: {view.dead_letters} (dropped by the bounds: {view.dead_dropped})")
    if view.outbox or view.celery_in_flight:
        since = f", the oldest since {when(view.outbox_oldest_at, shown_in)}" if view.outbox else ""
        typer.echo(f"celery: {view.outbox} waiting for the relay{since}; "
                   f"{view.celery_in_flight} in flight")  # fmt: skip


@app.command()
def history(
    name: NameArg,
    limit: Annotated[int, typer.Option(min=1, help="Newest events to show.")] = 20,
    as_json: AsJson = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    tz: Tz = "UTC",
) -> None:
    """Recent events of a schedule, newest first: runs, outcomes, attempts, errors."""
    shown_in = zone_option(tz)
    store = open_store(redis_url, namespace)
    events = operate(lambda: ops.history(store, name, limit))
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in events], indent=2))
        return
    table = [("AT", "EVENT", "RUN", "FIRE AT", "ATTEMPT", "DURATION", "WORKER", "ERROR",
              "DETAIL")]  # fmt: skip
    for e in events:
        duration = f"{e.duration_ms} ms" if e.duration_ms is not None else ""
        attempt = "" if e.attempt is None else str(e.attempt)
        table.append((when(e.at, shown_in), e.event, e.run_id or "", when(e.fire_at, shown_in),
                      attempt, duration, e.worker or "", e.error or "",
                      _detail(e, shown_in)))  # fmt: skip
    echo_table(table)


def _detail(e: Event, tz: tzinfo | None) -> str:
    """What else an event says: fire times missed, when a retry is due, who acted."""
    said = _said(e, tz)
    return f"{said} (by {e.by})" if e.by and said else f"by {e.by}" if e.by else said


def _said(e: Event, tz: tzinfo | None) -> str:
    if e.count is not None:
        last = f", the last at {when(e.last_missed, tz)}" if e.last_missed else ""
        return f"{e.count} fire time(s) missed{last}"
    if e.missed:
        return f"{e.missed} fire time(s) missed while paused"
    if e.event == "deferred" and e.retry_at:
        return f"left for a worker that can import it; back on its queue at {when(e.retry_at, tz)}"
    if e.retry_at:
        return f"retry at {when(e.retry_at, tz)}"
    if e.event == "timed_out":
        return "no retry left: dead-lettered"
    if e.celery_id:
        return f"Celery task {e.celery_id}"
    return ""


@app.command()
def pause(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Stop dispatching a schedule until `sched resume`."""
    store = open_store(redis_url, namespace)
    changed = operate(lambda: ops.pause(store, name, clock.utc_now()))
    typer.echo(f"{name}: paused" if changed else f"{name}: already paused")


@app.command()
def resume(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Resume a paused schedule from its next future fire time (passed ones count as missed)."""
    store = open_store(redis_url, namespace)
    done = operate(lambda: ops.resume(store, name, clock.utc_now()))
    if not done.changed:
        typer.echo(f"{name}: not paused")
        return
    next_text = when(done.next_fire) or "never"
    typer.echo(f"{name}: resumed; next fire {next_text}; {done.missed} missed while paused")


@app.command()
def trigger(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Enqueue one run of a schedule now; its own timeline is unaffected."""
    store = open_store(redis_url, namespace)
    run_id = operate(lambda: ops.trigger(store, name, clock.utc_now()))
    typer.echo(f"{name}: enqueued {run_id}")


@app.command()
def backfill(
    name: NameArg,
    from_: Annotated[str, typer.Option("--from", help="ISO 8601 start, inclusive.")],
    until: Annotated[str, typer.Option(help="ISO 8601 end, inclusive; in the past.")],
    ignore_expires: Annotated[
        bool,
        typer.Option(
            "--ignore-expires", help="Run them even where the schedule's `expires` has passed."
        ),
    ] = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """Enqueue every fire time of a past range, each once however often this is repeated."""
    start, end = instant("--from", from_), instant("--until", until)
    assert start is not None and end is not None
    store = open_store(redis_url, namespace)
    try:
        done = operate(
            lambda: ops.backfill(store, name, start, end, clock.utc_now(), ignore_expires)
        )
    except ops.BackfillError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    typer.echo(f"{name}: enqueued {len(done.enqueued)} runs; {done.already} already backfilled")
    if done.expiring:
        typer.echo(f"warning: left out {done.expiring} fire times past the schedule's "
                   "`expires` (they would only be recorded as expired); backfill again with "
                   "--ignore-expires to run them", err=True)  # fmt: skip


@app.command()
def repair(redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Recompute each schedule's overlap counters from the runs that exist; fix drift."""
    fixes = ops.repair(open_store(redis_url, namespace))
    for fix in fixes:
        typer.echo(f"{fix.schedule}: active {fix.active_was} -> {fix.active}, "
                   f"waiting {fix.waiting_was} -> {fix.waiting}")  # fmt: skip
    typer.echo(f"{len(fixes)} schedule(s) repaired" if fixes else "all counters are right")
