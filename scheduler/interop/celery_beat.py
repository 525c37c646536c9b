"""A Celery app's ``beat_schedule`` as sched schedules, read through Celery's own classes.

Each entry goes through ``celery.schedules.maybe_schedule`` with the app, as beat's own
``ScheduleEntry`` does, so numbers and timedeltas become ``schedule`` objects and every
crontab reads its fields in the zone beat would: the zone of the ``last_run_at`` that
``remaining_delta`` works in for a ``now()`` from the schedule (Celery 5.5+: the app's zone;
older versions: the zone of the crontab's ``nowfun``).

Intervals: beat counts an interval from the entry's last run, or from its own start for an
entry it has not run, so its phase is whatever beat's last start made it. The app holds no
last run: an interval is written without ``start:``, keeps Celery's period, and counts from
1970-01-01T00:00:00Z as every sched interval does (``every: 1h`` on the hour). Given beat's
state file (``beat_state``), an entry beat recorded a last run for goes on from it:
``start:`` is beat's next run (``continued``), as django-celery-beat's import writes it.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from scheduler.core.model import JSONValue
from scheduler.errors import SchedError
from scheduler.interop.beat_state import BeatState
from scheduler.interop.cronfields import CrontabSets, InexactError
from scheduler.interop.imported import (
    ImportReport,
    arguments,
    continued,
    cron_fields,
    every_fields,
    options_fields,
    task_name,
    zone_name,
)

ENTRY_KEYS = ("task", "schedule", "args", "kwargs", "options", "relative", "enabled")


class CeleryAppError(SchedError):
    """A Celery app that cannot be found, loaded or read."""


@dataclass(frozen=True)
class NotRecorded:
    """An entry that beat's state file (at ``path``) holds no last run of."""

    path: Path


# The entry's last run in beat's state file (UTC), NotRecorded, or None without a file.
LastRun = datetime | NotRecorded | None


def load_app(spec: str) -> Any:
    """The Celery app that ``MODULE:APP`` names (imported from ``sys.path``)."""
    celery = _celery()
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CeleryAppError(f"{spec!r}: name the app as MODULE:APP, e.g. proj.celery:app")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CeleryAppError(f"cannot import module {module_name!r}: {exc} (is --app-dir "
                             "the folder that holds it?)") from None  # fmt: skip
    except Exception as exc:
        raise CeleryAppError(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    try:
        app = operator.attrgetter(attr)(module)
    except AttributeError:
        raise CeleryAppError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(app, celery.Celery):
        raise CeleryAppError(f"{spec!r} is a {type(app).__name__}, not a Celery app")
    return app


def _celery() -> Any:
    try:
        import celery
    except ImportError:
        raise CeleryAppError(
            "reading a Celery app needs Celery in this environment: pip install 'sched[celery]'"
        ) from None
    return celery


def read_app(app: Any, spec: str, now: datetime, state: BeatState | None = None) -> ImportReport:
    """Every entry of ``app.conf.beat_schedule``, imported or refused; intervals go on from
    the last runs in beat's ``state`` where it is given."""
    try:
        beat_schedule = dict(app.conf.beat_schedule or {})
        app_zone = app.timezone
    except Exception as exc:
        raise CeleryAppError(
            f"reading the configuration of {spec!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    origin = f"the Celery app {spec} (beat_schedule, time zone {app_zone})"
    if state is not None:
        origin += f" and the last runs in beat's state file {state.path}"
    report = ImportReport(origin)
    for name, entry in beat_schedule.items():
        last_run = _last_run(state, str(name))
        report.add(str(name), partial(_entry, app, entry, now, last_run))
    return report


def _last_run(state: BeatState | None, name: str) -> LastRun:
    if state is None:
        return None
    return state.last_runs.get(name, NotRecorded(state.path))


def _entry(
    app: Any, entry: object, now: datetime, last_run: LastRun, notes: list[str]
) -> dict[str, JSONValue]:
    if not isinstance(entry, Mapping):
        raise InexactError(f"the entry is a {type(entry).__name__}, not a mapping")
    if "schedule" not in entry or "task" not in entry:
        raise InexactError("the entry needs both 'task' and 'schedule'")
    for key in sorted(set(entry) - set(ENTRY_KEYS)):
        notes.append(f"{key!r} is not imported: beat does not read it either")
    fields: dict[str, JSONValue] = {"celery_task": task_name(entry["task"])}
    relative = bool(entry.get("relative"))
    fields.update(_trigger(app, entry["schedule"], relative, now, last_run, notes))
    fields.update(arguments(entry.get("args"), entry.get("kwargs")))
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise InexactError(f"options must be a mapping, got {type(options).__name__}")
    fields.update(options_fields(options, notes))
    if "enabled" in entry:
        fields["enabled"] = bool(entry["enabled"])
    return fields


def _trigger(
    app: Any, raw: object, relative: bool, now: datetime, last_run: LastRun, notes: list[str]
) -> dict[str, JSONValue]:
    from celery import schedules

    try:
        schedule = schedules.maybe_schedule(raw, relative, app=app)
    except Exception as exc:
        raise InexactError(f"its schedule {raw!r} is not one Celery reads: {exc}") from None
    if isinstance(schedule, schedules.crontab):
        return cron_fields(_sets(schedule), _zone_of(schedule, notes), now, notes)
    if isinstance(schedule, schedules.solar):
        raise InexactError(
            f"{schedule!r} follows the sun (solar); sched's triggers are cron and intervals"
        )
    if isinstance(schedule, schedules.schedule):
        if schedule.relative:
            raise InexactError("relative=True rounds its interval to the clock; sched's "
                               "intervals are elapsed time")  # fmt: skip
        every = schedule.run_every
        return every_fields(every.total_seconds(), _first_fire(last_run, every, notes))
    raise InexactError(f"its schedule is a {type(schedule).__name__}, which sched cannot read")


def _first_fire(last_run: LastRun, every: timedelta, notes: list[str]) -> datetime | None:
    """Beat's next run of an interval; None counts it from the epoch."""
    if isinstance(last_run, NotRecorded):
        notes.append(
            f"beat's state file {last_run.path} has no entry of that name: its interval "
            "counts from 1970-01-01T00:00:00Z, not from beat's last run"
        )
        return None
    return None if last_run is None else continued(last_run, every)


def _sets(schedule: Any) -> CrontabSets:
    return CrontabSets(
        minutes=frozenset(schedule.minute),
        hours=frozenset(schedule.hour),
        days_of_month=frozenset(schedule.day_of_month),
        months=frozenset(schedule.month_of_year),
        days_of_week=frozenset(schedule.day_of_week),
    )


def _zone_of(schedule: Any, notes: list[str]) -> str:
    """The zone Celery reads this crontab's fields in (see the module's docstring)."""
    try:
        own_now = schedule.now()
        last_run_at = schedule.remaining_delta(own_now)[0]
    except Exception as exc:
        raise InexactError(f"its crontab's clock failed: {type(exc).__name__}: {exc}") from None
    used = zone_name(last_run_at.tzinfo)
    if schedule.nowfun is not None and own_now.tzinfo is not None:
        try:
            own = zone_name(own_now.tzinfo)
        except InexactError:
            own = str(own_now.tzinfo)
        if own != used:
            notes.append(f"its nowfun returns times in {own}, but this Celery reads the "
                         f"crontab in {used}: imported in {used}")  # fmt: skip
    return used
