"""A schedule file rewritten in place, slowly, while the leader runs: never read half-way."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from test_failover import leader_pid, wait_for

from scheduler import ops
from scheduler.core import clock
from scheduler.store import Store

SCHEDULES = 500
REWRITES = 20
CHUNK_BYTES = 2048
PAUSE_S = 0.05  # between chunks: far below the documented 1 s settle interval
PAUSED = [f"s{i:03d}" for i in range(0, SCHEDULES, 100)]


def file_text() -> str:
    lines = ["schedules:"]
    for i in range(SCHEDULES):
        lines.append(f"  s{i:03d}: {{task: scheduler.tasks:heartbeat, every: 1s, misfire: all}}")
    return "\n".join(lines) + "\n"


def rewrite_in_place_slowly(path: Path, text: str) -> None:
    data = text.encode()
    with path.open("r+b") as out:
        out.truncate(0)
        for start in range(0, len(data), CHUNK_BYTES):
            out.write(data[start : start + CHUNK_BYTES])
            out.flush()
            time.sleep(PAUSE_S)


def test_a_file_rewritten_in_place_slowly_loses_no_fire_time_and_keeps_pauses(
    tmp_path: Path, redis_url: str
) -> None:
    path = tmp_path / "s.yaml"
    text = file_text()
    path.write_text(text, encoding="utf-8")
    log = (tmp_path / "scheduler.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "scheduler", str(path), "--redis-url", redis_url],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    store = Store(redis.Redis.from_url(redis_url))
    try:
        wait_for(lambda: leader_pid(store) == proc.pid, 15)
        wait_for(lambda: store.reads.queue_depths().get("default", 0) >= SCHEDULES * 2, 20)
        for name in PAUSED:
            assert ops.pause(store, name, clock.utc_now())
        for _ in range(REWRITES):
            rewrite_in_place_slowly(path, text)
            time.sleep(0.2)
        depth = store.reads.queue_depths()["default"]
        wait_for(lambda: store.reads.queue_depths()["default"] >= depth + SCHEDULES * 2, 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()
    written = (tmp_path / "scheduler.log").read_text()
    assert " removed" not in written and "reload rejected" not in written
    fires: dict[str, list[int]] = {}
    for message in store.reads.queued_runs("default"):
        fires.setdefault(message.schedule, []).append(message.fire_at_ms)
    states = store.reads.states(sorted(fires))
    for name, times in fires.items():
        times.sort()
        if name in PAUSED:
            assert states[name].paused
            continue
        assert times == list(range(times[0], times[-1] + 1000, 1000)), name
        assert states[name].missed == 0
    assert len(fires) == SCHEDULES
