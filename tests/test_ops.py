"""Operator commands against a real Redis: pause, resume, trigger, backfill, plan, online
upcoming. Actions take explicit instants; CLI runs freeze the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from freezegun import freeze_time
from typer.testing import CliRunner

from scheduler import ops
from scheduler.beat import Scheduler
from scheduler.cli import app
from scheduler.core.instants import to_ms
from scheduler.core.model import Schedule
from scheduler.store import Store

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def minutely(name: str = "m", **fields: object) -> Schedule:
    return Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="Europe/Berlin",
                    every_s=60, **fields)  # type: ignore[arg-type]  # fmt: skip


def leading(url: str, *schedules: Schedule) -> Scheduler:
    leader = Scheduler(store(url), {s.name: s for s in schedules})
    assert leader.elect(T0)
    leader.tick(T0)
    return leader


def fire_times(s: Store) -> list[str]:
    return [m.fire_at for m in s.reads.queued_runs("default")]


def test_a_paused_schedule_is_not_dispatched_and_resume_counts_what_passed(redis_url: str) -> None:
    leader = leading(redis_url, minutely())
    s = store(redis_url)
    assert ops.pause(s, "m", T0 + timedelta(seconds=10))
    assert not ops.pause(s, "m", T0 + timedelta(seconds=20))  # already paused
    for minute in range(1, 11):
        assert leader.tick(T0 + timedelta(minutes=minute)) == 0
    resumed = ops.resume(s, "m", T0 + timedelta(minutes=10, seconds=30))
    # 12:01 .. 12:10 passed while paused: ten fire times, recorded as missed, none run.
    assert (resumed.changed, resumed.missed) == (True, 10)
    assert resumed.next_fire == T0 + timedelta(minutes=11)
    state = s.reads.states(["m"])["m"]
    last_missed_ms = to_ms(T0 + timedelta(minutes=10))
    assert (state.paused, state.missed, state.last_missed_ms) == (False, 10, last_missed_ms)
    assert fire_times(s) == []
    assert leader.tick(T0 + timedelta(minutes=11)) == 1
    assert fire_times(s) == ["2026-06-01T12:11:00.000Z"]
    assert [e.event for e in s.reads.history("m")] == ["resumed", "paused"]
    shown = CliRunner().invoke(app, ["history", "m", "--redis-url", redis_url]).stdout
    assert shown.splitlines()[1].split() == [
        "2026-06-01T12:10:30Z", "resumed", "10", "fire", "time(s)", "missed", "while", "paused",
    ]  # fmt: skip


def test_trigger_enqueues_one_run_now_and_leaves_the_timeline_alone(redis_url: str) -> None:
    leading(redis_url, minutely())
    s = store(redis_url)
    before = s.reads.states(["m"])["m"]
    run_id = ops.trigger(s, "m", T0 + timedelta(seconds=5))
    assert run_id.startswith(f"m@trigger-{to_ms(T0 + timedelta(seconds=5))}-")
    [message] = s.reads.queued_runs("default")
    assert (message.run_id, message.origin, message.fire_at) == (
        run_id, "trigger", "2026-06-01T12:00:05.000Z",
    )  # fmt: skip
    after = s.reads.states(["m"])["m"]
    assert (after.next_ms, after.due_ms, after.runs) == (before.next_ms, before.due_ms, before.runs)
    assert ops.trigger(s, "m", T0 + timedelta(seconds=5)) != run_id


def test_backfill_enqueues_each_past_fire_time_once_even_when_repeated(redis_url: str) -> None:
    leading(redis_url, minutely())
    s = store(redis_url)
    first = ops.backfill(s, "m", T0 - timedelta(minutes=3), T0 - timedelta(minutes=1), T0)
    assert first.enqueued == [f"m@backfill-{to_ms(T0 - timedelta(minutes=n))}" for n in (3, 2, 1)]
    again = ops.backfill(s, "m", T0 - timedelta(minutes=4), T0 - timedelta(minutes=1), T0)
    assert (len(again.enqueued), again.already) == (1, 3)
    assert sorted(fire_times(s)) == [
        "2026-06-01T11:56:00.000Z", "2026-06-01T11:57:00.000Z", "2026-06-01T11:58:00.000Z",
        "2026-06-01T11:59:00.000Z",
    ]  # fmt: skip
    assert {m.origin for m in s.reads.queued_runs("default")} == {"backfill"}


def test_backfill_refuses_the_future_and_huge_ranges(redis_url: str) -> None:
    leading(redis_url, minutely())
    with pytest.raises(ops.BackfillError, match="is in the future; backfill is for the past"):
        ops.backfill(store(redis_url), "m", T0, T0 + timedelta(minutes=1), T0)
    with pytest.raises(ops.BackfillError, match="holds more than 10000 fire times; backfill at"):
        ops.backfill(store(redis_url), "m", T0 - timedelta(days=10), T0, T0)
    # Bounded however large the range: a century of minutes is refused at once.
    with pytest.raises(ops.BackfillError, match="holds more than 10000 fire times"):
        ops.backfill(store(redis_url), "m", T0 - timedelta(days=36000), T0, T0)


def test_backfill_leaves_out_fire_times_past_expires_unless_told_to_ignore_it(
    redis_url: str,
) -> None:
    leading(redis_url, Schedule(name="x", task="scheduler.tasks:heartbeat", timezone="UTC",
                                every_s=60, expires_s=150))  # fmt: skip
    s = store(redis_url)
    # 11:55 .. 11:59 at 12:00: only 11:58 and 11:59 are within their 150 s to start.
    done = ops.backfill(s, "x", T0 - timedelta(minutes=5), T0 - timedelta(minutes=1), T0)
    assert (len(done.enqueued), done.expiring) == (2, 3)
    forced = ops.backfill(s, "x", T0 - timedelta(minutes=5), T0 - timedelta(minutes=1), T0,
                          ignore_expires=True)  # fmt: skip
    assert (len(forced.enqueued), forced.already, forced.expiring) == (3, 2, 0)
    late = [m for m in s.reads.queued_runs("default") if m.fire_at < "2026-06-01T11:58"]
    assert len(late) == 3 and all(m.expires_at is None for m in late)


def test_operator_commands_name_an_unknown_schedule_with_a_suggestion(redis_url: str) -> None:
    leading(redis_url, minutely("nightly"))
    result = runner.invoke(app, ["pause", "nighty", "--redis-url", redis_url])
    assert result.exit_code == 2
    assert result.stderr == "error: no schedule named 'nighty' in Redis; did you mean 'nightly'?\n"


@freeze_time("2026-06-01T12:00:30Z")
def test_the_cli_pauses_resumes_triggers_and_backfills(redis_url: str) -> None:
    leading(redis_url, minutely())
    url = ["--redis-url", redis_url]
    assert runner.invoke(app, ["pause", "m", *url]).stdout == "m: paused\n"
    assert runner.invoke(app, ["pause", "m", *url]).stdout == "m: already paused\n"
    assert runner.invoke(app, ["resume", "m", *url]).stdout == (
        "m: resumed; next fire 2026-06-01T12:01:00Z; 0 missed while paused\n"
    )
    assert runner.invoke(app, ["trigger", "m", *url]).stdout.startswith("m: enqueued m@trigger-")
    done = runner.invoke(app, ["backfill", "m", "--from", "2026-06-01T11:58:00Z",
                               "--until", "2026-06-01T11:59:00Z", *url])  # fmt: skip
    assert done.stdout == "m: enqueued 2 runs; 0 already backfilled\n"
    future = runner.invoke(app, ["backfill", "m", "--from", "2026-06-01T12:00:00Z",
                                 "--until", "2026-06-01T13:00:00Z", *url])  # fmt: skip
    assert future.exit_code == 2
    assert future.stderr == (
        "error: --until 2026-06-01T13:00:00.000Z is in the future; backfill is for the past\n"
    )


def test_plan_shows_what_a_sync_would_change_and_exits_3(redis_url: str, tmp_path: Path) -> None:
    leading(redis_url, minutely("keep"), minutely("edit"), minutely("drop"))
    path = tmp_path / "s.yaml"
    common = "task: scheduler.tasks:heartbeat, timezone: Europe/Berlin"
    path.write_text(
        "schedules:\n"
        f"  keep: {{{common}, every: 60}}\n"
        f"  edit: {{{common}, every: 60, queue: fast}}\n"
        f"  new: {{{common}, cron: '0 * * * *'}}\n"
        f"  idle: {{{common}, every: 90, enabled: false}}\n",
        encoding="utf-8",
    )
    with freeze_time("2026-06-01T12:00:30Z"):
        result = runner.invoke(app, ["plan", str(path), "--redis-url", redis_url])
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        "- drop: no longer in the files; next fire -",
        "~ edit: queue: default -> fast (next fire kept); next fire 2026-06-01T12:01:00Z",
        "+ idle: every 1m30s, disabled; next fire -",
        "+ new: cron '0 * * * *'; next fire 2026-06-01T13:00:00Z",
        "2 added, 1 removed, 1 changed",
    ]
    path.write_text(
        f"schedules:\n  keep: {{{common}, every: 60}}\n  edit: {{{common}, every: 60}}\n"
        f"  drop: {{{common}, every: 60}}\n",
        encoding="utf-8",
    )
    unchanged = runner.invoke(app, ["plan", str(path), "--redis-url", redis_url])
    assert (unchanged.exit_code, unchanged.stdout) == (0, "no changes\n")


def test_online_upcoming_reads_redis_state_and_marks_paused(redis_url: str) -> None:
    leading(redis_url, minutely("a"), minutely("b"))
    ops.pause(store(redis_url), "b", T0)
    with freeze_time("2026-06-01T12:00:30Z"):
        table = runner.invoke(app, ["upcoming", "--redis-url", redis_url, "--count", "1"])
        as_json = runner.invoke(app, ["upcoming", "--redis-url", redis_url, "--count", "2",
                                      "--json"])  # fmt: skip
    assert table.stdout.splitlines() == [
        "SCHEDULE  FIRE AT (LOCAL)                          UTC                   WHEN    OWNER",
        "a         2026-06-01 14:01:00 +0200 Europe/Berlin  2026-06-01 12:01:00Z  in 30s  files",
        "b         paused                                   -                     -       files",
    ]
    assert json.loads(as_json.stdout) == [
        {"schedule": "a", "fire_at": "2026-06-01T14:01:00+02:00",
         "fire_at_utc": "2026-06-01T12:01:00Z", "owner": "files"},
        {"schedule": "a", "fire_at": "2026-06-01T14:02:00+02:00",
         "fire_at_utc": "2026-06-01T12:02:00Z", "owner": "files"},
    ]  # fmt: skip


def test_online_upcoming_names_each_schedules_owner_in_the_table_and_the_json(
    redis_url: str,
) -> None:
    leading(redis_url, minutely("file", source="s.yaml:7"))
    for name in ("api", "held"):
        ops.schedules.add(store(redis_url), name, {"task": "scheduler.tasks:heartbeat",
                                                   "every": "1h"}, T0)  # fmt: skip
    ops.pause(store(redis_url), "held", T0)
    url = ["--redis-url", redis_url, "--count", "1"]
    with freeze_time(T0):
        table = runner.invoke(app, ["upcoming", *url])
        as_json = runner.invoke(app, ["upcoming", *url, "--json"])
    assert table.stdout.splitlines() == [
        "SCHEDULE  FIRE AT (LOCAL)                          UTC                   WHEN   OWNER",
        "file      2026-06-01 14:01:00 +0200 Europe/Berlin  2026-06-01 12:01:00Z  in 1m  files",
        "api       2026-06-01 13:00:00 +0000 UTC            2026-06-01 13:00:00Z  in 1h  api",
        "held      paused                                   -                     -      api",
    ]
    assert json.loads(as_json.stdout) == [
        {"schedule": "file", "fire_at": "2026-06-01T14:01:00+02:00",
         "fire_at_utc": "2026-06-01T12:01:00Z", "owner": "files"},
        {"schedule": "api", "fire_at": "2026-06-01T13:00:00+00:00",
         "fire_at_utc": "2026-06-01T13:00:00Z", "owner": "api"},
    ]  # fmt: skip


def test_state_of_an_unknown_version_fails_with_a_clear_error(redis_url: str) -> None:
    leading(redis_url, minutely("m"))
    s = store(redis_url)
    s.client.hset(s.keys.defs, "m", json.dumps({"v": 99, "kind": "definition"}))
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "status", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "error: stored definition has version 99; this sched reads version 1. "
        "Upgrade sched, or use a fresh namespace (--namespace)\n"
    )


def test_history_dead_and_status_print_one_format_in_the_zone_asked_for(redis_url: str) -> None:
    leader = leading(redis_url, minutely())
    leader.tick(T0 + timedelta(minutes=1))
    s = store(redis_url)
    assert ops.pause(s, "m", T0 + timedelta(minutes=1, seconds=5))
    url = ["--redis-url", redis_url]
    utc = runner.invoke(app, ["history", "m", *url]).stdout.splitlines()[1]
    assert utc.split()[:2] == ["2026-06-01T12:01:05Z", "paused"]
    berlin = runner.invoke(app, ["history", "m", *url, "--tz", "Europe/Berlin"]).stdout
    assert berlin.splitlines()[1].split()[:2] == ["2026-06-01T14:01:05+02:00", "paused"]
    shown = runner.invoke(app, ["status", *url, "--tz", "Europe/Berlin"]).stdout
    assert "m (paused): next 2026-06-01T14:02:00+02:00, runs 1, missed 0" in shown
    wrong = runner.invoke(app, ["status", *url, "--tz", "Europe/Berln"])
    assert wrong.exit_code == 2
    assert "did you mean 'Europe/Berlin'?" in " ".join(wrong.stderr.replace("│", " ").split())


def test_status_names_each_schedules_owner_and_where_the_files_define_it(redis_url: str) -> None:
    leading(redis_url, minutely("from-file", source="s.yaml:7"), minutely("no-line"))
    ops.schedules.add(store(redis_url), "from-api", {"task": "scheduler.tasks:heartbeat",
                                                     "every": "1h"}, T0)  # fmt: skip
    url = ["--redis-url", redis_url]
    with freeze_time(T0):
        rows = json.loads(runner.invoke(app, ["status", *url, "--json"]).stdout)["schedules"]
        text = runner.invoke(app, ["status", *url]).stdout.splitlines()
    assert [(r["schedule"], r["owner"], r["source"]) for r in rows] == [
        ("from-api", "api", "api"), ("from-file", "files", "s.yaml:7"),
        ("no-line", "files", "files")]  # fmt: skip
    assert set(rows[0]) == {"schedule", "paused", "next_fire_at", "last_fire_at", "runs",
                            "missed", "last_missed_at", "owner", "source"}  # fmt: skip
    assert text[1:4] == [
        "from-api: next 2026-06-01T13:00:00Z, runs 0, missed 0, owner api",
        "from-file: next 2026-06-01T12:01:00Z, runs 0, missed 0, owner files (s.yaml:7)",
        "no-line: next 2026-06-01T12:01:00Z, runs 0, missed 0, owner files",
    ]
