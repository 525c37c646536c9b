"""``sched dead``: the dead-letter queue."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from scheduler import ops
from scheduler.cli.app import dead_app
from scheduler.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    AsJson,
    Namespace,
    RedisUrl,
    Tz,
    fail,
    open_store,
)
from scheduler.cli.render import echo_table, when, zone_option
from scheduler.core import clock
from scheduler.core.messages import DeadLetter
from scheduler.store import Store

RunIdArg = Annotated[str, typer.Argument(help="The run id.", show_default=False)]


@dead_app.command("list")
def dead_list(
    limit: Annotated[int, typer.Option(min=1, help="Newest dead letters to show.")] = 50,
    as_json: AsJson = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    tz: Tz = "UTC",
) -> None:
    """Dead-lettered runs, newest first."""
    shown_in = zone_option(tz)
    letters = ops.dead_letters(open_store(redis_url, namespace), limit)
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in letters], indent=2))
        return
    table = [("RUN", "SCHEDULE", "DEAD AT", "ATTEMPTS", "ERROR")]
    for d in letters:
        error = f"{d.error_type}: {d.error_message}"[:120]
        dead_at = when(d.dead_at_ms, shown_in)
        table.append((d.run.run_id, d.run.schedule, dead_at, str(d.attempts), error))
    echo_table(table)


def _dead_letter(store: Store, run_id: str) -> DeadLetter:
    letter = ops.dead_letter(store, run_id)
    if letter is None:
        raise fail(f"no dead letter with run id {run_id!r} (see `sched dead list`)", EXIT_USAGE)
    return letter


@dead_app.command("show")
def dead_show(
    run_id: RunIdArg, as_json: AsJson = False, redis_url: RedisUrl = None,
    namespace: Namespace = "sched", tz: Tz = "UTC",
) -> None:  # fmt: skip
    """One dead letter: the run, its error and traceback."""
    shown_in = zone_option(tz)
    letter = _dead_letter(open_store(redis_url, namespace), run_id)
    if as_json:
        typer.echo(json.dumps(letter.to_json(), indent=2))
        return
    run = letter.run
    typer.echo(f"run:      {run.run_id}")
    typer.echo(f"schedule: {run.schedule}")
    typer.echo(f"task:     {run.task}")
    typer.echo(f"fire at:  {when(run.fire_at, shown_in)}")
    typer.echo(f"attempts: {letter.attempts}")
    typer.echo(f"dead at:  {when(letter.dead_at_ms, shown_in)}")
    typer.echo(f"error:    {letter.error_type}: {letter.error_message}")
    if letter.traceback:
        typer.echo(letter.traceback.rstrip())


@dead_app.command("retry")
def dead_retry(
    run_id: RunIdArg, redis_url: RedisUrl = None, namespace: Namespace = "sched"
) -> None:
    """Put a dead-lettered run back on its queue as a first attempt."""
    store = open_store(redis_url, namespace)
    _dead_letter(store, run_id)
    if not ops.dead_retry(store, run_id, clock.utc_now()):
        raise fail(f"{run_id} is no longer in the dead-letter queue", EXIT_INVALID)
    typer.echo(f"{run_id}: back on its queue")


@dead_app.command("purge")
def dead_purge(redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Delete every dead letter."""
    count = ops.purge_dead(open_store(redis_url, namespace))
    typer.echo(f"purged {count} dead letters")
