"""Schedules added through the Client while real `sched scheduler` processes run, none of
which has them in its files: the leader picks them up without a reload, and every fire time
is enqueued exactly once with the leader killed twice."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from test_failover import leader_pid, start, wait_for

from scheduler import Client
from scheduler.beat.lease import LEASE_TTL_MS
from scheduler.store import Store

FILES = "schedules:\n  from-a-file:\n    task: scheduler.tasks:heartbeat\n    every: 1h\n"


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    path = tmp_path / "s.yaml"
    path.write_text(FILES, encoding="utf-8")
    procs = [start(path, redis_url) for _ in range(3)]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


def test_api_schedules_are_enqueued_exactly_once_with_the_leader_killed_twice(
    replicas: list[subprocess.Popen[bytes]], redis_url: str
) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    wait_for(lambda: leader_pid(store) is not None, 15)
    with Client(redis_url) as client:
        for i in range(20):
            client.add(f"tenant-{i}", task="scheduler.tasks:heartbeat", every=1, misfire="all")

    def depth() -> int:
        return store.reads.queue_depths().get("default", 0)

    wait_for(lambda: depth() >= 40, 15)  # picked up with no reload
    for _ in range(2):
        victim = leader_pid(store)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda v=victim: leader_pid(store) not in (None, v), LEASE_TTL_MS / 1000 + 5)
        now = depth()
        wait_for(lambda d=now: depth() > d + 40, 10)
    for proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in replicas:
        proc.wait(timeout=10)
    runs = store.reads.queued_runs("default")
    for i in range(20):
        fires = sorted(m.fire_at_ms for m in runs if m.schedule == f"tenant-{i}")
        assert fires == list(range(fires[0], fires[-1] + 1000, 1000))  # none lost, none twice
        state = store.reads.states([f"tenant-{i}"])[f"tenant-{i}"]
        assert (state.runs, state.duplicates) == (len(fires), 0)
    assert store.reads.owned("api") == {f"tenant-{i}" for i in range(20)}
    assert store.reads.owned("files") == {"from-a-file"}  # the files' sync left them alone
