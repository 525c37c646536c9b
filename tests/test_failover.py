"""Real `sched scheduler` processes: the leader killed with SIGKILL, and graceful handover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scheduler.beat.lease import LEASE_TTL_MS
from scheduler.store import Store
from scheduler.store.embedded import EmbeddedRedis

SCHEDULE = """
schedules:
  every-second:
    task: scheduler.tasks:heartbeat
    every: 1s
    misfire: all
"""


def start(schedule_file: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "scheduler", str(schedule_file), "--redis-url", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_for(condition: object, timeout_s: float) -> float:
    """Poll ``condition`` until true; return the seconds it took, or fail at the bound."""
    assert callable(condition)
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if condition():
            return time.monotonic() - began
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout_s} s")


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    procs = [start(path, redis_url) for _ in range(3)]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


def leader_pid(store: Store) -> int | None:
    identity = store.reads.leader().identity
    return int(identity.rsplit(":", 1)[1]) if identity else None


def test_killing_the_leader_twice_loses_and_repeats_no_fire_time(
    replicas: list[subprocess.Popen[bytes]], redis_url: str
) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    wait_for(lambda: leader_pid(store) is not None, 15)
    wait_for(lambda: store.reads.queue_depths().get("default", 0) >= 2, 10)
    gaps = []
    for _ in range(2):
        victim = leader_pid(store)
        assert victim is not None
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda v=victim: leader_pid(store) not in (None, v), LEASE_TTL_MS / 1000 + 5)
        depth = store.reads.queue_depths()["default"]
        wait_for(lambda d=depth: store.reads.queue_depths()["default"] > d, 5)
        gaps.append(time.monotonic() - killed_at)
        wait_for(lambda d=depth: store.reads.queue_depths()["default"] > d + 1, 5)
    for proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in replicas:
        assert proc.wait(timeout=10) in (0, -signal.SIGKILL)
    assert_each_second_enqueued_once(store)
    # A standby takes over within the lease TTL plus one renew interval (and polling slack).
    assert all(gap <= LEASE_TTL_MS / 1000 + 2.0 for gap in gaps), gaps


def test_a_graceful_stop_hands_over_within_a_second(
    replicas: list[subprocess.Popen[bytes]], redis_url: str
) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    wait_for(lambda: leader_pid(store) is not None, 15)
    victim = leader_pid(store)
    assert victim is not None
    os.kill(victim, signal.SIGTERM)
    took_s = wait_for(lambda: leader_pid(store) not in (None, victim), 5)
    assert took_s <= 1.0
    proc = next(p for p in replicas if p.pid == victim)
    assert proc.wait(timeout=10) == 0


def assert_each_second_enqueued_once(store: Store) -> None:
    """Every fire time from the first to the last is on the queue once, and nothing more."""
    fires = sorted(m.fire_at_ms for m in store.reads.queued_runs("default"))
    assert fires == list(range(fires[0], fires[-1] + 1000, 1000))
    state = store.reads.states(["every-second"])["every-second"]
    assert state.runs == len(fires)  # the dispatch counted exactly these
    assert state.duplicates == 0  # no dispatch ever reached an existing run id


def test_a_leader_frozen_past_its_lease_is_refused_when_it_wakes(
    replicas: list[subprocess.Popen[bytes]], redis_url: str
) -> None:
    store = Store(redis.Redis.from_url(redis_url))
    wait_for(lambda: leader_pid(store) is not None, 15)
    frozen = leader_pid(store)
    assert frozen is not None
    os.kill(frozen, signal.SIGSTOP)
    try:
        wait_for(lambda: leader_pid(store) not in (None, frozen), LEASE_TTL_MS / 1000 + 5)
        depth = store.reads.queue_depths().get("default", 0)
        # The new leader dispatches while the old one still sleeps on its stale batch.
        wait_for(lambda: store.reads.queue_depths().get("default", 0) >= depth + 2, 10)
    finally:
        os.kill(frozen, signal.SIGCONT)
    # The woken leader dispatches at once, is refused, and stands by: the fires after its
    # waking are still each enqueued once, by the new leader.
    woke = store.reads.queue_depths()["default"]
    wait_for(lambda: store.reads.queue_depths()["default"] >= woke + 2, 10)
    assert leader_pid(store) != frozen
    assert_each_second_enqueued_once(store)


def test_redis_restarted_under_a_running_scheduler_loses_and_repeats_nothing(
    tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    proc = start(path, own_redis.url)
    try:
        store = Store(redis.Redis.from_url(own_redis.url))
        wait_for(lambda: store.reads.queue_depths().get("default", 0) >= 3, 15)
        own_redis.stop()  # SHUTDOWN: the AOF is flushed, as on a clean restart
        time.sleep(2)
        own_redis.start()
        before = store.reads.queue_depths()["default"]
        wait_for(lambda: store.reads.queue_depths()["default"] > before + 2, 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    # misfire: all -- the seconds while Redis was down are caught up, each exactly once.
    assert_each_second_enqueued_once(store)
