"""`sched import celery`: a Celery app's beat_schedule becomes schedules that fire at the
instants Celery's own schedule classes compute, or is refused entry by entry, by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from bisect import bisect
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import celery_beat_app
import pytest
from celery.schedules import crontab, crontab_parser, maybe_schedule

from scheduler.interop.cronfields import (
    CrontabSets,
    InexactError,
    cron_expression,
    field,
    parse_celery_field,
)
from scheduler.interop.imported import priority_from_celery

TESTS = Path(__file__).resolve().parent
START = datetime(2027, 1, 1, tzinfo=UTC)  # a multiple of every interval of the app
UNTIL = START + timedelta(days=365)
CAP = 10_000  # fire times `sched upcoming --until` lists per schedule
REFUSED = {
    "friday-the-13th": "Celery runs it on days that are both day_of_month 13 and day_of_week "
    "fri; sched's cron runs on either when both are restricted, and only whole weeks of the "
    "month (1-7, 8-14, 15-21, 22-28, 29-31) or a day of month written as */N can be "
    "combined with a weekday",
    "sunrise": "<solar: sunrise at latitude 52.52, longitude: 13.4> follows the sun (solar); "
    "sched's triggers are cron and intervals",
    "hourly-on-the-clock": "relative=True rounds its interval to the clock; sched's intervals "
    "are elapsed time",
    "dated-args": "args[0] is a datetime (datetime.datetime(2026, 1, 1, 0, 0, "
    "tzinfo=datetime.timezone.utc)), not a JSON value",
}


def sched(*args: str, cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHED_")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def celery_fires(entry: dict[str, Any]) -> list[datetime]:
    """Beat's walk: each fire time is the last plus Celery's ``remaining_estimate`` with
    the clock at the last one, starting as if beat started at START."""
    schedule = maybe_schedule(entry["schedule"], False, app=celery_beat_app.app)
    clock = [START]
    schedule.nowfun = lambda: clock[0]
    fires: list[datetime] = []
    last = START
    while len(fires) < CAP:
        clock[0] = last
        fire_at = (last + schedule.remaining_estimate(last)).astimezone(UTC)
        if fire_at > UNTIL:
            break
        fires.append(fire_at)
        last = fire_at
    return fires


def upcoming(path: Path) -> dict[str, list[datetime]]:
    after = START + timedelta(seconds=1)  # --from is inclusive; beat's first is after START
    done = sched("upcoming", str(path), "--json", "--from", after.isoformat(),
                 "--until", UNTIL.isoformat())  # fmt: skip
    assert done.returncode == 0, done.stderr
    by_name: dict[str, list[datetime]] = defaultdict(list)
    for row in json.loads(done.stdout):
        by_name[row["schedule"]].append(datetime.fromisoformat(row["fire_at_utc"]))
    return by_name


def test_the_imported_file_fires_at_celerys_instants_for_a_year(tmp_path: Path) -> None:
    out = tmp_path / "beat.yaml"
    done = sched("import", "celery", "celery_beat_app:app", "--skip-inexact", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert sched("validate", str(out)).stdout == "21 schedules in 1 file OK\n"
    fires = upcoming(out)
    entries = celery_beat_app.app.conf.beat_schedule
    names = {name.replace(" ", "-"): name for name in entries}
    compared = 0
    for name, source in names.items():
        if source in REFUSED or source == "disabled":
            assert name not in fires
            continue
        expected = celery_fires(entries[source])
        if source == "in-the-gap":
            # The one day they part, named in a warning: 02:30 in Berlin's spring-forward gap
            # runs at 03:30 CEST under Celery, at 03:00 CEST (the end of the gap) under sched.
            i = expected.index(datetime(2027, 3, 28, 1, 30, tzinfo=UTC))
            expected[i] = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
        assert fires[name] == expected, name
        compared += 1
    assert compared == 20
    assert len(fires["quarter-hourly"]) == CAP
    assert fires["leap-day"] == []  # 29 February: none in 2027, as under Celery


def test_entries_sched_cannot_reproduce_are_refused_by_name_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "beat.yaml"
    done = sched("import", "celery", "celery_beat_app:app", "-o", str(out))
    assert done.returncode == 1
    assert done.stdout == ""
    assert not out.exists()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        *(f"error: cannot import {name!r}: {reason}" for name, reason in REFUSED.items()),
        "error: 4 entries cannot be imported exactly; nothing written (--skip-inexact writes "
        "the others)",
    ]


def test_skip_inexact_leaves_them_out_with_a_warning_each_and_says_why_fields_changed() -> None:
    done = sched("import", "celery", "celery_beat_app:app", "--skip-inexact")
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "warning: 'tokyo-nowfun': its nowfun returns times in Asia/Tokyo, but this Celery "
        "reads the crontab in Europe/Berlin: imported in Europe/Berlin",
        "warning: 'in-the-gap': 02:30 falls in Europe/Berlin's spring-forward gap: that day "
        "Celery runs it the length of the gap later, sched at the end of the gap (02:30 runs "
        "at 03:30 under Celery, 03:00 under sched)",
        "warning: 'with options': named 'with-options' (sched names are 1-128 letters, "
        "digits, '-', '_', '.', unique)",
        "warning: 'with options': options.time_limit 120.5s is rounded to 121s (whole seconds)",
        "warning: 'with options': options.routing_key ('reports.daily') is not imported: "
        "sched has no such field (set it on the task or the queue in Celery)",
        *(f"warning: skipped {name!r}: {reason}" for name, reason in REFUSED.items()),
    ]
    assert done.stdout.startswith(
        "# Imported by `sched import` from the Celery app celery_beat_app:app (beat_schedule, "
        "time zone Europe/Berlin).\n"
    )
    assert (
        "  # Celery beat entry 'with options'\n"
        "  with-options:\n"
        "    celery_task: proj.tasks.export\n"
        '    cron: "0 5 * * *"\n'
        "    timezone: Europe/Berlin\n"
        "    args: [1, two, null]\n"
        "    kwargs: {fmt: csv, limits: {rows: 10}}\n"
        "    queue: reports\n"
        "    priority: 2\n"
        "    expires: 5m\n"
        "    timeout: 2m1s\n"
    ) in done.stdout
    assert "  every-90-minutes:\n    celery_task: proj.tasks.tick\n    every: 1h30m\n" in (
        done.stdout
    )


def test_disabled_writes_every_schedule_disabled_for_a_day_beside_beat(tmp_path: Path) -> None:
    out = tmp_path / "beat.yaml"
    done = sched("import", "celery", "celery_beat_app:app", "--skip-inexact", "--disabled",
                 "-o", str(out))  # fmt: skip
    assert done.returncode == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("    enabled: false\n") == 21
    assert upcoming(out) == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:app", "error: cannot import module 'no_such_module_xyz': No "
         "module named 'no_such_module_xyz' (is --app-dir the folder that holds it?)"),
        ("celery_beat_app:nope", "error: module 'celery_beat_app' has no attribute 'nope'"),
        ("celery_beat_app:tokyo_now", "error: 'celery_beat_app:tokyo_now' is a function, not "
         "a Celery app"),
        ("celery_beat_app", "error: 'celery_beat_app': name the app as MODULE:APP, e.g. "
         "proj.celery:app"),
    ],
)  # fmt: skip
def test_an_app_that_cannot_be_loaded_is_a_clear_error_without_a_traceback(
    spec: str, message: str
) -> None:
    done = sched("import", "celery", spec)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_app_dir_is_where_the_app_is_imported_from(tmp_path: Path) -> None:
    done = sched("import", "celery", "celery_beat_app:app", "--skip-inexact",
                 "--app-dir", str(TESTS), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0
    assert "  nightly:\n" in done.stdout


def sets(c: crontab) -> CrontabSets:
    return CrontabSets(frozenset(c.minute), frozenset(c.hour), frozenset(c.day_of_month),
                       frozenset(c.month_of_year), frozenset(c.day_of_week))  # fmt: skip


@pytest.mark.parametrize(
    ("celery", "utc_cron", "berlin_cron"),
    [
        (crontab(), "* * * * *", "0-59 0-23 * * *"),
        (crontab(minute="*/15"), "*/15 * * * *", "0-59/15 0-23 * * *"),
        (crontab(minute="5-50/15", hour="22-2"), "5-50/15 0-2,22,23 * * *",
         "5-50/15 0-2,22,23 * * *"),
        (crontab(minute=0, hour=0, day_of_week="sat-mon"), "0 0 * * 0,1,6", "0 0 * * 0,1,6"),
        (crontab(0, 0, day_of_month="1-7", day_of_week="mon,fri"), "0 0 * * 1#1,5#1",
         "0 0 * * 1#1,5#1"),
        (crontab(0, 0, day_of_month="8-21", day_of_week="tue"), "0 0 * * 2#2,2#3",
         "0 0 * * 2#2,2#3"),
        (crontab(0, 0, day_of_month="29-31", day_of_week="sun"), "0 0 * * 0#5", "0 0 * * 0#5"),
        (crontab(0, 0, day_of_month="*/3", day_of_week="wed"), "0 0 */3 * 3", "0 0 */3 * 3"),
        (crontab(0, 0, day_of_month="10-20", day_of_week="*/2"), "0 0 10-20 * */2",
         "0 0 10-20 * */2"),
        (crontab(0, 0, day_of_month="1-29", month_of_year=2, day_of_week="mon"),
         "0 0 * 2 1", "0 0 * 2 1"),
    ],
)  # fmt: skip
def test_crontab_sets_become_compact_cron_fields(
    celery: crontab, utc_cron: str, berlin_cron: str
) -> None:
    assert cron_expression(sets(celery), wall_clock=False) == utc_cron
    assert cron_expression(sets(celery), wall_clock=True) == berlin_cron


def test_days_that_are_no_whole_weeks_and_a_weekday_are_refused() -> None:
    with pytest.raises(InexactError, match="day_of_month 1-10"):
        cron_expression(sets(crontab(0, 0, day_of_month="1-10", day_of_week="mon")), False)


def test_a_field_is_written_as_a_step_only_where_the_step_is_exact() -> None:
    assert field({0, 20, 40}, 0, 59, star=True) == "*/20"
    assert field({0, 20, 40}, 0, 59, star=False) == "0-59/20"
    assert field({5, 25, 45}, 0, 59, star=True) == "5-45/20"
    assert field({1, 2, 3, 7, 9}, 0, 59, star=True) == "1-3,7,9"
    assert field({1, 2}, 0, 59, star=True) == "1,2"


@pytest.mark.parametrize(
    ("spec", "max_", "min_"),
    [("*", 60, 0), ("*/7", 60, 0), ("5-50/15", 60, 0), ("22-2", 24, 0), ("fri-mon", 7, 0),
     ("sat-tue/2", 7, 0), ("mon,wed-fri", 7, 0), ("jan-mar,nov", 12, 1), ("*/3", 31, 1),
     ("28-3", 31, 1), ("1,15,30", 31, 1), ("sunday", 7, 0)],
)  # fmt: skip
def test_the_own_crontab_parser_expands_as_celerys_does(spec: str, max_: int, min_: int) -> None:
    assert parse_celery_field(spec, max_, min_) == frozenset(crontab_parser(max_, min_).parse(spec))


def test_each_celery_priority_lands_in_the_same_kombu_list_as_before() -> None:
    from scheduler.core.celery import redis_priority

    kombu_steps = [0, 3, 6, 9]  # kombu's Redis Channel.priority_steps

    def kombu_list(celery_priority: int) -> int:
        return kombu_steps[bisect(kombu_steps, celery_priority) - 1]

    imported = [priority_from_celery(p) for p in range(10)]
    assert imported == [None, None, None, 4, 4, 4, 2, 2, 2, 0]
    assert [redis_priority(5 if p is None else p) for p in imported] == [
        kombu_list(p) for p in range(10)
    ]
