"""The relay, driven step by step against real servers: a broker that is down keeps the
outbox, a broker back takes it, an operator's trigger of a Celery schedule goes through the
relay, and runs that never report an end stop counting at their deadline."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import redis
from script_support import history, store

from scheduler.beat import Scheduler
from scheduler.beat.relay import RETRY_WAIT_S
from scheduler.core.celery import CeleryRouting, celery_task_id
from scheduler.core.model import Overlap, Schedule, Target
from scheduler.ops import actions, views
from scheduler.store.embedded import EmbeddedRedis

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def celery(name: str, **fields: object) -> Schedule:
    return Schedule(name=name, task="proj.tasks.record", timezone="UTC", every_s=60,
                    target=Target.CELERY, queue="celery", **fields)  # type: ignore[arg-type]  # fmt: skip


def leader(url: str, broker: str | None, *schedules: Schedule) -> Scheduler:
    s = store(url)
    replica = Scheduler(s, {x.name: x for x in schedules},
                        routing=CeleryRouting(s.identity(), broker))  # fmt: skip
    assert replica.elect(T0)
    replica.tick(T0)  # syncs; the first fire is T0 + 1 min
    return replica


def test_a_broker_that_is_down_keeps_the_outbox_and_takes_it_when_back(
    redis_url: str, own_redis: EmbeddedRedis
) -> None:
    replica = leader(redis_url, own_redis.url, celery("a"), celery("b"))
    own_redis.stop()
    fire = T0 + timedelta(minutes=1)
    assert replica.tick(fire) == 2
    assert replica.relay.pump(fire) == 0  # the broker is down
    view = views.status(replica.store)
    assert (view.outbox, view.outbox_oldest_at, view.celery_in_flight) == (
        2, "2026-12-02T09:01:00Z", 0)  # fmt: skip
    assert [e.run_id for e in replica.store.celery.outbox(10)[0]] == [
        f"a@{1796202060000}", f"b@{1796202060000}"]  # fmt: skip
    own_redis.start()
    assert replica.relay.pump(fire) == 0  # still waiting out the retry delay
    time.sleep(RETRY_WAIT_S[0] + 0.1)
    assert replica.relay.pump(fire) == 2
    assert replica.store.celery.outbox(10) == ([], {})
    broker = redis.Redis.from_url(own_redis.url)
    pushed = [json.loads(m) for m in broker.lrange("celery", 0, -1)]
    broker.close()
    assert sorted(m["headers"]["sched_run_id"] for m in pushed) == ["a@1796202060000",
                                                                    "b@1796202060000"]  # fmt: skip
    sent = [json.loads(e) for e in history(replica.store, "a")]
    assert [(e["event"], e["celery_id"]) for e in sent] == [
        ("sent_to_celery", celery_task_id("a@1796202060000"))]  # fmt: skip


def test_an_operators_trigger_of_a_celery_schedule_goes_through_the_relay(redis_url: str) -> None:
    replica = leader(redis_url, None, celery("a"))
    run_id = actions.trigger(replica.store, "a", T0 + timedelta(seconds=5))
    assert replica.store.reads.queue_depths() == {}  # nothing for sched's own workers
    assert replica.relay.pump(T0 + timedelta(seconds=6)) == 1
    [pushed] = [json.loads(m) for m in replica.store.client.lrange("celery", 0, -1)]
    assert pushed["headers"]["sched_run_id"] == run_id
    assert pushed["headers"]["id"] == celery_task_id(run_id)
    kinds = [json.loads(e)["event"] for e in history(replica.store, "a")]
    assert kinds == ["sent_to_celery", "triggered"]


def test_a_backfill_of_a_celery_schedule_hands_each_fire_time_over_once(redis_url: str) -> None:
    replica = leader(redis_url, None, celery("a"))
    start, until = T0 - timedelta(minutes=3), T0 - timedelta(minutes=1)
    first = actions.backfill(replica.store, "a", start, until, T0)
    again = actions.backfill(replica.store, "a", start, until, T0)
    assert (len(first.enqueued), again.already) == (3, 3)
    assert replica.relay.pump(T0) == 3
    ids = sorted(json.loads(m)["headers"]["sched_run_id"]
                 for m in replica.store.client.lrange("celery", 0, -1))  # fmt: skip
    assert ids == sorted(first.enqueued)


def test_runs_that_never_report_stop_counting_at_their_deadline(redis_url: str) -> None:
    replica = leader(redis_url, None, celery("a", overlap=Overlap.SKIP, expires_s=10, timeout_s=5))
    fire = T0 + timedelta(minutes=1)
    assert replica.tick(fire) == 1
    assert replica.tick(fire + timedelta(minutes=1)) == 0  # skipped: the first counts as running
    state = replica.store.reads.states(["a"])["a"]
    assert (state.active, state.skipped) == (1, 1)
    assert views.status(replica.store).to_json()["celery"] == {
        "outbox": 0, "outbox_oldest_at": None, "in_flight": 1}  # fmt: skip
    # the deadline counts from the hand-off (at ``fire``): expires + timeout + 60 s
    assert replica.relay.expire(fire + timedelta(seconds=10 + 5 + 60 - 1)) == 0
    assert replica.relay.expire(fire + timedelta(seconds=10 + 5 + 60)) == 1
    assert replica.store.reads.states(["a"])["a"].active == 0
    last = json.loads(history(replica.store, "a")[0])
    assert (last["event"], last["run_id"]) == ("no_outcome", "a@1796202060000")
    assert "report_outcomes" in last["error"]


def test_the_relays_hand_off_event_is_the_event_format() -> None:
    from scheduler.beat.relay import sent_event
    from scheduler.core.celery import OutboxEntry
    from scheduler.core.messages import Event

    entry = OutboxEntry('a"b@1', "", 5, "{}", "celery", "id-1", "2026-12-02T09:00:00.000Z")
    written = sent_event(entry, "2026-12-02T09:00:01.000Z")
    expected = Event("sent_to_celery", "2026-12-02T09:00:01.000Z", run_id='a"b@1',
                     fire_at="2026-12-02T09:00:00.000Z", celery_id="id-1")  # fmt: skip
    assert written == expected.dumps()
    assert Event.loads(written).run_id == 'a"b@1'


def test_an_unreadable_outbox_entry_stays_and_blocks_nothing(redis_url: str) -> None:
    replica = leader(redis_url, None, celery("a"))
    s = replica.store
    s.client.zadd(s.keys.outbox, {"old@1": 1})
    s.client.hset(s.keys.outbox_messages, "old@1", '{"v":9,"kind":"outbox"}')
    actions.trigger(s, "a", T0 + timedelta(seconds=5))
    entries, unreadable = s.celery.outbox(10)
    assert [e.run_id.partition("@")[0] for e in entries] == ["a"]
    assert list(unreadable) == ["old@1"] and "version 9" in unreadable["old@1"]
    assert replica.relay.pump(T0 + timedelta(seconds=6)) == 1  # the readable one went out
    assert s.client.zrange(s.keys.outbox, 0, -1) == [b"old@1"]
