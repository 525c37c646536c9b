"""Commands on schedule files: validate, upcoming, plan."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from scheduler import ops
from scheduler.cli.app import app
from scheduler.cli.common import (
    EXIT_INVALID,
    EXIT_PLAN_CHANGES,
    EXIT_USAGE,
    AppDir,
    Namespace,
    PathsArg,
    RedisUrl,
    fail,
    instant,
    load_files,
    open_store,
    use_app_dir,
)
from scheduler.cli.render import upcoming_table, when
from scheduler.config import celery_warnings, check_imports
from scheduler.core import clock
from scheduler.core.model import Schedule
from scheduler.core.names import closest, near_duplicates

UNTIL_CAP = 10_000  # fire times per schedule when only --until bounds the listing
_ONE_US = timedelta(microseconds=1)


@app.command()
def validate(
    paths: PathsArg = None,
    check_imports_: Annotated[
        bool,
        typer.Option("--check-imports", help="Also import every task and check it is callable."),
    ] = False,
    app_dir: AppDir = Path("."),
) -> None:
    """Check schedule files; print every problem as PATH:LINE:COLUMN: FIELD: message."""
    schedules, files = load_files(paths)
    if check_imports_:
        use_app_dir(app_dir)
        messages = check_imports(schedules.values())
        for message in messages:
            typer.echo(message)
        if messages:
            raise typer.Exit(EXIT_INVALID)
    for a, b in near_duplicates(s.queue for s in schedules.values() if not s.is_celery):
        typer.echo(f"warning: queues {a!r} and {b!r} differ by a letter or two; is one a typo?",
                   err=True)  # fmt: skip
    for message in celery_warnings(schedules.values()):
        typer.echo(f"warning: {message}", err=True)
    noun = "schedule" if len(schedules) == 1 else "schedules"
    typer.echo(f"{len(schedules)} {noun} in {files} file{'s' if files != 1 else ''} OK")


def _pick(schedules: dict[str, Schedule], names: Sequence[str]) -> list[Schedule]:
    if not names:
        return sorted(schedules.values(), key=lambda s: s.name)
    for name in names:
        if name not in schedules:
            found = closest(name, schedules)
            hint = f"; did you mean {found!r}?" if found else ""
            raise fail(f"--schedule: no schedule named {name!r}{hint}", EXIT_USAGE)
    return [schedules[name] for name in dict.fromkeys(names)]


@app.command()
def upcoming(
    paths: PathsArg = None,
    schedule: Annotated[
        list[str] | None, typer.Option("--schedule", "-s", help="Only this schedule (repeatable).")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=UNTIL_CAP,
            help="Fire times per schedule, at most 10,000 (default: 5; all up to --until).",
        ),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="ISO 8601 start (default: now); inclusive.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 end; inclusive.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON array (a stable contract).")
    ] = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    offline: Annotated[
        bool, typer.Option("--offline", help="Read the files even when a Redis URL is set.")
    ] = False,
) -> None:
    """List the next fire times of each schedule, sorted by time.

    With a Redis URL (--redis-url or SCHED_REDIS_URL) the next fire times come from the
    running system's state, and paused schedules are marked; otherwise from the files.
    """
    now = clock.utc_now()
    start = instant("--from", from_) or now
    end = instant("--until", until)
    if end is not None and end < start:
        raise fail("--until is earlier than --from", EXIT_USAGE)
    limit = count if count is not None else (UNTIL_CAP if end is not None else 5)
    if redis_url and not offline:
        if paths:
            raise fail("give schedule files or a Redis URL, not both (see --offline)", EXIT_USAGE)
        try:
            found = ops.upcoming_online(
                open_store(redis_url, namespace), schedule or [], limit, start, end
            )
        except ops.UnknownScheduleError as exc:
            raise fail(f"--schedule: {exc}", EXIT_USAGE) from None
        active = [u for u in found if not u.paused and u.schedule.enabled]
        listed = [(u.schedule, u.fires) for u in active if not u.done]
        done = [u.schedule for u in active if u.done]
        quiet = [(u.schedule, "paused" if u.paused else "disabled") for u in found
                 if u.paused or not u.schedule.enabled]  # fmt: skip
        owners = {u.schedule.name: u.owner for u in found}
    else:
        schedules, _ = load_files(paths)
        chosen = _pick(schedules, schedule or [])
        # From the files alone, a one-off whose instant has passed is taken as done.
        done = [s for s in chosen if s.enabled and s.at is not None and s.at < now]
        passed = {s.name for s in done}
        shown = [s for s in chosen if s.enabled and s.name not in passed]
        listed = [(s, s.fire_times(start - _ONE_US, end, limit)) for s in shown]
        quiet = [(s, "disabled") for s in chosen if not s.enabled]
        owners = {s.name: "files" for s in chosen}  # read from the files: theirs by definition
    rows = sorted(((f, s) for s, fires in listed for f in fires), key=_time_then_name)
    finished = sorted(((s.at, s) for s in done if s.at is not None), key=_time_then_name)
    if as_json:
        entries = [(f, s, False) for f, s in rows] + [(f, s, True) for f, s in finished]
        entries.sort(key=lambda e: (e[0], e[1].name))
        listing = [_upcoming_json(f, s, d, owners[s.name]) for f, s, d in entries]
        typer.echo(json.dumps(listing, indent=2))
        return
    upcoming_table(rows, quiet, now, finished, owners=owners)


def _time_then_name(row: tuple[datetime, Schedule]) -> tuple[datetime, str]:
    return row[0], row[1].name


def _upcoming_json(fire_at: datetime, item: Schedule, done: bool, owner: str) -> dict[str, object]:
    """One entry of `upcoming --json` (a contract: keys are only ever added)."""
    row: dict[str, object] = {
        "schedule": item.name,
        "fire_at": fire_at.astimezone(item.zone).isoformat(),
        "fire_at_utc": when(fire_at),
        "owner": owner,
    }
    if done:  # a one-off that fired (or, from the files alone, whose instant has passed)
        row["done"] = True
    return row


@app.command()
def plan(
    paths: PathsArg = None, redis_url: RedisUrl = None, namespace: Namespace = "sched"
) -> None:
    """Show what syncing these files into Redis would change; exit 3 if anything would."""
    schedules, _ = load_files(paths)
    changes = ops.plan(open_store(redis_url, namespace), schedules, clock.utc_now())
    marks = {"added": "+", "removed": "-", "changed": "~", "conflict": "!"}
    for change in changes:
        next_text = when(change.next_fire) or "-"
        typer.echo(f"{marks[change.kind]} {change.name}: {change.detail}; next fire {next_text}")
    if not changes:
        typer.echo("no changes")
        return
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in marks}
    typer.echo(", ".join(f"{n} {kind}" for kind, n in counts.items() if n or kind != "conflict"))
    raise typer.Exit(EXIT_PLAN_CHANGES)
