"""`sched validate` and `sched upcoming`: output formats and exit codes are contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time
from typer.testing import CliRunner

from scheduler.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent

BERLIN = """
schedules:
  nightly:
    task: app.jobs:nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
  tick:
    task: app.jobs:tick
    every: 1h
  paused:
    task: app.jobs:tick
    every: 1m
    enabled: false
"""


def write(tmp_path: Path, text: str = BERLIN, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_summarises_valid_files(tmp_path: Path) -> None:
    write(tmp_path)
    write(tmp_path, "schedules:\n  x: {task: a:b, every: 5}\n", "more.yml")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (0, "4 schedules in 2 files OK\n")


def test_validate_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "schedules:\n  a: {task: a:b, every: 0}\n  b: {task: nope, every: 5}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:2:25: schedules.a.every: must be at least 1s, got '0'",
        f"{path}:3:13: schedules.b.task: 'nope' is not a task reference; "
        "write module.path:callable",
    ]
    assert result.stderr == "2 problems in 1 file(s)\n"


def test_validate_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope.yaml'}: no such file or directory\n"


def test_validate_check_imports_reports_missing_and_uncallable_tasks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "schedules:\n"
        "  ok: {task: scheduler.tasks:heartbeat, every: 5}\n"
        "  gone: {task: no_such_module_xyz:run, every: 5}\n"
        "  attr: {task: scheduler.tasks:nothing_here, every: 5}\n"
        "  value: {task: scheduler.config:MAX_NODES, every: 5}\n",
    )
    result = runner.invoke(app, ["validate", "--check-imports", str(path)])
    assert result.exit_code == 1
    assert sorted(result.stdout.splitlines()) == [
        f"{path}:3: schedules.gone.task: cannot import module 'no_such_module_xyz': "
        "No module named 'no_such_module_xyz'",
        f"{path}:4: schedules.attr.task: module 'scheduler.tasks' has no attribute 'nothing_here'",
        f"{path}:5: schedules.value.task: 'scheduler.config:MAX_NODES' is not callable",
    ]


def test_validate_check_imports_binds_args_and_kwargs_to_the_task_signature(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "schedules:\n"
        "  fits: {task: worker_tasks:fail, every: 5, args: [ValueError], kwargs: {message: m}}\n"
        "  many: {task: worker_tasks:hang, every: 5, args: [1, 2]}\n"
        "  named: {task: worker_tasks:hang, every: 5, kwargs: {secs: 1}}\n"
        "  missing: {task: worker_tasks:append_line, every: 5}\n",
    )
    result = runner.invoke(app, ["validate", "--check-imports", str(path)])
    assert result.exit_code == 1
    assert sorted(result.stdout.splitlines()) == [
        f"{path}:3: schedules.many.args: the arguments do not fit "
        "worker_tasks:hang(seconds=3600): too many positional arguments",
        f"{path}:4: schedules.named.kwargs: the arguments do not fit "
        "worker_tasks:hang(seconds=3600): got an unexpected keyword argument 'secs'",
        f"{path}:5: schedules.missing.args: the arguments do not fit "
        "worker_tasks:append_line(path, seconds=0.0): missing a required argument: 'path'",
    ]


def test_the_example_schedules_are_valid_and_their_tasks_import() -> None:
    result = runner.invoke(app, ["validate", "--check-imports", str(REPO / "schedules")])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.endswith(" OK\n")


def test_upcoming_json_is_the_documented_contract(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = runner.invoke(
        app,
        ["upcoming", str(path), "--json", "--count", "2", "--from", "2026-03-28T00:30:00Z"],
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"schedule": "tick", "fire_at": "2026-03-28T01:00:00+00:00",
         "fire_at_utc": "2026-03-28T01:00:00Z", "owner": "files"},
        {"schedule": "nightly", "fire_at": "2026-03-28T02:30:00+01:00",
         "fire_at_utc": "2026-03-28T01:30:00Z", "owner": "files"},
        {"schedule": "tick", "fire_at": "2026-03-28T02:00:00+00:00",
         "fire_at_utc": "2026-03-28T02:00:00Z", "owner": "files"},
        {"schedule": "nightly", "fire_at": "2026-03-29T03:00:00+02:00",
         "fire_at_utc": "2026-03-29T01:00:00Z", "owner": "files"},
    ]  # fmt: skip


def test_upcoming_json_sorts_same_instant_by_schedule_name(tmp_path: Path) -> None:
    path = write(
        tmp_path, "schedules:\n  b: {task: a:b, every: 1h}\n  a: {task: a:b, cron: '0 * * * *'}\n"
    )
    result = runner.invoke(
        app, ["upcoming", str(path), "--json", "--count", "1", "--from", "2026-01-01T00:00:00Z"]
    )
    assert [row["schedule"] for row in json.loads(result.stdout)] == ["a", "b"]
    assert {row["fire_at_utc"] for row in json.loads(result.stdout)} == {"2026-01-01T00:00:00Z"}


def test_upcoming_until_bounds_the_window_inclusively(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = runner.invoke(
        app,
        ["upcoming", str(path), "--json", "-s", "tick", "--from", "2026-01-01T00:00:00Z",
         "--until", "2026-01-01T03:00:00Z"],
    )  # fmt: skip
    assert [row["fire_at_utc"] for row in json.loads(result.stdout)] == [
        "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z",
        "2026-01-01T03:00:00Z",
    ]  # fmt: skip


def test_upcoming_respects_start_and_end_of_a_schedule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "schedules:\n  w:\n    task: a:b\n    every: 1d\n"
        "    start: 2026-06-01T00:00:00Z\n    end: 2026-06-03T00:00:00Z\n",
    )
    result = runner.invoke(app, ["upcoming", str(path), "--json", "--from", "2026-01-01"])
    assert [row["fire_at_utc"] for row in json.loads(result.stdout)] == [
        "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z",
    ]  # fmt: skip


@freeze_time("2026-03-29T00:00:00Z")
def test_upcoming_table_shows_local_time_utc_and_relative_time(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = runner.invoke(app, ["upcoming", str(path), "--count", "1"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "SCHEDULE  FIRE AT (LOCAL)                          UTC                   WHEN   OWNER",
        "tick      2026-03-29 00:00:00 +0000 UTC            2026-03-29 00:00:00Z  now    files",
        "nightly   2026-03-29 03:00:00 +0200 Europe/Berlin  2026-03-29 01:00:00Z  in 1h  files",
        "paused    disabled                                 -                     -      files",
    ]


def test_upcoming_rejects_a_bad_from_and_an_unknown_schedule(tmp_path: Path) -> None:
    path = write(tmp_path)
    bad_from = runner.invoke(app, ["upcoming", str(path), "--from", "yesterday"])
    assert bad_from.exit_code == 2
    assert bad_from.stderr == (
        "error: --from: 'yesterday' is not an ISO 8601 date-time (e.g. 2026-03-29T00:00:00Z; "
        "without an offset it is UTC)\n"
    )
    unknown = runner.invoke(app, ["upcoming", str(path), "-s", "nighty"])
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "error: --schedule: no schedule named 'nighty'; did you mean 'nightly'?\n"
    )


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "schedules:\n  a: {task: a:b, cron: '0 0 30 2 *'}\n")
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "validate", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == (
        f"{path}:2:24: schedules.a.cron: '0 0 30 2 *' names no date that exists; "
        "it would never fire\n"
    )


@pytest.mark.parametrize("args", [["upcoming", "--count", "0"], ["nonsense"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


def test_add_with_json_nested_deeper_than_python_reads_is_a_usage_error() -> None:
    """Before any connection (the URL has no server): the value alone is refused."""
    deep = "[" * 5000 + "]" * 5000
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "add", "deep", "--task", "scheduler.tasks:heartbeat",
         "--every", "60", "--args", deep, "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert (done.stdout, done.stderr) == (
        "",
        "error: --args: the JSON nests deeper than 100 levels, the most a value may\n",
    )
