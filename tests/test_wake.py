"""Workers wait for announced runs instead of polling: every script that puts runs on a
queue announces them, a worker's waker wakes its wait, and a lost announcement costs a
bounded delay, never a run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from test_worker import T0, Clock, enqueue, job, settle, store

from scheduler import ops
from scheduler.beat import Scheduler
from scheduler.core.instants import to_ms
from scheduler.core.model import Backoff, Overlap, RetryPolicy
from scheduler.errors import StoreError
from scheduler.store import Store
from scheduler.store.embedded import EmbeddedRedis, free_port
from scheduler.store.worker import Announcements, _glob_escaped
from scheduler.worker import Worker, loop, wake
from scheduler.worker.pools import PreforkPool, ThreadPool
from scheduler.worker.wake import Waker

BOUND_S = 10.0  # every wait here is bounded by this; none is expected to come near it
BARRIER = "~barrier"


def listening(s: Store) -> Announcements:
    announcements = s.worker("listener").announcements()
    assert announcements.confirmed(BOUND_S)
    return announcements


def announced(s: Store, announcements: Announcements) -> list[str]:
    """Every queue announced so far: a marker published now ends the read (announcements
    arrive in the order they were made)."""
    s.client.publish(s.keys.queue(BARRIER), "")
    got: list[str] = []
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        queue = announcements.receive(0.1)
        if queue == BARRIER:
            return got
        if queue is not None:
            got.append(queue)
    pytest.fail("the marker never came back")


@pytest.fixture
def s(redis_url: str) -> Iterator[Store]:
    yield store(redis_url)


def test_a_dispatch_announces_each_queue_that_got_runs_once(s: Store) -> None:
    ears = listening(s)
    schedules = {name: job(name, "record", queue=queue) for name, queue in
                 (("a1", "alpha"), ("a2", "alpha"), ("b1", "beta"))}  # fmt: skip
    leader = Scheduler(s, schedules)
    assert leader.elect(T0 - timedelta(minutes=1))
    leader.tick(T0 - timedelta(minutes=1))  # the first fire times are set, nothing due
    assert announced(s, ears) == []
    assert leader.tick(T0) == 3
    assert sorted(announced(s, ears)) == ["alpha", "beta"]


def test_a_dispatch_that_enqueues_nothing_announces_nothing(s: Store) -> None:
    ears = listening(s)
    schedule = job("busy", "hang", overlap=Overlap.SKIP)
    leader = Scheduler(s, {"busy": schedule})
    assert leader.elect(T0 - timedelta(minutes=1))
    leader.tick(T0 - timedelta(minutes=1))
    assert leader.tick(T0) == 1
    assert announced(s, ears) == ["default"]
    assert leader.tick(T0 + timedelta(minutes=1)) == 0  # skipped: the first is still queued
    assert announced(s, ears) == []


def test_an_enqueue_announces_its_queue(s: Store) -> None:
    ears = listening(s)
    enqueue(s, job("one", "record", queue="reports"))
    assert announced(s, ears) == ["reports"]


def test_a_due_retry_is_announced_when_promoted(s: Store) -> None:
    flaky = job("flaky", "fail", queue="q", retry=RetryPolicy(max_attempts=2,
                backoff=Backoff.FIXED, initial_s=1, jitter=False))  # fmt: skip
    enqueue(s, flaky)
    worker = Worker(s, queues=("q",), now=Clock(T0))
    settle(worker)
    ears = listening(s)
    assert worker.backend.promote(0) == 0  # not due yet
    assert announced(s, ears) == []
    assert worker.backend.promote(10**15) == 1
    assert announced(s, ears) == ["q"]
    worker.pool.close()


def test_runs_of_a_dead_worker_are_announced_when_delivered_again(s: Store) -> None:
    enqueue(s, job("held", "record", queue="q"))
    silent = Worker(s, queues=("q",), now=Clock(T0), worker_id="silent", prefetch=0,
                    concurrency=0)  # fmt: skip
    silent.backend.heartbeat()
    assert len(silent.backend.claim("q", 10, 0)) == 1
    ears = listening(s)
    assert silent.backend.reap(0, 60_000) == 0  # alive
    assert announced(s, ears) == []
    time.sleep(0.01)
    assert silent.backend.reap(0, 1) == 1
    assert announced(s, ears) == ["q"]
    silent.pool.close()


def test_a_revived_dead_letter_and_a_handback_are_announced(s: Store) -> None:
    enqueue(s, job("doomed", "fail", queue="q", retry=RetryPolicy(max_attempts=1)))
    enqueue(s, job("slow", "hang", queue="q2", timeout_s=3600))
    worker = Worker(s, queues=("q", "q2"), now=Clock(T0), concurrency=1, prefetch=1)
    settle_until = time.monotonic() + BOUND_S
    while not ops.dead_letters(s) and time.monotonic() < settle_until:
        worker.process_once()
        time.sleep(0.005)
    [dead] = ops.dead_letters(s)
    ears = listening(s)
    assert ops.dead_retry(s, dead.run.run_id, T0)
    assert announced(s, ears) == ["q"]
    while not worker.running and time.monotonic() < settle_until:
        worker.process_once()
    assert worker.running  # the hanging run (and perhaps the revived one, prefetched)
    assert worker.hand_back() >= 1
    assert "q2" in announced(s, ears)
    worker.pool.close()


def test_the_subscription_matches_queue_keys_literally() -> None:
    assert _glob_escaped("{sched}:queue:") == "{sched}:queue:"
    assert _glob_escaped("a*b?[c]\\d") == "a\\*b\\?\\[c\\]\\\\d"


def test_a_namespace_with_pattern_characters_hears_only_its_own_queues(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    odd, plain = Store(client, namespace="t[e]s*t"), Store(client, namespace="tXst")
    ears = odd.worker("listener").announcements()
    assert ears.confirmed(BOUND_S)
    enqueue(plain, job("other", "record", queue="q"))
    enqueue(odd, job("mine", "record", queue="q"))
    assert ears.receive(BOUND_S) == "q"
    assert ears.receive(0.2) is None  # the other namespace's announcement never came


# -- the waker ---------------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def reaches(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= count, timeout=BOUND_S)


def waker_for(s: Store, queues: set[str], wake: Callable[[], None]) -> Waker:
    waker = Waker(s.worker("w").announcements, lambda: queues, wake)
    waker.start()
    deadline = time.monotonic() + BOUND_S
    while not waker.listening and time.monotonic() < deadline:
        time.sleep(0.005)
    assert waker.listening
    return waker


def test_the_waker_wakes_once_on_subscribing_then_for_its_own_queues_only(s: Store) -> None:
    wakes, asked = Counter(), Counter()

    def queues() -> set[str]:
        asked()
        return {"mine"}

    waker = Waker(s.worker("w").announcements, queues, wakes)
    waker.start()
    try:
        assert wakes.reaches(1)  # subscribed: claim what came while nobody listened
        enqueue(s, job("theirs", "record", queue="theirs"))
        enqueue(s, job("mine", "record", queue="mine"))
        assert wakes.reaches(2)
        assert wakes.count == 2  # announcements come in order: "theirs" woke nobody
        assert asked.count == 2  # each announcement was checked against the queues
    finally:
        waker.stop()
    assert not waker.listening


def test_the_waker_subscribes_again_after_its_connection_is_killed(
    s: Store, redis_url: str
) -> None:
    wakes = Counter()
    waker = waker_for(s, {"default"}, wakes)
    try:
        assert wakes.reaches(1)
        killed = redis.Redis.from_url(redis_url).client_kill_filter(_type="pubsub")
        assert killed >= 1
        assert wakes.reaches(2)  # subscribed again, and woke to claim what it may have missed
        assert waker.listening
        enqueue(s, job("after", "record"))
        assert wakes.reaches(3)
    finally:
        waker.stop()


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """``worker.run()`` on a thread for the block; stopped and joined (bounded) after it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 1.0))
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=BOUND_S)
    assert not thread.is_alive()


def test_an_unreachable_redis_is_retried_with_backoff_and_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribing to a port nothing listens on: each try waits the outage backoff of the
    failures so far (1, 2, 3, ...: 0.2 s doubling, shortened here), one log line for the
    outage, and the worker polls meanwhile."""
    unreachable = Store(redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0)))
    failures: list[int] = []

    def backoff(count: int) -> float:
        failures.append(count)
        return 0.01

    monkeypatch.setattr(wake, "outage_wait_s", backoff)
    waker = Waker(unreachable.worker("w").announcements, lambda: {"default"}, lambda: None)
    with caplog.at_level(logging.INFO, logger="sched.worker"):
        waker.start()
        deadline = time.monotonic() + BOUND_S
        while len(failures) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not waker.listening
        waker.stop()
    assert failures[:4] == [1, 2, 3, 4]
    said = [r.getMessage() for r in caplog.records if "not subscribed" in r.getMessage()]
    assert len(said) == 1 and "polling until Redis answers" in said[0]


def test_a_new_outage_after_listening_is_logged_again(
    own_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    s = Store(redis.Redis.from_url(own_redis.url))
    wakes = Counter()
    with caplog.at_level(logging.INFO, logger="sched.worker"):
        waker = waker_for(s, {"default"}, wakes)
        try:
            for outage in (1, 2):
                own_redis.kill()
                deadline = time.monotonic() + BOUND_S
                while waker.listening and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert not waker.listening
                own_redis.start()  # the same port
                assert wakes.reaches(outage + 1)  # subscribed again and woke to claim
                assert waker.listening
        finally:
            waker.stop()
    said = [r for r in caplog.records if "not subscribed" in r.getMessage()]
    assert len(said) == 2  # once per outage, however many tries each took


# -- pools and the worker's wait -----------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: ThreadPool(1, "w"), lambda: PreforkPool(1, "w")],
                         ids=["thread", "prefork"])  # fmt: skip
def test_a_wake_ends_an_idle_pools_wait(make: Callable[[], Any]) -> None:
    pool = make()
    try:
        threading.Timer(0.05, pool.wake).start()
        started = time.monotonic()
        assert pool.finished(BOUND_S * 3) == []
        assert time.monotonic() - started < BOUND_S
        pool.wake()  # a wake before the wait ends the next wait at once
        started = time.monotonic()
        assert pool.finished(BOUND_S * 3) == []
        assert time.monotonic() - started < BOUND_S
        assert pool.finished(0.05) == []  # answered: the next wait waits
    finally:
        pool.close()


def test_an_idle_wait_is_bounded_by_the_next_upkeep_and_the_first_timeout(s: Store) -> None:
    worker = Worker(s, now=Clock(T0))
    try:
        assert worker.idle_wait_s(False, time.monotonic() + 60) == loop.IDLE_POLL_S
        assert worker.idle_wait_s(True, time.monotonic() + 60) == pytest.approx(
            loop.IDLE_WAIT_S, abs=0.01)  # fmt: skip
        assert worker.idle_wait_s(True, time.monotonic() + 0.2) == pytest.approx(0.2, abs=0.05)
        assert worker.idle_wait_s(True, time.monotonic() - 5) == 0.0
        enqueue(s, job("slow", "hang", timeout_s=3600))
        worker.process_once()
        [running] = worker.running.values()
        running.deadline = time.monotonic() + 0.1
        assert worker.idle_wait_s(True, time.monotonic() + 60) == pytest.approx(0.1, abs=0.05)
    finally:
        worker.pool.close()


def test_an_announced_run_is_taken_without_waiting_for_the_bound(
    s: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the idle wait and the upkeep both an hour long, only the announcement can
    start the run."""
    monkeypatch.setattr(loop, "IDLE_WAIT_S", 3600.0)
    monkeypatch.setattr(loop, "HEARTBEAT_EVERY_S", 3600.0)
    with running(Worker(s, now=Clock(T0), worker_id="waiting")):
        deadline = time.monotonic() + BOUND_S
        while not s.reads.workers() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # subscribed, woken once, waiting
        run_id = enqueue(s, job("now", "record", args=("woken",)))
        while s.client.hexists(s.keys.runs, run_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not s.client.hexists(s.keys.runs, run_id)  # done and acknowledged


def test_without_channel_rights_runs_are_dispatched_and_taken_by_polling(
    redis_url: str,
) -> None:
    """A Redis user allowed every key but no channel (Redis 7's default for a new ACL user):
    the scripts' announcements are refused and ignored, the worker cannot subscribe and
    polls, and the run is still dispatched, taken and acknowledged."""
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser("nochannels", enabled=True, passwords=["+pw"], keys=["*"],
                      commands=["+@all"], reset_channels=True)  # fmt: skip
    try:
        where = admin.connection_pool.connection_kwargs
        limited = Store(redis.Redis(host=where["host"], port=where["port"], db=where["db"],
                                    username="nochannels", password="pw"))  # fmt: skip
        with pytest.raises(redis.ResponseError, match="permissions"):
            limited.client.publish("{sched}:queue:default", "")
        schedule = job("limited", "record", args=("polled",))
        leader = Scheduler(limited, {"limited": schedule})
        assert leader.elect(T0 - timedelta(minutes=1))
        leader.tick(T0 - timedelta(minutes=1))
        assert leader.tick(T0) == 1
        with running(Worker(limited, now=Clock(T0), worker_id="limited")):
            deadline = time.monotonic() + BOUND_S
            while admin.hlen(limited.keys.runs) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert admin.hlen(limited.keys.runs) == 0
    finally:
        admin.acl_deluser("nochannels")


def test_a_listening_worker_that_drained_its_queues_claims_again_only_when_told(
    s: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a claim that found the queues drained, a run finishing does not send another
    claim (it would find nothing): an announcement does, and so does the bound."""
    worker = Worker(s, now=Clock(T0), concurrency=1, prefetch=0)
    claims: list[int] = []
    real_claim = worker.backend.claim

    def counted(queue: str, count: int, now_ms: int, start: int = 0) -> Any:
        claims.append(count)
        return real_claim(queue, count, now_ms, start)

    monkeypatch.setattr(worker.backend, "claim", counted)
    worker.listening = lambda: True
    try:
        enqueue(s, job("a", "record", args=("a",)))
        assert worker.process_once() == 1  # claims 1 of 1 asked: not drained
        settle_running(worker)
        assert worker.process_once() == 0  # records the outcome; claims: finds nothing
        assert len(claims) == 2
        enqueue(s, job("b", "record", args=("b",)), T0 + timedelta(minutes=1))
        assert worker.process_once() == 0  # drained, and not told: no claim sent
        assert len(claims) == 2
        worker.wake()  # what the waker does for an announcement
        assert worker.process_once() == 1
        settle_running(worker)
        assert worker.process_once() == 0  # the claim after b finds nothing: drained again
        enqueue(s, job("c", "record", args=("c",)), T0 + timedelta(minutes=2))
        assert worker.process_once() == 0
        monkeypatch.setattr(loop, "IDLE_WAIT_S", 0.0)  # the bound has passed
        assert worker.process_once() == 1
        worker.listening = lambda: False  # announcements lost: claims every pass
        settle_running(worker)
        before = len(claims)
        worker.process_once()
        worker.process_once()
        assert len(claims) == before + 2
    finally:
        worker.pool.close()


def test_a_claim_that_failed_is_not_taken_for_drained_queues(
    s: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose round trip failed says nothing about the queues: the next pass claims
    again, even if the claim before it had found them drained."""
    worker = Worker(s, now=Clock(T0), concurrency=1, prefetch=0)
    worker.listening = lambda: True
    real_claim = worker.backend.claim
    try:
        assert worker.process_once() == 0  # finds nothing: drained
        enqueue(s, job("a", "record", args=("a",)))
        worker.wake()

        def lost(queue: str, count: int, now_ms: int, start: int = 0) -> Any:
            real_claim(queue, count, now_ms, start)  # Redis ran it; the reply never came
            raise StoreError("Redis unavailable: ConnectionError: lost")

        monkeypatch.setattr(worker.backend, "claim", lost)
        with pytest.raises(StoreError):
            worker.process_once()
        monkeypatch.setattr(worker.backend, "claim", real_claim)
        enqueue(s, job("b", "record", args=("b",)), T0 + timedelta(minutes=1))
        assert worker.process_once() == 1  # not announced, yet claimed: b
        assert [job.claimed.run_id for job in worker.running.values()] == [
            f"b@{to_ms(T0 + timedelta(minutes=1))}"
        ]
    finally:
        worker.pool.close()


def settle_running(worker: Worker) -> None:
    """Wait (bounded) until every running run has finished in the worker's pool."""
    deadline = time.monotonic() + BOUND_S
    while len(worker.early) < len(worker.running) and time.monotonic() < deadline:
        worker.wait(0.05)
    assert len(worker.early) >= len(worker.running), "a run did not finish in time"
