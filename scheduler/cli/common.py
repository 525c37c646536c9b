"""What every command shares: options, exit codes, errors, opening the store, loading files."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from scheduler.cli import logs
from scheduler.config import load
from scheduler.core.instants import EARLIEST, LATEST, RANGE_TEXT
from scheduler.core.model import Schedule
from scheduler.errors import ConfigError, PathError, RedisUrlError, UnknownScheduleError
from scheduler.store import Store, connect
from scheduler.store.embedded import EmbeddedRedis, EmbeddedRedisError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70
EXIT_PLAN_CHANGES = 3
DEFAULT_PATHS = [Path("schedules")]
T = TypeVar("T")

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Schedule files or directories (default: schedules/).", show_default=False),
]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="SCHED_REDIS_URL",
        help="redis://host:port/db (user:password@host with a password), rediss://... (TLS) or unix:///path.sock",
        show_default=False,
    ),
]
CeleryBrokerUrl = Annotated[
    str | None,
    typer.Option(
        "--celery-broker-url",
        envvar="SCHED_CELERY_BROKER_URL",
        help="Where celery_task schedules hand their runs to Celery, unless their file's "
        "defaults name a celery_broker_url: redis://, rediss://, unix:// or amqp:// "
        "(default: the Redis sched itself uses, which hands over exactly once).",
        show_default=False,
    ),
]
Namespace = Annotated[
    str, typer.Option("--namespace", envvar="SCHED_NAMESPACE", help="Prefix of every Redis key.")
]
LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format",
        envvar="SCHED_LOG_FORMAT",
        help="text (readable lines) or json (one object per line, for log shippers).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON output.")]
AppDir = Annotated[
    Path,
    typer.Option(
        "--app-dir",
        envvar="SCHED_APP_DIR",
        help="Where tasks are imported from (put first on the import path), as Celery does "
        "with the working folder.",
    ),
]
NameArg = Annotated[str, typer.Argument(help="The schedule's name.", show_default=False)]
Tz = Annotated[
    str,
    typer.Option("--tz", envvar="SCHED_TZ",
                 help="Show times in UTC, in this machine's zone (local) or in an IANA zone."),
]  # fmt: skip


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def open_store(redis_url: str | None, namespace: str) -> Store:
    """The store at ``redis_url``; without one, the embedded server of ``sched run`` in
    ``.sched/`` (or ``SCHED_DATA_DIR``): the running one, or, when ``sched run`` has stopped,
    one started on its data for this command alone."""
    redis_url = redis_url or local_server()
    try:
        return Store(connect(redis_url), namespace)
    except RedisUrlError as exc:
        raise fail(f"--redis-url: {exc}", EXIT_USAGE) from None


# Called once the command is done, whatever its outcome (by ``app.guarded``; and at exit
# for commands invoked another way).
after_command: list[Callable[[], None]] = []
atexit.register(lambda: close_after_command())


def close_after_command() -> None:
    while after_command:
        after_command.pop()()


def local_server() -> str:
    data_dir = Path(os.environ.get("SCHED_DATA_DIR") or ".sched")
    running = EmbeddedRedis.running_url(data_dir)
    if running is not None:
        return running
    if not EmbeddedRedis.has_data(data_dir):
        raise fail(
            f"no Redis: pass --redis-url or set SCHED_REDIS_URL (and no `sched run` data in "
            f"{data_dir}/ to open)",
            EXIT_USAGE,
        )
    try:
        server = EmbeddedRedis(data_dir).start()
    except (OSError, EmbeddedRedisError) as exc:
        message = f"cannot open the data of `sched run` in {data_dir}/: {exc}"
        raise fail(message, EXIT_INVALID) from None
    after_command.append(server.stop)
    return server.url


def load_files(paths: list[Path] | None) -> tuple[dict[str, Schedule], int]:
    """The schedules of the files, and how many files; every problem printed, then exit 1."""
    try:
        loaded = load(paths or DEFAULT_PATHS)
    except PathError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        files = len({p.path for p in exc.problems})
        plural = "s" if len(exc.problems) != 1 else ""
        typer.echo(f"{len(exc.problems)} problem{plural} in {files} file(s)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return loaded.schedules, len(loaded.files)


def instant(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 option value as an aware UTC datetime (naive text is UTC)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(
            f"{option}: {text!r} is not an ISO 8601 date-time (e.g. 2026-03-29T00:00:00Z; "
            "without an offset it is UTC)",
            EXIT_USAGE,
        ) from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value <= LATEST:
        raise fail(f"{option}: {text!r} is out of range; dates must be {RANGE_TEXT}", EXIT_USAGE)
    return value


def operate(action: Callable[[], T]) -> T:
    """Run an operator action; an unknown schedule name is a usage error."""
    try:
        return action()
    except UnknownScheduleError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def use_app_dir(app_dir: Path) -> None:
    """Tasks are imported from ``app_dir`` first (default: the working folder)."""
    if not app_dir.is_dir():
        raise fail(f"--app-dir: {str(app_dir)!r} is not a folder", EXIT_USAGE)
    folder = str(app_dir.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def setup_logging(log_format: str = "text") -> None:
    if log_format not in ("text", "json"):
        raise fail(f"--log-format: {log_format!r} is not one of text, json", EXIT_USAGE)
    logs.setup(log_format)
