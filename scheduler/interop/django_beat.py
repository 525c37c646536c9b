"""django-celery-beat's periodic tasks as sched schedules, read from its tables with SQL.

No Django at runtime: ``sqlite:///path`` is opened read-only with the standard library,
``postgresql://`` with psycopg. Crontab fields are strings in Celery's syntax, expanded by
Celery's ``crontab`` where Celery is installed, else by ``cronfields.parse_celery_field``.
Naive instants (SQLite under ``USE_TZ = True``) are UTC, as Django writes them; PostgreSQL's
``timestamptz`` columns arrive aware and its booleans as ``bool``, which read the same
(tests/test_import_django_pg.py).

How each row keeps Celery's fire times (``ModelEntry`` in django-celery-beat):

* crontab: fields in the row's ``timezone``; ``start_time`` becomes ``start:``. sched's
  first fire time after the import is the next one after now, so a fire time beat already
  ran is not run again.
* interval: beat fires ``every`` after ``last_run_at`` (``date_changed`` for a task never
  run), not before ``start_time``; ``start:`` is that first fire time, which anchors the
  cadence, rounded up to the whole second.
* clocked (one-off): a six-field cron naming that second, with ``start:`` on it and
  ``end:`` one second later, so it fires once. Celery runs a past one that has not run
  at its next start; sched never runs it (a warning says so).
* ``expires``: no run at or after it, so ``end:`` is the second before it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from scheduler.core.model import JSONValue
from scheduler.errors import SchedError, UsageError
from scheduler.interop.cronfields import CrontabSets, InexactError, parse_celery_field
from scheduler.interop.imported import (
    ImportReport,
    arguments,
    as_utc,
    ceil_second,
    continued,
    cron_fields,
    end_before,
    every_fields,
    iso,
    options_fields,
    task_name,
    zone_name,
)

QUERY = """
SELECT t.name, t.task, t.args, t.kwargs, t.queue, t.exchange, t.routing_key, t.headers,
       t.priority, t.expires, t.expire_seconds, t.one_off, t.start_time, t.enabled,
       t.last_run_at, t.date_changed, t.description,
       t.crontab_id, t.interval_id, t.solar_id, t.clocked_id,
       c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year, c.timezone,
       i.every, i.period, k.clocked_time
FROM django_celery_beat_periodictask t
LEFT JOIN django_celery_beat_crontabschedule c ON c.id = t.crontab_id
LEFT JOIN django_celery_beat_intervalschedule i ON i.id = t.interval_id
LEFT JOIN django_celery_beat_clockedschedule k ON k.id = t.clocked_id
ORDER BY t.name
"""
PERIODS = ("days", "hours", "minutes", "seconds", "microseconds")


class DatabaseError(SchedError):
    """A django-celery-beat database that cannot be opened or read."""


class DatabaseUrlError(DatabaseError, UsageError):
    """A database URL of a form sched cannot open."""


Row = Mapping[str, Any]


def read_database(url: str, now: datetime) -> ImportReport:
    # In Python, not by ORDER BY alone: a PostgreSQL database's collation (en_US, say) sorts
    # names otherwise than SQLite's bytewise order, and the warnings follow this order.
    rows = sorted(_rows(url), key=lambda row: str(row["name"]))
    shown = url.split("@")[-1] if "@" in url else url
    report = ImportReport(f"django-celery-beat's tables in {shown}")
    for row in rows:
        report.add(str(row["name"]), partial(_task, row, now))
    return report


def _rows(url: str) -> Iterator[Row]:
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        yield from _sqlite_rows(url)
    elif scheme in ("postgres", "postgresql"):
        yield from _postgres_rows(url)
    else:
        raise DatabaseUrlError(
            f"--database-url: {url.split('@')[-1]!r} is neither sqlite:///path nor "
            "postgresql://user:password@host/name"
        )


def _sqlite_rows(url: str) -> Iterator[Row]:
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if path is None or not str(path):
        raise DatabaseUrlError(f"--database-url: {url!r}: write sqlite:///relative/path or "
                               "sqlite:////absolute/path")  # fmt: skip
    if not path.is_file():
        raise DatabaseError(f"{path}: no such database file")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute(QUERY)]
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: cannot read django-celery-beat's tables: {exc}") from None
    for row in rows:
        yield {k: _sqlite_instant(k, v) for k, v in row.items()}


def _sqlite_instant(key: str, value: object) -> object:
    if isinstance(value, str) and key in ("expires", "start_time", "last_run_at",
                                          "date_changed", "clocked_time"):  # fmt: skip
        return datetime.fromisoformat(value)
    return value


def _postgres_rows(url: str) -> Iterator[Row]:
    try:
        import psycopg  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise DatabaseError(
            "reading postgresql:// needs the psycopg package: pip install 'psycopg[binary]'"
        ) from None
    try:
        with psycopg.connect(url) as db:
            db.read_only = True
            cursor = db.execute(QUERY)
            names = [column.name for column in cursor.description or ()]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read django-celery-beat's tables: {exc}") from None
    yield from rows


def _task(row: Row, now: datetime, notes: list[str]) -> dict[str, JSONValue]:
    fields: dict[str, JSONValue] = {"celery_task": task_name(row["task"])}
    if row["solar_id"] is not None:
        raise InexactError("its solar schedule follows the sun; sched's triggers are cron and "
                           "intervals")  # fmt: skip
    enabled = bool(row["enabled"])
    if row["clocked_id"] is not None:
        fields.update(_clocked(row, now, notes))
    elif row["one_off"] and enabled:
        raise InexactError("one_off: Celery runs it once, then disables it; sched has no "
                           "one-off cron or interval (a clocked one-off imports)")  # fmt: skip
    elif row["crontab_id"] is not None:
        fields.update(cron_fields(_crontab_sets(row), _row_zone(row), now, notes))
        if row["start_time"] is not None:
            fields["start"] = iso(ceil_second(row["start_time"]))
    elif row["interval_id"] is not None:
        fields.update(_interval(row))
    else:
        raise InexactError("it names no schedule (crontab, interval, clocked or solar)")
    if row["one_off"] and not enabled and row["clocked_id"] is None:
        notes.append("one_off: imported disabled; enabling it in sched makes it recurring")
    fields.update(arguments(_json(row, "args", "[]"), _json(row, "kwargs", "{}")))
    fields.update(options_fields(_options(row), notes))
    if row["expires"] is not None:
        end = end_before(row["expires"])
        earlier = fields.get("end")
        fields["end"] = min(iso(end), earlier) if isinstance(earlier, str) else iso(end)
    if not enabled:
        fields["enabled"] = False
    if row["description"]:
        fields["description"] = str(row["description"])
    return fields


def _crontab_sets(row: Row) -> CrontabSets:
    spec = {k: str(row[k]) for k in ("minute", "hour", "day_of_week", "day_of_month",
                                     "month_of_year")}  # fmt: skip
    try:
        from celery.schedules import crontab
    except ImportError:
        crontab = None
    try:
        if crontab is not None:
            parsed = crontab(**spec)
            return CrontabSets(
                frozenset(parsed.minute), frozenset(parsed.hour), frozenset(parsed.day_of_month),
                frozenset(parsed.month_of_year), frozenset(parsed.day_of_week),
            )  # fmt: skip
        return CrontabSets(
            parse_celery_field(spec["minute"], 60),
            parse_celery_field(spec["hour"], 24),
            parse_celery_field(spec["day_of_month"], 31, 1),
            parse_celery_field(spec["month_of_year"], 12, 1),
            parse_celery_field(spec["day_of_week"], 7),
        )
    except (ValueError, TypeError) as exc:
        shown = " ".join(spec[k] for k in ("minute", "hour", "day_of_month", "month_of_year",
                                           "day_of_week"))  # fmt: skip
        raise InexactError(f"its crontab {shown!r} is not valid: {exc}") from None


def _row_zone(row: Row) -> str:
    name = str(row["timezone"] or "UTC")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return zone_name(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InexactError(f"its crontab's time zone {name!r} is not an IANA zone") from None


def _interval(row: Row) -> dict[str, JSONValue]:
    period = str(row["period"])
    if period not in PERIODS:
        raise InexactError(f"its interval's period {period!r} is not one of {', '.join(PERIODS)}")
    every = timedelta(**{period: int(row["every"])})
    # Beat's first run after the import: `every` after the last one (or, for a task never
    # run, after its last change), and not before start_time.
    last = row["last_run_at"] or row["date_changed"]
    first = continued(last, every) if last is not None else None
    if row["start_time"] is not None and (row["last_run_at"] is None or first is None
                                          or as_utc(row["start_time"]) > first):  # fmt: skip
        first = ceil_second(row["start_time"])
    return every_fields(every.total_seconds(), first)


def _clocked(row: Row, now: datetime, notes: list[str]) -> dict[str, JSONValue]:
    at = ceil_second(row["clocked_time"])
    if at <= now and row["enabled"]:
        notes.append(f"its one-off time {iso(at)} has passed: Celery beat would run it at its "
                     "next start, sched will not (sched trigger runs it now)")  # fmt: skip
    return {
        "cron": f"{at.second} {at.minute} {at.hour} {at.day} {at.month} *",
        "start": iso(at),
        "end": iso(at + timedelta(seconds=1)),  # sched's end is later than its start
    }


def _json(row: Row, column: str, empty: str) -> object:
    try:
        return json.loads(row[column] or empty)
    except ValueError as exc:
        raise InexactError(f"its {column} are not JSON: {exc}") from None


def _options(row: Row) -> dict[str, object]:
    """The options beat sends with each run (``ModelEntry``): an ``expires`` instant is
    ``end:`` instead (see ``_task``), so only ``expire_seconds`` reaches this."""
    options: dict[str, object] = {}
    for column in ("queue", "exchange", "routing_key", "priority"):
        if row[column] not in (None, ""):
            options[column] = row[column]
    if row["expires"] is None and row["expire_seconds"] is not None:
        options["expires"] = int(row["expire_seconds"])
    headers = _json(row, "headers", "{}")
    if headers:
        options["headers"] = headers
    return options
