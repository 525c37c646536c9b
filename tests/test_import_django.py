"""`sched import django-celery-beat`: a real database made by django-celery-beat's own
migrations, rows written through its own models, fire times compared with the Celery
schedule objects its models return (``PeriodicTask.schedule``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from test_failover import leader_pid, wait_for
from test_import_celery import sched

from scheduler.store import Store

START = datetime(2027, 1, 1, tzinfo=UTC)
UNTIL = START + timedelta(days=365)
CAP = 10_000

SETTINGS = """
SECRET_KEY = "only-for-tests"
INSTALLED_APPS = ["django_celery_beat"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

# Runs inside Django (a subprocess): the rows, through django-celery-beat's models, and
# then the oracle: each task's fire times from START, walked with its own schedule object.
ROWS = """
import json, sys, warnings
warnings.simplefilter("ignore")
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo
import django
django.setup()
from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule,
    PeriodicTask, SolarSchedule)

def cron(minute="*", hour="*", dom="*", month="*", dow="*", tz="UTC"):
    return CrontabSchedule.objects.create(minute=minute, hour=hour, day_of_month=dom,
        month_of_year=month, day_of_week=dow, timezone=ZoneInfo(tz))

def task(name, **fields):
    fields.setdefault("task", "proj.tasks.job")
    return PeriodicTask.objects.create(name=name, **fields)

S = IntervalSchedule.SECONDS
task("berlin-workdays", crontab=cron("30", "4", dow="1-5", tz="Europe/Berlin"))
task("new-york-long-nights", crontab=cron("0", "22-2", dow="fri-mon", tz="America/New_York"))
task("first-monday", crontab=cron("0", "9", dom="1-7", dow="1"))
task("friday-13th", crontab=cron("0", "9", dom="13", dow="5"))
task("from-february", crontab=cron("15", "*/4"),
     start_time=datetime(2027, 2, 1, 0, 15, tzinfo=UTC))
task("until-march", crontab=cron("0", "12"), expires=datetime(2027, 3, 1, 12, tzinfo=UTC))
task("every-minute", interval=IntervalSchedule.objects.create(every=60, period=S),
     last_run_at=datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC))
task("every-two-hours", interval=IntervalSchedule.objects.create(every=2, period="hours"))
task("every-1.5s", interval=IntervalSchedule.objects.create(every=1_500_000, period="microseconds"))
task("one-off", one_off=True,
     clocked=ClockedSchedule.objects.create(clocked_time=datetime(2027, 6, 1, 10, tzinfo=UTC)))
task("sunrise", solar=SolarSchedule.objects.create(event="sunrise", latitude=52.5,
     longitude=13.4))
task("once-hourly", one_off=True, interval=IntervalSchedule.objects.create(every=1,
     period="hours"))
task("weekly report (ops)", crontab=cron("0", "7", dow="mon"), queue="reports", priority=9,
     expire_seconds=30, headers='{"x": 1}', routing_key="ops", args="[1, 2]",
     kwargs='{"to": "ops@example.com"}', description="The weekly report")
task("switched-off", crontab=cron("0", "3"), enabled=False)

fires = {}
for row in PeriodicTask.objects.all():
    if row.solar_id or row.clocked_id or row.one_off or row.name in ("friday-13th", "every-1.5s"):
        continue
    schedule = row.schedule
    clock = [START := datetime(2027, 1, 1, tzinfo=UTC)]
    schedule.nowfun = lambda: clock[0]
    last, out = row.last_run_at or START, []
    while len(out) < 10000:
        clock[0] = last
        fire = (last + schedule.remaining_estimate(last)).astimezone(UTC)
        if fire > START + timedelta(days=365):
            break
        last = fire
        if fire <= START or (row.start_time and fire < row.start_time):
            continue
        if row.expires and fire >= row.expires:
            break
        out.append(fire.isoformat())
    fires[row.name] = out
json.dump(fires, sys.stdout)
"""


@pytest.fixture(scope="module")
def beat_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    """A django-celery-beat database, and Celery's fire times for its rows."""
    folder = tmp_path_factory.mktemp("django")
    db = folder / "beat.sqlite3"
    (folder / "beat_settings.py").write_text(SETTINGS.format(db=str(db)), encoding="utf-8")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "beat_settings", "PYTHONPATH": str(folder),
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    admin = Path(sys.executable).with_name("django-admin")
    subprocess.run([str(admin), "migrate", "-v", "0"], env=env, check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ROWS)],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return db, json.loads(done.stdout)


def upcoming(path: Path) -> dict[str, list[str]]:
    after = START + timedelta(seconds=1)
    done = sched("upcoming", str(path), "--json", "--from", after.isoformat(),
                 "--until", UNTIL.isoformat())  # fmt: skip
    assert done.returncode == 0, done.stderr
    by_name: dict[str, list[str]] = defaultdict(list)
    for row in json.loads(done.stdout):
        when = datetime.fromisoformat(row["fire_at_utc"]).isoformat()
        by_name[row["schedule"]].append(when)
    return by_name


REFUSED = [
    "error: cannot import 'every-1.5s': its interval is 1.5s; sched's are whole seconds, at "
    "least 1",
    "error: cannot import 'friday-13th': Celery runs it on days that are both day_of_month 13 "
    "and day_of_week fri; sched's cron runs on either when both are restricted, and only "
    "whole weeks of the month (1-7, 8-14, 15-21, 22-28, 29-31) or a day of month written as "
    "*/N can be combined with a weekday",
    "error: cannot import 'once-hourly': one_off: Celery runs it once, then disables it; "
    "sched has no one-off cron or interval (a clocked one-off imports)",
    "error: cannot import 'sunrise': its solar schedule follows the sun; sched's triggers are "
    "cron and intervals",
]


def test_the_imported_tasks_fire_at_the_instants_of_their_own_schedules(
    beat_db: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    db, celery = beat_db
    out = tmp_path / "beat.yaml"
    done = sched("import", "django-celery-beat", "--database-url", f"sqlite:///{db}",
                 "--skip-inexact", "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    fires = upcoming(out)
    for name in ("berlin-workdays", "new-york-long-nights", "first-monday", "from-february",
                 "until-march", "every-minute"):  # fmt: skip
        assert fires[name] == celery[name], name
    assert celery["from-february"][0] == "2027-02-01T00:15:00+00:00"
    assert celery["until-march"][-1] == "2027-02-28T12:00:00+00:00"
    assert fires["every-minute"][:2] == ["2027-01-01T00:00:30+00:00", "2027-01-01T00:01:30+00:00"]
    assert fires["weekly-report-ops"] == celery["weekly report (ops)"]
    assert fires["one-off"] == ["2027-06-01T10:00:00+00:00"]
    assert "switched-off" not in fires


def test_each_row_is_written_with_the_fields_that_keep_its_meaning(
    beat_db: tuple[Path, dict[str, list[str]]],
) -> None:
    db, _ = beat_db
    done = sched("import", "django-celery-beat", "--database-url", f"sqlite:///{db}",
                 "--skip-inexact")  # fmt: skip
    assert done.returncode == 0
    with sqlite3.connect(db) as conn:
        changed = conn.execute(
            "SELECT date_changed FROM django_celery_beat_periodictask WHERE name = ?",
            ("every-two-hours",),
        ).fetchone()[0]
    anchor = datetime.fromisoformat(changed).replace(tzinfo=UTC, microsecond=0)
    anchor += timedelta(seconds=1, hours=2)  # beat: 2h after its last change, whole seconds
    for block in [
        "  every-minute:\n    celery_task: proj.tasks.job\n    every: 1m\n"
        "    start: '2027-01-01T00:00:30Z'\n",
        "  every-two-hours:\n    celery_task: proj.tasks.job\n    every: 2h\n"
        f"    start: '{anchor.strftime('%Y-%m-%dT%H:%M:%SZ')}'\n",
        '  one-off:\n    celery_task: proj.tasks.job\n    cron: "0 0 10 1 6 *"\n'
        "    start: '2027-06-01T10:00:00Z'\n    end: '2027-06-01T10:00:01Z'\n",
        '  until-march:\n    celery_task: proj.tasks.job\n    cron: "0 12 * * *"\n'
        "    end: '2027-03-01T11:59:59Z'\n",
        '  switched-off:\n    celery_task: proj.tasks.job\n    cron: "0 3 * * *"\n'
        "    enabled: false\n",
        "  # Celery beat entry 'weekly report (ops)'\n  weekly-report-ops:\n"
        '    celery_task: proj.tasks.job\n    cron: "0 7 * * 1"\n    args: [1, 2]\n'
        "    kwargs: {to: ops@example.com}\n    queue: reports\n    priority: 0\n"
        '    expires: 30s\n    description: "The weekly report"\n',
    ]:
        assert block in done.stdout
    assert done.stderr.splitlines()[:3] == [
        "warning: 'weekly report (ops)': named 'weekly-report-ops' (sched names are 1-128 "
        "letters, digits, '-', '_', '.', unique)",
        "warning: 'weekly report (ops)': options.headers ({'x': 1}) is not imported: sched has "
        "no such field (set it on the task or the queue in Celery)",
        "warning: 'weekly report (ops)': options.routing_key ('ops') is not imported: sched "
        "has no such field (set it on the task or the queue in Celery)",
    ]
    assert [line.replace("warning: skipped", "error: cannot import")
            for line in done.stderr.splitlines()[3:]] == REFUSED  # fmt: skip


def test_rows_sched_cannot_reproduce_are_refused_by_name(
    beat_db: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    db, _ = beat_db
    out = tmp_path / "beat.yaml"
    done = sched("import", "django-celery-beat", "--database-url", f"sqlite:///{db}",
                 "-o", str(out))  # fmt: skip
    assert (done.returncode, done.stdout, out.exists()) == (1, "", False)
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        *REFUSED,
        "error: 4 entries cannot be imported exactly; nothing written (--skip-inexact writes "
        "the others)",
    ]


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("mysql://h/db", 2, "error: --database-url: 'mysql://h/db' is neither sqlite:///path "
         "nor postgresql://user:password@host/name"),
        ("sqlite:///no/such.sqlite3", 1, "error: no/such.sqlite3: no such database file"),
    ],
)  # fmt: skip
def test_a_database_that_cannot_be_read_is_a_clear_error(url: str, code: int, message: str) -> None:
    done = sched("import", "django-celery-beat", "--database-url", url)
    assert (done.returncode, done.stdout, done.stderr) == (code, "", message + "\n")


def test_a_sqlite_file_without_the_tables_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    done = sched("import", "django-celery-beat", "--database-url", f"sqlite:///{empty}")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: {empty}: cannot read django-celery-beat's tables: no such table: "
        "django_celery_beat_periodictask\n"
    )


# Rows whose beat state is a few seconds old when the test runs (Django, as above).
RECENT_ROWS = """
import json, sys, warnings
warnings.simplefilter("ignore")
from datetime import UTC, datetime, timedelta
import django
django.setup()
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

now = datetime.now(UTC).replace(microsecond=0)
minute = now.replace(second=0)
PeriodicTask.objects.all().delete()
PeriodicTask.objects.create(name="beat-interval", task="proj.tasks.job",
    interval=IntervalSchedule.objects.create(every=10, period="seconds"),
    last_run_at=now - timedelta(seconds=7))
PeriodicTask.objects.create(name="beat-cron", task="proj.tasks.job",
    crontab=CrontabSchedule.objects.create(minute="*", hour="*", day_of_week="*",
        day_of_month="*", month_of_year="*", timezone="UTC"),
    last_run_at=minute)
json.dump({"interval_last": (now - timedelta(seconds=7)).isoformat(),
           "cron_last": minute.isoformat()}, sys.stdout)
"""


def handed(store: Store) -> list[tuple[str, int]]:
    """(schedule, fire ms) of every Celery message waiting on the ``celery`` queue's lists."""
    found = []
    for key in ("celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"):
        for raw in store.client.lrange(key, 0, -1):
            run_id = json.loads(raw)["headers"]["sched_run_id"]
            name, _, fire_ms = run_id.rpartition("@")
            found.append((name, int(fire_ms)))
    return found


def test_a_real_scheduler_continues_beats_cadence_and_replays_no_run_beat_made(
    beat_db: tuple[Path, dict[str, list[str]]], tmp_path: Path, redis_url: str
) -> None:
    db = tmp_path / "beat.sqlite3"
    shutil.copy(beat_db[0], db)
    (tmp_path / "recent_settings.py").write_text(SETTINGS.format(db=str(db)), encoding="utf-8")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recent_settings",
           "PYTHONPATH": str(tmp_path), "PYTHONWARNINGS": "ignore"}  # fmt: skip
    made = subprocess.run([sys.executable, "-c", textwrap.dedent(RECENT_ROWS)], env=env,
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    beat = {k: datetime.fromisoformat(v) for k, v in json.loads(made.stdout).items()}
    out = tmp_path / "beat.yaml"
    done = sched("import", "django-celery-beat", "--database-url", f"sqlite:///{db}",
                 "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    store = Store(redis.Redis.from_url(redis_url))
    started_ms = int(time.time() * 1000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "scheduler", str(out), "--redis-url", redis_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: leader_pid(store) == proc.pid, 15)
        wait_for(lambda: any(name == "beat-interval" for name, _ in handed(store)), 20)
        states = store.reads.states(["beat-cron"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    ms = 1000
    interval_fires = sorted(ms for name, ms in handed(store) if name == "beat-interval")
    last_ms = int(beat["interval_last"].timestamp()) * ms
    first = interval_fires[0]
    # On beat's cadence (10 s after its last run, then every 10 s), from the first such time
    # after the scheduler started: no catch-up run for a time before it, none replayed.
    assert (first - last_ms) % (10 * ms) == 0
    assert started_ms < first <= started_ms + 10 * ms + 5 * ms
    assert interval_fires == list(range(first, first + len(interval_fires) * 10 * ms, 10 * ms))
    cron_fires = [ms for name, ms in handed(store) if name == "beat-cron"]
    assert all(f > int(beat["cron_last"].timestamp()) * ms for f in cron_fires)
    assert states["beat-cron"].next_ms is not None
    assert states["beat-cron"].next_ms > int(beat["cron_last"].timestamp()) * ms
