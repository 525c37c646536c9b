"""The Celery side of the scripts, called directly: dispatch.lua's celery and outbox modes,
relayed.lua, celery_outcome.lua, and repair.lua's count of Celery runs in flight."""

from __future__ import annotations

import json
from typing import Any

import pytest
from script_support import fill_history, hash_of, history, scored, store, text

from scheduler.core.celery import OutboxEntry
from scheduler.errors import StateVersionError
from scheduler.store import HISTORY_LEN, Run, Step, Store, Upsert

TOKEN = "token-1"
N0 = 1_780_000_000_000
MIN = 60_000
ENVELOPE = '{"body":"W10=","headers":{"id":"x","big":1152921504606846976}}'


def lead(s: Store, *names: str) -> None:
    assert s.leader.acquire(TOKEN, 60_000, "host:1", N0) == 1
    items = [Upsert(n, f'{{"def":"{n}"}}', f"d-{n}", f"t-{n}", N0, N0) for n in names]
    assert s.leader.upsert(TOKEN, items) == ["added"] * len(names)


def celery_step(name: str, fire_ms: int = N0, expected: int = N0, overlap: str = "allow",
                deadline: int | None = None) -> Step:  # fmt: skip
    run = Run(f"{name}@{fire_ms}", "celery", 0, ENVELOPE, f'{{"skipped":"{fire_ms}"}}',
              f'{{"sent":"{fire_ms}"}}', deadline)  # fmt: skip
    return Step(name, "celery", expected, fire_ms + MIN, fire_ms + MIN, overlap, [run],
                fired_ms=fire_ms, mode="celery", celery_list="celery\x06\x163")  # fmt: skip


def outbox_step(name: str, fire_ms: int = N0, expected: int = N0) -> Step:
    entry = OutboxEntry(f"{name}@{fire_ms}", "amqp://h", 5, ENVELOPE, "celery", "x", "t").dumps()
    run = Run(f"{name}@{fire_ms}", "celery", 77, entry, "", "", None)
    return Step(name, "celery", expected, fire_ms + MIN, fire_ms + MIN, "allow", [run],
                fired_ms=fire_ms, mode="outbox")  # fmt: skip


def raw_list(s: Store, key: str) -> list[str]:
    return [text(m) for m in s.client.lrange(key, 0, -1)]


def test_celery_mode_pushes_the_envelope_byte_for_byte_and_records_the_hand_off(
    redis_url: str,
) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [celery_step("a")]) == [1]
    assert raw_list(s, "celery\x06\x163") == [ENVELOPE]
    assert history(s, "a") == [f'{{"sent":"{N0}"}}']
    state = hash_of(s, s.keys.state("a"))
    assert (state["runs"], state["last_fire_ms"], state["next_ms"]) == ("1", str(N0), str(N0 + MIN))
    assert (state["active"], state["waiting"]) == ("0", "0")  # overlap allow: not counted
    assert s.client.smembers(s.keys.counting) == set()
    assert s.client.hlen(s.keys.runs) == 0  # nothing for sched's own workers
    assert s.client.smembers(s.keys.queues) == set()


def test_a_stale_celery_step_pushes_nothing(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [celery_step("a")]) == [1]
    assert s.leader.dispatch(TOKEN, [celery_step("a")]) == [-1]  # the same fire time again
    assert raw_list(s, "celery\x06\x163") == [ENVELOPE]


def test_celery_runs_with_an_overlap_rule_count_until_their_deadline(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [celery_step("a", overlap="skip", deadline=N0 + 999)]) == [1]
    state = hash_of(s, s.keys.state("a"))
    assert (state["active"], state["waiting"]) == ("1", "1")
    assert hash_of(s, s.keys.celery_inflight) == {f"a@{N0}": "sent"}
    assert s.client.smembers(s.keys.counting) == {b"a"}
    assert scored(s, s.keys.celery_deadlines) == [(f"a@{N0}", N0 + 999)]
    later = celery_step("a", N0 + MIN, N0 + MIN, overlap="skip", deadline=N0 + MIN + 999)
    assert s.leader.dispatch(TOKEN, [later]) == [0]  # skipped: the first still runs
    assert history(s, "a")[0] == f'{{"skipped":"{N0 + MIN}"}}'
    assert raw_list(s, "celery\x06\x163") == [ENVELOPE]


def test_outbox_mode_writes_the_entry_once_for_the_relay(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    assert s.leader.dispatch(TOKEN, [outbox_step("a")]) == [1]
    assert scored(s, s.keys.outbox) == [(f"a@{N0}", 77)]
    [entry] = s.celery.outbox(10)[0]
    assert entry == OutboxEntry(f"a@{N0}", "amqp://h", 5, ENVELOPE, "celery", "x", "t")
    assert raw_list(s, "celery") == [] and history(s, "a") == []  # recorded once relayed


def test_relayed_removes_confirmed_entries_and_records_each_once(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a", "b")
    s.leader.dispatch(TOKEN, [outbox_step("a"), outbox_step("b")])
    assert s.celery.relayed([(f"a@{N0}", '{"sent":"a1"}'), (f"b@{N0}", '{"sent":"b1"}')]) == 2
    assert s.celery.relayed([(f"a@{N0}", '{"sent":"a2"}')]) == 0  # another relay was first
    assert s.client.zcard(s.keys.outbox) == 0
    assert s.client.hlen(s.keys.outbox_messages) == 0
    assert history(s, "a") == ['{"sent":"a1"}']
    assert history(s, "b") == ['{"sent":"b1"}']


def test_the_scripts_keep_a_schedules_history_at_its_cap(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.leader.dispatch(TOKEN, [outbox_step("a")])
    fill_history(s, "a")
    s.celery.relayed([(f"a@{N0}", '{"sent":1}')])
    assert s.client.llen(s.keys.history("a")) == HISTORY_LEN
    assert history(s, "a")[0] == '{"sent":1}'
    s.celery.report(f"a@{N0}", "ended", '{"ok":1}')
    assert s.client.llen(s.keys.history("a")) == HISTORY_LEN
    assert history(s, "a")[0] == '{"ok":1}'


def test_an_outcome_moves_the_counters_once_however_often_it_is_reported(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.leader.dispatch(TOKEN, [celery_step("a", overlap="skip", deadline=N0 + 999)])
    run_id = f"a@{N0}"
    assert s.celery.report("a@1", "started") is False  # not a run in flight
    assert s.celery.report(run_id, "started") is True
    assert s.celery.report(run_id, "started") is False  # a second delivery
    assert hash_of(s, s.keys.state("a"))["waiting"] == "0"
    assert s.celery.report(run_id, "ended", '{"ok":1}', success_ms=N0 + 5) is True
    assert s.celery.report(run_id, "ended", '{"ok":2}', success_ms=N0 + 6) is False
    state = hash_of(s, s.keys.state("a"))
    assert (state["active"], state["waiting"], state["last_success_ms"]) == ("0", "0", str(N0 + 6))
    assert hash_of(s, s.keys.celery_inflight) == {}
    assert s.client.zcard(s.keys.celery_deadlines) == 0
    assert history(s, "a")[:2] == ['{"ok":2}', '{"ok":1}']


def test_a_run_that_never_reports_stops_counting_at_its_deadline_not_before(
    redis_url: str,
) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.leader.dispatch(TOKEN, [celery_step("a", overlap="skip", deadline=N0 + 999)])
    run_id = f"a@{N0}"
    assert s.celery.overdue(N0 + 998, 10) == []
    assert s.celery.report(run_id, "overdue", '{"late":1}', now_ms=N0 + 998) is False
    assert s.celery.overdue(N0 + 999, 10) == [run_id]
    assert s.celery.report(run_id, "overdue", '{"late":1}', now_ms=N0 + 999) is True
    state = hash_of(s, s.keys.state("a"))
    assert (state["active"], state["waiting"]) == ("0", "0")
    assert history(s, "a")[0] == '{"late":1}'


def test_an_outcome_of_a_schedule_long_gone_writes_nothing(redis_url: str) -> None:
    s = store(redis_url)
    assert s.celery.report("gone@1", "ended", '{"ok":1}', success_ms=5) is False
    assert s.client.exists(s.keys.state("gone"), s.keys.history("gone")) == 0


def test_repair_counts_celery_runs_in_flight(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.leader.dispatch(TOKEN, [celery_step("a", overlap="skip", deadline=N0 + 999)])
    s.celery.report(f"a@{N0}", "started")
    s.client.hset(s.keys.state("a"), mapping={"active": 5, "waiting": 3})  # drifted
    [fix] = s.ops.repair_counters()
    assert (fix.schedule, fix.active_was, fix.waiting_was, fix.active, fix.waiting) == (
        "a", 5, 3, 1, 0)  # fmt: skip
    assert s.ops.repair_counters() == []


def test_repair_counts_celery_runs_sent_and_not_started_as_waiting(redis_url: str) -> None:
    s = store(redis_url)
    inflight: dict[Any, Any] = {
        "a@1": "started",
        "a@2": "sent",
        "a@3": "sent",
        "b@4": "sent",
        "c@5": "started",
    }
    s.client.hset(s.keys.celery_inflight, mapping=inflight)
    for name in "abc":
        s.client.hset(s.keys.state(name), mapping={"active": 9, "waiting": 9})
    rows = {f.schedule: (f.active, f.waiting) for f in s.ops.repair_counters()}
    assert rows == {"a": (3, 2), "b": (1, 1), "c": (1, 0)}


def test_outbox_entries_round_trip_through_json() -> None:
    entry = OutboxEntry(
        "a@1", "redis://h:1/2", 9, ENVELOPE, "reports", "id-1", "2026-12-02T09:00:00.000Z"
    )
    assert OutboxEntry.loads(entry.dumps()) == entry
    assert json.loads(entry.dumps())["kind"] == "outbox"
    newer = entry.dumps().replace('"v":1', '"v":2')
    with pytest.raises(StateVersionError, match="outbox entry of version 2"):
        OutboxEntry.loads(newer)
    with pytest.raises(StateVersionError):
        OutboxEntry.loads(entry.dumps().replace('"kind":"outbox"', '"kind":"run"'))


def test_hand_offs_keep_the_history_at_its_cap(redis_url: str) -> None:
    s = store(redis_url)
    lead(s, "a")
    fill_history(s, "a")
    assert s.leader.dispatch(TOKEN, [celery_step("a")]) == [1]
    assert s.client.llen(s.keys.history("a")) == HISTORY_LEN
    assert history(s, "a")[0] == f'{{"sent":"{N0}"}}'


def test_an_outbox_entry_already_there_is_counted_as_a_duplicate_not_written_twice(
    redis_url: str,
) -> None:
    s = store(redis_url)
    lead(s, "a")
    s.client.hset(s.keys.outbox_messages, f"a@{N0}", "earlier")
    assert s.leader.dispatch(TOKEN, [outbox_step("a")]) == [0]
    assert hash_of(s, s.keys.state("a"))["duplicates"] == "1"
    assert text(s.client.hget(s.keys.outbox_messages, f"a@{N0}")) == "earlier"
    assert s.client.zcard(s.keys.outbox) == 0
