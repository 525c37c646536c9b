"""``sched import``: schedules from Celery beat (an app's beat_schedule, django-celery-beat)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.app import app
from scheduler.cli.common import EXIT_INVALID, EXIT_USAGE, AppDir, fail, use_app_dir
from scheduler.config import load
from scheduler.core import clock
from scheduler.errors import ConfigError
from scheduler.interop.beat_state import BeatStateError, read_beat_state
from scheduler.interop.celery_beat import CeleryAppError, load_app, read_app
from scheduler.interop.django_beat import DatabaseError, DatabaseUrlError, read_database
from scheduler.interop.imported import ImportReport

import_app = typer.Typer(
    help="Import schedules from Celery beat, to run them with sched instead.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the schedule file here (default: print it).",
                 show_default=False),
]  # fmt: skip
SkipInexact = Annotated[
    bool,
    typer.Option(
        "--skip-inexact",
        help="Leave out, with a warning, the entries sched cannot reproduce exactly, and "
        "write the others (default: name them and write nothing).",
    ),
]
Disabled = Annotated[
    bool,
    typer.Option(
        "--disabled",
        help="Write every schedule with enabled: false, to run beside Celery beat without "
        "firing twice; enable them when beat stops.",
    ),
]


@import_app.command("celery")
def import_celery(
    app_spec: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:APP", help="The Celery app, e.g. proj.celery:app.", show_default=False
        ),
    ],
    output: Output = None,
    skip_inexact: SkipInexact = False,
    disabled: Disabled = False,
    beat_state: Annotated[
        Path | None,
        typer.Option(
            "--beat-state",
            metavar="FILE",
            help="Celery beat's state file, as celery beat -s names it (e.g. "
            "celerybeat-schedule): each interval goes on from the last run beat recorded, "
            "instead of counting from 1970-01-01T00:00:00Z. Read-only.",
            show_default=False,
        ),
    ] = None,
    app_dir: AppDir = Path("."),
) -> None:
    """Import a Celery app's beat_schedule as sched schedules (celery_task: entries)."""
    use_app_dir(app_dir)
    try:
        celery_app = load_app(app_spec)
    except CeleryAppError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    try:
        state = None if beat_state is None else read_beat_state(beat_state)
        report = read_app(celery_app, app_spec, clock.utc_now(), state)
    except (CeleryAppError, BeatStateError) as exc:
        raise fail(str(exc), EXIT_INVALID) from None
    _finish(report, output, skip_inexact, disabled)


@import_app.command("django-celery-beat")
def import_django_celery_beat(
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url",
            help="sqlite:///path/to/db.sqlite3 or "
            "postgresql://user:password@host/name (needs psycopg).",
            show_default=False,
        ),
    ],
    output: Output = None,
    skip_inexact: SkipInexact = False,
    disabled: Disabled = False,
) -> None:
    """Import django-celery-beat's periodic tasks from its database tables."""
    try:
        report = read_database(database_url, clock.utc_now())
    except DatabaseUrlError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except DatabaseError as exc:
        raise fail(str(exc), EXIT_INVALID) from None
    _finish(report, output, skip_inexact, disabled)


def _finish(report: ImportReport, output: Path | None, skip_inexact: bool, disabled: bool) -> None:
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for refused in report.refused:
        label = "warning: skipped" if skip_inexact else "error: cannot import"
        typer.echo(f"{label} {refused.source!r}: {refused.reason}", err=True)
    if report.refused and not skip_inexact:
        count = len(report.refused)
        raise fail(
            f"{count} entr{'y' if count == 1 else 'ies'} cannot be imported exactly; nothing "
            "written (--skip-inexact writes the others)",
            EXIT_INVALID,
        )
    text = report.text(disabled)
    _check(text)
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text)
    count = len(report.schedules)
    typer.echo(f"wrote {count} schedule{'s' if count != 1 else ''} to {output}", err=True)


def _check(text: str) -> None:
    """What is written passes `sched validate`; a file that does not is sched's bug."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "imported.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load([path])
        except ConfigError as exc:
            raise RuntimeError(f"the imported file does not validate:\n{exc}") from None


def _write(output: Path, text: str) -> None:
    if output.is_dir():
        raise fail(f"--output: {output} is a folder; name a file", EXIT_USAGE)
    partial = output.with_name(f".{output.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, output)
    except OSError as exc:
        raise fail(f"--output: cannot write {output}: {exc.strerror}", EXIT_INVALID) from None
