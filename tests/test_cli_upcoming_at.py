"""`sched upcoming` with one-off schedules (`at:`), from the files and from a running system:
a one-off to come is listed at its one time, one that is done as `done` (`"done": true`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from freezegun import freeze_time
from typer.testing import CliRunner

from scheduler.beat import Scheduler
from scheduler.cli import app
from scheduler.core.model import Misfire, Schedule
from scheduler.store import Store

runner = CliRunner()
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

FILE = """
schedules:
  launch:
    task: app.jobs:launch
    at: 2026-06-01T16:00:00
    timezone: Europe/Berlin
  migrated:
    task: app.jobs:migrate
    at: 2026-06-01T09:00:00Z
  hourly:
    task: app.jobs:tick
    every: 1h
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(FILE, encoding="utf-8")
    return path


@freeze_time("2026-06-01T12:00:00Z")
def test_upcoming_from_files_lists_a_future_one_off_once_and_a_past_one_as_done(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["upcoming", str(write(tmp_path)), "--count", "3"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "SCHEDULE  FIRE AT (LOCAL)                          UTC                   WHEN   OWNER",
        "hourly    2026-06-01 12:00:00 +0000 UTC            2026-06-01 12:00:00Z  now    files",
        "hourly    2026-06-01 13:00:00 +0000 UTC            2026-06-01 13:00:00Z  in 1h  files",
        "hourly    2026-06-01 14:00:00 +0000 UTC            2026-06-01 14:00:00Z  in 2h  files",
        "launch    2026-06-01 16:00:00 +0200 Europe/Berlin  2026-06-01 14:00:00Z  in 2h  files",
        "migrated  2026-06-01 09:00:00 +0000 UTC            2026-06-01 09:00:00Z  done   files",
    ]


@freeze_time("2026-06-01T12:00:00Z")
def test_upcoming_json_from_files_marks_a_past_one_off_done(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upcoming", str(write(tmp_path)), "--count", "1", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"schedule": "migrated", "fire_at": "2026-06-01T09:00:00+00:00",
         "fire_at_utc": "2026-06-01T09:00:00Z", "done": True, "owner": "files"},
        {"schedule": "hourly", "fire_at": "2026-06-01T12:00:00+00:00",
         "fire_at_utc": "2026-06-01T12:00:00Z", "owner": "files"},
        {"schedule": "launch", "fire_at": "2026-06-01T16:00:00+02:00",
         "fire_at_utc": "2026-06-01T14:00:00Z", "owner": "files"},
    ]  # fmt: skip


@freeze_time("2026-06-01T12:00:00Z")
def test_a_future_one_off_outside_the_window_is_not_listed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["upcoming", str(write(tmp_path)), "-s", "launch", "--from", "2026-06-02", "--json"]
    )
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def one_off(name: str, at: datetime, **fields: object) -> Schedule:
    return Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="Europe/Berlin",
                    at=at, **fields)  # type: ignore[arg-type]  # fmt: skip


def test_online_upcoming_shows_a_one_off_to_come_and_those_fired_or_missed_as_done(
    redis_url: str,
) -> None:
    schedules = [
        one_off("fired", T0 - timedelta(hours=1)),  # past on first sync: coalesce runs it
        one_off("missed", T0 - timedelta(hours=1), misfire=Misfire.SKIP),
        one_off("soon", T0 + timedelta(hours=2)),
    ]
    leader = Scheduler(Store(redis.Redis.from_url(redis_url)), {s.name: s for s in schedules})
    assert leader.elect(T0)
    assert leader.tick(T0) == 1
    with freeze_time("2026-06-01T12:00:30Z"):
        table = runner.invoke(app, ["upcoming", "--redis-url", redis_url])
        as_json = runner.invoke(app, ["upcoming", "--redis-url", redis_url, "--json"])
    assert table.stdout.splitlines() == [
        "SCHEDULE  FIRE AT (LOCAL)                          UTC                   WHEN       OWNER",
        "soon      2026-06-01 16:00:00 +0200 Europe/Berlin  2026-06-01 14:00:00Z  in 1h 59m  files",
        "fired     2026-06-01 13:00:00 +0200 Europe/Berlin  2026-06-01 11:00:00Z  done       files",
        "missed    2026-06-01 13:00:00 +0200 Europe/Berlin  2026-06-01 11:00:00Z  done       files",
    ]
    assert json.loads(as_json.stdout) == [
        {"schedule": "fired", "fire_at": "2026-06-01T13:00:00+02:00",
         "fire_at_utc": "2026-06-01T11:00:00Z", "done": True, "owner": "files"},
        {"schedule": "missed", "fire_at": "2026-06-01T13:00:00+02:00",
         "fire_at_utc": "2026-06-01T11:00:00Z", "done": True, "owner": "files"},
        {"schedule": "soon", "fire_at": "2026-06-01T16:00:00+02:00",
         "fire_at_utc": "2026-06-01T14:00:00Z", "owner": "files"},
    ]  # fmt: skip


def test_online_upcoming_lists_a_one_off_not_yet_dispatched_at_its_time(redis_url: str) -> None:
    leader = Scheduler(
        Store(redis.Redis.from_url(redis_url)), {"soon": one_off("soon", T0 + timedelta(hours=2))}
    )
    assert leader.elect(T0)
    leader.tick(T0)
    with freeze_time("2026-06-01T14:00:00Z"):  # due, and no leader has ticked yet
        as_json = runner.invoke(app, ["upcoming", "--redis-url", redis_url, "--json"])
    assert json.loads(as_json.stdout) == [
        {"schedule": "soon", "fire_at": "2026-06-01T16:00:00+02:00",
         "fire_at_utc": "2026-06-01T14:00:00Z", "owner": "files"},
    ]  # fmt: skip
