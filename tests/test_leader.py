"""The leader-elected scheduler against a real Redis, driven by explicit instants."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
import redis
from faultproxy import FaultProxy
from test_worker_faults import Drops, lua

from scheduler.beat import Scheduler
from scheduler.beat.reload import Reloader
from scheduler.core.instants import to_ms
from scheduler.core.misfire import MISFIRE_ALL_CAP
from scheduler.core.model import Misfire, Schedule
from scheduler.errors import StoreError
from scheduler.store import Store
from scheduler.store.values import Step

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # the night Berlin springs forward


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def every(name: str, seconds: int, **fields: object) -> Schedule:
    return Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="UTC",
                    every_s=seconds, **fields)  # type: ignore[arg-type]  # fmt: skip


def cron(name: str, expression: str, zone: str = "UTC", **fields: object) -> Schedule:
    return Schedule(name=name, task="scheduler.tasks:heartbeat", timezone=zone,
                    cron=expression, **fields)  # type: ignore[arg-type]  # fmt: skip


def enqueued(s: Store, queue: str = "default") -> list[tuple[str, str]]:
    """(schedule, fire_at) of every run on a queue."""
    return [(m.schedule, m.fire_at) for m in s.reads.queued_runs(queue)]


def expire_lease(url: str) -> None:
    """What a crashed leader's lease does after its TTL: disappear."""
    redis.Redis.from_url(url).delete("{sched}:lease")


SCHEDULES = {
    s.name: s
    for s in [
        every("tick", 60),
        every("slow", 7 * 60),
        cron("quarter", "*/15 * * * *", "Europe/Berlin"),
        cron("nightly", "30 2 * * *", "Europe/Berlin"),
        cron("hourly", "0 * * * *", "Europe/Berlin"),
    ]
}


def test_three_replicas_over_six_hours_enqueue_every_fire_time_exactly_once(redis_url: str) -> None:
    replicas = [Scheduler(store(redis_url), SCHEDULES, identity=f"r{i}") for i in range(3)]
    now = T0
    end = T0 + timedelta(hours=6)
    leaders = []
    step = 0
    while now <= end:
        # Replicas wake in a different order each step, as real ones do.
        for replica in replicas[step % 3 :] + replicas[: step % 3]:
            replica.elect(now)
            replica.tick(now)
            replica.prepare(now)  # and build the next instant's batch ahead, as run() does
        leaders.append(next(r.identity for r in replicas if r.is_leader))
        step += 1
        if step % 37 == 0:  # the leader "crashes": its lease expires, another takes over
            leader = next(r for r in replicas if r.is_leader)
            expire_lease(redis_url)
            leader.lease.epoch = 0
        now += timedelta(seconds=20)
    s = store(redis_url)
    got = Counter(enqueued(s))
    assert max(got.values()) == 1
    expected = Counter(
        (name, f.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        for name, schedule in SCHEDULES.items()
        for f in schedule.fire_times(T0, end)
    )
    # Nothing is due before the first sync, so the first fire after T0 is the first run.
    assert got == expected
    assert len(set(leaders)) >= 2  # leadership really moved
    assert sum(1 for n, _ in got if n == "nightly") == 1
    assert ("nightly", "2026-03-29T01:00:00.000Z") in got  # 02:30 fell in the gap: 03:00 CEST


def test_a_leader_paused_between_computing_and_dispatching_is_refused(redis_url: str) -> None:
    old = Scheduler(store(redis_url), {"tick": every("tick", 60)}, identity="old")
    new = Scheduler(store(redis_url), {"tick": every("tick", 60)}, identity="new")
    assert old.elect(T0)
    old.tick(T0)

    def freeze_past_the_lease() -> None:
        # `old` has computed its batch and now stalls (GC pause, SIGSTOP) past its lease;
        # `new` takes over and dispatches the same fire time first.
        expire_lease(redis_url)
        assert new.elect(T0 + timedelta(seconds=61))
        assert new.tick(T0 + timedelta(seconds=61)) == 1

    old.before_dispatch = freeze_past_the_lease
    assert old.tick(T0 + timedelta(seconds=61)) == 0
    assert not old.is_leader
    assert enqueued(store(redis_url)) == [("tick", "2026-03-28T22:01:00.000Z")]
    assert new.epoch == 2


def test_only_one_replica_leads_and_the_epoch_grows_with_each_lease(redis_url: str) -> None:
    a = Scheduler(store(redis_url), {}, identity="a")
    b = Scheduler(store(redis_url), {}, identity="b")
    assert a.elect(T0) and not b.elect(T0)
    assert a.epoch == 1
    a.release()
    assert b.elect(T0) and b.epoch == 2
    assert not a.elect(T0)


NOON_29 = datetime(2026, 3, 29, 12, tzinfo=UTC)


def test_a_restart_with_unchanged_schedules_keeps_the_next_fire_time(redis_url: str) -> None:
    daily = {"d": every("d", 86400, start=datetime(2026, 1, 1, 12, tzinfo=UTC))}
    first = Scheduler(store(redis_url), daily)
    first.elect(T0)
    first.tick(T0)
    assert store(redis_url).reads.states(["d"])["d"].next_ms == to_ms(NOON_29)
    first.release()
    # Redeployed three hours later: the countdown is not reset (django-celery-beat#634).
    second = Scheduler(store(redis_url), daily)
    second.elect(T0 + timedelta(hours=3))
    assert second.sync(T0 + timedelta(hours=3)) == {}
    assert store(redis_url).reads.states(["d"])["d"].next_ms == to_ms(NOON_29)


def test_a_changed_trigger_recomputes_and_a_removed_schedule_is_tombstoned(redis_url: str) -> None:
    leader = Scheduler(store(redis_url), {"a": every("a", 3600), "b": every("b", 60)})
    leader.elect(T0)
    leader.tick(T0)
    leader.replace_schedules({"a": every("a", 600), "c": every("c", 60)})
    assert leader.sync(T0 + timedelta(minutes=1)) == {"a": "changed", "b": "removed", "c": "added"}
    s = store(redis_url)
    assert s.reads.states(["a"])["a"].next_ms == to_ms(T0 + timedelta(minutes=10))
    assert s.reads.states(["b"])["b"].removed  # its state is kept, for seven days
    assert 0 < s.client.ttl(s.keys.state("b")) <= 7 * 86400
    assert sorted(s.reads.definitions()) == ["a", "c"]
    assert s.leader.due(to_ms(T0 + timedelta(days=1)), 10) == ["c", "a"]


def test_a_schedule_back_within_its_tombstone_keeps_next_fire_pause_and_history(
    redis_url: str,
) -> None:
    from scheduler import ops

    schedules = {"b": every("b", 60), "k": every("k", 60)}
    leader = Scheduler(store(redis_url), schedules)
    leader.elect(T0)
    leader.tick(T0)
    leader.tick(T0 + timedelta(minutes=1))
    s = store(redis_url)
    assert ops.pause(s, "k", T0 + timedelta(minutes=1, seconds=5))
    before = s.reads.states(["b", "k"])
    # A file saved half-way drops both for a moment, then they come back unchanged.
    leader.replace_schedules({})
    assert leader.sync(T0 + timedelta(minutes=1, seconds=10)) == {"b": "removed", "k": "removed"}
    leader.replace_schedules(schedules)
    assert leader.sync(T0 + timedelta(minutes=1, seconds=20)) == {"b": "restored", "k": "restored"}
    after = s.reads.states(["b", "k"])
    assert after["b"].next_ms == before["b"].next_ms == to_ms(T0 + timedelta(minutes=2))
    assert after["k"].paused and not after["b"].removed
    assert s.client.ttl(s.keys.state("b")) == -1  # no longer expiring
    assert [e.event for e in s.reads.history("k")] == ["paused"]
    assert s.leader.due(to_ms(T0 + timedelta(days=1)), 10) == ["b"]  # k stays paused
    assert leader.tick(T0 + timedelta(minutes=2)) == 1


@pytest.mark.parametrize(
    ("policy", "grace_s", "runs", "missed"),
    [
        (Misfire.COALESCE, None, ["2026-03-29T01:00:00.000Z"], 179),
        (Misfire.SKIP, None, [], 180),
        (Misfire.COALESCE, 10, [], 180),  # the latest is 30 s late: outside the grace
        (Misfire.ALL, 5 * 60, [f"2026-03-29T00:{m:02d}:00.000Z" for m in range(56, 60)]
         + ["2026-03-29T01:00:00.000Z"], 175),
    ],
)  # fmt: skip
def test_fire_times_missed_while_no_scheduler_ran_follow_the_policy(
    redis_url: str, policy: Misfire, grace_s: int | None, runs: list[str], missed: int
) -> None:
    schedule = every("m", 60, misfire=policy, misfire_grace_s=grace_s)
    leader = Scheduler(store(redis_url), {"m": schedule})
    leader.elect(T0)
    leader.tick(T0)  # next fire: 22:01
    # Every scheduler is down for three hours; one comes back at 01:00:30.
    back = T0 + timedelta(hours=3, seconds=30)
    leader.tick(back)
    s = store(redis_url)
    assert [f for _, f in enqueued(s)] == runs
    state = s.reads.states(["m"])["m"]
    assert state.missed == missed
    assert state.next_ms == to_ms(T0 + timedelta(hours=3, minutes=1))
    assert s.reads.history("m")[0].event == "missed"


def test_misfire_all_enqueues_at_most_the_cap_most_recent(redis_url: str) -> None:
    leader = Scheduler(store(redis_url), {"m": every("m", 60, misfire=Misfire.ALL)})
    leader.elect(T0)
    leader.tick(T0)
    leader.tick(T0 + timedelta(hours=3, seconds=30))
    fires = [f for _, f in enqueued(store(redis_url))]
    assert len(fires) == MISFIRE_ALL_CAP
    assert fires[-1] == "2026-03-29T01:00:00.000Z"
    assert store(redis_url).reads.states(["m"])["m"].missed == 180 - MISFIRE_ALL_CAP


def test_jitter_delays_dispatch_by_a_deterministic_offset(redis_url: str) -> None:
    schedule = every("j", 3600, jitter_s=600)
    leader = Scheduler(store(redis_url), {"j": schedule})
    leader.elect(T0)
    leader.tick(T0)
    fire = T0 + timedelta(hours=1)
    offset_ms = schedule.jitter_ms(to_ms(fire))
    assert 0 < offset_ms < 600_000
    assert leader.tick(fire + timedelta(milliseconds=offset_ms - 1)) == 0
    assert leader.tick(fire + timedelta(milliseconds=offset_ms)) == 1
    [message] = store(redis_url).reads.queued_runs("default")
    assert message.fire_at == "2026-03-28T23:00:00.000Z"
    assert message.run_id == f"j@{to_ms(fire)}"


def test_the_run_message_carries_the_documented_fields(redis_url: str) -> None:
    schedule = cron("r", "0 * * * *", queue="reports", priority=7, timeout_s=30, expires_s=600,
                    args=(1, "a"), kwargs={"k": [1]})  # fmt: skip
    leader = Scheduler(store(redis_url), {"r": schedule})
    leader.elect(T0)
    leader.tick(T0)
    leader.tick(T0 + timedelta(hours=1, milliseconds=3))
    [message] = store(redis_url).reads.queued_runs("reports")
    assert message.to_json() == {
        "v": 1, "kind": "run", "run_id": f"r@{to_ms(T0 + timedelta(hours=1))}", "schedule": "r",
        "task": "scheduler.tasks:heartbeat", "args": [1, "a"], "kwargs": {"k": [1]},
        "queue": "reports", "priority": 7, "fire_at": "2026-03-28T23:00:00.000Z",
        "fire_at_ms": to_ms(T0 + timedelta(hours=1)), "enqueued_at": "2026-03-28T23:00:00.003Z",
        "attempt": 1, "retry": schedule.retry.to_json(), "timeout_s": 30,
        "expires_at": "2026-03-28T23:10:00.000Z", "overlap": "allow", "origin": "schedule",
        "epoch": 1,
    }  # fmt: skip
    assert json.loads(message.dumps()) == message.to_json()


def test_a_disabled_schedule_never_fires_and_one_past_its_end_stops(redis_url: str) -> None:
    schedules = {
        "off": every("off", 60, enabled=False),
        "ends": every("ends", 60, end=T0 + timedelta(minutes=2)),
    }
    leader = Scheduler(store(redis_url), schedules)
    leader.elect(T0)
    for minute in range(10):
        leader.tick(T0 + timedelta(minutes=minute))
    assert enqueued(store(redis_url)) == [
        ("ends", "2026-03-28T22:01:00.000Z"), ("ends", "2026-03-28T22:02:00.000Z"),
    ]  # fmt: skip
    assert store(redis_url).leader.next_due_ms() is None


def test_ten_thousand_schedules_due_at_once_are_each_enqueued_once(redis_url: str) -> None:
    many = {f"s{i}": every(f"s{i}", 60) for i in range(10_000)}
    # Driven by tick() with no renewal thread: a lease long enough for a slow machine.
    leader = Scheduler(store(redis_url), many, lease_ttl_ms=120_000)
    leader.elect(T0)
    leader.tick(T0)
    assert leader.tick(T0 + timedelta(minutes=1)) == 10_000
    assert leader.tick(T0 + timedelta(minutes=1)) == 0
    assert store(redis_url).reads.queue_depths() == {"default": 10_000}


def test_a_sync_of_several_chunks_reports_each_schedule_once(redis_url: str) -> None:
    """2,500 schedules sync in three chunks, each written while the next is made; a second
    sync changes exactly what changed, in whichever chunk it is."""
    many = {f"s{i:04d}": every(f"s{i:04d}", 60) for i in range(2_500)}
    leader = Scheduler(store(redis_url), many, lease_ttl_ms=120_000)
    leader.elect(T0)
    assert leader.sync(T0) == {name: "added" for name in many}
    assert store(redis_url).client.zcard("{sched}:due") == 2_500
    changed = {**many, "s0003": every("s0003", 120), "s1500": every("s1500", 90),
               "s2499": every("s2499", 30), "new": every("new", 60)}  # fmt: skip
    del changed["s1999"]
    leader.replace_schedules(changed)
    assert leader.sync(T0 + timedelta(seconds=10)) == {
        "s0003": "changed", "s1500": "changed", "s2499": "changed", "new": "added",
        "s1999": "removed"}  # fmt: skip
    states = store(redis_url).reads.states(["s0003", "s1500", "s2499", "s0004"])
    assert {n: st.next_ms for n, st in states.items()} == {
        "s0003": to_ms(T0 + timedelta(seconds=120)), "s1500": to_ms(T0 + timedelta(seconds=90)),
        "s2499": to_ms(T0 + timedelta(seconds=30)), "s0004": to_ms(T0 + timedelta(seconds=60)),
    }  # fmt: skip


def test_states_of_thousands_of_names_each_answer_for_their_own_schedule(redis_url: str) -> None:
    """Read 1,000 to a call: every state lands on its own name across the calls, and names
    with no state are left out."""
    many = {f"s{i:04d}": every(f"s{i:04d}", 60 + i % 7) for i in range(2_500)}
    leader = Scheduler(store(redis_url), many, lease_ttl_ms=120_000)
    leader.elect(T0)
    leader.sync(T0)
    asked: list[str] = []
    for i, name in enumerate(reversed(list(many))):
        asked += [name, f"none{i}"]  # 5,000 names: five calls
    states = store(redis_url).reads.states(asked)
    assert sorted(states) == sorted(many)
    expected = {}  # seven intervals, seven different next fire times
    for name, schedule in many.items():
        fire = schedule.next_fire(T0)
        assert fire is not None
        expected[name] = to_ms(fire)
    assert {name: st.next_ms for name, st in states.items()} == expected


def test_a_sync_whose_write_reply_was_lost_fails_and_the_next_one_completes_it(
    redis_url: str,
) -> None:
    """The reply to the first write of the second chunk is lost after Redis ran it, while
    the third chunk is being made. The sync fails; the next one writes what is missing and
    nothing twice, and every schedule holds its first fire time."""
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    direct = store(redis_url)
    direct.client.script_load(lua("upsert"))  # so the dropped EVALSHA is one Redis ran
    many = {f"s{i:04d}": every(f"s{i:04d}", 60) for i in range(2_500)}
    with FaultProxy(parts.hostname, parts.port) as proxy:
        leader = Scheduler(Store(redis.Redis.from_url(proxy.url, retry=None)), many,
                           lease_ttl_ms=120_000)  # fmt: skip
        leader.elect(T0)
        drops = Drops("upsert")
        proxy.drop_replies(lambda args: drops(args) and drops.dropped == 5)  # 250 to a call
        with pytest.raises(StoreError):
            leader.sync(T0)
        assert proxy.stats.replies_dropped == 1
        report = leader.sync(T0)
        leader.release()
    assert set(report.values()) <= {"added"}
    assert not {f"s{i:04d}" for i in range(1_250)} & set(report)  # written before the loss
    assert direct.client.zcard("{sched}:due") == 2_500
    states = direct.reads.states(list(many))
    assert {st.next_ms for st in states.values()} == {to_ms(T0 + timedelta(seconds=60))}
    assert len(states) == 2_500
    leader = Scheduler(direct, many, lease_ttl_ms=120_000)
    assert leader.elect(T0)
    assert leader.sync(T0) == {}


def test_status_shows_leader_schedules_and_queues(redis_url: str) -> None:
    from typer.testing import CliRunner

    from scheduler.cli import app

    leader = Scheduler(store(redis_url), {"tick": every("tick", 60)}, identity="host:1")
    leader.elect(T0)
    leader.tick(T0)
    leader.tick(T0 + timedelta(minutes=1))
    result = CliRunner().invoke(app, ["status", "--redis-url", redis_url, "--json"])
    assert result.exit_code == 0, result.stdout
    payload = json.loads(result.stdout)
    assert payload["leader"]["identity"] == "host:1"
    assert payload["leader"]["epoch"] == 1
    assert payload["schedules"] == [{
        "schedule": "tick", "paused": False, "next_fire_at": "2026-03-28T22:02:00Z",
        "last_fire_at": "2026-03-28T22:01:00Z", "runs": 1, "missed": 0, "last_missed_at": None,
        "owner": "files", "source": "files",
    }]  # fmt: skip
    assert payload["queues"] == {"default": 1}


def test_commands_that_need_redis_say_so_without_a_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from scheduler.cli import app

    monkeypatch.delenv("SCHED_REDIS_URL", raising=False)
    monkeypatch.delenv("SCHED_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no .sched/ of a `sched run` here either
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no Redis: pass --redis-url or set SCHED_REDIS_URL (and no `sched run` data in "
        ".sched/ to open)\n"
    )


def test_passwords_never_appear_in_a_redacted_url() -> None:
    from scheduler.store import redact

    assert redact("redis://app:s3cret@db.internal:6380/2") == "redis://app:***@db.internal:6380/2"
    assert redact("rediss://:s3cret@db/0") == "rediss://:***@db/0"
    assert redact("unix:///run/redis.sock") == "unix:///run/redis.sock"


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


def reloader_for(leader: Scheduler, path: Path, ticker: Ticker) -> Reloader:
    return Reloader([path], lambda: leader.schedules, leader.replace_schedules, ticker)


def test_an_invalid_reload_keeps_the_last_good_schedules(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  a: {task: m:f, every: 60}\n", encoding="utf-8")
    leader = Scheduler(store(redis_url), {"a": every("a", 60)})
    ticker = Ticker()
    reloader = reloader_for(leader, path, ticker)
    path.write_text("schedules:\n  a: {task: m:f, every: 0}\n  b: {task: m:f, every: 5}\n")
    reloader.request()
    reloader.poll()
    ticker.at += 1.0  # the documented settle interval
    reloader.poll()
    assert sorted(leader.schedules) == ["a"]
    assert f"{path}:2:25: schedules.a.every: must be at least 1s, got '0'" in caplog.text
    assert "reload rejected; the last good schedules keep running" in caplog.text
    path.write_text("schedules:\n  a: {task: m:f, every: 60}\n  b: {task: m:f, every: 5}\n")
    reloader.request()
    reloader.poll()
    ticker.at += 1.0
    reloader.poll()
    assert sorted(leader.schedules) == ["a", "b"]


def test_a_file_is_applied_only_once_it_stayed_unchanged_for_a_second(
    redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.yaml"
    full = "schedules:\n  a: {task: m:f, every: 60}\n  b: {task: m:f, every: 5}\n"
    path.write_text(full, encoding="utf-8")
    leader = Scheduler(store(redis_url), {"a": every("a", 60), "b": every("b", 5)})
    ticker = Ticker()
    reloader = reloader_for(leader, path, ticker)
    # An in-place write, half-way: valid YAML that lacks `b`.
    path.write_text("schedules:\n  a: {task: m:f, every: 60}\n", encoding="utf-8")
    reloader.poll()
    ticker.at += 0.9
    reloader.poll()  # not settled yet
    assert sorted(leader.schedules) == ["a", "b"]
    path.write_text(full + "  c: {task: m:f, every: 7}\n", encoding="utf-8")
    ticker.at += 0.9
    reloader.poll()  # changed again: the wait starts over
    ticker.at += 0.9
    reloader.poll()
    assert sorted(leader.schedules) == ["a", "b"]
    ticker.at += 0.1
    reloader.poll()
    assert sorted(leader.schedules) == ["a", "b", "c"]


def test_a_reload_removing_more_than_half_of_the_schedules_is_a_warning_naming_them(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  a: {task: m:f, every: 60}\n", encoding="utf-8")
    leader = Scheduler(store(redis_url), {n: every(n, 60) for n in ("a", "b", "c")})
    ticker = Ticker()
    reloader = reloader_for(leader, path, ticker)
    reloader.request()
    reloader.poll()
    ticker.at += 1.0
    reloader.poll()
    assert sorted(leader.schedules) == ["a"]
    assert "this reload removes 2 of 3 schedules: b, c" in caplog.text


def test_a_batch_prepared_ahead_enqueues_exactly_what_the_instant_would(redis_url: str) -> None:
    leader = Scheduler(store(redis_url), {"a": every("a", 60), "b": cron("b", "* * * * *")})
    leader.elect(T0)
    leader.tick(T0)
    assert leader.prepare(T0 + timedelta(seconds=30)) == 2
    assert leader.tick(T0 + timedelta(seconds=59, milliseconds=999)) == 0
    assert leader.tick(T0 + timedelta(seconds=60, milliseconds=2)) == 2
    assert leader.tick(T0 + timedelta(seconds=60, milliseconds=3)) == 0
    messages = store(redis_url).reads.queued_runs("default")
    assert sorted((m.schedule, m.fire_at, m.enqueued_at) for m in messages) == [
        ("a", "2026-03-28T22:01:00.000Z", "2026-03-28T22:01:00.000Z"),
        ("b", "2026-03-28T22:01:00.000Z", "2026-03-28T22:01:00.000Z"),
    ]
    assert store(redis_url).reads.states(["a"])["a"].next_ms == to_ms(T0 + timedelta(minutes=2))


def test_a_batch_prepared_ahead_goes_out_in_several_script_calls_in_one_round_trip(
    redis_url: str,
) -> None:
    """Five schedules, two to a call: three calls, each its own compare-and-set; one paused
    after the batch was built is refused alone, the others are enqueued."""
    from scheduler import ops

    names = ["a", "b", "c", "d", "e"]
    leader = Scheduler(store(redis_url), {n: every(n, 60) for n in names}, batch_size=2)
    leader.elect(T0)
    leader.tick(T0)
    assert leader.prepare(T0 + timedelta(seconds=30)) == 5
    assert ops.pause(store(redis_url), "c", T0 + timedelta(seconds=40))
    assert leader.tick(T0 + timedelta(seconds=60)) == 4
    assert sorted(name for name, _ in enqueued(store(redis_url))) == ["a", "b", "d", "e"]
    states = store(redis_url).reads.states(names)
    assert {n: s.next_ms for n, s in states.items()} == {
        n: to_ms(T0 + timedelta(minutes=1 if n == "c" else 2)) for n in names}  # fmt: skip


def timed_building(leader: Scheduler, s_per_fire: float) -> None:
    """Make building a fire take ``s_per_fire`` by the leader's stopwatch."""
    clock = [0.0]
    steps = leader.planner.steps

    def timed(names: list[str], now: datetime, epoch: int) -> list[Step]:
        clock[0] += s_per_fire * len(names)
        return steps(names, now, epoch)

    leader.elapsed = lambda: clock[0]
    leader.planner.steps = timed  # type: ignore[method-assign]


def test_building_ahead_holds_what_can_be_built_before_the_instant(redis_url: str) -> None:
    """Parts of up to two script calls (four fires here), a fire taking 0.1 s to build. With
    0.61 s left, 0.59 s before the 20 ms margin: the first part (its cost not known yet),
    then one fire more; with 30 s left, all of it. A name due with no schedule is skipped
    while building, which leaves short calls. The next build, 0.3 s ahead, knows the cost
    from the start and builds two names' worth. The rest is planned at each instant, and
    every fire time is enqueued once."""
    names = [f"s{k}" for k in range(10)]
    for left_s, built in ((0.61, 4), (30, 10)):
        s = store(redis_url)
        s.client.flushdb()
        leader = Scheduler(s, {n: every(n, 60) for n in names}, batch_size=2)
        timed_building(leader, 0.1)
        leader.elect(T0)
        leader.tick(T0)
        s.client.zadd(s.keys.due, {"s0-gone": to_ms(T0 + timedelta(minutes=1))})
        assert leader.prepare(T0 + timedelta(seconds=60 - left_s)) == built
        assert leader.tick(T0 + timedelta(seconds=60)) == 10
        assert sorted(name for name, _ in enqueued(s)) == names
        states = s.reads.states(names)
        assert {n: st.next_ms for n, st in states.items()} == dict.fromkeys(
            names, to_ms(T0 + timedelta(minutes=2)))  # fmt: skip
    s.client.zadd(s.keys.due, {"s0-gone": to_ms(T0 + timedelta(minutes=2))})
    assert leader.prepare(T0 + timedelta(seconds=119.7)) == 1  # s0, s0-gone
    assert leader.tick(T0 + timedelta(seconds=120)) == 10
    assert len(enqueued(s)) == 20


def test_a_prepared_batch_refused_for_a_lost_lease_enqueues_nothing_and_steps_down(
    redis_url: str,
) -> None:
    old = Scheduler(store(redis_url), {n: every(n, 60) for n in "abc"}, batch_size=2,
                    identity="old")  # fmt: skip
    assert old.elect(T0)
    old.tick(T0)
    assert old.prepare(T0 + timedelta(seconds=30)) == 3
    expire_lease(redis_url)
    new = Scheduler(store(redis_url), {n: every(n, 60) for n in "abc"}, identity="new")
    assert new.elect(T0 + timedelta(seconds=50))
    assert old.tick(T0 + timedelta(seconds=60)) == 0
    assert not old.is_leader
    assert new.tick(T0 + timedelta(seconds=60)) == 3
    assert len(enqueued(store(redis_url))) == 3


def test_a_prepared_batch_whose_last_reply_was_lost_enqueues_each_fire_once(
    redis_url: str,
) -> None:
    """Five schedules, two to a call, sent as three calls at once. Redis runs all three; two
    replies arrive, then the connection dies before the third (a lost reply after
    execution). The tick fails, the leader steps down as its loop does, leads again, and the
    next ticks enqueue every fire time exactly once: none twice, none missing."""
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    direct = store(redis_url)
    direct.client.script_load(lua("dispatch"))  # so the dropped EVALSHA is one Redis ran
    names = ["a", "b", "c", "d", "e"]
    with FaultProxy(parts.hostname, parts.port) as proxy:
        leader = Scheduler(Store(redis.Redis.from_url(proxy.url, retry=None)),
                           {n: every(n, 60) for n in names}, batch_size=2)  # fmt: skip
        leader.elect(T0)
        leader.tick(T0)
        assert leader.prepare(T0 + timedelta(seconds=30)) == 5
        drops = Drops("dispatch")
        proxy.drop_replies(lambda args: drops(args) and drops.dropped == 3)
        with pytest.raises(StoreError):
            leader.tick(T0 + timedelta(seconds=60))
        assert proxy.stats.replies_dropped == 1
        assert len(enqueued(direct)) == 5  # yet Redis ran all three
        leader.lease.step_down("Redis is unreachable")
        assert leader.elect(T0 + timedelta(seconds=61))
        assert leader.tick(T0 + timedelta(seconds=61)) == 0
        assert leader.tick(T0 + timedelta(seconds=120)) == 5
    runs = Counter(enqueued(direct))
    assert runs == Counter({(n, f"2026-03-28T22:0{m}:00.000Z"): 1 for n in names for m in (1, 2)})


def test_a_pass_that_finds_its_prepared_batch_due_sends_it_before_reading_anything(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round trip from waking to the runs on their queue; the due set is read after."""
    leader = Scheduler(store(redis_url), {"a": every("a", 60)})
    leader.elect(T0)
    leader.tick(T0)
    calls: list[str] = []

    def counted(name: str, original: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object) -> object:
            calls.append(name)
            return original(*args)

        return call

    for name in ("next_due_ms", "due", "dispatch_all"):
        monkeypatch.setattr(leader.store.leader, name,
                            counted(name, getattr(leader.store.leader, name)))  # fmt: skip
    monkeypatch.setattr(leader.lease.clock, "now", lambda: T0 + timedelta(seconds=30))
    assert leader.step() == 0.5  # idle: waits at most 0.5 s, with the batch for 22:01 built
    assert calls == ["next_due_ms", "due"]
    calls.clear()
    monkeypatch.setattr(leader.lease.clock, "now", lambda: T0 + timedelta(seconds=60))
    assert leader.step() == 0.5
    assert calls[0] == "dispatch_all"
    assert enqueued(store(redis_url)) == [("a", "2026-03-28T22:01:00.000Z")]
    calls.clear()
    monkeypatch.setattr(leader.lease.clock, "now", lambda: T0 + timedelta(seconds=119.9996))
    assert leader.step() == pytest.approx(0.0004, abs=1e-6)  # to the microsecond, not the ms
    assert calls == ["next_due_ms"]  # the next batch was built; not due yet: read, not sent


def test_scripts_redis_lost_are_loaded_again(redis_url: str) -> None:
    """SCRIPT FLUSH (or a restart without them): the next dispatch, sync and worker
    acknowledgement load the scripts again and run."""
    from scheduler.worker import Worker

    leader = Scheduler(store(redis_url), {"a": every("a", 60)})
    leader.elect(T0)
    leader.tick(T0)
    leader.prepare(T0 + timedelta(seconds=30))
    redis.Redis.from_url(redis_url).script_flush()
    assert leader.tick(T0 + timedelta(seconds=60)) == 1
    redis.Redis.from_url(redis_url).script_flush()
    leader.replace_schedules({"a": every("a", 60), "b": every("b", 60)})
    leader.tick(T0 + timedelta(seconds=61))
    assert sorted(store(redis_url).reads.states(["a", "b"])) == ["a", "b"]
    worker = Worker(store(redis_url), now=lambda: T0 + timedelta(seconds=62))
    try:
        assert worker.process_once() == 1
        redis.Redis.from_url(redis_url).script_flush()
        for _ in range(500):  # the run ends; its acknowledgement's scripts are loaded again
            if not worker.running:
                break
            worker.wait(0.01)
            worker.process_once()
        assert not worker.running
        assert redis.Redis.from_url(redis_url).hlen(store(redis_url).keys.runs) == 0
    finally:
        worker.pool.close()


def test_a_schedule_paused_after_its_batch_was_prepared_is_not_enqueued(redis_url: str) -> None:
    from scheduler import ops

    leader = Scheduler(store(redis_url), {"a": every("a", 60)})
    leader.elect(T0)
    leader.tick(T0)
    leader.prepare(T0 + timedelta(seconds=30))
    assert ops.pause(store(redis_url), "a", T0 + timedelta(seconds=40))
    assert leader.tick(T0 + timedelta(seconds=60)) == 0
    assert store(redis_url).reads.queued_runs("default") == []


def test_a_prepared_batch_sent_late_is_planned_afresh(redis_url: str) -> None:
    leader = Scheduler(store(redis_url), {"a": every("a", 60)})
    leader.elect(T0)
    leader.tick(T0)
    leader.prepare(T0 + timedelta(seconds=30))
    assert leader.tick(T0 + timedelta(seconds=63)) == 1
    [message] = store(redis_url).reads.queued_runs("default")
    assert (message.fire_at, message.enqueued_at) == (
        "2026-03-28T22:01:00.000Z",
        "2026-03-28T22:01:03.000Z",
    )


class WakingLate:
    """A stopwatch and a stop event: each read of the clock takes 0.1 ms, and each timed
    wait returns ``late_s`` after its time, as a wait on a busy virtual machine does."""

    def __init__(self, late_s: float) -> None:
        self.at = 0.0
        self.late_s = late_s
        self.waits: list[float] = []

    def elapsed(self) -> float:
        self.at += 0.0001
        return self.at

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.at += timeout + self.late_s
        return False

    def is_set(self) -> bool:
        return False


def test_a_wait_for_a_due_instant_ends_on_time_once_a_second_despite_late_wake_ups(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed wait that wakes 0.3 ms late: a wait for a due instant wakes 2 ms early and
    reads the clock until the instant. Due instants 0.3 s apart (jitter makes them so)
    spin at most once in 0.9 s: the second waits plainly and is late; the one a second
    after the first spins again. A wait that is not for an instant never spins, and one
    whose instant is due as the clock is read returns at once."""
    leader = Scheduler(store(redis_url), {})
    clock = WakingLate(late_s=0.0003)
    leader.elapsed = clock.elapsed
    stop = cast(threading.Event, clock)
    slept: list[float] = []
    monkeypatch.setattr("scheduler.beat.loop.time.sleep", slept.append)
    clock.at = 9.4
    leader.pause(stop, clock.at + 0.0001, True)  # due as the clock is read: no spin used up
    assert clock.waits == []
    for until, spin, on_time in ((10.0, True, True), (10.3, True, False), (11.0, True, True),
                                 (13.0, False, False)):  # fmt: skip
        before = clock.at
        leader.pause(stop, until, spin)
        waited = until - before - 0.0001
        assert clock.waits.pop() == pytest.approx(waited - 0.002 if on_time else waited)
        assert clock.waits == []
        if on_time:
            assert until <= clock.at < until + 0.0002
        else:
            assert clock.at == pytest.approx(until + 0.0003)
    assert slept and set(slept) == {0}  # reading the clock only yields, it never sleeps


def test_the_loop_reads_the_files_after_a_dispatch_and_waits_from_the_dispatch(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass dispatches first, then looks for changed files, so that looking never
    delays an instant; the wait that follows is counted from the dispatch, so that a slow
    look (many files, a reload) does not make the next instant late either. Only a
    leader's wait for a due instant spins: not the idle wait (0.5 s), nor a standby's,
    nor the back-off after Redis failed to answer (0.2 s the first time)."""
    leader = Scheduler(store(redis_url), {})
    leader.elect(T0)
    ticker = Ticker()
    leader.elapsed = ticker
    stop = threading.Event()
    waits: list[float | StoreError] = [0.3, 0.5, 0.3, StoreError("Redis is down")]
    calls: list[tuple[str, float, bool] | tuple[str, float]] = []

    def step() -> float:
        calls.append(("step", ticker.at))
        if len(waits) == 2:
            leader.release()
        wait = waits.pop(0)
        if isinstance(wait, StoreError):
            raise wait
        return wait

    def poll() -> None:
        calls.append(("poll", ticker.at))
        ticker.at += 0.1

    def pause(_: threading.Event, until: float, spin: bool) -> None:
        calls.append(("pause", until, spin))
        if not waits:
            stop.set()

    monkeypatch.setattr(leader, "step", step)
    monkeypatch.setattr(leader, "pause", pause)
    leader._loop(stop, poll)
    assert calls == [
        ("step", 100.0), ("poll", 100.0), ("pause", 100.3, True),
        ("step", 100.1), ("poll", 100.1), ("pause", pytest.approx(100.6), False),
        ("step", pytest.approx(100.2)), ("poll", pytest.approx(100.2)),
        ("pause", pytest.approx(100.5), False),
        ("step", pytest.approx(100.3)), ("pause", pytest.approx(100.5), False),
    ]  # fmt: skip
