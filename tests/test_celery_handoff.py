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
from scheduler.store import ScheduleState, Store

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

    def worker(self, broker_url: str, *extra: str, report: bool = False, queue: str = "celery",
               ) -> subprocess.Popen[bytes]:  # fmt: skip
        env = {
            **os.environ,
            "CELERY_BROKER_URL": broker_url,
            "SCHED_TEST_RECORD": str(self.record),
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }
        if report:
            env |= {"SCHED_TEST_REPORT": "1", "SCHED_REDIS_URL": self.url}
        cmd = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", queue,
               "-n", f"{queue}-{len(self.procs)}@localhost",
               "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning",
               *(extra or ("--pool", "solo"))]  # fmt: skip
        log = self._log("celery")
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=self.tmp)
        self.procs.append(proc)
        wait_for(lambda: queue_declared(broker_url, queue), 60, "the Celery worker to start")
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


def queue_declared(broker_url: str, queue: str) -> bool:
    """Whether a Celery worker has declared ``queue`` on the broker (it is consuming)."""
    if broker_url.startswith("amqp"):
        import amqp

        from scheduler.brokers import AmqpAddress

        a = AmqpAddress.parse(broker_url)
        conn = amqp.Connection(a.host, userid=a.userid, password=a.password,
                               virtual_host=a.virtual_host, connect_timeout=2)  # fmt: skip
        try:
            conn.connect()
            conn.channel().queue_declare(queue, passive=True)
            return True
        except amqp.exceptions.NotFound:
            return False
        finally:
            conn.collect()
    client = redis.Redis.from_url(broker_url)
    try:
        return bool(client.exists(f"_kombu.binding.{queue}"))
    finally:
        client.close()


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


def assert_exact_runs(records: list[dict[str, Any]], fires: list[int], queue: str = "celery",
                      ) -> None:  # fmt: skip
    assert sorted(r["run_id"] for r in records) == [f"handoff@{ms}" for ms in fires]
    for r in records:
        fire_ms = int(r["run_id"].rpartition("@")[2])
        assert r["id"] == celery_task_id(r["run_id"])
        assert r["fire_at"] == utc_text(from_ms(fire_ms))
        assert r["args"] == [1, BIG, "x"]
        assert r["kwargs"] == {"k": {"n": 3}}
        assert r["delivery_info"]["routing_key"] == queue


def kill_the_leader_twice(cluster: Cluster) -> None:
    """Once runs arrive: SIGKILL the leader, wait for another and for runs after it; twice."""
    wait_for(lambda: len(cluster.records()) >= 2, 20, "the first runs")
    for _ in range(2):
        victim = cluster.leader_pid()
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda v=victim: cluster.leader_pid() not in (None, v),  # type: ignore[misc]
                 LEASE_TTL_MS / 1000 + 5, "a new leader")  # fmt: skip
        ran = len(cluster.records())
        wait_for(lambda r=ran: len(cluster.records()) > r + 1, 10, "runs after the failover")  # type: ignore[misc]


def test_a_celery_worker_runs_every_fire_time_exactly_once_with_two_leaders_killed(
    cluster: Cluster, redis_url: str
) -> None:
    cluster.worker(redis_url)
    replicas = [cluster.scheduler(every_second()) for _ in range(3)]
    kill_the_leader_twice(cluster)
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


def db1(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/1"


@pytest.fixture(params=["redis-db-1", "rabbitmq"])
def relayed(request: pytest.FixtureRequest, redis_url: str) -> tuple[str, str]:
    """A broker the relay publishes to, and a queue of the test's own on it: a second
    database of the same Redis, or a real RabbitMQ (skipped, saying why, without one)."""
    queue = f"handoff-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    if request.param == "rabbitmq":
        server = request.getfixturevalue("rabbitmq_server")
        return str(server.url), queue
    return db1(redis_url), queue


def runs_by_id(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_run: dict[str, list[str]] = {}
    for r in records:
        by_run.setdefault(r["run_id"], []).append(r["id"])
    return by_run


def drain_relay(cluster: Cluster, replicas: list[subprocess.Popen[bytes]]) -> list[int]:
    """Stop the replicas once the outbox is empty; every fire time handed over."""
    wait_for(lambda: cluster.store.client.zcard("{sched}:outbox") == 0, 15, "an empty outbox")
    for proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    assert cluster.store.client.zcard("{sched}:outbox") == 0  # nothing left unpublished
    fires = handed_fire_ms(cluster.store)
    wait_for(lambda: len(runs_by_id(cluster.records())) >= len(fires), 20, "the worker to drain")
    time.sleep(1)  # a duplicate, if any, would arrive now
    return fires


def test_through_the_relay_every_fire_time_runs_at_least_once_with_two_leaders_killed(
    cluster: Cluster, relayed: tuple[str, str]
) -> None:
    broker, queue = relayed
    cluster.worker(broker, queue=queue)
    replicas = [cluster.scheduler(every_second(queue=queue), "--celery-broker-url", broker)
                for _ in range(3)]  # fmt: skip
    kill_the_leader_twice(cluster)
    fires = drain_relay(cluster, replicas)
    by_run = runs_by_id(cluster.records())
    assert sorted(by_run) == [f"handoff@{ms}" for ms in fires]  # none lost
    assert all(ids == [celery_task_id(run_id)] * len(ids) for run_id, ids in by_run.items())
    once = [r for r in cluster.records() if len(by_run[r["run_id"]]) == 1]
    assert_exact_runs(once, sorted(int(r["run_id"].rpartition("@")[2]) for r in once), queue)


def test_the_relay_hands_over_at_least_once_when_it_dies_between_publish_and_confirm(
    cluster: Cluster, relayed: tuple[str, str]
) -> None:
    broker, queue = relayed
    cluster.worker(broker, queue=queue)
    crashing = {"PYTHONPATH": str(TESTS / "relay_crash")}
    schedules = every_second(queue=queue)
    first = cluster.scheduler(schedules, "--celery-broker-url", broker, env=crashing)
    wait_for(lambda: first.poll() is not None, 20, "the relay to die after its first publish")
    assert first.returncode == 9
    second = cluster.scheduler(schedules, "--celery-broker-url", broker)
    wait_for(lambda: len(runs_by_id(cluster.records())) >= 6, 30, "runs after it")
    fires = drain_relay(cluster, [second])
    by_run = runs_by_id(cluster.records())
    assert sorted(by_run) == [f"handoff@{ms}" for ms in fires]
    twice = {run_id: ids for run_id, ids in by_run.items() if len(ids) > 1}
    assert list(twice) == [f"handoff@{fires[0]}"]  # the batch the dead relay published
    assert twice[f"handoff@{fires[0]}"] == [celery_task_id(f"handoff@{fires[0]}")] * 2
    records = cluster.records()
    assert_exact_runs([r for r in records if r["run_id"] not in twice], fires[1:], queue)


def test_report_outcomes_records_each_end_and_overlap_skip_holds_on_celery(
    cluster: Cluster, redis_url: str
) -> None:
    cluster.worker(redis_url, report=True)
    schedules = ("schedules:\n  handoff:\n    celery_task: proj.tasks.sleep\n    every: 1s\n"
                 "    args: [2.5]\n    overlap: skip\n")  # fmt: skip
    replica = cluster.scheduler(schedules)
    wait_for(lambda: len(cluster.records("ended")) >= 2, 30, "two runs to end")
    replica.send_signal(signal.SIGTERM)
    replica.wait(timeout=15)

    def state() -> ScheduleState:
        return cluster.store.reads.states(["handoff"])["handoff"]

    wait_for(lambda: state().active == 0, 10, "the last run to end")
    began, ended = cluster.records("began"), cluster.records("ended")
    assert [r["run_id"] for r in began] == [r["run_id"] for r in ended]
    for earlier, later in zip(ended, began[1:], strict=False):
        assert later["at"] >= earlier["at"]  # never two at once
    history = [json.loads(e) for e in cluster.store.client.lrange("{sched}:history:handoff", 0, -1)]
    succeeded = [e for e in history if e["event"] == "succeeded"]
    assert sorted(e["run_id"] for e in succeeded) == sorted(r["run_id"] for r in ended)
    assert all(e["celery_id"] == celery_task_id(e["run_id"]) for e in succeeded)
    assert all(2400 <= e["duration_ms"] < 10_000 for e in succeeded)
    assert any(e["event"] == "skipped" for e in history)
    assert (state().active, state().waiting) == (0, 0)
    assert state().last_success_ms is not None


def test_a_failed_celery_task_is_recorded_as_failed_with_its_error(
    cluster: Cluster, redis_url: str
) -> None:
    cluster.worker(redis_url, report=True)
    replica = cluster.scheduler("schedules:\n  handoff:\n    celery_task: proj.tasks.fail\n"
                                "    every: 1s\n")  # fmt: skip
    wait_for(lambda: cluster.records(), 20, "a run")
    replica.send_signal(signal.SIGTERM)
    replica.wait(timeout=15)

    def events() -> list[dict[str, Any]]:
        return [
            json.loads(e) for e in cluster.store.client.lrange("{sched}:history:handoff", 0, -1)
        ]

    wait_for(lambda: any(e["event"] == "failed" for e in events()), 10, "the failure")
    failed = next(e for e in events() if e["event"] == "failed")
    assert failed["error"] == "RuntimeError: the task failed on purpose"
    assert failed["celery_id"] == celery_task_id(failed["run_id"])


def hand_off_without_a_worker(cluster: Cluster, schedules: str, runs: int) -> None:
    replica = cluster.scheduler(schedules)
    wait_for(lambda: sum(s.runs for s in cluster.store.reads.states(["hi", "lo", "handoff"])
                         .values()) >= runs, 20, "hand-offs")  # fmt: skip
    replica.send_signal(signal.SIGTERM)
    replica.wait(timeout=15)


def test_celery_drops_a_run_past_its_expires(cluster: Cluster, redis_url: str) -> None:
    hand_off_without_a_worker(cluster, every_second(expires="1s"), 3)
    time.sleep(1.5)  # every run is now past fire time + 1 s
    cluster.worker(redis_url)
    broker = cluster.store.client
    wait_for(lambda: broker.llen("celery") == 0, 20, "the worker to take every message")
    time.sleep(1)
    assert cluster.records() == []


def test_celery_takes_higher_priorities_first(cluster: Cluster, redis_url: str) -> None:
    schedules = "schedules:\n" + "".join(
        f"  {name}:\n    celery_task: proj.tasks.record\n    every: 1s\n    priority: {p}\n"
        for name, p in (("hi", 9), ("lo", 0))
    )
    hand_off_without_a_worker(cluster, schedules, 6)
    assert cluster.store.client.llen("celery") >= 3  # sched's 9: Celery's first list
    assert cluster.store.client.llen("celery\x06\x169") >= 3  # sched's 0: Celery's last
    total = sum(s.runs for s in cluster.store.reads.states(["hi", "lo"]).values())
    cluster.worker(redis_url)
    wait_for(lambda: len(cluster.records()) == total, 20, "every run")
    order = [r["run_id"].partition("@")[0] for r in cluster.records()]
    assert order == sorted(order)  # "hi" < "lo": every hi before any lo


def test_celery_kills_a_run_at_its_timeout(cluster: Cluster, redis_url: str) -> None:
    cluster.worker(redis_url, "--pool", "prefork", "--concurrency", "1")
    replica = cluster.scheduler("schedules:\n  handoff:\n    celery_task: proj.tasks.sleep\n"
                                "    every: 1s\n    args: [4]\n    timeout: 1s\n")  # fmt: skip
    wait_for(lambda: cluster.records("began"), 20, "a run to begin")
    replica.send_signal(signal.SIGTERM)
    replica.wait(timeout=15)
    first = cluster.records("began")[0]
    log = next(cluster.tmp.glob("celery-*.log"))
    wait_for(lambda: "Hard time limit (1" in log.read_text(), 15, "Celery's time limit")
    time.sleep(max(0.0, first["at"] + 5 - time.time()))  # it would have ended by now
    assert first["run_id"] not in {r["run_id"] for r in cluster.records("ended")}
