"""Workers against a real Redis, in-process: outcomes, retries, timeouts, expiry, overlap.
The worker's clock is injected; only task execution itself takes real time."""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import worker_tasks

from scheduler import ops
from scheduler.beat import Scheduler
from scheduler.core.instants import to_ms, utc_text
from scheduler.core.messages import RunMessage, event, priority_score, run_message
from scheduler.core.model import Backoff, Overlap, RetryPolicy, Schedule
from scheduler.store import Run, Store
from scheduler.store.values import Claimed
from scheduler.worker import Worker
from scheduler.worker.execute import Result
from scheduler.worker.pools import START_ALLOWANCE_S, Job, PreforkPool

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def job(name: str, task: str, **fields: Any) -> Schedule:
    return Schedule(name=name, task=f"worker_tasks:{task}", timezone="UTC", every_s=60, **fields)


def enqueue(s: Store, schedule: Schedule, fire_at: datetime = T0) -> str:
    run_id = f"{schedule.name}@{to_ms(fire_at)}"
    message = run_message(schedule, run_id, fire_at, fire_at, "schedule", 1)
    run = Run(run_id, schedule.queue, priority_score(schedule.priority, to_ms(fire_at)), message)
    assert s.ops.enqueue(schedule.name, run, event("enqueued", fire_at, run_id=run_id))
    return run_id


def settle(worker: Worker, timeout_s: float = 10.0) -> None:
    """Step the worker until it holds nothing and its queues are empty (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        taken = worker.process_once()
        if not taken and not worker.running and not worker.backlog:
            return
        time.sleep(0.002)
    pytest.fail(f"the worker did not settle within {timeout_s} s")


def outcomes(s: Store, name: str) -> list[str]:
    return [e.event for e in reversed(s.reads.history(name)) if e.event != "enqueued"]


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    worker_tasks.CALLS.clear()


def test_a_run_executes_with_its_arguments_and_context(redis_url: str) -> None:
    s = store(redis_url)
    schedule = job("rec", "record", args=(1, "a"), kwargs={"k": True})
    run_id = enqueue(s, schedule)
    worker = Worker(s, now=Clock(T0 + timedelta(seconds=1)), worker_id="w1")
    settle(worker)
    assert [
        {
            "args": [1, "a"],
            "kwargs": {"k": True},
            "schedule": "rec",
            "run_id": run_id,
            "fire_at": T0,
            "attempt": 1,
        }
    ] == worker_tasks.CALLS
    [event] = [e for e in s.reads.history("rec") if e.event == "succeeded"]
    assert (event.run_id, event.attempt, event.worker) == (run_id, 1, "w1")
    assert event.started == "2026-06-01T12:00:01.000Z"
    assert s.client.hlen(s.keys.runs) == 0  # acknowledged: nothing left in flight
    # (dispatch counts; this run was enqueued directly)
    assert s.reads.states(["rec"])["rec"].runs == 0


def test_retries_follow_the_backoff_exactly_then_dead_letter(redis_url: str) -> None:
    s = store(redis_url)
    policy = RetryPolicy(
        max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_s=10, max_s=15, jitter=False
    )
    run_id = enqueue(s, job("flaky", "fail", retry=policy))
    clock = Clock(T0)
    worker = Worker(s, now=clock)
    # Attempt 1 at 12:00:00; attempt 2 ten seconds later; attempt 3 min(20, 15) s after that.
    for offset_ms in (0, 9_999, 10_000, 24_999, 25_000):
        clock.at = T0 + timedelta(milliseconds=offset_ms)
        worker.upkeep()
        settle(worker)
    starts = [e.started for e in reversed(s.reads.history("flaky")) if e.started is not None]
    assert starts == [
        "2026-06-01T12:00:00.000Z",
        "2026-06-01T12:00:10.000Z",
        "2026-06-01T12:00:25.000Z",
    ]
    assert outcomes(s, "flaky") == ["retrying", "retrying", "dead"]
    [letter] = ops.dead_letters(s)
    assert (letter.run.run_id, letter.attempts) == (run_id, 3)
    assert letter.error_type == "ConnectionError"
    assert letter.error_message == "boom"
    assert "Traceback (most recent call last)" in letter.traceback
    assert letter.run.previous_error == "ConnectionError: boom"


def test_an_exception_not_in_retry_on_fails_at_once(redis_url: str) -> None:
    s = store(redis_url)
    policy = RetryPolicy(max_attempts=5, retry_on=("ConnectionError",))
    enqueue(s, job("strict", "fail", kwargs={"kind": "ValueError"}, retry=policy))
    settle(Worker(s, now=Clock(T0)))
    assert outcomes(s, "strict") == ["failed"]
    [letter] = ops.dead_letters(s)
    assert letter.why == "ValueError is not in retry_on"


def test_retry_on_matches_base_classes(redis_url: str) -> None:
    s = store(redis_url)
    policy = RetryPolicy(max_attempts=2, retry_on=("OSError",), jitter=False, initial_s=1)
    enqueue(s, job("base", "fail", retry=policy))  # ConnectionError is an OSError
    settle(Worker(s, now=Clock(T0)))
    assert outcomes(s, "base") == ["retrying"]


def test_a_task_can_ask_for_a_retry_with_its_own_delay(redis_url: str) -> None:
    s = store(redis_url)
    enqueue(s, job("asks", "ask_retry", args=(7,), retry=RetryPolicy(max_attempts=5)))
    clock = Clock(T0)
    worker = Worker(s, now=clock)
    settle(worker)
    assert s.client.zscore(s.keys.retries, "asks@" + str(to_ms(T0))) == to_ms(
        T0 + timedelta(seconds=7)
    )
    for seconds in (7, 14):
        clock.at = T0 + timedelta(seconds=seconds)
        worker.upkeep()
        settle(worker)
    assert outcomes(s, "asks") == ["retrying", "retrying", "succeeded"]


def test_dead_retry_brings_a_dead_letter_back_to_its_queue(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, job("once", "fail", retry=RetryPolicy(max_attempts=1)))
    worker = Worker(s, now=Clock(T0))
    settle(worker)
    assert [d.run.run_id for d in ops.dead_letters(s)] == [run_id]
    assert ops.dead_retry(s, run_id, T0 + timedelta(minutes=1))
    assert ops.dead_letters(s) == []
    [message] = s.reads.queued_runs("default")
    assert (message.run_id, message.attempt) == (run_id, 1)
    assert not ops.dead_retry(s, run_id, T0)  # no longer dead


@pytest.mark.parametrize(
    ("pool", "said"),
    [
        ("thread", "the run exceeded its timeout of 1s; it is still running in an abandoned "
                   "thread (Python cannot stop a thread) and counts as running for overlap "
                   "until it returns; the prefork pool stops such runs"),
        ("prefork", "the run exceeded its timeout of 1s and its process was killed"),
    ],
)  # fmt: skip
def test_a_hung_task_is_timed_out_at_its_timeout_and_its_slot_freed(
    redis_url: str, pool: str, said: str
) -> None:
    s = store(redis_url)
    enqueue(s, job("hung", "hang", timeout_s=1, retry=RetryPolicy(max_attempts=1)))
    enqueue(s, job("next", "record" if pool == "thread" else "hang", args=(0,)),
            T0 + timedelta(seconds=1))  # fmt: skip
    worker = Worker(s, concurrency=1, pool_kind=pool, now=Clock(T0))
    began = time.monotonic()
    settle(worker, timeout_s=20)
    assert time.monotonic() - began < 15
    assert outcomes(s, "hung") == ["timed_out"]
    [letter] = ops.dead_letters(s)
    assert letter.to_json()["error"] == {"type": "TimeoutError", "traceback": "", "message": said}
    assert outcomes(s, "next") == ["succeeded"]
    worker.pool.close()


def test_a_thread_abandoned_at_its_timeout_still_counts_for_overlap_skip_until_it_returns(
    redis_url: str, tmp_path: Any
) -> None:
    """The trap: timeout 1 s, overlap skip, a task that takes 3 s. Before, the timed-out run
    stopped counting at once, so the next fire ran beside the abandoned thread."""
    spans = tmp_path / "spans.jsonl"
    schedule = job("slow", "stamp", args=(str(spans), 3), overlap=Overlap.SKIP, timeout_s=1,
                   retry=RetryPolicy(max_attempts=1))  # fmt: skip
    leader = dispatching(redis_url, schedule)
    s = store(redis_url)
    worker = Worker(s, concurrency=2, pool_kind="thread", now=Clock(T0))
    leader.tick(T0)
    assert worker.process_once() == 1
    step_until(worker, lambda: outcomes(s, "slow") == ["timed_out"])
    leader.tick(T0 + timedelta(minutes=1))  # the abandoned thread still runs: skipped
    assert outcomes(s, "slow") == ["timed_out", "skipped"]
    step_until(worker, lambda: not s.client.exists(s.keys.abandoned(worker.worker_id)))
    assert s.reads.states(["slow"])["slow"].active == 0
    leader.tick(T0 + timedelta(minutes=2))  # it returned: this fire runs
    step_until(worker, lambda: outcomes(s, "slow")[-1] == "timed_out" and len(
        outcomes(s, "slow")) == 3)  # fmt: skip
    step_until(worker, lambda: not s.client.exists(s.keys.abandoned(worker.worker_id)))
    ran = [json.loads(line) for line in spans.read_text().splitlines()]
    assert [r["run_id"] for r in ran] == [f"slow@{to_ms(T0)}", f"slow@{to_ms(T0) + 120_000}"]
    overlapping = sum(1 for a, b in itertools.combinations(ran, 2)
                      if a["start"] < b["end"] and b["start"] < a["end"])  # fmt: skip
    assert overlapping == 0
    worker.pool.close()


def step_until(worker: Worker, done: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {timeout_s} s")
        worker.process_once()
        worker.wait(0.01)


def pids(path: Any) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def test_prefork_children_live_across_runs_and_a_timeout_replaces_only_its_child(
    redis_url: str, tmp_path: Any
) -> None:
    s = store(redis_url)
    out = tmp_path / "pids"
    for n in range(4):
        enqueue(s, job(f"p{n}", "pid", args=(str(out),)), T0 + timedelta(seconds=n))
    worker = Worker(s, concurrency=1, pool_kind="prefork", now=Clock(T0))
    settle(worker, timeout_s=30)
    first = pids(out)
    assert len(first) == 4 and len(set(first)) == 1  # one child ran all four: no start per run
    enqueue(s, job("hung", "hang", timeout_s=1, retry=RetryPolicy(max_attempts=1)),
            T0 + timedelta(seconds=10))  # fmt: skip
    enqueue(s, job("after", "pid", args=(str(out),)), T0 + timedelta(seconds=11))
    settle(worker, timeout_s=30)
    assert outcomes(s, "hung") == ["timed_out"] and outcomes(s, "after") == ["succeeded"]
    assert pids(out)[4] != first[0]  # the hung child was killed and replaced
    assert not psutil_alive(first[0])
    worker.pool.close()


def psutil_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_prefork_recycles_a_child_after_max_runs_per_child(redis_url: str, tmp_path: Any) -> None:
    s = store(redis_url)
    out = tmp_path / "pids"
    for n in range(5):
        enqueue(s, job(f"p{n}", "pid", args=(str(out),)), T0 + timedelta(seconds=n))
    worker = Worker(s, concurrency=1, pool_kind="prefork", max_runs_per_child=2, now=Clock(T0))
    settle(worker, timeout_s=30)
    ran = pids(out)
    assert len(ran) == 5
    assert ran[0] == ran[1] != ran[2] == ran[3] != ran[4]
    assert len(set(ran)) == 3
    worker.pool.close()


def test_a_fresh_run_for_a_free_slot_starts_with_its_claim_and_one_delivered_again_after_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim marks a never-started run started when a slot is free for it, so it runs
    after one round trip; a run delivered again is checked first and marked by ``settle``."""
    s = store(redis_url)
    fresh = enqueue(s, job("fresh", "record", args=("fresh",)))
    worker = Worker(s, now=Clock(T0), worker_id="w1", concurrency=1, prefetch=0)
    marked: list[list[tuple[str, str]]] = []
    real_settle = worker.backend.settle

    def watched(outcomes: Any, now_ms: int, started: Any = (), returned: Any = ()) -> Any:
        marked.append(list(started))
        return real_settle(outcomes, now_ms, started, returned)

    monkeypatch.setattr(worker.backend, "settle", watched)
    assert worker.process_once() == 1
    assert list(worker.running) == [fresh] and marked == []  # no round trip but the claim
    assert s.client.hget(s.keys.claims, fresh) == b"w1|s"
    settle(worker)
    again = enqueue(s, job("again", "record", args=("again",)))
    s.client.hset(s.keys.deliveries, again, 1)  # started once before, by a worker that died
    assert worker.process_once() == 1
    assert list(worker.running) == [again] and marked[-1] == [(again, "again")]
    settle(worker)
    assert [call["args"] for call in worker_tasks.CALLS] == [["fresh"], ["again"]]
    assert outcomes(s, "fresh") == ["succeeded"] and outcomes(s, "again") == ["succeeded"]


def test_no_run_is_started_by_a_claim_while_a_suspect_runs_or_waits_to_run_alone(
    redis_url: str,
) -> None:
    """A run started twice without an outcome (suspect) runs alone: a claim meanwhile
    marks nothing started, even with a slot free, or a run that waits would count a
    delivery it never had."""
    s = store(redis_url)
    # Waiting: a run holds one of two slots, the suspect waits for it to end.
    first = Worker(s, now=Clock(T0), worker_id="w1", concurrency=2)
    busy = enqueue(s, job("busy", "hang", args=(0.5,)))
    suspect = enqueue(s, job("suspect", "record", args=("suspect",)))
    s.client.hset(s.keys.deliveries, suspect, 2)
    assert first.process_once() == 2
    assert list(first.running) == [busy] and [c.run_id for c in first.backlog] == [suspect]
    fresh = enqueue(s, job("fresh", "record", args=("fresh",)))
    assert first.process_once() == 1
    assert s.client.hget(s.keys.claims, fresh) == b"w1"  # claimed, not started
    assert s.client.hget(s.keys.deliveries, fresh) is None
    settle(first)
    # Running: the suspect holds one of two slots alone.
    second = Worker(s, now=Clock(T0), worker_id="w2", concurrency=2)
    alone = enqueue(s, job("alone", "hang", args=(0.5,)), T0 + timedelta(minutes=1))
    s.client.hset(s.keys.deliveries, alone, 2)
    assert second.process_once() == 1 and list(second.running) == [alone]
    later = enqueue(s, job("later", "record", args=("later",)), T0 + timedelta(minutes=1))
    assert second.process_once() == 1
    assert s.client.hget(s.keys.claims, later) == b"w2"
    assert list(second.running) == [alone]
    settle(second)
    assert [call["args"] for call in worker_tasks.CALLS] == [["suspect"], ["fresh"], ["later"]]


def test_a_claim_over_several_queues_starts_no_more_runs_than_free_slots(
    redis_url: str,
) -> None:
    s = store(redis_url)
    a = enqueue(s, job("a", "record", args=("a",), queue="qa"))
    b = enqueue(s, job("b", "record", args=("b",), queue="qb"))
    worker = Worker(s, now=Clock(T0), worker_id="w1", queues=("qa", "qb"), concurrency=1)
    assert worker.process_once() == 2
    assert s.client.hget(s.keys.claims, a) == b"w1|s"
    assert s.client.hget(s.keys.claims, b) == b"w1"  # prefetched: waits for the slot
    settle(worker)
    assert outcomes(s, "a") == ["succeeded"] and outcomes(s, "b") == ["succeeded"]


def step_after_a_run_ends(worker: Worker, timeout_s: float = 10.0) -> int:
    """Wait (bounded) until a running run finishes, then step the worker once."""
    deadline = time.monotonic() + timeout_s
    while not worker.early:
        if time.monotonic() >= deadline:
            pytest.fail(f"no run finished within {timeout_s} s")
        worker.wait(0.1)
    return worker.process_once()


def test_no_claim_is_sent_while_the_runs_claimed_ahead_can_fill_every_slot(
    redis_url: str,
) -> None:
    s = store(redis_url)
    for k in range(6):
        enqueue(s, job(f"r{k}", "record", args=(k,)), T0 + timedelta(seconds=k))
    queued = s.keys.queue("default")
    worker = Worker(s, now=Clock(T0 + timedelta(minutes=1)), worker_id="w1", concurrency=1,
                    prefetch=2)  # fmt: skip
    assert worker.process_once() == 3  # one started by the claim, two claimed ahead
    assert s.client.zcard(queued) == 3
    # The next run starts from the two claimed ahead; the one left fills the slot next time.
    assert step_after_a_run_ends(worker) == 0
    assert s.client.zcard(queued) == 3 and len(worker.backlog) == 1
    # Then nothing claimed ahead is left: the claim takes up to prefetch again.
    assert step_after_a_run_ends(worker) == 2
    assert s.client.zcard(queued) == 1 and len(worker.backlog) == 2
    settle(worker)
    assert [call["args"] for call in worker_tasks.CALLS] == [[k] for k in range(6)]


def test_a_run_claimed_ahead_that_another_worker_took_leaves_its_slot_to_the_next_at_once(
    redis_url: str,
) -> None:
    s = store(redis_url)
    ids = [enqueue(s, job(f"r{k}", "record", args=(k,)), T0 + timedelta(seconds=k))
           for k in range(3)]  # fmt: skip
    worker = Worker(s, now=Clock(T0 + timedelta(minutes=1)), worker_id="w1", concurrency=1,
                    prefetch=2)  # fmt: skip
    assert worker.process_once() == 3  # r0 started by the claim, r1 and r2 claimed ahead
    s.client.hset(s.keys.claims, ids[1], "w2")  # r1 delivered to another worker meanwhile
    assert step_after_a_run_ends(worker) == 0
    assert list(worker.running) == [ids[2]]  # in the step that found r1 gone
    settle(worker)
    assert [call["args"] for call in worker_tasks.CALLS] == [[0], [2]]


def test_a_run_the_claim_started_runs_beside_one_recorded_expired_in_the_same_step(
    redis_url: str,
) -> None:
    s = store(redis_url)
    enqueue(s, job("late", "record", args=("late",), expires_s=30))
    ok = enqueue(s, job("ok", "record", args=("ok",)), T0 + timedelta(seconds=30))
    worker = Worker(s, now=Clock(T0 + timedelta(seconds=31)), worker_id="w1", concurrency=2)
    assert worker.process_once() == 2
    assert list(worker.running) == [ok]
    settle(worker)
    assert [call["args"] for call in worker_tasks.CALLS] == [["ok"]]
    assert outcomes(s, "late") == ["expired"] and outcomes(s, "ok") == ["succeeded"]


def test_a_run_not_started_within_expires_is_recorded_expired(redis_url: str) -> None:
    s = store(redis_url)
    enqueue(s, job("late", "record", expires_s=30))
    settle(Worker(s, now=Clock(T0 + timedelta(seconds=31))))
    assert worker_tasks.CALLS == []
    assert outcomes(s, "late") == ["expired"]
    assert s.client.hlen(s.keys.runs) == 0


def test_the_process_pool_gives_tasks_their_context_and_survives_a_crash(
    redis_url: str, tmp_path: Any
) -> None:
    s = store(redis_url)
    out = tmp_path / "lines.jsonl"
    enqueue(s, job("proc", "append_line", args=(str(out),)))
    enqueue(s, job("crash", "die", retry=RetryPolicy(max_attempts=1)))
    worker = Worker(s, concurrency=2, pool_kind="prefork", now=Clock(T0))
    settle(worker, timeout_s=30)
    worker.pool.close()
    assert out.read_text().count("proc@") == 1
    assert outcomes(s, "proc") == ["succeeded"]
    assert outcomes(s, "crash") == ["failed"]
    assert ops.dead_letters(s)[0].error_type == "ProcessDied"


def dispatching(url: str, schedule: Schedule) -> Scheduler:
    leader = Scheduler(store(url), {schedule.name: schedule})
    assert leader.elect(T0 - timedelta(minutes=1))
    leader.tick(T0 - timedelta(minutes=1))
    return leader


@pytest.mark.parametrize(
    ("overlap", "events"),
    [
        (Overlap.ALLOW, ["enqueued", "enqueued", "enqueued"]),
        (Overlap.SKIP, ["enqueued", "skipped", "skipped"]),
        (Overlap.QUEUE_ONE, ["enqueued", "enqueued", "skipped"]),
    ],
)
def test_overlap_is_decided_in_the_dispatch_step(
    redis_url: str, overlap: Overlap, events: list[str]
) -> None:
    schedule = job("ov", "hang", overlap=overlap)
    leader = dispatching(redis_url, schedule)
    s = store(redis_url)
    worker = Worker(s, concurrency=1, now=Clock(T0))
    leader.tick(T0)  # fire 1 is enqueued, then started (it hangs: running)
    assert worker.process_once() == 1
    leader.tick(T0 + timedelta(minutes=1))  # fire 2: a run is running
    leader.tick(T0 + timedelta(minutes=2))  # fire 3: a run is running and maybe one waits
    skipped = [e.fire_at for e in reversed(s.reads.history("ov")) if e.event == "skipped"]
    dispatched = [
        (T0 + timedelta(minutes=n)) for n, kind in enumerate(events) if kind == "enqueued"
    ]
    not_dispatched = [
        T0 + timedelta(minutes=n) for n, kind in enumerate(events) if kind == "skipped"
    ]
    assert skipped == [utc_text(f) for f in not_dispatched]
    queued_or_running = (
        {m.fire_at for m in s.reads.queued_runs("default")}
        | {job.claimed.message.fire_at for job in worker.running.values()}
        | {item.message.fire_at for item in worker.backlog}
    )
    assert queued_or_running == {utc_text(f) for f in dispatched}
    state = s.reads.states(["ov"])["ov"]
    assert state.skipped == events.count("skipped")
    worker.pool.close()


def test_history_and_state_count_queued_and_running_runs(redis_url: str) -> None:
    schedule = job("cnt", "record")
    leader = dispatching(redis_url, schedule)
    s = store(redis_url)
    leader.tick(T0)
    leader.tick(T0 + timedelta(minutes=1))
    state = s.reads.states(["cnt"])["cnt"]
    assert (state.active, state.waiting) == (2, 2)
    settle(Worker(s, now=Clock(T0 + timedelta(minutes=1))))
    state = s.reads.states(["cnt"])["cnt"]
    assert (state.active, state.waiting) == (0, 0)
    assert utc_text(T0) in {e.fire_at for e in s.reads.history("cnt")}


def test_drifted_overlap_counters_are_repaired_from_the_runs_that_exist(redis_url: str) -> None:
    s = store(redis_url)
    queued = enqueue(s, job("q", "record"))
    enqueue(s, job("r", "record"))
    [claimed] = s.worker("w1").claim("default", 1, to_ms(T0))
    assert claimed.run_id == queued
    s.worker("w1").settle([], to_ms(T0), [(queued, "q")])  # q is now started, r queued
    s.client.hset(s.keys.state("q"), mapping={"active": 7, "waiting": 3})  # drifted
    s.client.hset(s.keys.state("r"), mapping={"active": 0, "waiting": -2})
    s.client.hset(s.keys.state("gone"), mapping={"active": 4, "waiting": 4})
    s.client.hset(s.keys.defs, "gone", "{}")
    fixes = {f.schedule: (f.active_was, f.waiting_was, f.active, f.waiting) for f in ops.repair(s)}
    assert fixes == {"q": (7, 3, 1, 0), "r": (0, -2, 1, 1), "gone": (4, 4, 0, 0)}
    assert ops.repair(s) == []  # and now they agree


def test_a_prefork_runs_timeout_counts_from_when_its_child_begins_it(redis_url: str) -> None:
    """A new child may take a while to start (it is a fresh interpreter); that time is not
    the run's: the deadline is set again when the child says it began."""
    schedule = job("slowstart", "hang", args=(0.2,), timeout_s=1)
    message = run_message(schedule, "slowstart@1", T0, T0, "schedule", 1)
    pool = PreforkPool(1, "w")
    try:
        handed = time.monotonic()
        work = Job(Claimed("slowstart@1", RunMessage.loads(message), 1), T0, handed + 1)
        pool.submit(work)
        assert work.deadline == handed + 1 + START_ALLOWANCE_S  # until the child begins
        done: list[Job] = []
        deadline = time.monotonic() + 20
        while not done and time.monotonic() < deadline:
            done = pool.finished(0.05)
            if work.deadline is not None and work.deadline < handed + START_ALLOWANCE_S:
                began = work.deadline - 1
                assert handed <= began <= time.monotonic()
        assert done == [work] and work.result is not None and work.result.error is None
        assert work.deadline is not None and work.deadline < handed + START_ALLOWANCE_S
    finally:
        pool.close()


def test_a_prefork_timeout_kills_the_processes_the_task_started_too(
    redis_url: str, tmp_path: Any
) -> None:
    s = store(redis_url)
    out = tmp_path / "grandchild.pid"
    enqueue(s, job("spawner", "spawn_and_hang", args=(str(out),), timeout_s=1,
                   retry=RetryPolicy(max_attempts=1)))  # fmt: skip
    worker = Worker(s, concurrency=1, pool_kind="prefork", now=Clock(T0))
    settle(worker, timeout_s=30)
    assert outcomes(s, "spawner") == ["timed_out"]
    grandchild = int(out.read_text())
    deadline = time.monotonic() + 10
    while psutil_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil_alive(grandchild)
    worker.pool.close()


def test_a_thread_that_returns_just_as_its_timeout_passes_is_recorded_as_it_ended(
    redis_url: str,
) -> None:
    """The race: the task returned after the loop collected finished runs but before it
    checked timeouts. Its outcome is what happened (succeeded), not a timeout that says a
    process was killed."""
    s = store(redis_url)
    worker = Worker(s, concurrency=1, pool_kind="thread", now=Clock(T0))
    message = RunMessage.loads(run_message(job("late", "record", timeout_s=1), "late@1", T0, T0,
                                           "schedule", 1))  # fmt: skip
    ended = Job(Claimed("late@1", message, 1), T0, time.monotonic() - 1)
    ended.result = Result()  # it succeeded
    worker.running["late@1"] = ended
    [recorded] = worker._time_out(T0 + timedelta(seconds=1))
    assert recorded.kind == "succeeded"
    assert json.loads(recorded.event)["event"] == "succeeded"
    worker.pool.close()
