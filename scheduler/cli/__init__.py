"""The ``sched`` command: on top of every other package, imported by none.

``app`` (the Typer app and the error guard) <- ``common`` (options, exit codes) and
``render`` (tables) <- a module per command group: ``files`` (validate, upcoming, plan),
``serve`` (run, scheduler, worker; ``signals`` wakes them), ``ops`` (status, history,
pause, resume, trigger, backfill), ``dead``, ``imports``, ``schedules`` (add, edit,
remove, enqueue: schedules owned by the API). The only package of sched that imports typer.
"""

from __future__ import annotations

import sys
from typing import Any

from scheduler.cli import dead, files, imports, ops, schedules, serve
from scheduler.cli.app import app, guarded

__all__ = ["app", "dead", "files", "imports", "main", "ops", "schedules", "serve"]


def main(argv: list[str] | None = None) -> Any:
    return guarded(lambda: app(args=argv if argv is not None else sys.argv[1:]))
