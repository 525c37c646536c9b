"""The ``sched`` Typer application, and the guard that turns every error into an exit code."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from scheduler.cli.common import EXIT_INTERNAL, EXIT_INVALID, EXIT_USAGE, close_after_command
from scheduler.errors import SchedError, UsageError
from scheduler.version import __version__

T = TypeVar("T")

app = typer.Typer(
    name="sched",
    help="sched: a periodic job scheduler. Schedules live in YAML files (default: schedules/).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"sched {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """sched: a periodic job scheduler. Schedules live in YAML files (default: schedules/)."""


dead_app = typer.Typer(
    help="The dead-letter queue: runs that failed for good.", no_args_is_help=True
)
app.add_typer(dead_app, name="dead")


def guarded(command: Callable[[], T]) -> T:
    try:
        return command()
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
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
    finally:
        close_after_command()
