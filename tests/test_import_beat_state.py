"""`sched import celery --beat-state FILE`: intervals go on from the last runs a real
``celery beat`` recorded in its state file; crons need nothing; unreadable files are clear
errors."""

from __future__ import annotations

import json
import os
import shelve
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery.beat import ScheduleEntry
from test_failover import wait_for
from test_import_celery import TESTS, sched

from scheduler.interop.beat_state import read_beat_state

EVERY = timedelta(seconds=2)
GUIDE_LINE = (
    "# Each schedule hands its runs to a Celery worker (celery_task:); see "
    "docs/migrating-from-celery-beat.md.\n"
)


@pytest.fixture(scope="module")
def beat_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state file of a real ``celery beat`` that sent every-two-seconds twice or more
    (the name as given to ``celery beat -s``: dbm adds its suffixes)."""
    folder = tmp_path_factory.mktemp("beat")
    state, log = folder / "celerybeat-schedule", folder / "beat.log"
    command = [sys.executable, "-m", "celery", "-A", "celery_beat_state_app:app", "beat",
               "-s", str(state), "--max-interval", "1", "--loglevel", "INFO"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    with log.open("wb") as log_file:
        beat = subprocess.Popen(command, cwd=folder, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            sent = "Sending due task every-two-seconds"
            wait_for(lambda: log.read_text(encoding="utf-8").count(sent) >= 2, 30)
        finally:
            beat.send_signal(signal.SIGTERM)  # beat syncs its state file as it stops
            try:
                beat.wait(timeout=15)
            except subprocess.TimeoutExpired:
                beat.kill()
                beat.wait(timeout=5)
                raise
    yield state


def recorded(state: Path) -> dict[str, ScheduleEntry]:
    with shelve.open(str(state), flag="r") as shelf:
        return dict(shelf["entries"])


def ceil_second(value: datetime) -> datetime:
    whole = value.replace(microsecond=0)
    return whole + timedelta(seconds=1) if value.microsecond else whole


def test_an_interval_goes_on_from_the_last_run_beat_recorded_and_a_cron_needs_nothing(
    beat_state: Path, tmp_path: Path
) -> None:
    entries = recorded(beat_state)
    assert entries["every-two-seconds"].total_run_count >= 2
    last_run_at = entries["every-two-seconds"].last_run_at.astimezone(UTC)
    # Beat's next run is 2 s after its last, rounded up to the whole second (sched's unit).
    start = ceil_second(last_run_at) + EVERY
    out = tmp_path / "beat.yaml"
    done = sched("import", "celery", "celery_beat_state_app:app", "--beat-state",
                 str(beat_state), "-o", str(out))  # fmt: skip
    assert (done.returncode, done.stderr) == (0, f"wrote 2 schedules to {out}\n")
    assert out.read_text(encoding="utf-8") == (
        "# Imported by `sched import` from the Celery app celery_beat_state_app:app "
        "(beat_schedule, time zone Europe/Berlin) and the last runs in beat's state file "
        f"{beat_state}.\n"
        f"{GUIDE_LINE}"
        "schedules:\n"
        "  every-two-seconds:\n"
        "    celery_task: proj.tasks.tick\n"
        "    every: 2s\n"
        f"    start: '{start:%Y-%m-%dT%H:%M:%SZ}'\n"
        "  hourly:\n"
        "    celery_task: proj.tasks.report\n"
        '    cron: "0 0-23 * * *"\n'
        "    timezone: Europe/Berlin\n"
    )
    listed = sched("upcoming", str(out), "--json", "-s", "every-two-seconds",
                   "--from", last_run_at.isoformat(), "--until",
                   (last_run_at + 5 * EVERY).isoformat())  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    fires = [datetime.fromisoformat(row["fire_at_utc"]) for row in json.loads(listed.stdout)]
    assert fires == [ceil_second(last_run_at) + k * EVERY for k in range(1, 5)]


def test_an_interval_beat_has_no_entry_of_stays_counted_from_the_epoch_and_says_so(
    beat_state: Path,
) -> None:
    done = sched("import", "celery", "celery_beat_state_app:grown", "--beat-state",
                 str(beat_state))  # fmt: skip
    assert done.returncode == 0
    assert done.stderr == (
        f"warning: 'added-after-beat': beat's state file {beat_state} has no entry of that "
        "name: its interval counts from 1970-01-01T00:00:00Z, not from beat's last run\n"
    )
    assert "  added-after-beat:\n    celery_task: proj.tasks.tick\n    every: 1m\n  " in (
        done.stdout
    )
    assert done.stdout.count("    start: ") == 1  # every-two-seconds only


def test_without_beat_state_intervals_count_from_the_epoch_as_before() -> None:
    done = sched("import", "celery", "celery_beat_state_app:app")
    assert (done.returncode, done.stderr) == (0, "")
    assert "    start: " not in done.stdout
    assert "(beat_schedule, time zone Europe/Berlin).\n" in done.stdout


def write_state(path: Path, last_run_at: datetime, tz: str, utc_enabled: bool) -> None:
    """A state file as PersistentScheduler writes it, with one entry run at ``last_run_at``."""
    entry = ScheduleEntry(name="tick", task="proj.tasks.tick", schedule=2.0,
                          last_run_at=last_run_at, total_run_count=1)  # fmt: skip
    with shelve.open(str(path), flag="n") as shelf:
        shelf.update({"entries": {"tick": entry}, "__version__": "5.7.0", "tz": tz,
                      "utc_enabled": utc_enabled})  # fmt: skip


@pytest.mark.parametrize(
    ("last_run_at", "tz", "utc_enabled", "in_utc"),
    [
        # naive: beat's clock gave UTC when utc_enabled, else its tz's wall clock
        (datetime(2026, 7, 1, 12, 0, 0, 250_000), "Europe/Berlin", True,
         datetime(2026, 7, 1, 12, 0, 0, 250_000, tzinfo=UTC)),
        (datetime(2026, 7, 1, 12, 0, 0, 250_000), "Europe/Berlin", False,
         datetime(2026, 7, 1, 10, 0, 0, 250_000, tzinfo=UTC)),
        (datetime(2026, 1, 15, 9, 30), "America/New_York", False,
         datetime(2026, 1, 15, 14, 30, tzinfo=UTC)),
        # aware: its own offset, whatever the file's settings
        (datetime(2026, 7, 1, 21, 0, tzinfo=ZoneInfo("Asia/Tokyo")), "Europe/Berlin", False,
         datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_a_last_run_is_read_in_the_zone_beat_stored_it_in(
    tmp_path: Path, last_run_at: datetime, tz: str, utc_enabled: bool, in_utc: datetime
) -> None:
    path = tmp_path / "celerybeat-schedule"
    write_state(path, last_run_at, tz, utc_enabled)
    assert dict(read_beat_state(path).last_runs) == {"tick": in_utc}


def beat_state_error(state: str, cwd: Path = TESTS) -> str:
    done = sched("import", "celery", "celery_beat_state_app:app", "--beat-state", state, cwd=cwd)
    assert (done.returncode, done.stdout) == (1, "")
    return done.stderr


def test_a_missing_state_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "celerybeat-schedule"
    assert beat_state_error(str(missing)) == (
        f"error: --beat-state {missing}: no such file (name it as celery beat -s was given "
        "it, e.g. celerybeat-schedule)\n"
    )


def test_a_file_that_is_no_dbm_is_not_a_beat_state(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n", encoding="utf-8")
    assert beat_state_error(str(text)) == (
        f"error: --beat-state {text}: not a Celery beat state file (db type could not be "
        "determined)\n"
    )


def test_a_shelve_without_beats_keys_is_not_a_beat_state(tmp_path: Path) -> None:
    other = tmp_path / "other"
    with shelve.open(str(other), flag="n") as shelf:
        shelf["settings"] = {"a": 1}
    assert beat_state_error(str(other)) == (
        f"error: --beat-state {other}: not a Celery beat state file (it has no 'entries')\n"
    )


def test_a_state_named_with_dbms_suffix_says_to_name_it_as_beat_does(beat_state: Path) -> None:
    assert beat_state_error(f"{beat_state}.dat") == (
        f"error: --beat-state {beat_state}.dat: not a Celery beat state file (db type could "
        f"not be determined) (celery beat -s names it without the .dat dbm adds: "
        f"{beat_state})\n"
    )


def test_entries_that_cannot_be_unpickled_here_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "gone_schedules.py").write_text("class Every:\n    pass\n", encoding="utf-8")
    state = tmp_path / "celerybeat-schedule"
    sys.path.insert(0, str(tmp_path))
    try:
        from gone_schedules import Every  # type: ignore[import-not-found]

        with shelve.open(str(state), flag="n") as shelf:
            shelf.update({"entries": {"tick": Every()}, "__version__": "5.7.0"})
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gone_schedules", None)
    assert beat_state_error(str(state)) == (
        f"error: --beat-state {state}: cannot read it: ModuleNotFoundError: No module named "
        "'gone_schedules' (run sched import where the Celery app imports)\n"
    )
