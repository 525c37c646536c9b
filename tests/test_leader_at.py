"""One-off schedules (``at:``) in the leader against a real Redis, driven by explicit instants:
each fires once (or is recorded missed), and nothing a sync or a restart does fires it again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis

from scheduler import ops
from scheduler.beat import Scheduler
from scheduler.core.instants import to_ms
from scheduler.core.model import Misfire, Schedule
from scheduler.store import Store

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
AT = T0 + timedelta(hours=1)


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def one_off(at: datetime = AT, **fields: object) -> Schedule:
    return Schedule(name="once", task="scheduler.tasks:heartbeat", timezone="Europe/Berlin",
                    at=at, **fields)  # type: ignore[arg-type]  # fmt: skip


def enqueued(s: Store) -> list[tuple[str, str]]:
    return [(m.schedule, m.fire_at) for m in s.reads.queued_runs("default")]


def leader_at(url: str, now: datetime, schedule: Schedule) -> Scheduler:
    leader = Scheduler(store(url), {schedule.name: schedule})
    assert leader.elect(now)
    return leader


def restart(url: str, old: Scheduler, now: datetime, schedule: Schedule) -> Scheduler:
    old.release()
    return leader_at(url, now, schedule)


def test_a_future_one_off_fires_exactly_once_at_its_instant(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    assert leader.tick(T0) == 0
    s = store(redis_url)
    assert s.reads.states(["once"])["once"].next_ms == to_ms(AT)
    assert leader.tick(AT - timedelta(milliseconds=1)) == 0
    assert leader.tick(AT) == 1
    assert leader.tick(AT + timedelta(days=1)) == 0
    assert enqueued(s) == [("once", "2026-03-28T23:00:00.000Z")]
    [message] = s.reads.queued_runs("default")
    assert message.run_id == f"once@{to_ms(AT)}"
    state = s.reads.states(["once"])["once"]
    assert (state.next_ms, state.due_ms, state.last_fire_ms) == (None, None, to_ms(AT))
    assert (state.runs, state.missed) == (1, 0)
    assert s.leader.next_due_ms() is None  # its due entry is gone


def test_a_one_off_with_jitter_fires_once_after_its_offset(redis_url: str) -> None:
    schedule = one_off(jitter_s=600)
    offset_ms = schedule.jitter_ms(to_ms(AT))
    assert 0 < offset_ms < 600_000
    leader = leader_at(redis_url, T0, schedule)
    assert leader.tick(AT + timedelta(milliseconds=offset_ms - 1)) == 0
    assert leader.tick(AT + timedelta(milliseconds=offset_ms)) == 1
    assert leader.tick(AT + timedelta(hours=1)) == 0
    assert enqueued(store(redis_url)) == [("once", "2026-03-28T23:00:00.000Z")]


@pytest.mark.parametrize("policy", [Misfire.COALESCE, Misfire.ALL])
def test_a_past_one_off_fires_once_on_its_first_sync(redis_url: str, policy: Misfire) -> None:
    past = T0 - timedelta(hours=3)
    leader = leader_at(redis_url, T0, one_off(past, misfire=policy))
    assert leader.tick(T0) == 1
    assert leader.tick(T0 + timedelta(minutes=1)) == 0
    s = store(redis_url)
    assert enqueued(s) == [("once", "2026-03-28T19:00:00.000Z")]
    state = s.reads.states(["once"])["once"]
    assert (state.next_ms, state.last_fire_ms, state.runs, state.missed) == (
        None, to_ms(past), 1, 0
    )  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "grace_s"), [(Misfire.SKIP, None), (Misfire.COALESCE, 3600), (Misfire.ALL, 3600)]
)
def test_a_past_one_off_beyond_its_policy_is_recorded_missed_once(
    redis_url: str, policy: Misfire, grace_s: int | None
) -> None:
    past = T0 - timedelta(hours=3)
    schedule = one_off(past, misfire=policy, misfire_grace_s=grace_s)
    leader = leader_at(redis_url, T0, schedule)
    assert leader.tick(T0) == 0
    assert leader.tick(T0 + timedelta(minutes=1)) == 0
    s = store(redis_url)
    assert enqueued(s) == []
    state = s.reads.states(["once"])["once"]
    assert (state.next_ms, state.last_fire_ms, state.runs) == (None, None, 0)
    assert (state.missed, state.last_missed_ms) == (1, to_ms(past))
    [missed] = s.reads.history("once")
    assert (missed.event, missed.count, missed.last_missed) == (
        "missed", 1, "2026-03-28T19:00:00.000Z"
    )  # fmt: skip
    # A restart sees a recorded miss as done too: no run, no second miss.
    leader = restart(redis_url, leader, T0 + timedelta(hours=1), schedule)
    assert leader.tick(T0 + timedelta(hours=1)) == 0
    assert s.reads.states(["once"])["once"].missed == 1


def test_a_restart_after_a_one_off_fired_does_not_fire_it_again(redis_url: str) -> None:
    past = T0 - timedelta(hours=3)
    leader = leader_at(redis_url, T0, one_off(past))
    assert leader.tick(T0) == 1
    later = T0 + timedelta(hours=2)
    leader = restart(redis_url, leader, later, one_off(past))
    assert leader.sync(later) == {}
    assert leader.tick(later) == 0
    assert enqueued(store(redis_url)) == [("once", "2026-03-28T19:00:00.000Z")]


def test_an_edit_beside_the_trigger_of_a_done_one_off_keeps_it_done(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(AT)
    leader.replace_schedules({"once": one_off(priority=9)})
    assert leader.sync(AT + timedelta(minutes=1)) == {"once": "updated"}
    assert leader.tick(AT + timedelta(minutes=1)) == 0
    assert store(redis_url).reads.states(["once"])["once"].next_ms is None


def test_disabling_and_enabling_a_done_one_off_does_not_fire_it_again(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(AT)
    leader.replace_schedules({"once": one_off(enabled=False)})
    assert leader.sync(AT + timedelta(minutes=1)) == {"once": "changed"}
    leader.replace_schedules({"once": one_off()})
    assert leader.sync(AT + timedelta(minutes=2)) == {"once": "changed"}
    assert leader.tick(AT + timedelta(minutes=2)) == 0
    assert enqueued(store(redis_url)) == [("once", "2026-03-28T23:00:00.000Z")]


def test_a_done_one_off_moved_to_a_new_instant_fires_at_that_one(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(AT)
    moved = AT + timedelta(days=1)
    leader.replace_schedules({"once": one_off(moved)})
    assert leader.sync(AT + timedelta(minutes=1)) == {"once": "changed"}
    assert store(redis_url).reads.states(["once"])["once"].next_ms == to_ms(moved)
    assert leader.tick(moved) == 1
    assert [f for _, f in enqueued(store(redis_url))] == [
        "2026-03-28T23:00:00.000Z", "2026-03-29T23:00:00.000Z"
    ]  # fmt: skip


def test_a_one_off_back_within_its_tombstone_stays_done(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(AT)
    leader.replace_schedules({})
    assert leader.sync(AT + timedelta(minutes=1)) == {"once": "removed"}
    leader.replace_schedules({"once": one_off()})
    assert leader.sync(AT + timedelta(minutes=2)) == {"once": "restored"}
    assert leader.tick(AT + timedelta(minutes=2)) == 0
    assert len(enqueued(store(redis_url))) == 1


def test_a_paused_one_off_whose_instant_passed_is_missed_on_resume(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(T0)
    s = store(redis_url)
    assert ops.pause(s, "once", T0 + timedelta(minutes=1))
    assert leader.tick(AT) == 0
    resumed = ops.resume(s, "once", AT + timedelta(minutes=5))
    assert (resumed.changed, resumed.next_fire, resumed.missed) == (True, None, 1)
    assert leader.tick(AT + timedelta(minutes=5)) == 0
    state = s.reads.states(["once"])["once"]
    assert (state.next_ms, state.missed, state.last_missed_ms) == (None, 1, to_ms(AT))


def test_plan_shows_a_new_past_one_off_with_its_instant_as_next_fire(redis_url: str) -> None:
    past = T0 - timedelta(hours=3)
    changes = ops.plan(store(redis_url), {"once": one_off(past)}, T0)
    assert [(c.kind, c.name, c.detail, c.next_fire) for c in changes] == [
        ("added", "once", "once at 2026-03-28T20:00:00+01:00", past)
    ]


def test_a_one_off_schedule_in_redis_is_the_one_in_the_file(redis_url: str) -> None:
    leader = leader_at(redis_url, T0, one_off())
    leader.tick(T0)
    stored = ops.stored_schedules(store(redis_url))["once"]
    assert stored == replace(one_off(), source="")
    assert stored.to_json()["at"] == "2026-03-28T23:00:00Z"
