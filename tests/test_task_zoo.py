"""No task can break a worker: every way a task can fail ends in a recorded outcome, in both
pools, and the worker keeps executing runs afterwards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis
from test_worker import T0, Clock, enqueue, job, settle

from scheduler import ops
from scheduler.core.instants import to_ms
from scheduler.core.model import RetryPolicy, Schedule
from scheduler.store import Store
from scheduler.worker import Worker

ZOO = ["unprintable", "system_exit", "keyboard_interrupt", "base_exception", "huge_message",
       "generator_exit"]  # fmt: skip
MESSAGE_LIMIT = 64 * 1024  # the documented bound on a stored error message


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_every_kind_of_broken_task_is_dead_lettered_and_the_worker_keeps_working(
    redis_url: str, pool: str
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    # Twice as many broken runs as slots: a slot lost to any of them would stall the rest.
    broken = {}
    for round_ in range(2):
        for kind in ZOO:
            schedule = job(f"{kind}-{round_}", "zoo", args=(kind,), retry=RetryPolicy())
            broken[enqueue(s, schedule)] = kind
    worker = Worker(s, concurrency=2, pool_kind=pool, now=Clock(T0), worker_id="w")
    settle(worker, 120)
    letters = {d.run.run_id: d for d in ops.dead_letters(s)}
    assert sorted(letters) == sorted(broken)
    for run_id in broken:
        assert len(letters[run_id].error_message) <= MESSAGE_LIMIT
        assert letters[run_id].error_type != ""
    assert letters[next(r for r, k in broken.items() if k == "system_exit")].error_type == (
        "SystemExit"
    )
    unprintable = next(r for r, k in broken.items() if k == "unprintable")
    assert letters[unprintable].error_message == ("<_UnprintableError: str() raised RuntimeError>")
    huge = next(r for r, k in broken.items() if k == "huge_message")
    assert letters[huge].error_message == "x" * MESSAGE_LIMIT
    # ... and it still runs what comes next.
    ok = enqueue(s, job("after", "zoo", args=("ok",)))
    settle(worker, 60)
    assert s.reads.history("after")[0].event == "succeeded"
    assert ok not in {d.run.run_id for d in ops.dead_letters(s)}
    assert s.client.hlen(s.keys.claims) == 0


def test_the_dead_letter_queue_is_bounded_by_count_and_age_and_counts_what_it_dropped(
    redis_url: str,
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    for i in range(5):
        enqueue(s, job(f"f{i}", "fail", retry=RetryPolicy()), T0 + timedelta(seconds=i))
    clock = Clock(T0)
    worker = Worker(s, concurrency=1, now=clock, worker_id="w", dead_max=3, dead_max_age_s=3600)
    settle(worker, 30)
    assert sorted(d.run.schedule for d in ops.dead_letters(s)) == ["f2", "f3", "f4"]  # newest
    assert s.reads.dead_counts() == (3, 2)
    # An hour and a second later, one more letter: the three older ones are past the age.
    clock.at = T0 + timedelta(hours=1, seconds=1)
    enqueue(s, job("late", "fail", retry=RetryPolicy()), clock.at)
    settle(worker, 30)
    assert [d.run.schedule for d in ops.dead_letters(s)] == ["late"]
    assert s.reads.dead_counts() == (1, 5)
    assert ops.status(s).to_json()["dead_letters"] == {"count": 1, "dropped": 5}


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_an_async_task_is_run_to_completion(redis_url: str, tmp_path: Path, pool: str) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "async.jsonl"
    run_id = enqueue(s, job("coro", "async_append", args=(str(out),)))
    settle(Worker(s, pool_kind=pool, now=Clock(T0), worker_id="w"), 60)
    assert out.read_text(encoding="utf-8").splitlines() == [f'{{"run_id": "{run_id}"}}']
    assert s.reads.history("coro")[0].event == "succeeded"


def test_a_run_a_worker_cannot_import_is_left_for_a_worker_that_can(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not dead-lettered, not an attempt: deferred (said once), then run by a worker that
    can import the task."""
    s = Store(redis.Redis.from_url(redis_url))
    schedule = Schedule(name="lost", task="late_app_tasks:go", timezone="UTC", every_s=60)
    run_id = enqueue(s, schedule)
    here = Worker(s, now=Clock(T0), worker_id="here")
    settle(here, 30)
    assert ops.dead_letters(s) == []
    [deferred] = [e for e in s.reads.history("lost") if e.event == "deferred"]
    assert deferred.error is not None and deferred.error.startswith(
        "TaskImportError: cannot import task 'late_app_tasks:go' (ModuleNotFoundError: No "
        "module named 'late_app_tasks'); the worker runs in "
    )
    assert "start it in the folder that holds 'late_app_tasks', or pass --app-dir" in (
        deferred.error
    )
    assert deferred.retry_at == "2026-06-01T12:00:10.000Z"
    assert s.client.zscore(s.keys.retries, run_id) == to_ms(T0) + 10_000
    assert s.client.hget(s.keys.deliveries, run_id) == b"0"  # it never started here
    # Due again: this worker still cannot import it, leaves it again and says nothing new.
    here.now = here._now = Clock(T0 + timedelta(seconds=11))
    here.upkeep()
    settle(here, 30)
    assert [e.event for e in s.reads.history("lost")].count("deferred") == 1
    # A worker that can import it (the module is on its path) runs it: attempt 1.
    (tmp_path / "late_app_tasks.py").write_text(
        "from pathlib import Path\n\ndef go():\n    Path(__file__).with_suffix('.ran')"
        ".write_text('yes')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    there = Worker(s, now=Clock(T0 + timedelta(seconds=30)), worker_id="there")
    there.upkeep()
    settle(there, 30)
    assert (tmp_path / "late_app_tasks.ran").read_text() == "yes"
    [done] = [e for e in s.reads.history("lost") if e.event == "succeeded"]
    assert (done.attempt, done.worker) == (1, "there")


def test_a_run_no_worker_can_import_for_an_hour_is_dead_lettered_and_keeps_its_starts(
    redis_url: str,
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    schedule = Schedule(name="lost", task="never_there_tasks:go", timezone="UTC", every_s=60)
    run_id = enqueue(s, schedule)
    s.client.hset(s.keys.deliveries, run_id, 2)  # it had started twice elsewhere (crashes)
    worker = Worker(s, now=Clock(T0), worker_id="here")
    for minutes in (0, 30, 59):  # deferred, and again: the same attempt, starts kept
        worker.now = worker._now = Clock(T0 + timedelta(minutes=minutes, seconds=11))
        worker.upkeep()
        settle(worker, 30)
        assert s.client.hget(s.keys.deliveries, run_id) == b"2"
        assert ops.dead_letters(s) == []
    worker.now = worker._now = Clock(T0 + timedelta(minutes=60, seconds=11))
    worker.upkeep()
    settle(worker, 30)
    [letter] = ops.dead_letters(s)
    assert (letter.error_type, letter.attempts) == ("TaskImportError", 1)
    assert letter.why == ("no worker could import its task for 1h (deferred since "
                          "2026-06-01T12:00:11.000Z)")  # fmt: skip
    assert [e.event for e in s.reads.history("lost")][:2] == ["dead", "deferred"]
    assert s.reads.states(["lost"])["lost"].active == 0  # overlap is free again
