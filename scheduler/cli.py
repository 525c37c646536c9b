"""The ``sched`` command. Imported by nothing: it sits on top of every other module."""

from __future__ import annotations

import difflib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scheduler import clock, logs, ops
from scheduler.config import PathError, check_imports, load, schedule_files
from scheduler.embedded import EmbeddedRedis
from scheduler.errors import ConfigError, SchedError
from scheduler.leader import Scheduler
from scheduler.model import Schedule
from scheduler.store import Store, connect, redact
from scheduler.worker import GRACE_S, MAX_DELIVERIES, WORKER_TIMEOUT_S, Worker

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70
DEFAULT_PATHS = [Path("schedules")]
UNTIL_CAP = 10_000
T = TypeVar("T")  # fire times per schedule when only --until bounds the listing

app = typer.Typer(
    name="sched",
    help="sched: a periodic job scheduler. Schedules live in YAML files (default: schedules/).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Schedule files or directories (default: schedules/).", show_default=False),
]


RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="SCHED_REDIS_URL",
        help="redis://[user:password@]host:port/db, rediss://... (TLS) or unix:///path.sock",
        show_default=False,
    ),
]
Namespace = Annotated[
    str, typer.Option("--namespace", envvar="SCHED_NAMESPACE", help="Prefix of every Redis key.")
]


def _store(redis_url: str | None, namespace: str) -> Store:
    if not redis_url:
        raise _fail("no Redis: pass --redis-url or set SCHED_REDIS_URL", EXIT_USAGE)
    return Store(connect(redis_url), namespace)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _load(paths: list[Path] | None) -> tuple[dict[str, Schedule], int]:
    try:
        loaded = load(paths or DEFAULT_PATHS)
    except PathError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        files = len({p.path for p in exc.problems})
        plural = "s" if len(exc.problems) != 1 else ""
        typer.echo(f"{len(exc.problems)} problem{plural} in {files} file(s)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return loaded.schedules, len(loaded.files)


@app.command()
def validate(
    paths: PathsArg = None,
    check_imports_: Annotated[
        bool,
        typer.Option("--check-imports", help="Also import every task and check it is callable."),
    ] = False,
) -> None:
    """Check schedule files; print every problem as PATH:LINE:COLUMN: FIELD: message."""
    schedules, files = _load(paths)
    if check_imports_:
        messages = check_imports(schedules.values())
        for message in messages:
            typer.echo(message)
        if messages:
            raise typer.Exit(EXIT_INVALID)
    noun = "schedule" if len(schedules) == 1 else "schedules"
    typer.echo(f"{len(schedules)} {noun} in {files} file{'s' if files != 1 else ''} OK")


def _instant(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(
            f"{option}: {text!r} is not an ISO 8601 date-time (e.g. 2026-03-29T00:00:00Z; "
            "without an offset it is UTC)",
            EXIT_USAGE,
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _pick(schedules: dict[str, Schedule], names: Sequence[str]) -> list[Schedule]:
    if not names:
        return sorted(schedules.values(), key=lambda s: s.name)
    for name in names:
        if name not in schedules:
            close = difflib.get_close_matches(name, list(schedules), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _fail(f"--schedule: no schedule named {name!r}{hint}", EXIT_USAGE)
    return [schedules[name] for name in dict.fromkeys(names)]


def _relative(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "now"
    amount = abs(seconds)
    parts = []
    for suffix, unit in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, amount = divmod(amount, unit)
        if count:
            parts.append(f"{count}{suffix}")
    text = " ".join(parts[:2])
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@app.command()
def upcoming(
    paths: PathsArg = None,
    schedule: Annotated[
        list[str] | None, typer.Option("--schedule", "-s", help="Only this schedule (repeatable).")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            min=1, help="Fire times per schedule [default: 5; all up to --until if given]."
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
    start = _instant("--from", from_) or now
    end = _instant("--until", until)
    if end is not None and end < start:
        raise _fail("--until is earlier than --from", EXIT_USAGE)
    limit = count if count is not None else (UNTIL_CAP if end is not None else 5)
    if redis_url and not offline:
        if paths:
            raise _fail("give schedule files or a Redis URL, not both (see --offline)", EXIT_USAGE)
        try:
            found = ops.upcoming_online(
                _store(redis_url, namespace), schedule or [], limit, start, end
            )
        except ops.UnknownScheduleError as exc:
            raise _fail(f"--schedule: {exc}", EXIT_USAGE) from None
        listed = [(u.schedule, u.fires) for u in found if not u.paused and u.schedule.enabled]
        quiet = [(u.schedule, "paused" if u.paused else "disabled") for u in found
                 if u.paused or not u.schedule.enabled]  # fmt: skip
    else:
        schedules, _ = _load(paths)
        chosen = _pick(schedules, schedule or [])
        listed = [(s, _fires(s, start, end, limit)) for s in chosen if s.enabled]
        quiet = [(s, "disabled") for s in chosen if not s.enabled]
    rows = sorted(
        ((fire_at, item) for item, fires in listed for fire_at in fires),
        key=lambda row: (row[0], row[1].name),
    )
    if as_json:
        payload = [
            {
                "schedule": item.name,
                "fire_at": fire_at.astimezone(item.zone).isoformat(),
                "fire_at_utc": _utc_text(fire_at),
            }
            for fire_at, item in rows
        ]
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(rows, quiet, now)


def _fires(item: Schedule, start: datetime, end: datetime | None, limit: int) -> list[datetime]:
    fires: list[datetime] = []
    fire_at = item.next_fire(start - timedelta(microseconds=1))
    while fire_at is not None and len(fires) < limit and (end is None or fire_at <= end):
        fires.append(fire_at)
        fire_at = item.next_fire(fire_at)
    return fires


def _print_table(
    rows: list[tuple[datetime, Schedule]], quiet: list[tuple[Schedule, str]], now: datetime
) -> None:
    table = [("SCHEDULE", "FIRE AT (LOCAL)", "UTC", "WHEN")]
    for fire_at, item in rows:
        local = fire_at.astimezone(item.zone)
        table.append(
            (
                item.name,
                f"{local:%Y-%m-%d %H:%M:%S %z} {item.timezone}",
                f"{fire_at.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}",
                _relative(fire_at - now),
            )
        )
    for item, why in quiet:
        table.append((item.name, why, "-", "-"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if len(table) == 1:
        typer.echo("(no fire times in this window)")


LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format",
        envvar="SCHED_LOG_FORMAT",
        help="text (readable lines) or json (one object per line, for log shippers).",
    ),
]


def _setup_logging(log_format: str = "text") -> None:
    if log_format not in ("text", "json"):
        raise _fail(f"--log-format: {log_format!r} is not one of text, json", EXIT_USAGE)
    logs.setup(log_format)


class _Reloader:
    """Re-reads the schedule files on SIGHUP or when they change; keeps the last good set."""

    def __init__(self, paths: list[Path], replica: Scheduler) -> None:
        self.paths = paths
        self.replica = replica
        self.requested = threading.Event()
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        try:
            files = schedule_files(self.paths)
        except PathError:
            return ()
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)

    def poll(self) -> None:
        stamp = self._stamp()
        if stamp == self.stamp and not self.requested.is_set():
            return
        self.stamp = stamp
        self.requested.clear()
        log = logging.getLogger("sched.reload")
        try:
            loaded = load(self.paths)
        except (ConfigError, PathError) as exc:
            for line in str(exc).splitlines():
                log.error("%s", line)
            log.error("reload rejected; the last good schedules keep running")
            return
        self.replica.replace_schedules(loaded.schedules)
        log.info("reloaded %d schedules", len(loaded.schedules))


@app.command("scheduler")
def scheduler_command(
    paths: PathsArg = None,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
) -> None:
    """Run a scheduler replica: one of all replicas leads and dispatches due runs."""
    _setup_logging(log_format)
    stop = threading.Event()
    _on_signals(stop, None)  # first: a SIGTERM during start-up still stops cleanly
    schedules, _ = _load(paths)
    store = _store(redis_url, namespace)
    replica = Scheduler(store, schedules)
    reloader = _Reloader(list(paths or DEFAULT_PATHS), replica)
    _on_signals(stop, reloader)
    logging.getLogger("sched.scheduler").info(
        "scheduler %s started with %d schedules on %s",
        replica.identity, len(schedules), redact(redis_url or ""),
    )  # fmt: skip
    replica.run(stop, reloader.poll)


def _on_signals(stop: threading.Event, reloader: _Reloader | None) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if reloader is not None:
        signal.signal(signal.SIGHUP, lambda *_: reloader.requested.set())


Queues = Annotated[
    str, typer.Option("--queues", "-Q", help="Comma-separated queues, taken in turn.")
]
Concurrency = Annotated[int, typer.Option(min=1, help="Runs executed at once.")]
Pool = Annotated[
    str, typer.Option(help="thread (default; I/O-bound tasks) or process (CPU-bound, may hang).")
]
WorkerTimeout = Annotated[
    float,
    typer.Option(
        "--worker-timeout",
        min=1.0,
        help="Seconds without a heartbeat before a worker's runs are delivered again.",
    ),
]
MaxDeliveries = Annotated[
    int,
    typer.Option(
        "--max-deliveries",
        min=1,
        help="Deliveries without an outcome (the run kills its worker) before dead-lettering.",
    ),
]
Grace = Annotated[
    float, typer.Option("--grace", min=0.0, help="On SIGTERM, seconds running runs may finish.")
]


def _worker(
    store: Store,
    queues: str,
    concurrency: int,
    pool: str,
    worker_timeout: float,
    max_deliveries: int,
) -> Worker:
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise _fail("--queues: name at least one queue", EXIT_USAGE)
    if pool not in ("thread", "process"):
        raise _fail(f"--pool: {pool!r} is not one of thread, process", EXIT_USAGE)
    return Worker(
        store,
        names,
        concurrency,
        pool,
        worker_timeout_s=worker_timeout,
        max_deliveries=max_deliveries,
    )


@app.command()
def worker(
    queues: Queues = "default",
    concurrency: Concurrency = 4,
    pool: Pool = "thread",
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
    max_deliveries: MaxDeliveries = MAX_DELIVERIES,
    grace: Grace = GRACE_S,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
) -> None:
    """Execute runs from the queues (no scheduler)."""
    _setup_logging(log_format)
    stop = threading.Event()
    _on_signals(stop, None)
    executor = _worker(
        _store(redis_url, namespace), queues, concurrency, pool, worker_timeout, max_deliveries
    )
    executor.run(stop, grace)


@app.command()
def run(
    paths: PathsArg = None,
    queues: Queues = "default",
    concurrency: Concurrency = 4,
    pool: Pool = "thread",
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
    max_deliveries: MaxDeliveries = MAX_DELIVERIES,
    grace: Grace = GRACE_S,
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded Redis keeps its data (no Redis URL).")
    ] = Path(".sched"),
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
) -> None:
    """Scheduler and worker in one process; with no Redis URL, an embedded Redis."""
    _setup_logging(log_format)
    stop = threading.Event()
    _on_signals(stop, None)  # first: a SIGTERM during start-up still stops cleanly
    schedules, _ = _load(paths)
    embedded = None
    if not redis_url:
        embedded = EmbeddedRedis(data_dir).start()
        redis_url = embedded.url
        logging.getLogger("sched").info(
            "started an embedded Redis (data in %s, socket %s); set SCHED_REDIS_URL to use a "
            "shared Redis with several replicas and workers",
            data_dir,
            embedded.socket_path,
        )
    try:
        store = _store(redis_url, namespace)
        replica = Scheduler(store, schedules)
        executor = _worker(store, queues, concurrency, pool, worker_timeout, max_deliveries)
        reloader = _Reloader(list(paths or DEFAULT_PATHS), replica)
        _on_signals(stop, reloader)
        leading = threading.Thread(target=replica.run, args=(stop, reloader.poll), daemon=True)
        leading.start()
        executor.run(stop, grace)
        leading.join(timeout=10)
    finally:
        if embedded is not None:
            embedded.stop()
            logging.getLogger("sched").info("stopped the embedded Redis")


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="The schedule's name.", show_default=False)],
    limit: Annotated[int, typer.Option(min=1, help="Newest events to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """Recent events of a schedule, newest first: runs, outcomes, attempts, errors."""
    store = _store(redis_url, namespace)
    events = store.history(name, limit)
    if not events:
        _operate(lambda: ops.stored_schedule(store, name))
    if as_json:
        typer.echo(json.dumps(events, indent=2))
        return
    table = [("AT", "EVENT", "RUN", "FIRE AT", "ATTEMPT", "DURATION", "WORKER", "ERROR")]
    for e in events:
        duration = f"{e['duration_ms']} ms" if e.get("duration_ms") is not None else ""
        table.append(
            (
                e["at"],
                e["event"],
                e.get("run_id", ""),
                e.get("fire_at") or "",
                str(e.get("attempt", "")),
                duration,
                e.get("worker", ""),
                e.get("error", ""),
            )
        )
    _echo_table(table)


def _echo_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


dead_app = typer.Typer(
    help="The dead-letter queue: runs that failed for good.", no_args_is_help=True
)
app.add_typer(dead_app, name="dead")


@dead_app.command("list")
def dead_list(
    limit: Annotated[int, typer.Option(min=1, help="Newest dead letters to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """Dead-lettered runs, newest first."""
    letters = ops.dead_letters(_store(redis_url, namespace), limit)
    if as_json:
        typer.echo(json.dumps(letters, indent=2))
        return
    table = [("RUN", "SCHEDULE", "DEAD AT", "ATTEMPTS", "ERROR")]
    for d in letters:
        error = f"{d['error']['type']}: {d['error']['message']}"[:120]
        dead_at = _ms_text(d["dead_at_ms"]) or ""
        table.append((d["run"]["run_id"], d["run"]["schedule"], dead_at, str(d["attempts"]), error))
    _echo_table(table)


def _dead_letter(store: Store, run_id: str) -> dict[str, Any]:
    letter = store.dead_letter(run_id)
    if letter is None:
        raise _fail(f"no dead letter with run id {run_id!r} (see `sched dead list`)", EXIT_USAGE)
    return letter


@dead_app.command("show")
def dead_show(
    run_id: Annotated[str, typer.Argument(help="The run id.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """One dead letter: the run, its error and traceback."""
    letter = _dead_letter(_store(redis_url, namespace), run_id)
    if as_json:
        typer.echo(json.dumps(letter, indent=2))
        return
    run = letter["run"]
    typer.echo(f"run:      {run['run_id']}")
    typer.echo(f"schedule: {run['schedule']}")
    typer.echo(f"task:     {run['task']}")
    typer.echo(f"fire at:  {run['fire_at']}")
    typer.echo(f"attempts: {letter['attempts']}")
    typer.echo(f"dead at:  {_ms_text(letter['dead_at_ms'])}")
    typer.echo(f"error:    {letter['error']['type']}: {letter['error']['message']}")
    if letter["error"].get("traceback"):
        typer.echo(letter["error"]["traceback"].rstrip())


@dead_app.command("retry")
def dead_retry(
    run_id: Annotated[str, typer.Argument(help="The run id.", show_default=False)],
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """Put a dead-lettered run back on its queue as a first attempt."""
    store = _store(redis_url, namespace)
    _dead_letter(store, run_id)
    if not ops.dead_retry(store, run_id, clock.utc_now()):
        raise _fail(f"{run_id} is no longer in the dead-letter queue", EXIT_INVALID)
    typer.echo(f"{run_id}: back on its queue")


@dead_app.command("purge")
def dead_purge(redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Delete every dead letter."""
    count = _store(redis_url, namespace).purge_dead()
    typer.echo(f"purged {count} dead letters")


@app.command()
def status(
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Leader, epoch, lease, schedules with next due and missed counts, queue depths."""
    store = _store(redis_url, namespace)
    leader = store.leader()
    definitions = store.definitions()
    states = store.states(sorted(definitions))
    rows = []
    for name in sorted(definitions):
        state = states.get(name)
        rows.append({
            "schedule": name,
            "paused": bool(state and state.paused),
            "next_fire_at": _ms_text(state.next_ms if state else None),
            "last_fire_at": _ms_text(state.last_fire_ms if state else None),
            "runs": state.runs if state else 0,
            "missed": state.missed if state else 0,
            "last_missed_at": _ms_text(state.last_missed_ms if state else None),
        })  # fmt: skip
    queues = store.queue_depths()
    payload = {"leader": leader, "schedules": rows, "queues": queues}
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    who = leader["identity"] or "none"
    ttl = f"{leader['ttl_ms'] / 1000:.1f}s" if leader["ttl_ms"] is not None else "-"
    typer.echo(f"leader: {who}  epoch: {leader['epoch']}  lease left: {ttl}")
    for row in rows:
        flag = " (paused)" if row["paused"] else ""
        typer.echo(
            f"{row['schedule']}{flag}: next {row['next_fire_at'] or '-'}, runs {row['runs']}, "
            f"missed {row['missed']}"
        )
    for queue, depth in queues.items():
        typer.echo(f"queue {queue}: {depth} waiting")


NameArg = Annotated[str, typer.Argument(help="The schedule's name.", show_default=False)]


def _operate(action: Callable[[], T]) -> T:
    try:
        return action()
    except ops.UnknownScheduleError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None


@app.command()
def pause(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Stop dispatching a schedule until `sched resume`."""
    store = _store(redis_url, namespace)
    changed = _operate(lambda: ops.pause(store, name, clock.utc_now()))
    typer.echo(f"{name}: paused" if changed else f"{name}: already paused")


@app.command()
def resume(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Resume a paused schedule from its next future fire time (passed ones count as missed)."""
    store = _store(redis_url, namespace)
    done = _operate(lambda: ops.resume(store, name, clock.utc_now()))
    if not done.changed:
        typer.echo(f"{name}: not paused")
        return
    next_text = _utc_text(done.next_fire) if done.next_fire else "never"
    typer.echo(f"{name}: resumed; next fire {next_text}; {done.missed} missed while paused")


@app.command()
def trigger(name: NameArg, redis_url: RedisUrl = None, namespace: Namespace = "sched") -> None:
    """Enqueue one run of a schedule now; its own timeline is unaffected."""
    store = _store(redis_url, namespace)
    run_id = _operate(lambda: ops.trigger(store, name, clock.utc_now()))
    typer.echo(f"{name}: enqueued {run_id}")


@app.command()
def backfill(
    name: NameArg,
    from_: Annotated[str, typer.Option("--from", help="ISO 8601 start, inclusive.")],
    until: Annotated[str, typer.Option(help="ISO 8601 end, inclusive; in the past.")],
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
) -> None:
    """Enqueue every fire time of a past range, each once however often this is repeated."""
    start, end = _instant("--from", from_), _instant("--until", until)
    assert start is not None and end is not None
    store = _store(redis_url, namespace)
    try:
        done = _operate(lambda: ops.backfill(store, name, start, end, clock.utc_now()))
    except ops.BackfillError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    typer.echo(f"{name}: enqueued {len(done.enqueued)} runs; {done.already} already backfilled")


EXIT_PLAN_CHANGES = 3


@app.command()
def plan(
    paths: PathsArg = None, redis_url: RedisUrl = None, namespace: Namespace = "sched"
) -> None:
    """Show what syncing these files into Redis would change; exit 3 if anything would."""
    schedules, _ = _load(paths)
    changes = ops.plan(_store(redis_url, namespace), schedules, clock.utc_now())
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for change in changes:
        next_text = _utc_text(change.next_fire) if change.next_fire else "-"
        typer.echo(f"{marks[change.kind]} {change.name}: {change.detail}; next fire {next_text}")
    if not changes:
        typer.echo("no changes")
        return
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in marks}
    typer.echo(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    raise typer.Exit(EXIT_PLAN_CHANGES)


def _ms_text(ms: int | None) -> str | None:
    if ms is None:
        return None
    return _utc_text(datetime.fromtimestamp(ms / 1000, UTC))


def _guarded(command: Callable[[], T]) -> T:
    try:
        return command()
    except SchedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        if os.environ.get("SCHED_DEBUG"):
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc} (set SCHED_DEBUG=1 for a traceback; "
            "please report it)",
            err=True,
        )
        raise SystemExit(EXIT_INTERNAL) from None


def main(argv: list[str] | None = None) -> Any:
    return _guarded(lambda: app(args=argv if argv is not None else sys.argv[1:]))
