"""Celery beat's state file (``celerybeat-schedule``): when beat last ran each entry.

``celery.beat.PersistentScheduler`` keeps a ``shelve``: ``'entries'`` maps each entry's name
to its pickled ``ScheduleEntry`` (so reading it imports Celery and the modules the app's
schedules come from), beside ``'tz'`` (the app's ``timezone``), ``'utc_enabled'`` and
``'__version__'``. The dbm module adds its own suffixes (``.db``, or ``.dat``, ``.dir`` and
``.bak``), so the path is the one ``celery beat -s`` was given, as beat takes it. It is
opened read-only.

An entry holds ``last_run_at`` from the moment beat first sees it (beat's start, until it
runs), and beat's clock each time it sends the task; beat's next run of an interval is
``run_every`` after it. Celery 5 stores it aware (in the app's zone or UTC). A naive one
(an older Celery, or a ``nowfun`` that returns naive times) is read in the zone beat's
clock gave it: UTC when the file says ``utc_enabled``, else the file's ``tz`` (the host's
zone where it names none).
"""

from __future__ import annotations

import dbm
import shelve
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from scheduler.core.zones import ZoneNameError, zone
from scheduler.errors import SchedError

# What dbm's modules add to the name they are given (dumb: .dat/.dir/.bak, ndbm: .db or
# .pag/.dir); beat's own list is PersistentScheduler.known_suffixes.
SUFFIXES = ("", ".db", ".dat", ".dir", ".pag", ".bak")
KEYS = ("entries", "__version__")


class BeatStateError(SchedError):
    """A beat state file that cannot be opened, or that is not one."""


@dataclass(frozen=True)
class BeatState:
    path: Path
    last_runs: Mapping[str, datetime]  # entry name -> its last run, UTC


def read_beat_state(path: Path) -> BeatState:
    """Each entry's ``last_run_at`` in the beat state file named ``path``, in UTC."""
    where = f"--beat-state {path}"
    if not any(Path(f"{path}{suffix}").is_file() for suffix in SUFFIXES):
        raise BeatStateError(f"{where}: no such file (name it as celery beat -s was given "
                             "it, e.g. celerybeat-schedule)")  # fmt: skip
    stored = _stored(path, where)
    missing = [key for key in KEYS if key not in stored]
    if missing:
        raise BeatStateError(f"{where}: not a Celery beat state file (it has no "
                             f"{missing[0]!r}){_hint(path)}")  # fmt: skip
    entries = stored["entries"]
    if not isinstance(entries, Mapping):
        raise BeatStateError(f"{where}: not a Celery beat state file (its entries are a "
                             f"{type(entries).__name__})")  # fmt: skip
    naive_zone = _naive_zone(where, stored.get("tz"), stored.get("utc_enabled") is not False)
    last_runs = {}
    for name, entry in entries.items():
        last_run_at = getattr(entry, "last_run_at", None)
        if isinstance(name, str) and isinstance(last_run_at, datetime):
            last_runs[name] = _as_utc(last_run_at, naive_zone)
    return BeatState(path, last_runs)


def _stored(path: Path, where: str) -> dict[str, object]:
    """The keys beat writes, as stored (unpickled)."""
    try:
        with shelve.open(str(path), flag="r") as state:
            return {key: state[key] for key in (*KEYS, "tz", "utc_enabled") if key in state}
    except (*dbm.error, OSError) as exc:
        raise BeatStateError(
            f"{where}: not a Celery beat state file ({exc}){_hint(path)}"
        ) from None
    except Exception as exc:  # unpickling runs what the file names: any error is the file's
        raise BeatStateError(f"{where}: cannot read it: {type(exc).__name__}: {exc} (run "
                             "sched import where the Celery app imports)") from None  # fmt: skip


def _hint(path: Path) -> str:
    if path.suffix in SUFFIXES[1:] and not Path(f"{path}{path.suffix}").exists():
        return (
            f" (celery beat -s names it without the {path.suffix} dbm adds: {path.with_suffix('')})"
        )
    return ""


def _naive_zone(where: str, tz: object, utc_enabled: bool) -> tzinfo | None:
    """The zone of a naive ``last_run_at``; None for the host's."""
    if utc_enabled:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if not tz:
        return None
    try:
        return zone(str(tz))
    except ZoneNameError as exc:
        raise BeatStateError(f"{where}: its time zone {tz!r}: {exc}") from None


def _as_utc(value: datetime, naive_zone: tzinfo | None) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.astimezone() if naive_zone is None else value.replace(tzinfo=naive_zone)
    return value.astimezone(UTC)
