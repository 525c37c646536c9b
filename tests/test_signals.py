"""SIGTERM at any moment stops a leader at once and hands over: signal handlers never take a
lock (a handler calling ``threading.Event.set()`` while the main thread waited on that event
deadlocked the leader for good while its lease thread kept renewing, cpython#126434)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from test_failover import SCHEDULE, leader_pid, start, wait_for

from scheduler.store import Store

ROUNDS = 50
EXIT_WITHIN_S = 1.0
STANDBY_LEADS_WITHIN_S = 3.0  # the released lease is taken at the standby's next try (0.5 s)


@pytest.mark.timeout(400)  # fifty process starts: minutes on a loaded two-core machine
def test_sigterm_at_random_moments_stops_the_leader_within_a_second_and_a_standby_leads(
    tmp_path: Path, redis_url: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    store = Store(redis.Redis.from_url(redis_url))
    rng = random.Random(20261201)
    leader = start(path, redis_url)
    processes.append(leader)
    wait_for(lambda: leader_pid(store) == leader.pid, 15)
    slow_exits = []
    for round_ in range(ROUNDS):
        standby = start(path, redis_url)
        processes.append(standby)
        # A moment anywhere in the leader's cycle: waiting, ticking, renewing the lease.
        time.sleep(rng.uniform(0.0, 1.0))
        leader.send_signal(signal.SIGTERM)
        began = time.monotonic()
        try:
            code = leader.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"round {round_}: the leader hung after SIGTERM")
        took_s = time.monotonic() - began
        assert code == 0, f"round {round_}: exit code {code}"
        if took_s > EXIT_WITHIN_S:
            slow_exits.append((round_, round(took_s, 2)))
        wait_for(lambda s=standby: leader_pid(store) == s.pid, STANDBY_LEADS_WITHIN_S + 15)
        leader = standby
    assert slow_exits == []
