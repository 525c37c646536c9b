"""Clocks 30 s apart: liveness is judged by Redis' clock, and a leader runs on Redis' time.

The skewed processes get an injected clock 30 s behind: a `sitecustomize` module replaces
`scheduler.core.clock.utc_now`, the one function through which sched reads the wall clock.
(libfaketime was tried first: it also shifts the deadlines of the interpreter's timed
waits, which no real skewed host does.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from test_failover import leader_pid
from test_worker_processes import enqueue, env, lines, succeeded, wait_for

from scheduler.core.instants import to_ms
from scheduler.store import Store

BEHIND_S = 30
SITECUSTOMIZE = """
import datetime, os
behind_s = float(os.environ.get("SCHED_TEST_BEHIND_S", "0"))
if behind_s:
    import scheduler.core.clock as clock
    real = clock.utc_now
    clock.utc_now = lambda: real() - datetime.timedelta(seconds=behind_s)
"""


@pytest.fixture(autouse=True)
def injected_clock(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")


WORKER_TIMEOUT_S = 3.0


def sched(tmp_path: Path, *args: str, skewed: bool = False) -> subprocess.Popen[str]:
    variables = env()
    # sitecustomize imports scheduler before `-m` puts the working folder on sys.path: name
    # the repository explicitly, so that it is this checkout's code that runs.
    root = str(Path(__file__).resolve().parent.parent)
    variables["PYTHONPATH"] = os.pathsep.join([str(tmp_path), root, variables["PYTHONPATH"]])
    if skewed:
        variables["SCHED_TEST_BEHIND_S"] = str(BEHIND_S)
    log = tmp_path / f"{args[0]}-{'skewed' if skewed else 'right'}.log"
    with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "scheduler", *args], env=variables,
                                stdout=subprocess.DEVNULL, stderr=stderr, text=True)  # fmt: skip


def said_its_skew(tmp_path: Path, role: str) -> bool:
    """The skewed process logged how far behind it is: 30 s, give or take the 1 ms or so a
    sample's round trip leaves (29.999 s was seen). It does on its first sample of Redis'
    clock whose round trip is short enough to trust (one of the first few on a loaded
    machine), so this is waited for, not read once."""
    found = SKEW_LINE.search((tmp_path / f"{role}-skewed.log").read_text())
    return found is not None and abs(float(found[1]) - BEHIND_S) < 0.05


SKEW_LINE = re.compile(r"this host's clock is ([0-9.]+) s behind Redis' clock")


def test_a_worker_30_s_behind_is_never_reaped_while_alive(
    redis_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    # Three times the worker timeout: the skewed worker must heartbeat through it.
    run_id = enqueue(s, "long", "append_line", str(out), 3 * WORKER_TIMEOUT_S)
    timeout = ["--worker-timeout", str(WORKER_TIMEOUT_S)]
    behind = sched(tmp_path, "worker", "--redis-url", redis_url, *timeout, skewed=True)
    processes.append(behind)
    wait_for(lambda: s.client.hget(s.keys.claims, run_id) is not None, 15)
    processes.append(sched(tmp_path, "worker", "--redis-url", redis_url, *timeout))  # reaps, hungry
    wait_for(lambda: succeeded(s, "long") == 1, 3 * WORKER_TIMEOUT_S + 20)
    assert [line["pid"] for line in lines(out)] == [behind.pid]  # ran once, where it began
    wait_for(lambda: said_its_skew(tmp_path, "worker"), 15)  # and it said how far behind
    behind.send_signal(signal.SIGTERM)
    assert behind.wait(timeout=20) == 0


def test_a_leader_30_s_behind_dispatches_on_redis_time(
    redis_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "schedules:\n  tick: {task: scheduler.tasks:heartbeat, every: 1s}\n", encoding="utf-8"
    )
    s = Store(redis.Redis.from_url(redis_url))
    leader = sched(tmp_path, "scheduler", str(path), "--redis-url", redis_url, skewed=True)
    processes.append(leader)
    wait_for(lambda: leader_pid(s) == leader.pid, 15)
    wait_for(lambda: s.reads.queue_depths().get("default", 0) >= 3, 15)
    redis_now_ms = to_ms(datetime.fromtimestamp(float(s.client.time()[0]), UTC))
    newest = max(m.fire_at_ms for m in s.reads.queued_runs("default"))
    assert redis_now_ms - 3000 <= newest <= redis_now_ms + 1000  # on time, not 30 s late
    wait_for(lambda: said_its_skew(tmp_path, "scheduler"), 15)
    leader.send_signal(signal.SIGTERM)
    assert leader.wait(timeout=20) == 0
