"""Workers under Redis faults: Redis SIGKILLed and restarted in the middle of a burst (twice
also losing its last 0.5 s of AOF), replies of claim.lua, start.lua and finish.lua lost after
Redis executed the script, and outcomes that never reached Redis.

What must hold: every run executes at least once, and once all are done Redis holds
nothing for them: no run message, claim, worker set, queued run, retry or delivery count,
and every schedule's ``active`` and ``waiting`` are back to 0 (never below).

Workers are started with a worker timeout far longer than the test, so no live worker is
ever reaped: a run left held can only be given back by its own worker's reconcile, and
reaping cannot hide a leak. Every wait is bounded; the assertions are on outcomes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from faultproxy import FaultProxy
from test_worker import settle
from test_worker_processes import env, lines

from scheduler.core.instants import to_ms
from scheduler.core.messages import event, priority_score, run_message
from scheduler.core.model import Schedule
from scheduler.errors import StoreError
from scheduler.store import Run, Store, connect
from scheduler.store.embedded import EmbeddedRedis
from scheduler.worker import Worker

NO_REAPING_S = 600  # --worker-timeout: longer than any test, so no live worker is reaped
SCHEDULES = 20
LUA = resources.files("scheduler.store").joinpath("lua")


def lua(script: str) -> str:
    return LUA.joinpath(f"{script}.lua").read_text()


class Drops:
    """A ``drop_replies`` matcher for one Lua script's EVALSHA (by its sha1), counting the
    requests it matched: each is a reply dropped after Redis ran the script.

    Used by one rule at a time, it is called only while that rule is pending, on the
    proxy's thread under the proxy's lock.
    """

    def __init__(self, script: str) -> None:
        self.script = script
        self.sha = hashlib.sha1(lua(script).encode()).hexdigest().encode()
        self.dropped = 0

    def __call__(self, args: list[bytes]) -> bool:
        if len(args) > 1 and args[0].upper() == b"EVALSHA" and args[1] == self.sha:
            self.dropped += 1
            return True
        return False

    def one_more(self) -> Callable[[], bool]:
        """True once one more reply than now was dropped."""
        before = self.dropped
        return lambda: self.dropped > before


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "scheduler", "worker", "--redis-url", url,
            "--worker-timeout", str(NO_REAPING_S), "--concurrency", "8",
            "--pool", "thread"]  # fmt: skip
    with log.open("ab") as err:
        return subprocess.Popen(args, env=env(), stdout=subprocess.DEVNULL, stderr=err)


@pytest.fixture
def workers(processes: list[subprocess.Popen[Any]]) -> list[subprocess.Popen[Any]]:
    return processes


@pytest.fixture
def proxy(redis_url: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the test's clean Redis."""
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    with FaultProxy(parts.hostname, parts.port) as proxy:
        yield proxy


def appending(name: str, out: Path, seconds: float) -> Schedule:
    """A schedule whose runs sleep ``seconds``, then append their run id to ``out``."""
    return Schedule(name=name, task="worker_tasks:append_line", timezone="UTC", every_s=60,
                    args=(str(out), seconds))  # fmt: skip


class Burst:
    """Runs of ``append_line`` over SCHEDULES schedules, enqueued straight on Redis. Schedule
    i's runs sleep ``longest_s * (i + 1) / SCHEDULES``, so runs do not all end at once."""

    def __init__(self, s: Store, out: Path, longest_s: float) -> None:
        self.s, self.out = s, out
        self.schedules = [appending(f"burst{i}", out, longest_s * (i + 1) / SCHEDULES)
                          for i in range(SCHEDULES)]  # fmt: skip
        self.first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.ids: set[str] = set()

    def add(self, count: int) -> None:
        for i in range(len(self.ids), len(self.ids) + count):
            schedule = self.schedules[i % SCHEDULES]
            fire_at = self.first + timedelta(milliseconds=i)
            run_id = f"{schedule.name}@{to_ms(fire_at)}"
            message = run_message(schedule, run_id, fire_at, fire_at, "schedule", 1)
            run = Run(run_id, "default", priority_score(5, to_ms(fire_at)), message)
            enqueued = event("enqueued", fire_at, run_id=run_id)
            assert self.s.ops.enqueue(schedule.name, run, enqueued)
            self.ids.add(run_id)

    def queued(self) -> int:
        return int(self.s.client.zcard(self.s.keys.queue("default")))

    def executed(self) -> set[str]:
        return executed(self.out) & self.ids


def executed(out: Path) -> set[str]:
    return {str(line["run_id"]) for line in lines(out)}


def counters(s: Store) -> dict[str, int]:
    """Every schedule's ``active`` and ``waiting``."""
    pipe = s.client.pipeline(transaction=False)
    for i in range(SCHEDULES):
        pipe.hmget(s.keys.state(f"burst{i}"), "active", "waiting")
    found = {}
    for i, (active, waiting) in enumerate(pipe.execute()):
        found[f"burst{i}.active"] = int(active or 0)
        found[f"burst{i}.waiting"] = int(waiting or 0)
    return found


def leftovers(s: Store) -> dict[str, int]:
    """What Redis still holds for the burst, by key (or counter); {} once all runs are done."""
    c, k = s.client, s.keys
    found = {
        k.runs: c.hlen(k.runs),
        k.claims: c.hlen(k.claims),
        k.deliveries: c.hlen(k.deliveries),
        k.retries: c.zcard(k.retries),
        k.dead: c.hlen(k.dead),
    }
    for key in c.scan_iter(match=f"{k.prefix}worker:*"):
        found[key.decode()] = c.scard(key)
    for key in c.scan_iter(match=f"{k.prefix}queue:*"):
        found[key.decode()] = c.zcard(key)
    found.update(counters(s))
    return {key: n for key, n in found.items() if n}


def appended_aof(data_dir: Path) -> Path:
    """The file a server appends its writes to: the last incremental file that the manifest
    in appendonlydir/ names (Valkey, Redis 7+), or appendonly.aof (Redis 6)."""
    manifest = data_dir / "appendonlydir" / "appendonly.aof.manifest"
    if not manifest.exists():
        return data_dir / "appendonly.aof"
    lines = [line.split() for line in manifest.read_text().splitlines()]
    entries = [dict(zip(words[::2], words[1::2], strict=True)) for words in lines]
    incremental = [entry["file"] for entry in entries if entry.get("type") == "i"]
    return data_dir / "appendonlydir" / incremental[-1]


class Watch:
    """Polls Redis during a burst; remembers the lowest ``active`` and ``waiting`` seen, and
    the size over time of the AOF that the server in ``data_dir`` appends to (when given)."""

    def __init__(self, burst: Burst, data_dir: Path | None = None) -> None:
        self.s, self.burst, self.data_dir = burst.s, burst, data_dir
        self.aof = appended_aof(data_dir) if data_dir is not None else None
        self.lowest = 0
        self.aof_sizes: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self.up_since = time.monotonic()  # when Redis last (re)started

    def sample(self) -> None:
        if self.aof is not None:
            self.aof_sizes.append((time.monotonic(), self.aof.stat().st_size))
        with contextlib.suppress(redis.RedisError):  # Redis is down: nothing to see
            self.lowest = min(self.lowest, *counters(self.s).values())

    def lose_aof_tail(self, seconds: float) -> int:
        """Cut what the stopped server appended to its AOF in its last ``seconds``, as a
        power cut would (a SIGKILL alone loses nothing the kernel was given); bytes cut."""
        assert self.aof is not None
        before = [size for at, size in self.aof_sizes if at <= time.monotonic() - seconds]
        assert before, f"no AOF size sampled {seconds} s ago"
        cut = self.aof.stat().st_size - before[-1]
        assert cut >= 0
        os.truncate(self.aof, before[-1])
        return cut

    def restarted(self) -> None:
        """Redis started again on a shorter AOF: earlier sizes no longer apply."""
        self.aof_sizes.clear()
        self.aof = appended_aof(self.data_dir) if self.data_dir is not None else None
        self.up_since = time.monotonic()

    def executed_at_least(self, n: int, up_for_s: float = 0.0) -> Callable[[], bool]:
        """A condition: ``n`` runs executed, and Redis up for ``up_for_s`` at least."""

        def check() -> bool:
            self.sample()
            up = time.monotonic() - self.up_since >= up_for_s
            return up and len(self.burst.executed()) >= n

        return check

    def all_done(self) -> bool:
        self.sample()
        try:
            return self.burst.executed() == self.burst.ids and not leftovers(self.s)
        except redis.RedisError:
            return False


def until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Whether ``condition`` came true within ``timeout_s`` (polled every 50 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def assert_all_done(watch: Watch, workers: list[subprocess.Popen[bytes]], limit_s: float) -> None:
    until(watch.all_done, limit_s)
    assert watch.burst.ids - watch.burst.executed() == set(), "runs never executed"
    assert leftovers(watch.s) == {}, "held or counted after every run was done"
    assert watch.lowest == 0, "a schedule's active or waiting went below 0"
    assert [w.poll() for w in workers] == [None] * len(workers), "a worker died"


def test_redis_killed_three_times_during_a_burst_loses_no_run_and_leaves_nothing_held(
    own_redis: EmbeddedRedis, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(own_redis.url, socket_timeout=5))
    burst = Burst(s, tmp_path / "done.jsonl", 0.01)
    burst.add(2000)
    time.sleep(1.5)  # appendfsync everysec: the enqueued burst is on disk before any crash
    workers += [start_worker(own_redis.url, tmp_path / f"worker{i}.log") for i in range(2)]
    watch = Watch(burst, own_redis.data_dir)
    lost_bytes = []
    for done in (300, 800, 1300):
        # (and Redis up for 0.6 s at least, so that there are 0.5 s of writes to lose)
        assert until(watch.executed_at_least(done, 0.6), 30), f"{done} not executed in 30 s"
        own_redis.kill()  # SIGKILL
        if done > 300:  # the 2nd and 3rd crash also lose the writes of their last 0.5 s
            lost_bytes.append(watch.lose_aof_tail(0.5))
        time.sleep(0.7)
        own_redis.start()  # same port, what is left of the AOF
        watch.restarted()
    assert burst.queued() > 0, "the burst was over before the last crash"
    assert all(n > 0 for n in lost_bytes), "no acknowledged write was lost"
    assert_all_done(watch, workers, 60)


def test_lost_replies_of_start_and_finish_lose_no_run_and_leave_nothing_held(
    redis_url: str, proxy: FaultProxy, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    for script in ("claim", "start", "finish"):
        s.client.script_load(lua(script))  # so a dropped EVALSHA is one Redis ran
    burst = Burst(s, tmp_path / "done.jsonl", 0.8)
    burst.add(500)
    watch = Watch(burst)
    claim, start, finish = Drops("claim"), Drops("start"), Drops("finish")
    proxy.drop_replies(claim)  # the first claim (40 runs) runs, and its reply is lost
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers += [start_worker(proxy.url, log) for log in logs]
    assert until(lambda: claim.dropped == 1, 15), "no claim within 15 s"
    for _ in range(20):
        for drops in (start, finish):
            if burst.queued() < 100:
                burst.add(100)  # on a slow machine: the burst lasts until the last drop
            fired = drops.one_more()
            proxy.drop_replies(drops)
            assert until(fired, 10), f"no {drops.script}.lua call to drop within 10 s"
            watch.sample()
            time.sleep(0.3)  # past the victim's first backoff (0.2 s): its retry goes through
    assert burst.queued() > 0, "the burst was over before the last drop"
    assert_all_done(watch, workers, 60)
    stats = proxy.stats
    assert (claim.dropped, start.dropped, finish.dropped) == (1, 20, 20)
    assert stats.replies_dropped == 41
    # No write was lost, only replies: every run executed exactly once, and recorded once
    # (a start or finish sent again after its reply was lost changed nothing).
    ran = Counter(str(line["run_id"]) for line in lines(burst.out))
    assert {run_id: n for run_id, n in ran.items() if n != 1} == {}, "runs executed twice"
    recorded = Counter(e.run_id for i in range(SCHEDULES) for e in s.reads.history(f"burst{i}")
                       if e.event == "succeeded")  # fmt: skip
    assert {run_id: n for run_id, n in recorded.items() if n != 1} == {}, "recorded twice"
    handed_back = "runs claimed while Redis did not answer"
    assert any(handed_back in log.read_text() for log in logs), "no reconcile was logged"


def enqueue_one(s: Store, name: str, out: Path, seconds: float = 0.0) -> str:
    schedule = appending(name, out, seconds)
    now = datetime.now(UTC)
    run_id = f"{name}@{to_ms(now)}"
    message = run_message(schedule, run_id, now, now, "schedule", 1)
    run = Run(run_id, "default", priority_score(5, to_ms(now)), message)
    assert s.ops.enqueue(name, run, event("enqueued", now, run_id=run_id))
    return run_id


def assert_nothing_held(s: Store, names: list[str]) -> None:
    k = s.keys
    for name in names:
        assert s.client.hmget(k.state(name), "active", "waiting") == [b"0", b"0"]
    assert s.client.hlen(k.runs) == s.client.hlen(k.claims) == s.client.hlen(k.deliveries) == 0
    assert s.client.exists(k.worker("w1"), k.queue("default")) == 0


def test_a_claim_whose_reply_was_lost_is_handed_back_not_held_forever(
    redis_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    k = s.keys
    out = tmp_path / "done.jsonl"
    worker = Worker(Store(connect(proxy.url)), concurrency=2, worker_id="w1")
    try:
        known = enqueue_one(s, "known", out, 0.5)  # running while the claim is lost
        assert worker.process_once() == 1
        assert list(worker.running) == [known]
        lost = enqueue_one(s, "lost", out)
        claim = Drops("claim")
        proxy.drop_replies(claim)
        with pytest.raises(StoreError):
            worker.process_once()
        assert (claim.dropped, proxy.stats.replies_dropped) == (1, 1)
        # Redis ran the claim: the run is held for w1, which never heard of it, and marked
        # started, for w1's free slot.
        assert s.client.hget(k.claims, lost) == b"w1|s"
        assert s.client.hget(k.deliveries, lost) == b"1"
        assert s.client.smembers(k.worker("w1")) == {known.encode(), lost.encode()}
        assert s.client.zcard(k.queue("default")) == 0
        assert list(worker.running) == [known] and not worker.backlog
        # What Worker.run() does after a StoreError: reconcile, then the step.
        assert worker.reconcile() == 1  # the lost claim only, not the running run
        assert s.client.hget(k.claims, lost) is None
        assert s.client.hget(k.claims, known) == b"w1|s"
        assert s.client.smembers(k.worker("w1")) == {known.encode()}
        assert s.client.zrange(k.queue("default"), 0, -1) == [lost.encode()]
        assert s.client.hget(k.deliveries, lost) == b"0"  # it never ran: delivery given back
        assert s.reads.states(["lost"])["lost"].waiting == 1
        assert worker.process_once() == 1
        assert lost in worker.running
        settle(worker)
    finally:
        worker.pool.close()
    assert sorted(str(line["run_id"]) for line in lines(out)) == sorted([known, lost])
    assert [line["attempt"] for line in lines(out)] == [1, 1]
    for name in ("known", "lost"):
        assert [e.event for e in s.reads.history(name)] == ["succeeded", "enqueued"]
    assert_nothing_held(s, ["known", "lost"])


def test_an_outcome_redis_never_received_is_sent_again_and_its_run_not_run_again(
    redis_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    k = s.keys
    out = tmp_path / "done.jsonl"
    worker = Worker(Store(connect(proxy.url, timeout_s=0.5)), worker_id="w1")
    try:
        run_id = enqueue_one(s, "once", out)
        assert worker.process_once() == 1
        worker.wait(10)  # until the run finished
        assert [job.claimed.run_id for job in worker.early] == [run_id]
        proxy.blackhole(True)  # requests go nowhere: the outcome never reaches Redis
        with pytest.raises(StoreError):
            worker.process_once()
        proxy.blackhole(False)
        assert [o.run_id for o in worker.unacked] == [run_id]  # kept, to be sent again
        assert s.client.hget(k.claims, run_id) == b"w1|s"
        assert [e.event for e in s.reads.history("once")] == ["enqueued"]
        # What Worker.run() does after a StoreError: reconcile, then the step.
        assert worker.reconcile() == 0  # its outcome is pending here: not handed back
        worker.process_once()
        assert not worker.unacked
        settle(worker)
    finally:
        worker.pool.close()
    assert [line["run_id"] for line in lines(out)] == [run_id]
    assert [e.event for e in s.reads.history("once")] == ["succeeded", "enqueued"]
    assert_nothing_held(s, ["once"])
