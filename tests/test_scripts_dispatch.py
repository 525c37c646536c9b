"""dispatch.lua, called directly: the compare-and-set, the lease check, overlap and counters.

Every test drives the script through ``Store.leader.dispatch`` with explicit instants and
checks the raw Redis keys, so a change to any write of the script shows.
"""

from __future__ import annotations

import pytest
from script_support import fill_history, hash_of, history, scored, snapshot, store, text

from scheduler.core.instants import from_ms
from scheduler.core.messages import run_message
from scheduler.core.model import Schedule
from scheduler.errors import NotLeaderError
from scheduler.store import Run, Step, Store, Upsert

TOKEN = "token-1"
N0 = 1_780_000_000_000  # the stored next fire time, ms
MIN = 60_000


def state(s: Store, name: str) -> dict[str, str]:
    return hash_of(s, s.keys.state(name))


def queue(s: Store, name: str) -> list[tuple[str, float]]:
    return scored(s, s.keys.queue(name))


def queues(s: Store) -> set[str]:
    return {text(m) for m in s.client.smembers(s.keys.queues)}


def due(s: Store) -> dict[str, float]:
    return dict(scored(s, s.keys.due))


def lead(s: Store, *names: str, next_ms: int = N0) -> None:
    """Take the lease and sync schedules whose next fire (and due instant) is ``next_ms``."""
    assert s.leader.acquire(TOKEN, 60_000, "host:1", N0) == 1
    items = [Upsert(n, f'{{"def":"{n}"}}', f"digest-{n}", f"trig-{n}", next_ms, next_ms)
             for n in names]  # fmt: skip
    assert s.leader.upsert(TOKEN, items) == ["added"] * len(names)


def message(name: str, fire_ms: int, queue: str = "default") -> str:
    schedule = Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="UTC", every_s=60,
                        queue=queue)  # fmt: skip
    return run_message(schedule, f"{name}@{fire_ms}", from_ms(fire_ms), from_ms(N0), "schedule", 1)


def run(name: str, fire_ms: int, queue: str = "default") -> Run:
    return Run(f"{name}@{fire_ms}", queue, 4 * 10**13 + fire_ms, message(name, fire_ms, queue),
               f'{{"skipped":"{name}@{fire_ms}"}}')  # fmt: skip


def fire(name: str, fire_ms: int, queue: str = "default", overlap: str = "allow") -> Step:
    """The step that dispatches the fire time ``fire_ms`` and moves on one minute."""
    return Step(name, queue, fire_ms, fire_ms + MIN, fire_ms + MIN + 7, overlap,
                [run(name, fire_ms, queue)], fired_ms=fire_ms)  # fmt: skip


def test_a_current_step_enqueues_its_run_and_advances_the_schedule(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0, queue="reports")]) == [1]
    assert state(s, "a") == {
        "digest": "digest-a",
        "owner": "files",
        "source": "",
        "trigger_key": "trig-a",
        "next_ms": str(N0 + MIN),
        "due_ms": str(N0 + MIN + 7),
        "active": "1",
        "waiting": "1",
        "runs": "1",
        "last_fire_ms": str(N0),
    }
    assert due(s) == {"a": N0 + MIN + 7}
    assert s.client.smembers(s.keys.counting) == {b"a"}  # for repair.lua
    assert queue(s, "reports") == [(f"a@{N0}", 4 * 10**13 + N0)]
    assert text(s.client.hget(s.keys.runs, f"a@{N0}")) == message("a", N0, "reports")
    assert queues(s) == {"reports"}
    assert history(s, "a") == []  # dispatches are counted, not written to history


def test_counters_add_up_over_successive_dispatches(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0)]) == [1]
    step = fire("a", N0 + MIN)
    step.runs.append(run("a", N0 + 2 * MIN))
    step.missed, step.last_missed_ms, step.missed_event = 2, N0 + 30_000, '{"missed":2}'
    assert s.leader.dispatch(TOKEN, [step]) == [2]
    step = Step("a", "default", N0 + 2 * MIN, N0 + 3 * MIN, N0 + 3 * MIN, missed=3,
                last_missed_ms=N0 + 90_000, missed_event='{"missed":3}')  # fmt: skip
    assert s.leader.dispatch(TOKEN, [step]) == [0]
    got = state(s, "a")
    assert (got["runs"], got["active"], got["waiting"]) == ("3", "3", "3")
    assert (got["missed"], got["last_missed_ms"]) == ("5", str(N0 + 90_000))
    assert got["last_fire_ms"] == str(N0 + MIN)  # a step that fires nothing keeps it
    assert history(s, "a") == ['{"missed":3}', '{"missed":2}']


def test_a_step_with_a_stale_expected_next_fire_time_is_refused_and_changes_nothing(
    redis_url: str,
) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0)]) == [1]  # another leader advanced it
    before = snapshot(s)
    stale = fire("a", N0, queue="other", overlap="skip")
    stale.runs = [run("a", N0 + 5), run("a", N0 + 6)]
    stale.missed, stale.last_missed_ms, stale.missed_event = 4, N0 - MIN, '{"missed":4}'
    assert s.leader.dispatch(TOKEN, [stale]) == [-1]
    assert snapshot(s) == before


def test_a_step_planned_before_an_operator_resumed_the_schedule_is_refused(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.ops.set_paused("a", True, '{"paused":1}')
    assert s.ops.set_paused("a", False, '{"resumed":1}', N0 + 10 * MIN, N0 + 10 * MIN, 9, N0)
    before = snapshot(s)
    assert s.leader.dispatch(TOKEN, [fire("a", N0)]) == [-1]
    assert snapshot(s) == before
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + 10 * MIN)]) == [1]


def test_a_paused_schedules_step_is_refused_and_changes_nothing(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.ops.set_paused("a", True, '{"paused":1}')
    before = snapshot(s)
    step = fire("a", N0)
    step.missed, step.last_missed_ms, step.missed_event = 1, N0 - MIN, '{"missed":1}'
    assert s.leader.dispatch(TOKEN, [step]) == [-1]
    assert snapshot(s) == before


def test_a_step_sent_with_a_token_that_lost_the_lease_raises_and_changes_nothing(
    redis_url: str,
) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.client.delete(s.keys.lease)  # the lease expired while the old leader stalled
    assert s.leader.acquire("token-2", 60_000, "host:2", N0) == 2
    before = snapshot(s)
    with pytest.raises(NotLeaderError):
        s.leader.dispatch(TOKEN, [fire("a", N0)])
    assert snapshot(s) == before
    assert s.leader.dispatch("token-2", [fire("a", N0)]) == [1]


def test_a_batch_applies_each_step_to_its_own_schedule(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a", "b", "c", "d")
    a = fire("a", N0, queue="qa")
    a.runs.append(run("a", N0 + 1, queue="qa"))
    b = fire("b", N0 - 1, queue="qb")  # stale
    c = Step("c", "qc", N0, None, None, missed=3, last_missed_ms=N0 - MIN,
             missed_event='{"missed":"c"}')  # fmt: skip
    d = fire("d", N0, queue="qd")
    d.new_next_ms, d.new_due_ms = N0 + 2 * MIN, N0 + 2 * MIN + 3
    assert s.leader.dispatch(TOKEN, [a, b, c, d]) == [2, -1, 0, 1]
    assert queue(s, "qa") == [(f"a@{N0}", 4 * 10**13 + N0), (f"a@{N0 + 1}", 4 * 10**13 + N0 + 1)]
    assert text(s.client.hget(s.keys.runs, f"a@{N0 + 1}")) == message("a", N0 + 1, "qa")
    assert queue(s, "qb") == [] and queue(s, "qc") == []
    assert queue(s, "qd") == [(f"d@{N0}", 4 * 10**13 + N0)]
    assert queues(s) == {"qa", "qd"}
    assert due(s) == {"a": N0 + MIN + 7, "b": N0, "d": N0 + 2 * MIN + 3}
    assert state(s, "a")["runs"] == "2" and state(s, "d")["runs"] == "1"
    assert state(s, "b") == {
        "digest": "digest-b", "owner": "files", "source": "", "trigger_key": "trig-b",
        "next_ms": str(N0), "due_ms": str(N0)}  # fmt: skip
    assert state(s, "c") == {
        "digest": "digest-c",
        "owner": "files",
        "source": "",
        "trigger_key": "trig-c",
        "next_ms": "",
        "due_ms": "",
        "missed": "3",
        "last_missed_ms": str(N0 - MIN),
    }
    assert history(s, "c") == ['{"missed":"c"}']
    assert history(s, "a") == [] and history(s, "d") == []


def test_a_batch_larger_than_one_write_call_takes_applies_every_step(redis_url: str) -> None:
    """The script gathers its sorted-set inserts, removals and `counting` marks into a few
    calls of at most 4,000 arguments: 8,200 steps over two queues, half of them ending,
    need more than one call of every kind."""
    s = store(redis_url)
    names = [f"n{i:04d}" for i in range(8200)]
    lead(s, *names)
    steps = []
    for i, name in enumerate(names):
        step = fire(name, N0, queue=f"q{i % 2}")
        if i % 2:
            step.new_next_ms = step.new_due_ms = None
        steps.append(step)
    assert s.leader.dispatch(TOKEN, steps) == [1] * 8200
    assert due(s) == {name: N0 + MIN + 7 for name in names[::2]}
    assert queue(s, "q0") == sorted((f"{n}@{N0}", 4 * 10**13 + N0) for n in names[::2])
    assert queue(s, "q1") == sorted((f"{n}@{N0}", 4 * 10**13 + N0) for n in names[1::2])
    assert {text(m) for m in s.client.smembers(s.keys.counting)} == set(names)
    assert queues(s) == {"q0", "q1"}


def test_a_schedule_that_never_fires_again_leaves_the_due_set(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a", "b")
    step = fire("a", N0)
    step.new_next_ms = step.new_due_ms = None
    assert s.leader.dispatch(TOKEN, [step]) == [1]
    assert due(s) == {"b": N0}
    assert state(s, "a")["next_ms"] == "" and state(s, "a")["due_ms"] == ""


def test_overlap_skip_records_a_skipped_fire_time_while_a_run_is_active(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0, queue="q1", overlap="skip")]) == [1]
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + MIN, queue="q2", overlap="skip")]) == [0]
    assert queue(s, "q2") == [] and queues(s) == {"q1"}
    got = state(s, "a")
    assert (got["active"], got["waiting"], got["runs"], got["skipped"]) == ("1", "1", "1", "1")
    assert got["next_ms"] == str(N0 + 2 * MIN) and got["last_fire_ms"] == str(N0 + MIN)
    assert history(s, "a") == [f'{{"skipped":"a@{N0 + MIN}"}}']


def test_overlap_skip_counts_a_run_enqueued_earlier_in_the_same_step(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    step = fire("a", N0, overlap="skip")
    step.runs.append(run("a", N0 + 1))
    assert s.leader.dispatch(TOKEN, [step]) == [1]
    assert queue(s, "default") == [(f"a@{N0}", 4 * 10**13 + N0)]
    assert state(s, "a")["skipped"] == "1"
    assert history(s, "a") == [f'{{"skipped":"a@{N0 + 1}"}}']


def test_overlap_allow_enqueues_while_a_run_is_active(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0)]) == [1]
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + MIN)]) == [1]
    got = state(s, "a")
    assert (got["active"], got["waiting"], got["runs"]) == ("2", "2", "2")
    assert "skipped" not in got


def test_overlap_queue_one_skips_only_while_a_run_is_waiting(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0, overlap="queue_one")]) == [1]
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + MIN, overlap="queue_one")]) == [0]
    assert state(s, "a")["skipped"] == "1"
    worker = s.worker("w1")
    assert [c.run_id for c in worker.claim("default", 10, N0)] == [f"a@{N0}"]
    worker.finish([], N0, started=[(f"a@{N0}", "a")])  # running now, nothing waits
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + 2 * MIN, overlap="queue_one")]) == [1]
    got = state(s, "a")
    assert (got["active"], got["waiting"], got["skipped"], got["runs"]) == ("2", "1", "1", "2")


def test_a_run_id_already_enqueued_is_never_enqueued_twice(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.client.hset(s.keys.runs, f"a@{N0}", "earlier")
    assert s.leader.dispatch(TOKEN, [fire("a", N0, queue="q")]) == [0]
    assert text(s.client.hget(s.keys.runs, f"a@{N0}")) == "earlier"
    assert queue(s, "q") == [] and queues(s) == set()
    got = state(s, "a")
    assert (got["duplicates"], got["runs"], got["active"], got["waiting"]) == ("1", "0", "0", "0")
    assert got["next_ms"] == str(N0 + MIN)


def test_a_missed_event_keeps_history_at_100_events(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    fill_history(s, "a")
    step = fire("a", N0)
    step.missed, step.last_missed_ms, step.missed_event = 1, N0 - MIN, "missed"
    assert s.leader.dispatch(TOKEN, [step]) == [1]
    got = history(s, "a")
    assert len(got) == 100
    assert got[0] == "missed" and got[1] == "old-99" and got[-1] == "old-1"


def test_a_skipped_event_keeps_history_at_100_events(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0, overlap="skip")]) == [1]
    fill_history(s, "a")
    assert s.leader.dispatch(TOKEN, [fire("a", N0 + MIN, overlap="skip")]) == [0]
    got = history(s, "a")
    assert len(got) == 100
    assert got[0] == f'{{"skipped":"a@{N0 + MIN}"}}' and got[-1] == "old-1"
