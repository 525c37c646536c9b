"""claim, start, finish, promote, heartbeat, reap and repair (the worker's Lua scripts),
called directly.

Instants are explicit ms values; checks read the raw Redis keys of the key table. Heartbeats
and the reaper's judgement of silence use Redis' own clock (``TIME``): a worker is made to
look dead by an old heartbeat score relative to Redis' clock, never by the now_ms passed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from script_support import (
    assert_by_redis_clock,
    hash_of,
    history,
    members,
    redis_ms,
    scored,
    snapshot,
    store,
    text,
)

from scheduler.core.instants import from_ms
from scheduler.core.messages import DeadLetter, RunMessage, run_message
from scheduler.core.model import Schedule
from scheduler.store import Outcome, Run, Store
from scheduler.worker import Worker

T = 1_780_000_000_000  # ms
TIMEOUT = 10_000  # worker timeout, ms


def silence(s: Store, worker_id: str, silent_ms: int = TIMEOUT + 1) -> None:
    """Make a worker's last heartbeat ``silent_ms`` old by Redis' clock."""
    s.client.zadd(s.keys.workers, {worker_id: redis_ms(s) - silent_ms})


def beat_of(s: Store, worker_id: str) -> int:
    score = s.client.zscore(s.keys.workers, worker_id)
    assert score is not None
    return int(score)


def counters(s: Store, name: str) -> tuple[int, int]:
    """(active, waiting) of a schedule."""
    st = s.reads.states([name])[name]
    return st.active, st.waiting


def message(name: str, fire_ms: int, queue: str = "default", priority: int = 5) -> str:
    schedule = Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="UTC", every_s=60,
                        queue=queue, priority=priority)  # fmt: skip
    return run_message(schedule, f"{name}@{fire_ms}", from_ms(fire_ms), from_ms(T), "schedule", 1)


def enqueue(s: Store, name: str, fire_ms: int, queue: str = "default", priority: int = 5) -> str:
    """A run on its queue, counted active and waiting, as dispatch leaves it; its id."""
    run_id = f"{name}@{fire_ms}"
    score = (9 - priority) * 10**13 + fire_ms
    body = message(name, fire_ms, queue, priority)
    assert s.ops.enqueue(name, Run(run_id, queue, score, body), "enqueued")
    return run_id


def claim_and_start(s: Store, worker_id: str, name: str, now_ms: int) -> list[int]:
    """What a worker does before it runs a task; the deliveries claim reported."""
    w = s.worker(worker_id)
    claimed = w.claim("default", 10, now_ms)
    w.finish([], now_ms, started=[(c.run_id, name) for c in claimed])
    return [c.deliveries for c in claimed]


def outcome(run_id: str, kind: str, event: str = "", **fields: Any) -> Outcome:
    name = run_id.split("@")[0]
    return Outcome(run_id, name, "default", kind, event, **fields)


# -- claim -----------------------------------------------------------------------------------


def test_claim_takes_at_most_count_runs_in_queue_order_and_records_the_claims(
    redis_url: str,
) -> None:
    s = store(redis_url)
    low = enqueue(s, "a", T, priority=1)
    first = enqueue(s, "a", T + 1)
    urgent = enqueue(s, "a", T + 2, priority=9)
    before = redis_ms(s)
    claimed = s.worker("w1").claim("default", 2, T + 5)
    after = redis_ms(s)
    assert [(c.run_id, c.deliveries) for c in claimed] == [(urgent, 1), (first, 1)]
    assert claimed[0].message == RunMessage.loads(message("a", T + 2, priority=9))
    assert hash_of(s, s.keys.claims) == {urgent: "w1", first: "w1"}
    assert members(s, s.keys.worker("w1")) == {urgent, first}
    assert [m for m, _ in scored(s, s.keys.queue("default"))] == [low]
    assert before <= beat_of(s, "w1") <= after  # claiming is a sign of life, by Redis' clock
    assert s.client.zcard(s.keys.workers) == 1
    assert counters(s, "a") == (3, 3)  # claimed runs still wait until they start
    assert [c.run_id for c in s.worker("w1").claim("default", 5, T + 6)] == [low]


def test_a_queued_id_without_a_message_is_dropped_by_claim(redis_url: str) -> None:
    s = store(redis_url)
    s.client.zadd(s.keys.queue("default"), {"gone@1": 1})
    run_id = enqueue(s, "a", T)
    assert [c.run_id for c in s.worker("w1").claim("default", 5, T)] == [run_id]
    assert hash_of(s, s.keys.claims) == {run_id: "w1"}
    assert scored(s, s.keys.queue("default")) == []


def test_a_claim_that_takes_runs_beats_by_redis_clock_whatever_now_ms_it_is_given(
    redis_url: str,
) -> None:
    s = store(redis_url)
    w = s.worker("w1")
    fires = iter(range(T, T + 10**9, 1000))

    def claimed_one() -> int:
        enqueue(s, "a", next(fires))
        assert len(w.claim("default", 5, T)) == 1
        return beat_of(s, "w1")

    assert_by_redis_clock(s, claimed_one)


def test_a_claim_of_an_empty_queue_writes_nothing(redis_url: str) -> None:
    """An idle worker asks often: what it asks must not grow the append-only file."""
    s = store(redis_url)
    s.client.zadd(s.keys.workers, {"w1": 5})  # its last heartbeat
    before = snapshot(s)
    s.client.config_resetstat()
    assert s.worker("w1").claim("default", 5, T) == []
    assert snapshot(s) == before
    stats: dict[str, Any] = s.client.info("commandstats")
    assert "cmdstat_zadd" not in stats and "cmdstat_zpopmin" in stats


def test_the_runs_of_a_worker_that_claimed_and_never_beat_again_come_back(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 5, T)
    assert s.worker("w2").reap(T + 10 * TIMEOUT, TIMEOUT) == 0  # the claim was its heartbeat
    time.sleep(0.06)  # silent for 60 ms by Redis' clock
    assert s.worker("w2").reap(T + 10 * TIMEOUT, 30) == 1
    assert scored(s, s.keys.queue("default")) == [(run_id, 4 * 10**13 + T + 10 * TIMEOUT)]
    assert s.client.zcard(s.keys.workers) == 0


# -- start -----------------------------------------------------------------------------------


def test_start_marks_the_claim_started_and_counts_a_delivery(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    assert claim_and_start(s, "w1", "a", T) == [1]
    assert hash_of(s, s.keys.claims) == {run_id: "w1|s"}
    assert hash_of(s, s.keys.deliveries) == {run_id: "1"}
    assert counters(s, "a") == (1, 0)


def test_a_start_sent_again_by_the_worker_that_started_the_run_is_ours_and_changes_nothing(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    w = s.worker("w1")
    w.claim("default", 5, T)
    assert w.settle([], T, started=[(run_id, "a")]) == ([True], [])
    before = snapshot(s)
    assert w.settle([], T, started=[(run_id, "a")]) == ([True], [])  # its reply was lost
    assert snapshot(s) == before
    assert hash_of(s, s.keys.deliveries) == {run_id: "1"}  # one delivery, not two
    assert counters(s, "a") == (1, 0)  # and waiting not decremented twice
    assert s.worker("w2").settle([], T, started=[(run_id, "a")]) == ([False], [])
    assert snapshot(s) == before


def test_a_claim_with_free_slots_starts_that_many_fresh_runs_as_start_would(
    redis_url: str,
) -> None:
    s = store(redis_url)
    first, second, third = (enqueue(s, "a", T + i) for i in range(3))
    claimed = s.worker("w1").claim("default", 5, T, 2)
    assert [(c.run_id, c.deliveries, c.started) for c in claimed] == [
        (first, 1, True), (second, 1, True), (third, 1, False)
    ]  # fmt: skip
    assert hash_of(s, s.keys.claims) == {first: "w1|s", second: "w1|s", third: "w1"}
    assert hash_of(s, s.keys.deliveries) == {first: "1", second: "1"}
    assert counters(s, "a") == (3, 1)  # two running, the prefetched one still waiting
    assert members(s, s.keys.worker("w1")) == {first, second, third}
    assert [start_reply(s, "w1", run_id) for run_id in (first, second)] == [1, 1]
    assert hash_of(s, s.keys.deliveries) == {first: "1", second: "1"}  # a start again: no-op


def test_a_claim_leaves_a_run_delivered_before_and_every_run_after_it_to_start(
    redis_url: str,
) -> None:
    s = store(redis_url)
    again, fresh = enqueue(s, "a", T), enqueue(s, "a", T + 1)
    s.client.hset(s.keys.deliveries, again, 1)
    claimed = s.worker("w1").claim("default", 5, T, 4)
    assert [(c.run_id, c.deliveries, c.started) for c in claimed] == [
        (again, 2, False), (fresh, 1, False)
    ]  # fmt: skip
    assert hash_of(s, s.keys.claims) == {again: "w1", fresh: "w1"}
    assert hash_of(s, s.keys.deliveries) == {again: "1"}
    assert counters(s, "a") == (2, 2)


def test_a_run_the_claim_started_and_its_worker_defers_gets_its_delivery_back(
    redis_url: str,
) -> None:
    """A worker that cannot import the task defers it, every DEFER_S: deferring never
    starts it, so deferring forever never makes it poison."""
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    for attempt in range(5):
        assert [c.started for c in s.worker("w1").claim("default", 1, T, 1)] == [True]
        defer = outcome(run_id, "defer", "", new_message=message("a", T), due_ms=T)
        assert s.worker("w1").finish([defer], T + attempt) == [True]
        assert hash_of(s, s.keys.deliveries) == {run_id: "0"}
        assert counters(s, "a") == (1, 1)
        assert s.worker("w1").promote(T + attempt) == 1


def test_a_run_the_claim_started_then_handed_back_gets_its_delivery_back(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 1, T, 1)
    back = outcome(run_id, "handback", due_ms=4 * 10**13 + T + 50)
    assert s.worker("w1").finish([back], T + 50) == [True]
    assert hash_of(s, s.keys.deliveries) == {run_id: "0"}
    assert counters(s, "a") == (1, 1)
    assert [(c.deliveries, c.started) for c in s.worker("w2").claim("default", 1, T, 1)] == [
        (1, True)
    ]


def test_start_by_a_worker_that_does_not_hold_the_claim_changes_nothing(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 5, T)
    before = snapshot(s)
    s.worker("w2").finish([], T, started=[(run_id, "a")])
    assert snapshot(s) == before


# -- finish ----------------------------------------------------------------------------------


def test_success_acknowledges_the_run_and_clears_every_trace_of_it(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    assert s.worker("w1").finish([outcome(run_id, "succeeded", "ok")], T + 9) == [True]
    for key in (s.keys.runs, s.keys.claims, s.keys.deliveries):
        assert hash_of(s, key) == {}
    assert members(s, s.keys.worker("w1")) == set()
    assert counters(s, "a") == (0, 0)
    assert history(s, "a") == ["ok", "enqueued"]


def test_a_run_expired_before_it_started_no_longer_counts_as_waiting(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 5, T)
    assert s.worker("w1").finish([outcome(run_id, "expired", "late")], T + 9) == [True]
    assert counters(s, "a") == (0, 0)
    assert hash_of(s, s.keys.runs) == {} and hash_of(s, s.keys.claims) == {}
    assert hash_of(s, s.keys.deliveries) == {}


def test_a_retry_waits_with_its_next_attempt_and_resets_the_delivery_count(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    nxt = RunMessage.loads(message("a", T)).next_attempt("Boom: x").dumps()
    retry = outcome(run_id, "retry", "retrying", new_message=nxt, due_ms=T + 30_000)
    assert s.worker("w1").finish([retry], T + 9) == [True]
    assert text(s.client.hget(s.keys.runs, run_id)) == nxt
    assert scored(s, s.keys.retries) == [(run_id, T + 30_000)]
    assert hash_of(s, s.keys.deliveries) == {} and hash_of(s, s.keys.claims) == {}
    assert members(s, s.keys.worker("w1")) == set()
    assert counters(s, "a") == (1, 1)
    assert history(s, "a") == ["retrying", "enqueued"]


def test_a_started_run_handed_back_waits_again_and_its_delivery_does_not_count(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    back = outcome(run_id, "handback", due_ms=4 * 10**13 + T + 50)
    assert s.worker("w1").finish([back], T + 50) == [True]
    assert scored(s, s.keys.queue("default")) == [(run_id, 4 * 10**13 + T + 50)]
    assert hash_of(s, s.keys.deliveries) == {run_id: "0"}
    assert hash_of(s, s.keys.claims) == {} and members(s, s.keys.worker("w1")) == set()
    assert counters(s, "a") == (1, 1)
    assert history(s, "a") == ["enqueued"]
    assert claim_and_start(s, "w2", "a", T + 60) == [1]


def test_a_prefetched_run_handed_back_is_still_counted_waiting_once(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 5, T)
    back = outcome(run_id, "handback", due_ms=4 * 10**13 + T + 50)
    assert s.worker("w1").finish([back], T + 50) == [True]
    assert counters(s, "a") == (1, 1)
    assert hash_of(s, s.keys.deliveries) == {}
    assert scored(s, s.keys.queue("default")) == [(run_id, 4 * 10**13 + T + 50)]


def test_a_dead_run_goes_to_the_dead_letter_queue_at_now(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    dead = outcome(run_id, "dead", "dead", dead_letter="letter")
    assert s.worker("w1").finish([dead], T + 77) == [True]
    assert hash_of(s, s.keys.dead) == {run_id: "letter"}
    assert scored(s, s.keys.dead_index) == [(run_id, T + 77)]
    assert hash_of(s, s.keys.runs) == {} and hash_of(s, s.keys.deliveries) == {}
    assert counters(s, "a") == (0, 0)


def old_letters(s: Store, **dead_at: int) -> None:
    """Dead letters already in the queue: run id -> dead_at ms."""
    s.client.hset(s.keys.dead, mapping={run_id: f"letter {run_id}" for run_id in dead_at})
    s.client.zadd(s.keys.dead_index, dead_at)


def dead_letter_now(s: Store, now_ms: int, dead_max: int, dead_max_age_s: int) -> str:
    """A run of schedule a dead-lettered at ``now_ms`` under these bounds; its id."""
    run_id = enqueue(s, "a", now_ms)
    w = s.worker("w1", dead_max=dead_max, dead_max_age_s=dead_max_age_s)
    w.claim("default", 5, now_ms)
    dead = outcome(run_id, "dead", dead_letter=f"letter {run_id}")
    assert w.finish([dead], now_ms, started=[(run_id, "a")]) == [True]
    return run_id


def dropped(s: Store) -> Any:
    return text(s.client.get(s.keys.dead_dropped))


def test_the_dead_letter_queue_keeps_the_newest_up_to_its_count_and_counts_the_dropped(
    redis_url: str,
) -> None:
    s = store(redis_url)
    old_letters(s, o1=T - 3, o2=T - 2, o3=T - 1)
    new = dead_letter_now(s, T, dead_max=2, dead_max_age_s=3600)
    assert scored(s, s.keys.dead_index) == [("o3", T - 1), (new, T)]
    assert hash_of(s, s.keys.dead) == {"o3": "letter o3", new: f"letter {new}"}
    assert dropped(s) == "2"
    newer = dead_letter_now(s, T + 1, dead_max=2, dead_max_age_s=3600)
    assert scored(s, s.keys.dead_index) == [(new, T), (newer, T + 1)]
    assert dropped(s) == "3"  # counted over time


def test_the_dead_letter_queue_drops_letters_older_than_its_age_limit_and_keeps_the_limit(
    redis_url: str,
) -> None:
    s = store(redis_url)
    old_letters(s, older=T - 60_001, limit=T - 60_000)
    new = dead_letter_now(s, T, dead_max=10, dead_max_age_s=60)
    assert scored(s, s.keys.dead_index) == [("limit", T - 60_000), (new, T)]
    assert hash_of(s, s.keys.dead) == {"limit": "letter limit", new: f"letter {new}"}
    assert dropped(s) == "1"


def test_the_dead_letter_queue_drops_the_aged_then_the_oldest_over_its_count(
    redis_url: str,
) -> None:
    s = store(redis_url)
    old_letters(s, aged1=T - 100_000, aged2=T - 90_000, f1=T - 3, f2=T - 2, f3=T - 1)
    new = dead_letter_now(s, T, dead_max=2, dead_max_age_s=60)
    assert scored(s, s.keys.dead_index) == [("f3", T - 1), (new, T)]
    assert sorted(hash_of(s, s.keys.dead)) == sorted(["f3", new])
    assert dropped(s) == "4"


def test_a_dead_letter_queue_within_its_bounds_drops_nothing(redis_url: str) -> None:
    s = store(redis_url)
    old_letters(s, o1=T - 60_000)
    new = dead_letter_now(s, T, dead_max=2, dead_max_age_s=60)
    assert scored(s, s.keys.dead_index) == [("o1", T - 60_000), (new, T)]
    assert s.client.exists(s.keys.dead_dropped) == 0


def test_a_finish_from_a_worker_that_no_longer_holds_the_claim_changes_nothing(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    silence(s, "w1")  # w1 froze
    assert s.worker("w2").reap(T + TIMEOUT + 1, TIMEOUT) == 1
    claim_and_start(s, "w2", "a", T + TIMEOUT + 2)
    before = snapshot(s)
    for kind in ("succeeded", "retry", "handback", "dead", "expired"):
        late = outcome(run_id, kind, "late", new_message="x", due_ms=1, dead_letter="x")
        assert s.worker("w1").finish([late], T + TIMEOUT + 3) == [False]
        assert snapshot(s) == before
    assert s.worker("w3").finish([outcome(run_id, "succeeded")], T) == [False]
    assert snapshot(s) == before


def test_finish_keeps_exactly_the_100_newest_history_events(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.client.delete(s.keys.history("a"))
    s.client.lpush(s.keys.history("a"), *[f"old-{i}" for i in range(100)])
    claim_and_start(s, "w1", "a", T)
    assert s.worker("w1").finish([outcome(run_id, "succeeded", "new")], T) == [True]
    got = history(s, "a")
    assert len(got) == 100
    assert (got[0], got[1], got[-1]) == ("new", "old-99", "old-1")


# -- poison runs -----------------------------------------------------------------------------


def test_max_deliveries_3_allows_exactly_3_starts_then_dead_letters_a_poison_run(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    now = T
    for delivery in (1, 2, 3):
        assert claim_and_start(s, f"w{delivery}", "a", now) == [delivery]
        assert counters(s, "a") == (1, 0)
        now += TIMEOUT + 1
        silence(s, f"w{delivery}")  # the task killed its worker: it fell silent
        assert s.worker("reaper").reap(now, TIMEOUT) == 1
        assert counters(s, "a") == (1, 1)
    worker = Worker(s, now=lambda: datetime.fromtimestamp(now / 1000, UTC), worker_id="w4",
                    max_deliveries=3)  # fmt: skip
    try:
        assert worker.process_once() == 1
        assert not worker.running and not worker.backlog
    finally:
        worker.pool.close()
    [letter] = s.reads.dead_letters(10)
    assert isinstance(letter, DeadLetter)
    assert (letter.run.run_id, letter.error_type, letter.deliveries) == (run_id, "PoisonRun", 3)
    assert scored(s, s.keys.dead_index) == [(run_id, now)]
    assert counters(s, "a") == (0, 0)  # or an `overlap: skip` schedule never ran again
    for key in (s.keys.runs, s.keys.claims, s.keys.deliveries):
        assert hash_of(s, key) == {}


# -- promote ---------------------------------------------------------------------------------


def retrying(s: Store, name: str, fire_ms: int, due_ms: int, queue: str, priority: int) -> str:
    run_id = f"{name}@{fire_ms}"
    s.client.hset(s.keys.runs, run_id, message(name, fire_ms, queue, priority))
    s.client.zadd(s.keys.retries, {run_id: due_ms})
    return run_id


def test_promote_moves_only_due_retries_to_their_queue_by_priority_then_now(
    redis_url: str,
) -> None:
    s = store(redis_url)
    a = retrying(s, "a", T, T - 5, "qa", 7)
    b = retrying(s, "b", T, T, "qb", 2)
    later = retrying(s, "c", T, T + 1, "qa", 5)
    assert s.worker("w1").promote(T + 0) == 2
    assert scored(s, s.keys.queue("qa")) == [(a, (9 - 7) * 10**13 + T)]
    assert scored(s, s.keys.queue("qb")) == [(b, (9 - 2) * 10**13 + T)]
    assert scored(s, s.keys.retries) == [(later, T + 1)]
    assert members(s, s.keys.queues) == {"qa", "qb"}


def test_promote_moves_at_most_limit_retries_oldest_due_first(redis_url: str) -> None:
    s = store(redis_url)
    ids = [retrying(s, "a", T + i, T - 10 + i, "default", 5) for i in range(3)]
    assert s.worker("w1").promote(T, limit=2) == 2
    assert [m for m, _ in scored(s, s.keys.queue("default"))] == ids[:2]
    assert [m for m, _ in scored(s, s.keys.retries)] == ids[2:]


def test_promote_drops_a_retry_whose_message_is_gone(redis_url: str) -> None:
    s = store(redis_url)
    s.client.zadd(s.keys.retries, {"gone@1": T - 1})
    assert s.worker("w1").promote(T) == 1
    assert scored(s, s.keys.retries) == []
    assert s.client.keys(s.keys.queue("*")) == []


# -- reap ------------------------------------------------------------------------------------


def test_reap_delivers_again_only_the_runs_of_workers_silent_past_the_timeout(
    redis_url: str,
) -> None:
    s = store(redis_url)
    waiting = enqueue(s, "a", T, queue="default", priority=3)
    started = enqueue(s, "b", T + 1, queue="default", priority=8)
    alive = enqueue(s, "c", T + 2, priority=1)
    w1 = s.worker("w1")
    w1.claim("default", 2, T)  # the two highest priority: started, then waiting
    w1.finish([], T, started=[(started, "b")])
    claim_and_start(s, "w2", "c", T)
    now = T + 2 * TIMEOUT
    silence(s, "w1", TIMEOUT + 1)
    silence(s, "w2", TIMEOUT - 1_000)  # quiet, but within the timeout
    beat = beat_of(s, "w2")
    assert s.worker("w3").reap(now, TIMEOUT) == 2
    assert scored(s, s.keys.queue("default")) == [
        (started, (9 - 8) * 10**13 + now),
        (waiting, (9 - 3) * 10**13 + now),
    ]
    assert hash_of(s, s.keys.claims) == {alive: "w2|s"}
    assert members(s, s.keys.worker("w2")) == {alive}
    assert not s.client.exists(s.keys.worker("w1"))
    assert scored(s, s.keys.workers) == [("w2", beat)]
    assert counters(s, "a") == (1, 1)  # never started: still waiting once
    assert counters(s, "b") == (1, 1)  # started: waiting again
    assert counters(s, "c") == (1, 0)
    assert hash_of(s, s.keys.deliveries) == {started: "1", alive: "1"}


def test_reap_leaves_a_run_another_worker_now_holds(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w2", "a", T + TIMEOUT)
    s.client.sadd(s.keys.worker("w1"), run_id)  # a stale entry of a dead worker
    silence(s, "w1")
    assert s.worker("w2").reap(T + TIMEOUT, TIMEOUT) == 0
    assert hash_of(s, s.keys.claims) == {run_id: "w2|s"}
    assert scored(s, s.keys.queue("default")) == []
    assert counters(s, "a") == (1, 0)
    assert not s.client.exists(s.keys.worker("w1"))
    assert [w for w, _ in scored(s, s.keys.workers)] == ["w2"]


def test_reap_skips_a_held_run_whose_message_is_gone(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    other = enqueue(s, "a", T + 1)
    s.worker("w1").claim("default", 5, T)
    s.client.hdel(s.keys.runs, run_id)
    silence(s, "w1")
    assert s.worker("w2").reap(T + TIMEOUT, TIMEOUT) == 1
    assert [m for m, _ in scored(s, s.keys.queue("default"))] == [other]
    assert hash_of(s, s.keys.claims) == {}


def test_a_live_worker_by_redis_clock_is_not_reaped_whatever_now_ms_the_reaper_passes(
    redis_url: str,
) -> None:
    s = store(redis_url)
    enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    s.worker("w2").claim("default", 5, T)
    beat = s.worker("w2").heartbeat()
    before = snapshot(s)
    for now in (T + 100 * TIMEOUT, redis_ms(s) + 10**9, 10**15):  # a reaper's clock far ahead
        assert s.worker("w3").reap(now, TIMEOUT) == 0
        assert snapshot(s) == before
    assert scored(s, s.keys.workers)[1] == ("w2", beat)


def test_reap_judges_silence_to_the_ms_by_redis_clock(redis_url: str) -> None:
    """Silent exactly the timeout: dead. 1 ms less (with Redis' clock still in that ms): alive.
    Repeated over a whole second of Redis' clock, so a conversion off by under 1 ms shows."""
    s = store(redis_url)
    start, same_ms = redis_ms(s), 0
    for _ in range(50_000):
        before = redis_ms(s)
        s.client.zadd(s.keys.workers, {"dead": before - TIMEOUT, "alive": before - TIMEOUT + 1})
        s.worker("w3").reap(T, TIMEOUT)
        after = redis_ms(s)
        left = [w for w, _ in scored(s, s.keys.workers)]
        assert "dead" not in left
        if before == after:
            same_ms += 1
            assert left == ["alive"]
        if after - start >= 1_000 and same_ms >= 50:
            return
    raise AssertionError(f"only {same_ms} rounds within one ms")


def test_heartbeat_writes_and_replies_redis_time_in_ms(redis_url: str) -> None:
    s = store(redis_url)
    w = s.worker("w1")
    s.client.zadd(s.keys.workers, {"w0": 5})

    def beat() -> int:
        got = w.heartbeat()
        assert beat_of(s, "w1") == got
        return got

    assert_by_redis_clock(s, beat)
    assert scored(s, s.keys.workers)[0] == ("w0", 5)


def test_heartbeat_stores_the_worker_description_for_its_ttl(redis_url: str) -> None:
    s = store(redis_url)
    w = s.worker("w1")
    w.heartbeat('{"host": "h1"}', ttl_s=30)
    assert text(s.client.get(s.keys.worker_info("w1"))) == '{"host": "h1"}'
    assert 25 <= s.client.ttl(s.keys.worker_info("w1")) <= 30
    w.heartbeat('{"host": "h2"}', ttl_s=90)  # each beat replaces it and renews its life
    assert text(s.client.get(s.keys.worker_info("w1"))) == '{"host": "h2"}'
    assert 85 <= s.client.ttl(s.keys.worker_info("w1")) <= 90
    assert not s.client.exists(s.keys.worker_info("w0"))


# -- the scripts' own replies, as their headers document them --------------------------------


def start_reply(s: Store, worker_id: str, run_id: str) -> Any:
    k = s.keys
    return s.conn.run("start", [k.claims, k.state("a"), k.deliveries], [worker_id, run_id])


def finish_reply(s: Store, worker_id: str, run_id: str) -> Any:
    k = s.keys
    keys = [k.runs, k.claims, k.deliveries, k.worker(worker_id), k.retries, k.dead,
            k.dead_index, k.state("a"), k.history("a"), k.queue("default"),
            k.dead_dropped, k.abandoned(worker_id)]  # fmt: skip
    args: list[str | int] = [worker_id, run_id, "succeeded", "", 0, "", "", 100, T, 10_000, 0,
                             "", "a"]  # fmt: skip
    return s.conn.run("finish", keys, args)


def test_start_replies_1_to_its_holder_even_again_and_finish_1_once_0_to_anyone_else(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.worker("w1").claim("default", 5, T)
    assert start_reply(s, "w2", run_id) == 0
    assert start_reply(s, "w1", run_id) == 1
    assert start_reply(s, "w1", run_id) == 1  # already started by w1: still w1's to run
    assert start_reply(s, "w2", run_id) == 0
    assert finish_reply(s, "w2", run_id) == 0
    assert finish_reply(s, "w1", run_id) == 1
    assert finish_reply(s, "w1", run_id) == 0  # already acknowledged


# -- repair ----------------------------------------------------------------------------------


def test_repair_recomputes_active_and_waiting_from_the_runs_and_fixes_only_the_wrong_ones(
    redis_url: str,
) -> None:
    s = store(redis_url)
    k = s.keys
    s.client.hset(k.runs, mapping={
        "q@1": message("q", 1),  # queued
        "q@2": message("q", 2),  # claimed, not started
        "q@3": message("q", 3),  # started
        "o@1": message("o", 1),  # started, of a schedule no longer defined
        "bad@1": "not json",
        "plain@1": '{"queue": "default"}',  # no schedule field
        "num@1": "5",
    })  # fmt: skip
    s.client.hset(k.claims, mapping={"q@2": "w1", "q@3": "w1|s", "o@1": "w2|s"})
    s.client.hset(k.defs, mapping={n: "{}" for n in ("q", "ok", "onlya", "onlyw", "bothw")})
    s.client.hset(k.state("q"), mapping={"active": 3, "waiting": 2, "runs": 9})  # right
    s.client.hset(k.state("onlya"), mapping={"active": 1, "waiting": 0})
    s.client.hset(k.state("onlyw"), mapping={"active": 0, "waiting": 1})
    s.client.hset(k.state("bothw"), mapping={"active": -1, "waiting": 2})
    fixes = s.ops.repair_counters()
    rows = {f.schedule: (f.active_was, f.waiting_was, f.active, f.waiting) for f in fixes}
    assert rows == {
        "onlya": (1, 0, 0, 0),
        "onlyw": (0, 1, 0, 0),
        "bothw": (-1, 2, 0, 0),
        "o": (0, 0, 1, 0),
    }
    assert len(fixes) == 4
    assert hash_of(s, k.state("q")) == {"active": "3", "waiting": "2", "runs": "9"}
    assert not s.client.exists(k.state("ok"))  # right by default: not written
    for name in ("onlya", "onlyw", "bothw"):
        assert hash_of(s, k.state(name)) == {"active": "0", "waiting": "0"}
    assert hash_of(s, k.state("o")) == {"active": "1", "waiting": "0"}
    assert len(hash_of(s, k.runs)) == 7 and len(hash_of(s, k.claims)) == 3  # read only
    assert s.ops.repair_counters() == []


def test_after_the_first_repair_only_schedules_a_run_counted_are_checked(
    redis_url: str,
) -> None:
    s = store(redis_url)
    k = s.keys
    s.client.hset(k.defs, mapping={n: "{}" for n in ("idle", "busy")})
    assert s.ops.repair_counters() == []  # the full check, once: Redis from before counting
    assert text(s.client.get(k.counting_ready)) == "1"
    assert s.client.smembers(k.counting) == set()  # nothing runs
    s.client.hset(k.state("idle"), mapping={"active": 2, "waiting": 0})  # cannot happen now
    s.client.hset(k.runs, "busy@1", message("busy", 1))
    s.client.sadd(k.counting, "busy")  # a dispatch raised its counters...
    s.client.hset(k.state("busy"), mapping={"active": 5, "waiting": 5})  # ...and they drifted
    [fix] = s.ops.repair_counters()
    assert (fix.schedule, fix.active_was, fix.waiting_was, fix.active, fix.waiting) == (
        "busy", 5, 5, 1, 1)  # fmt: skip
    assert hash_of(s, k.state("idle")) == {"active": "2", "waiting": "0"}  # not looked at
    assert s.client.smembers(k.counting) == {b"busy"}  # still has a run
    s.client.hdel(k.runs, "busy@1")
    [fix] = s.ops.repair_counters()
    assert (fix.active, fix.waiting) == (0, 0)
    assert s.client.smembers(k.counting) == set()  # back at zero: it leaves the set


def test_the_full_check_of_redis_from_before_counting_goes_page_by_page(redis_url: str) -> None:
    """At 1,000,000 definitions one call blocked Redis for 5 s: the full check reads 2,000
    definitions a call, and still finds every drifted counter among 5,000."""
    s = store(redis_url)
    k = s.keys
    s.client.hset(k.defs, mapping={f"s{i:04}": "{}" for i in range(5000)})
    drifted = {f"s{i:04}" for i in (0, 1999, 2000, 2001, 4999)}
    for name in drifted:
        s.client.hset(k.state(name), mapping={"active": 1, "waiting": 1})
    calls: list[object] = []
    real = s.conn.run

    def run(script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        calls.append(args[1])
        return real(script, keys, args)

    s.conn.run = run  # type: ignore[method-assign]
    fixes = s.ops.repair_counters()
    assert {f.schedule for f in fixes} == drifted and len(fixes) == 5
    assert calls[:2] == ["", "0"] and len(calls) >= 4  # the check, then pages from cursor 0
    assert text(s.client.get(k.counting_ready)) == "1"
    calls.clear()
    assert s.ops.repair_counters() == [] and calls == [""]  # once only


def test_repair_keeps_in_counting_every_schedule_with_runs_started_or_not(
    redis_url: str,
) -> None:
    s = store(redis_url)
    k = s.keys
    s.client.set(k.counting_ready, "1")
    s.client.hset(k.runs, mapping={"run@1": message("run", 1), "wait@1": message("wait", 1)})
    s.client.hset(k.claims, "run@1", "w1|s")  # started: active, not waiting
    fixes = {f.schedule: (f.active, f.waiting) for f in s.ops.repair_counters()}
    assert fixes == {"run": (1, 0), "wait": (1, 1)}
    assert s.client.smembers(k.counting) == {b"run", b"wait"}  # found by their runs alone


def test_a_namespace_whose_first_definitions_sched_wrote_needs_no_full_check(
    redis_url: str,
) -> None:
    from scheduler.ops import schedules

    s = store(redis_url)
    k = s.keys
    s.client.hset(k.defs, "legacy", "{}")  # written before counting existed
    schedules.add(s, "new", {"task": "scheduler.tasks:heartbeat", "every": 60}, from_ms(T))
    assert not s.client.exists(k.counting_ready)
    s.client.flushdb()
    schedules.add(s, "new", {"task": "scheduler.tasks:heartbeat", "every": 60}, from_ms(T))
    assert text(s.client.get(k.counting_ready)) == "1"


def test_every_way_a_counter_is_raised_puts_the_schedule_in_counting(redis_url: str) -> None:
    s = store(redis_url)
    k = s.keys
    enqueue(s, "queued", 1)  # the enqueue script (trigger, backfill)
    assert s.client.smembers(k.counting) == {b"queued"}
    dead = DeadLetter(RunMessage.loads(message("revived", 1)), T, "E", "m", "", 1, "test")
    s.client.hset(k.dead, "revived@1", dead.dumps())
    s.client.zadd(k.dead_index, {"revived@1": T})
    run = Run("revived@1", "default", 1, message("revived", 1))
    assert s.ops.revive(run, "revived", '{"revived":1}')
    assert s.client.smembers(k.counting) == {b"queued", b"revived"}


def test_repair_counts_each_run_once_per_schedule(redis_url: str) -> None:
    s = store(redis_url)
    k = s.keys
    s.client.hset(k.runs, mapping={f"q@{i}": message("q", i) for i in range(1, 4)})
    s.client.hset(k.claims, mapping={"q@1": "w1|s"})
    s.client.hset(k.state("q"), mapping={"active": 0, "waiting": 0})
    [fix] = s.ops.repair_counters()
    assert (fix.schedule, fix.active_was, fix.waiting_was, fix.active, fix.waiting) == (
        "q", 0, 0, 3, 2
    )  # fmt: skip
    assert hash_of(s, k.state("q")) == {"active": "3", "waiting": "2"}


# -- abandoned attempts (a thread past its timeout keeps running) ----------------------------


def abandon(s: Store, worker_id: str, run_id: str, entry: str) -> None:
    """Record a timed-out attempt that still runs in an abandoned thread, as a worker does."""
    done = outcome(run_id, "dead", "timed out", dead_letter="{}", abandoned=entry)
    assert s.worker(worker_id).finish([done], T + 5) == [True]


def test_an_abandoned_attempt_counts_as_running_until_its_worker_says_it_returned(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    abandon(s, "w1", run_id, f"{run_id}#1")
    assert counters(s, "a") == (1, 0)  # the run is dead-lettered, its thread still runs
    assert hash_of(s, s.keys.abandoned("w1")) == {f"{run_id}#1": "a"}
    assert hash_of(s, s.keys.runs) == {} and hash_of(s, s.keys.claims) == {}
    w = s.worker("w1")
    assert w.settle([], T + 6, returned=[f"{run_id}#1"]) == ([], [])
    assert counters(s, "a") == (0, 0)
    assert hash_of(s, s.keys.abandoned("w1")) == {}
    w.settle([], T + 7, returned=[f"{run_id}#1"])  # sent again after a lost reply
    assert counters(s, "a") == (0, 0)


def test_an_abandoned_attempt_retried_counts_twice_its_thread_and_its_next_attempt(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    retry = outcome(run_id, "retry", "timed out", new_message=message("a", T), due_ms=T + 60_000,
                    abandoned=f"{run_id}#1")  # fmt: skip
    assert s.worker("w1").finish([retry], T + 5) == [True]
    assert counters(s, "a") == (2, 1)
    s.worker("w1").settle([], T + 6, returned=[f"{run_id}#1"])
    assert counters(s, "a") == (1, 1)  # the retry still waits


def test_a_worker_presumed_dead_releases_its_abandoned_attempts_with_its_runs(
    redis_url: str,
) -> None:
    s = store(redis_url)
    first = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    second = enqueue(s, "b", T)
    claim_and_start(s, "w1", "b", T)
    abandon(s, "w1", first, f"{first}#1")
    abandon(s, "w1", second, f"{second}#1")
    s.worker("w1").heartbeat()
    s.worker("w2").heartbeat()
    assert s.ops.repair_counters() == []  # the abandoned attempts are counted as running
    silence(s, "w1")
    s.worker("w2").reap(T + 20_000, TIMEOUT)
    assert counters(s, "a") == (0, 0) and counters(s, "b") == (0, 0)
    assert not s.client.exists(s.keys.abandoned("w1"))


def test_a_worker_leaving_releases_every_abandoned_attempt(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    abandon(s, "w1", run_id, f"{run_id}#1")
    s.worker("w1").leave()
    assert counters(s, "a") == (0, 0)
    assert not s.client.exists(s.keys.abandoned("w1"))


def test_repair_counts_a_live_workers_abandoned_attempts_as_active(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    abandon(s, "w1", run_id, f"{run_id}#1")
    s.worker("w1").heartbeat()
    s.client.hset(s.keys.state("a"), "active", 0)  # drifted
    [fix] = s.ops.repair_counters()
    assert (fix.schedule, fix.active_was, fix.active) == ("a", 0, 1)


def test_an_outcome_of_a_removed_schedule_leaves_a_history_that_expires_with_its_tombstone(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    s.client.delete(s.keys.history("a"))  # no event yet when the schedule is removed
    s.client.expire(s.keys.state("a"), 3600)  # its tombstone, as remove.lua leaves it
    assert s.worker("w1").finish([outcome(run_id, "succeeded", "ok")], T + 9) == [True]
    assert history(s, "a") == ["ok"]
    assert 3590 <= s.client.ttl(s.keys.history("a")) <= 3600
    other = enqueue(s, "b", T)  # a schedule still in the files: its history never expires
    claim_and_start(s, "w1", "b", T)
    s.worker("w1").finish([outcome(other, "succeeded", "ok")], T + 9)
    assert s.client.ttl(s.keys.history("b")) == -1


def test_returned_releases_exactly_the_entries_named_and_counts_them(redis_url: str) -> None:
    s = store(redis_url)
    first, second = enqueue(s, "a", T), enqueue(s, "a", T + 1)
    claim_and_start(s, "w1", "a", T)
    abandon(s, "w1", first, f"{first}#1")
    abandon(s, "w1", second, f"{second}#1")
    assert counters(s, "a") == (2, 0)
    key = s.keys.abandoned("w1")
    assert s.conn.run("returned", [key], [s.keys.prefix, f"{first}#1"]) == 1
    assert hash_of(s, key) == {f"{second}#1": "a"}
    assert counters(s, "a") == (1, 0)
    assert s.conn.run("returned", [key], [s.keys.prefix, f"{first}#1", "unknown#1"]) == 0
    assert s.conn.run("returned", [key], [s.keys.prefix]) == 1  # none named: all of them
    assert counters(s, "a") == (0, 0)


def test_an_outcome_after_the_tombstone_expired_leaves_a_history_without_expiry(
    redis_url: str,
) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    claim_and_start(s, "w1", "a", T)
    s.client.delete(s.keys.state("a"), s.keys.history("a"))
    assert s.worker("w1").finish([outcome(run_id, "succeeded", "ok")], T + 9) == [True]
    assert history(s, "a") == ["ok"] and s.client.ttl(s.keys.history("a")) == -1


def test_repair_counts_the_abandoned_attempts_of_every_live_worker(redis_url: str) -> None:
    s = store(redis_url)
    for n, worker_id in enumerate(("w1", "w2", "w3")):
        run_id = enqueue(s, "a", T + n)
        claim_and_start(s, worker_id, "a", T)
        abandon(s, worker_id, run_id, f"{run_id}#1")
        s.worker(worker_id).heartbeat()
    s.client.hset(s.keys.state("a"), "active", 0)
    [fix] = s.ops.repair_counters()
    assert (fix.active_was, fix.active) == (0, 3)


def test_only_a_success_records_last_success_at_its_finish_time(redis_url: str) -> None:
    s = store(redis_url)
    ok, bad = enqueue(s, "a", T), enqueue(s, "b", T)
    claim_and_start(s, "w1", "a", T)
    s.worker("w1").finish([outcome(ok, "succeeded", "ok")], T + 9)
    claimed = s.worker("w1").claim("default", 1, T)
    s.worker("w1").finish([], T, started=[(c.run_id, "b") for c in claimed])
    s.worker("w1").finish([outcome(bad, "dead", "no", dead_letter="{}")], T + 11)
    assert s.reads.states(["a"])["a"].last_success_ms == T + 9
    assert s.reads.states(["b"])["b"].last_success_ms is None


def test_a_deferred_run_waits_to_retry_unstarted_and_keeps_its_starts(redis_url: str) -> None:
    s = store(redis_url)
    run_id = enqueue(s, "a", T)
    s.client.hset(s.keys.deliveries, run_id, 2)
    s.worker("w1").claim("default", 1, T)
    later = message("a", T)
    defer = outcome(run_id, "defer", "", new_message=later, due_ms=T + 10_000)
    assert s.worker("w1").finish([defer], T + 1) == [True]
    assert scored(s, s.keys.retries) == [(run_id, T + 10_000)]
    assert hash_of(s, s.keys.deliveries) == {run_id: "2"}
    assert hash_of(s, s.keys.claims) == {}
    assert counters(s, "a") == (1, 1)  # still one run, still waiting
