"""No silent outage: a dispatch loop that dies or gets stuck gives up its lease, and a process
whose loop died exits non-zero with a clear line, so a standby leads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from test_failover import SCHEDULE, leader_pid, wait_for

from scheduler.store import Store

EXIT_INTERNAL = 70  # the documented exit code of an internal error
LEASE_TTL_S = 5.0
STALL_S = 15.0  # documented: a loop silent this long is stuck and its lease is not renewed

# Loaded by every Python process started with this folder on PYTHONPATH: breaks the
# dispatch planner of the process whose SCHED_TEST_FAULT says so, after a few good rounds.
SITECUSTOMIZE = """
import os, time
fault = os.environ.get("SCHED_TEST_FAULT")
if fault:
    import scheduler.beat.planner as planner
    original = planner.Planner.steps
    calls = [0]
    def steps(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] > 2:
            if fault == "raise":
                raise RuntimeError("injected: the planner broke")
            time.sleep(3600)
        return original(self, *args, **kwargs)
    planner.Planner.steps = steps
"""


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCHEDULE, encoding="utf-8")
    return folder


def start(
    command: str, tmp_path: Path, url: str, inject: Path, fault: str = ""
) -> subprocess.Popen[str]:
    root = str(Path(__file__).resolve().parent.parent)  # this checkout, before any install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inject), root])}
    if fault:
        env["SCHED_TEST_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", command, str(tmp_path / "s.yaml"), "--redis-url", url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["scheduler", "run"])
def test_a_dispatch_loop_that_raises_exits_non_zero_and_a_standby_leads(
    command: str, tmp_path: Path, redis_url: str, faulty: Path,
    processes: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    store = Store(redis.Redis.from_url(redis_url))
    broken = start(command, tmp_path, redis_url, faulty, "raise")
    processes.append(broken)
    wait_for(lambda: leader_pid(store) == broken.pid, 15)
    standby = start("scheduler", tmp_path, redis_url, faulty)
    processes.append(standby)
    assert broken.wait(timeout=30) == EXIT_INTERNAL
    assert broken.stderr is not None
    log = broken.stderr.read()
    assert "the dispatch loop died; releasing the lease" in log
    assert "RuntimeError: injected: the planner broke" in log
    wait_for(lambda: leader_pid(store) == standby.pid, LEASE_TTL_S + 10)
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(timeout=10) == 0


def test_a_stuck_dispatch_loop_stops_renewing_its_lease_and_a_standby_leads(
    tmp_path: Path, redis_url: str, faulty: Path, processes: list[subprocess.Popen[str]]
) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    stuck = start("scheduler", tmp_path, redis_url, faulty, "hang")
    processes.append(stuck)
    wait_for(lambda: leader_pid(store) == stuck.pid, 15)
    standby = start("scheduler", tmp_path, redis_url, faulty)
    processes.append(standby)
    wait_for(lambda: leader_pid(store) == standby.pid, STALL_S + LEASE_TTL_S + 10)
    assert stuck.poll() is None  # alive but stuck: it just no longer holds the lease
