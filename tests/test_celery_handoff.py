"""Real `celery worker` processes executing the runs real `sched scheduler` processes hand
them: exactly once through sched's own Redis (leaders killed), at least once through the
relay (a relay killed between publish and confirm), with the contract headers, exact
arguments, and Celery's own handling of expires, time limits and priorities."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler.beat.lease import LEASE_TTL_MS
from scheduler.core.celery import celery_task_id
from scheduler.core.instants import from_ms, utc_text
from scheduler.store import Store

TESTS = Path(__file__).resolve().parent
BIG = 2**60  # a JSON number Lua's cjson would round: it must arrive exact


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout_s} s")


class Cluster:
    """sched scheduler replicas and Celery workers started by one test, all stopped at its end."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp, self.url = tmp, url
        self.record = tmp / "record.jsonl"
        self.record.touch()
        self.store = Store(redis.Redis.from_url(url))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def _log(self, name: str) -> Any:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        return log

    def scheduler(self, schedules: str, *extra: str, env: dict[str, str] | None = None,
                  ) -> subprocess.Popen[bytes]:  # fmt: skip
        path = self.tmp / "schedules.yaml"
        path.write_text(schedules, encoding="utf-8")
        cmd = [sys.executable, "-m", "scheduler", "scheduler", str(path), "--redis-url", self.url]
        log = self._log("scheduler")
        proc = subprocess.Popen([*cmd, *extra], stdout=log, stderr=log,
                                env={**os.environ, **(env or {})})  # fmt: skip
        self.procs.append(proc)
        return proc

    def worker(self, broker_url: str, *extra: str, report: bool = False) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "CELERY_BROKER_URL": broker_url,
            "SCHED_TEST_RECORD": str(self.record),
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }
        if report:
            env |= {"SCHED_TEST_REPORT": "1", "SCHED_REDIS_URL": self.url}
        cmd = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "celery",
               "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning",
               *(extra or ("--pool", "solo"))]  # fmt: skip
        log = self._log("celery")
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=self.tmp)
        self.procs.append(proc)
        broker = redis.Redis.from_url(broker_url)
        wait_for(lambda: broker.exists("_kombu.binding.celery"), 60, "the Celery worker to start")
        return proc

    def records(self, kind: str = "ran") -> list[dict[str, Any]]:
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    def leader_pid(self) -> int | None:
        identity = self.store.reads.leader().identity
        return int(identity.rsplit(":", 1)[1]) if identity else None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for log in self.logs:
            log.close()
        self.store.client.close()


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, redis_url)
    yield c
    c.stop()


def every_second(task: str = "proj.tasks.record", **fields: str) -> str:
    extra = "".join(f"    {k}: {v}\n" for k, v in fields.items())
    return (f"schedules:\n  handoff:\n    celery_task: {task}\n    every: 1s\n    misfire: all\n"
            f"    args: [1, {BIG}, x]\n    kwargs: {{k: {{n: 3}}}}\n{extra}")  # fmt: skip


def handed_fire_ms(store: Store) -> list[int]:
    """Every fire time the schedule ``handoff`` was handed over for, by its state."""
    state = store.reads.states(["handoff"])["handoff"]
    assert state.last_fire_ms is not None
    first = state.last_fire_ms - (state.runs - 1) * 1000
    return list(range(first, state.last_fire_ms + 1, 1000))


def assert_exact_runs(records: list[dict[str, Any]], fires: list[int]) -> None:
    assert sorted(r["run_id"] for r in records) == [f"handoff@{ms}" for ms in fires]
    for r in records:
        fire_ms = int(r["run_id"].rpartition("@")[2])
        assert r["id"] == celery_task_id(r["run_id"])
        assert r["fire_at"] == utc_text(from_ms(fire_ms))
        assert r["args"] == [1, BIG, "x"]
        assert r["kwargs"] == {"k": {"n": 3}}
        assert r["delivery_info"]["routing_key"] == "celery"


def test_a_celery_worker_runs_every_fire_time_exactly_once_with_two_leaders_killed(
    cluster: Cluster, redis_url: str
) -> None:
    cluster.worker(redis_url)
    replicas = [cluster.scheduler(every_second()) for _ in range(3)]
    wait_for(lambda: len(cluster.records()) >= 2, 20, "the first runs")
    for _ in range(2):
        victim = cluster.leader_pid()
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda v=victim: cluster.leader_pid() not in (None, v),  # type: ignore[misc]
                 LEASE_TTL_MS / 1000 + 5, "a new leader")  # fmt: skip
        ran = len(cluster.records())
        wait_for(lambda r=ran: len(cluster.records()) > r + 1, 10, "runs after the failover")  # type: ignore[misc]
    for proc in replicas:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    fires = handed_fire_ms(cluster.store)
    wait_for(lambda: len(cluster.records()) >= len(fires), 20, "the worker to drain")
    time.sleep(1)  # a duplicate, if any, would arrive now
    assert len(fires) >= 6
    assert_exact_runs(cluster.records(), fires)
    history = [json.loads(e) for e in cluster.store.client.lrange("{sched}:history:handoff", 0, -1)]
    assert {e["event"] for e in history} == {"sent_to_celery"}
    assert all(e["celery_id"] == celery_task_id(e["run_id"]) for e in history)
