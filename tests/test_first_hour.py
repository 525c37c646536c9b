"""What a new user meets first: one `sched run` per data dir, a second Ctrl-C, --version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from test_worker_processes import TESTS, enqueue, wait_for
from typer.testing import CliRunner

from scheduler import __version__, cli, ops
from scheduler.store import Store
from scheduler.worker import Worker

SCHEDULE = "schedules:\n  beat: {task: scheduler.tasks:heartbeat, every: 1s}\n"


def sched(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    root = str(TESTS.parent)  # this checkout's code, whatever the working folder
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), root]),
           "SCHED_REDIS_URL": ""}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "scheduler", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


@pytest.mark.usefixtures("server_binary")  # `sched run` starts its embedded server
def test_a_second_sched_run_on_the_same_data_dir_is_refused_and_says_how_to_join(
    tmp_path: Path, processes: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "s.yaml").write_text(SCHEDULE, encoding="utf-8")
    data = tmp_path / "data"
    first = sched("run", str(tmp_path / "s.yaml"), "--data-dir", str(data))
    processes.append(first)
    wait_for(lambda: (data / "redis.sock").exists(), 15)
    second = sched("run", str(tmp_path / "s.yaml"), "--data-dir", str(data))
    processes.append(second)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 1
    assert f"sched is already running on {data} (pid {first.pid})" in err
    assert f"SCHED_REDIS_URL=unix://{(data / 'redis.sock').resolve()}" in err
    assert first.poll() is None  # the first one goes on
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0


def test_a_second_sigterm_hands_running_runs_back_at_once(
    redis_url: str, tmp_path: Path, processes: list[subprocess.Popen[Any]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    run_id = enqueue(s, "slow", "hang", 3600)
    worker = sched("worker", "--redis-url", redis_url, "--grace", "600")
    processes.append(worker)
    wait_for(lambda: s.client.hget(s.keys.claims, run_id) == b"%b|s" % owner(s), 15)
    worker.send_signal(signal.SIGTERM)  # waits up to the 600 s grace for the run ...
    assert worker.stderr is not None
    waiting = next((line for line in worker.stderr if "finishing 1 runs" in line), "")
    assert "up to 600 s; press Ctrl-C again" in waiting
    worker.send_signal(signal.SIGTERM)  # ... unless told again
    assert worker.wait(timeout=15) == 0
    assert s.client.zscore(s.keys.queue("default"), run_id) is not None  # handed back
    assert s.client.hget(s.keys.claims, run_id) is None


def owner(s: Store) -> bytes:
    """The id of the one worker running."""
    found: list[bytes] = s.client.zrange(s.keys.workers, 0, -1)  # type: ignore[assignment]
    return found[0] if found else b"?"


def test_version_prints_the_package_version() -> None:
    out = subprocess.run([sys.executable, "-m", "scheduler", "--version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout  # fmt: skip
    assert out == f"sched {__version__}\n"


def test_tasks_are_imported_from_the_app_dir(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "billing").mkdir(parents=True)
    (app / "billing" / "__init__.py").write_text("", encoding="utf-8")
    (app / "billing" / "tasks.py").write_text("def invoice() -> None: ...\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  bill: {task: billing.tasks:invoice, every: 1h}\n")
    runner = CliRunner()
    lost = runner.invoke(cli.app, ["validate", str(path), "--check-imports"])
    assert lost.exit_code == 1
    assert "cannot import module 'billing.tasks'" in lost.stdout
    found = runner.invoke(
        cli.app, ["validate", str(path), "--check-imports", "--app-dir", str(app)]
    )
    assert (found.exit_code, found.stdout) == (0, "1 schedule in 1 file OK\n")


def test_sched_run_serves_every_queue_its_schedules_name(
    redis_url: str, tmp_path: Path, processes: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "s.yaml").write_text(
        "schedules:\n"
        "  beat: {task: scheduler.tasks:heartbeat, every: 1s}\n"
        "  report: {task: scheduler.tasks:heartbeat, every: 1s, queue: reports}\n",
        encoding="utf-8",
    )
    s = Store(redis.Redis.from_url(redis_url))
    proc = sched("run", str(tmp_path / "s.yaml"), "--redis-url", redis_url)
    processes.append(proc)

    def done(name: str) -> bool:
        return any(e.event == "succeeded" for e in s.reads.history(name))

    wait_for(lambda: done("beat") and done("report"), 20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_validate_warns_about_queue_names_a_letter_apart(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "schedules:\n"
        "  a: {task: m:f, every: 1h, queue: report}\n"
        "  b: {task: m:f, every: 1h, queue: reports}\n"
        "  c: {task: m:f, every: 1h, queue: billing}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli.app, ["validate", str(path)])
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: queues 'report' and 'reports' differ by a letter or two; is one a typo?\n"
    )


def test_status_lists_workers_and_flags_a_queue_no_live_worker_takes_from(
    redis_url: str,
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    enqueue(s, "waits", "hang", 1)  # on `default`
    worker = Worker(s, queues=["reports"], concurrency=3, worker_id="host-a:42:beef")
    worker.upkeep()
    view = ops.status(s)
    [only] = view.workers
    assert (only.worker_id, only.host, only.queues, only.concurrency, only.pool) == (
        "host-a:42:beef", "host-a", ("reports",), 3, "thread",
    )  # fmt: skip
    assert view.unserved == ["default"]
    shown = CliRunner().invoke(cli.app, ["status", "--redis-url", redis_url]).stdout
    assert "queue default: 1 waiting  (no live worker takes from this queue)" in shown
    assert "worker host-a:42:beef: queues reports, 3 thread slots, 0 in flight" in shown
    worker.backend.leave()
    assert ops.status(s).workers == []


@pytest.mark.usefixtures("server_binary")  # `sched run` starts its embedded server
def test_operator_commands_find_the_embedded_server_running_or_stopped(
    tmp_path: Path, processes: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "s.yaml").write_text(SCHEDULE, encoding="utf-8")
    run = sched("run", cwd=tmp_path)
    processes.append(run)

    def history() -> tuple[int, str]:
        done = sched("history", "beat", cwd=tmp_path)
        processes.append(done)
        out, _ = done.communicate(timeout=60)
        return done.returncode, out

    wait_for(lambda: "succeeded" in history()[1], 20)  # while `sched run` runs
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 0
    code, out = history()  # after it stopped: its data is opened for the command alone
    assert code == 0 and "succeeded" in out
    assert not (tmp_path / ".sched" / "redis.sock").exists()  # and closed again
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = sched("status", cwd=empty)
    processes.append(nothing)
    _, err = nothing.communicate(timeout=60)
    assert nothing.returncode == 2
    assert "no Redis: pass --redis-url or set SCHED_REDIS_URL" in err


@pytest.mark.usefixtures("server_binary")  # `sched run` starts its embedded server
def test_ctrl_c_stops_sched_run_before_its_embedded_server(
    tmp_path: Path, processes: list[subprocess.Popen[Any]]
) -> None:
    """A terminal's Ctrl-C is a SIGINT to the whole process group. The embedded server has
    a group of its own, so it is sched that stops it, after the worker left: no error, exit
    0, the server gone, its data there for the next start."""
    (tmp_path / "s.yaml").write_text(SCHEDULE, encoding="utf-8")
    data = tmp_path / "data"
    root = str(TESTS.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), root]),
           "SCHED_REDIS_URL": ""}  # fmt: skip
    run = subprocess.Popen([sys.executable, "-m", "scheduler", "run", str(tmp_path / "s.yaml"),
                            "--data-dir", str(data)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # fmt: skip
    processes.append(run)
    url = f"unix://{(data / 'redis.sock').resolve()}"
    wait_for(lambda: (data / "redis.sock").exists(), 15)
    s = Store(redis.Redis.from_url(url))
    wait_for(lambda: any(e.event == "succeeded" for e in s.reads.history("beat")), 20)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal does
    _, err = run.communicate(timeout=30)
    assert run.returncode == 0, err[-2000:]
    assert "error:" not in err
    stopped = [line for line in err.splitlines() if "stopped" in line]
    assert "worker" in stopped[0] and "stopped the embedded Redis" in stopped[-1]
    assert not (data / "redis.sock").exists()
