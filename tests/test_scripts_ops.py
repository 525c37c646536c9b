"""acquire, release, upsert, remove, pause, enqueue and revive, called directly.

Instants are explicit ms values; checks read the raw Redis keys of the key table. What a
script reads from Redis' own clock (``TIME``) is checked against Redis' clock read around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from script_support import (
    assert_by_redis_clock,
    assert_by_redis_microseconds,
    fill_history,
    hash_of,
    history,
    members,
    redis_ms,
    redis_us,
    scored,
    snapshot,
    store,
    text,
)

from scheduler import ops
from scheduler.core.instants import from_ms, to_ms
from scheduler.core.messages import DeadLetter, RunMessage, run_message
from scheduler.core.model import Schedule
from scheduler.errors import NotLeaderError
from scheduler.store import Outcome, Run, Store, Upsert

T = 1_780_000_000_000  # ms
MIN = 60_000
WEEK_S = 604_800  # a tombstone's life


def assert_capped(s: Store, name: str, newest: str) -> None:
    got = history(s, name)
    assert len(got) == 100
    assert (got[0], got[1], got[-1]) == (newest, "old-99", "old-1")


# -- acquire and release ---------------------------------------------------------------------


def test_a_new_lease_takes_the_next_epoch_and_records_its_leader(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    assert text(s.client.get(s.keys.lease)) == "t1"
    assert 4_000 < s.client.pttl(s.keys.lease) <= 5_000
    assert text(s.client.get(s.keys.epoch)) == "1"
    assert hash_of(s, s.keys.leader) == {"token": "t1", "epoch": "1", "identity": "host:1",
                                         "since_ms": str(T)}  # fmt: skip


def test_renewing_keeps_the_epoch_and_extends_the_lease(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    assert s.leader.acquire("t1", 60_000, "host:1", T + 500) == 1
    assert s.client.pttl(s.keys.lease) > 50_000
    assert text(s.client.get(s.keys.epoch)) == "1"
    assert hash_of(s, s.keys.leader)["since_ms"] == str(T)


def test_a_lease_held_by_another_is_not_taken_and_nothing_changes(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    before = snapshot(s)
    assert s.leader.acquire("t2", 60_000, "host:2", T + 1) == 0
    after = snapshot(s)
    seen = after.pop(s.keys.replicas)  # only that the standby asked
    before.pop(s.keys.replicas)
    assert after == before
    assert [who for who, _ in seen] == ["host:1", "host:2"]
    assert s.client.pttl(s.keys.lease) <= 5_000


def test_every_replica_that_asks_is_seen_by_redis_clock_for_a_minute(redis_url: str) -> None:
    s = store(redis_url)
    s.client.zadd(s.keys.replicas, {"gone:1": redis_ms(s) - 60_001, "recent:1": redis_ms(s)})
    s.leader.acquire("t1", 5_000, "host:1", T)
    s.leader.acquire("t2", 5_000, "host:2", T)
    assert sorted(who for who, _ in s.reads.replicas()) == ["host:1", "host:2", "recent:1"]

    def seen_at() -> int:
        s.leader.acquire("t2", 5_000, "host:2", T)
        return dict(s.reads.replicas())["host:2"]

    assert_by_redis_clock(s, seen_at)


def test_each_new_lease_increments_the_epoch(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    assert s.leader.release("t1")
    assert s.leader.acquire("t2", 5_000, "host:2", T + 1) == 2
    s.client.delete(s.keys.lease)  # expired
    assert s.leader.acquire("t3", 5_000, "host:3", T + 2) == 3
    assert hash_of(s, s.keys.leader) == {"token": "t3", "epoch": "3", "identity": "host:3",
                                         "since_ms": str(T + 2), "released": "1"}  # fmt: skip


def test_acquire_also_replies_redis_time_to_the_microsecond_whether_it_takes_renews_or_is_refused(
    redis_url: str,
) -> None:
    s = store(redis_url)
    before = redis_ms(s)
    epoch, at = s.leader.grant("t1", 5_000, "host:1", T)
    assert (epoch, before <= at < redis_ms(s) + 1) == (1, True)

    def renewing() -> float:
        return s.leader.grant("t1", 5_000, "host:1", T)[1]

    def refused() -> float:
        return s.leader.grant("t2", 5_000, "host:2", T)[1]

    assert_by_redis_clock(s, lambda: int(renewing()))
    assert_by_redis_microseconds(s, renewing, 200)
    assert_by_redis_clock(s, lambda: int(refused()), span_ms=0, min_same_ms=5)
    assert_by_redis_microseconds(s, refused, 200)
    assert s.leader.grant("t2", 5_000, "host:2", T)[0] == 0
    assert s.leader.grant("t1", 5_000, "host:1", T)[0] == 1
    assert s.leader.release("t1")
    before = redis_us(s)
    epoch, at = s.leader.grant("t2", 5_000, "host:2", T)  # a new lease
    assert (epoch, before <= round(at * 1000) <= redis_us(s)) == (2, True)
    assert text(s.client.get(s.keys.epoch)) == "2"


def test_release_by_the_holder_frees_the_lease_at_once(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    assert s.leader.release("t1") is True
    assert s.client.get(s.keys.lease) is None
    assert hash_of(s, s.keys.leader)["released"] == "1"
    assert s.reads.leader().identity is None


def test_release_by_a_token_that_does_not_hold_the_lease_does_nothing(redis_url: str) -> None:
    s = store(redis_url)
    assert s.leader.acquire("t1", 5_000, "host:1", T) == 1
    before = snapshot(s)
    assert s.leader.release("t0") is False
    assert snapshot(s) == before


# -- upsert and remove -----------------------------------------------------------------------


def item(name: str, trigger: str, next_ms: int | None, digest: str = "d1") -> Upsert:
    due_ms = None if next_ms is None else next_ms + 3
    return Upsert(name, f'{{"def":"{name}","digest":"{digest}"}}', digest, trigger, next_ms, due_ms)


def led(url: str) -> Store:
    s = store(url)
    assert s.leader.acquire("tok", 60_000, "host:1", T) == 1
    return s


def test_update_only_of_a_missing_schedule_writes_nothing_wherever_it_is_in_the_batch(
    redis_url: str,
) -> None:
    """``update`` reads a schedule, then writes it update-only: one removed in between is
    answered missing, not written back (its answer lines up with it in a batch)."""
    s = led(redis_url)
    gone = [replace(item(n, "every 60", T), update_only=True, event='{"e":1}') for n in "xy"]
    got = s.leader.upsert("", [item("a", "every 60", T), gone[0], item("b", "every 60", T),
                               gone[1]])  # fmt: skip
    assert got == ["added", "missing", "added", "missing"]
    assert s.client.hkeys(s.keys.defs) == [b"a", b"b"]
    assert s.client.exists(s.keys.state("x"), s.keys.history("y")) == 0


NEW_BATCH = [
    item("a", "every 60", T),
    replace(item("b", "at x", None), owner="api", source="api", create_only=True, event="{}"),
    replace(item("c", "every 30", T + MIN), source="f.yaml:3", event='{"e":"c"}'),
    replace(item("d", "every 5", T + 2 * MIN), owner="api", source="api"),
]


def schedules_of(s: Store) -> dict[str, Any]:
    """``snapshot`` but the lease's (``replicas`` holds Redis' clock)."""
    return {k: v for k, v in snapshot(s).items() if k != s.keys.replicas}


def calls(s: Store) -> dict[str, int]:
    stats: dict[str, Any] = s.client.info("commandstats")
    return {key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()}


def test_a_batch_of_new_schedules_writes_what_the_item_by_item_path_writes_in_few_calls(
    redis_url: str,
) -> None:
    """Every schedule of the batch new: one ZADD and one SADD per owner for the whole batch,
    two writes of its own per schedule (state, history), and the very data an existing
    schedule in the batch (which sends it item by item) leaves."""
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("z", "every 60", T)]) == ["added"]
    assert s.leader.upsert("tok", [item("z", "every 60", T), *NEW_BATCH]) == [
        "updated", "added", "added", "added", "added"]  # fmt: skip
    item_by_item = schedules_of(s)
    s.client.flushdb()
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("z", "every 60", T)]) == ["added"]
    s.client.config_resetstat()
    assert s.leader.upsert("tok", NEW_BATCH) == ["added"] * 4
    got = calls(s)
    assert (got["zadd"], got["sadd"], got["hset"], got["lpush"]) == (1, 2, 5, 2)
    assert "hexists" not in got
    assert schedules_of(s) == item_by_item
    assert scored(s, s.keys.due) == [("a", T + 3), ("z", T + 3), ("c", T + MIN + 3),
                                     ("d", T + 2 * MIN + 3)]  # fmt: skip
    assert (members(s, s.keys.owned("files")), members(s, s.keys.owned("api"))) == (
        {"z", "a", "c"}, {"b", "d"})  # fmt: skip
    assert history(s, "b") == ["{}"] and s.client.exists(s.keys.history("a")) == 0


@pytest.mark.parametrize("before", ["live", "tombstone", "definition only"])
def test_a_batch_with_one_schedule_that_is_not_new_is_written_item_by_item(
    redis_url: str, before: str
) -> None:
    s = led(redis_url)
    if before == "definition only":  # a definition without state: item by item all the same
        s.client.hset(s.keys.defs, "c", "{}")
    else:
        assert s.leader.upsert("tok", [item("c", "every 30", T + MIN)]) == ["added"]
        if before == "tombstone":
            assert s.leader.remove("tok", "c", T, "files") == "1"
    s.client.config_resetstat()
    got = s.leader.upsert("tok", NEW_BATCH)
    assert got[:2] + got[3:] == ["added"] * 3
    answer = {"live": "updated", "tombstone": "restored", "definition only": "added"}
    assert got[2] == answer[before]
    assert calls(s)["zadd"] == (2 if before == "live" else 3)


def test_a_name_twice_in_a_batch_of_new_ones_is_added_once_then_updated(redis_url: str) -> None:
    s = led(redis_url)
    again = replace(NEW_BATCH[0], digest="d2", definition="second")
    assert s.leader.upsert("tok", [*NEW_BATCH, again]) == ["added"] * 4 + ["updated"]
    assert hash_of(s, s.keys.defs)["a"] == "second"
    assert hash_of(s, s.keys.state("a"))["digest"] == "d2"


def test_a_schedule_of_one_owner_is_refused_to_the_other_with_its_source_and_kept(
    redis_url: str,
) -> None:
    s = led(redis_url)
    api = replace(item("a", "every 60", T), owner="api", source="api")
    files = replace(item("f", "every 60", T), source="jobs.yaml:7")
    assert s.leader.upsert("tok", [api, files]) == ["added", "added"]
    before = schedules_of(s)
    taken = [
        replace(item("a", "every 30", T + MIN, digest="d2"), source="other.yaml:1"),
        replace(item("f", "every 30", T + MIN, digest="d2"), owner="api", source="api"),
    ]
    assert s.leader.upsert("tok", taken) == ["conflict:api", "conflict:jobs.yaml:7"]
    assert schedules_of(s) == before


def test_create_only_of_a_live_schedule_answers_exists_and_writes_nothing(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    before = schedules_of(s)
    again = replace(item("a", "every 30", T + MIN, digest="d2"), create_only=True, event="{}")
    assert s.leader.upsert("tok", [again]) == ["exists"]
    assert schedules_of(s) == before


def test_a_batch_of_new_ones_with_one_api_schedule_and_one_that_never_fires(
    redis_url: str,
) -> None:
    """The batch's writes for one item of a kind, and for none: one API owner, one due time
    (the other never fires), and a batch in which nothing fires at all."""
    s = led(redis_url)
    batch = [replace(item("a", "every 60", T), owner="api", source="api"),
             item("b", "at x", None)]  # fmt: skip
    assert s.leader.upsert("tok", batch) == ["added", "added"]
    assert members(s, s.keys.owned("api")) == {"a"}
    assert members(s, s.keys.owned("files")) == {"b"}
    assert scored(s, s.keys.due) == [("a", T + 3)]
    assert s.leader.upsert("tok", [item("c", "at y", None), item("d", "at z", None)]) == [
        "added", "added"]  # fmt: skip
    assert scored(s, s.keys.due) == [("a", T + 3)]
    assert hash_of(s, s.keys.state("c"))["next_ms"] == ""


def test_an_update_only_schedule_in_a_batch_of_new_ones_is_missing_and_the_rest_added(
    redis_url: str,
) -> None:
    s = led(redis_url)
    gone = replace(item("x", "every 60", T), update_only=True)
    assert s.leader.upsert("tok", [*NEW_BATCH, gone]) == ["added"] * 4 + ["missing"]
    assert sorted(hash_of(s, s.keys.defs)) == ["a", "b", "c", "d"]


def test_a_schedule_written_again_and_again_keeps_the_last_100_events(redis_url: str) -> None:
    s = led(redis_url)
    for i in range(105):
        event = f'{{"n":{i}}}'
        written = replace(item("a", "every 60", T, digest=f"d{i}"), event=event)
        assert s.leader.upsert("", [written]) == ["added" if i == 0 else "updated"]
    got = history(s, "a")
    assert (len(got), got[0], got[-1]) == (100, '{"n":104}', '{"n":5}')


def test_a_new_schedule_is_added_with_its_next_fire_time(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    assert hash_of(s, s.keys.defs) == {"a": '{"def":"a","digest":"d1"}'}
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d1", "owner": "files", "source": "", "trigger_key": "every 60",
        "next_ms": str(T), "due_ms": str(T + 3)}  # fmt: skip
    assert scored(s, s.keys.due) == [("a", T + 3)]


def test_an_unchanged_trigger_keeps_the_stored_next_fire_time(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    again = s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN, digest="d2")])
    assert again == ["updated"]
    assert hash_of(s, s.keys.defs) == {"a": '{"def":"a","digest":"d2"}'}
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d2", "owner": "files", "source": "", "trigger_key": "every 60",
        "next_ms": str(T), "due_ms": str(T + 3)}  # fmt: skip
    assert scored(s, s.keys.due) == [("a", T + 3)]


def test_a_changed_trigger_recomputes_the_next_fire_time_and_keeps_the_counters(
    redis_url: str,
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    s.client.hset(s.keys.state("a"), mapping={"runs": 4, "missed": 2})
    assert s.leader.upsert("tok", [item("a", "every 30", T + MIN, digest="d2")]) == ["changed"]
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d2",
        "owner": "files",
        "source": "",
        "trigger_key": "every 30",
        "next_ms": str(T + MIN),
        "due_ms": str(T + MIN + 3),
        "runs": "4",
        "missed": "2",
    }
    assert scored(s, s.keys.due) == [("a", T + MIN + 3)]


def test_a_trigger_that_never_fires_again_leaves_the_due_set(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T), item("b", "x", T)]) == ["added"] * 2
    assert s.leader.upsert("tok", [item("a", "ended", None)]) == ["changed"]
    assert scored(s, s.keys.due) == [("b", T + 3)]
    assert hash_of(s, s.keys.state("a"))["next_ms"] == ""


def test_a_paused_schedule_whose_trigger_changes_stays_out_of_the_due_set(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    assert s.ops.set_paused("a", True, "paused")
    assert s.leader.upsert("tok", [item("a", "every 30", T + MIN)]) == ["changed"]
    assert scored(s, s.keys.due) == []
    assert hash_of(s, s.keys.state("a"))["next_ms"] == str(T + MIN)


def test_upsert_and_remove_with_a_token_that_lost_the_lease_change_nothing(
    redis_url: str,
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    s.client.lpush(s.keys.history("a"), "event")
    before = snapshot(s)
    with pytest.raises(NotLeaderError):
        s.leader.upsert("old", [item("a", "every 30", T + MIN, digest="d2")])
    with pytest.raises(NotLeaderError):
        s.leader.upsert("old", [item("b", "every 30", T + MIN)])
    with pytest.raises(NotLeaderError):
        s.leader.remove("old", "a", T + 5)
    assert snapshot(s) == before
    assert s.client.ttl(s.keys.state("a")) == -1 and s.client.ttl(s.keys.history("a")) == -1


def test_remove_deletes_the_definition_and_keeps_a_7_day_tombstone_of_its_state_and_history(
    redis_url: str,
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T), item("b", "x", T)]) == ["added"] * 2
    for name in ("a", "b"):
        s.client.lpush(s.keys.history(name), "event")
    s.leader.remove("tok", "a", T + 5)
    assert list(hash_of(s, s.keys.defs)) == ["b"]
    assert scored(s, s.keys.due) == [("b", T + 3)]
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d1", "owner": "files", "source": "", "trigger_key": "every 60",
        "next_ms": str(T), "due_ms": str(T + 3),
                                             "removed_ms": str(T + 5)}  # fmt: skip
    assert history(s, "a") == ["event"]
    for key in (s.keys.state("a"), s.keys.history("a")):
        assert WEEK_S - 5 <= s.client.ttl(key) <= WEEK_S
    assert s.reads.states(["a"])["a"].removed is True
    assert "removed_ms" not in hash_of(s, s.keys.state("b"))
    assert s.client.ttl(s.keys.state("b")) == -1 and s.client.ttl(s.keys.history("b")) == -1


def test_remove_of_a_schedule_without_state_or_history_creates_neither(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    s.leader.remove("tok", "a", T + 5)  # a has state but no history
    assert not s.client.exists(s.keys.history("a"))
    s.leader.remove("tok", "ghost", T + 5)  # neither
    assert not s.client.exists(s.keys.state("ghost"), s.keys.history("ghost"))
    s.client.lpush(s.keys.history("h"), "event")
    s.leader.remove("tok", "h", T + 5)  # history but no state
    assert not s.client.exists(s.keys.state("h"))
    assert WEEK_S - 5 <= s.client.ttl(s.keys.history("h")) <= WEEK_S


def removed(s: Store, name: str, **fields: str | int) -> None:
    """A tombstone: schedule ``name`` added at T (with ``fields`` in its state), then removed."""
    assert s.leader.upsert("tok", [item(name, "every 60", T)]) == ["added"]
    for field, value in fields.items():
        s.client.hset(s.keys.state(name), field, value)
    s.client.lpush(s.keys.history(name), "event")
    s.leader.remove("tok", name, T + 5)


def test_a_schedule_back_within_its_tombstone_keeps_its_next_fire_time_counters_and_history(
    redis_url: str,
) -> None:
    s = led(redis_url)
    removed(s, "a", runs=4, missed=2)
    again = s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN, digest="d2")])
    assert again == ["restored"]
    assert hash_of(s, s.keys.defs) == {"a": '{"def":"a","digest":"d2"}'}
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d2", "owner": "files", "source": "", "trigger_key": "every 60",
        "next_ms": str(T), "due_ms": str(T + 3),
                                             "runs": "4", "missed": "2"}  # fmt: skip
    assert scored(s, s.keys.due) == [("a", T + 3)]
    assert history(s, "a") == ["event"]
    assert s.client.ttl(s.keys.state("a")) == -1 and s.client.ttl(s.keys.history("a")) == -1
    assert s.reads.states(["a"])["a"].removed is False
    assert s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN)]) == ["updated"]


def test_a_paused_schedule_back_within_its_tombstone_stays_paused_and_out_of_the_due_set(
    redis_url: str,
) -> None:
    s = led(redis_url)
    removed(s, "a", paused=1)
    assert s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN)]) == ["restored"]
    assert hash_of(s, s.keys.state("a"))["paused"] == "1"
    assert scored(s, s.keys.due) == []
    assert s.client.ttl(s.keys.state("a")) == -1 and s.client.ttl(s.keys.history("a")) == -1


def test_a_schedule_that_never_fires_again_back_from_its_tombstone_stays_out_of_the_due_set(
    redis_url: str,
) -> None:
    s = led(redis_url)
    removed(s, "a", next_ms="", due_ms="")
    assert s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN)]) == ["restored"]
    assert (hash_of(s, s.keys.state("a"))["next_ms"], scored(s, s.keys.due)) == ("", [])
    s.client.hdel(s.keys.state("a"), "next_ms", "due_ms")  # an older state without them
    s.leader.remove("tok", "a", T + 6)
    assert s.leader.upsert("tok", [item("a", "every 60", T + 5 * MIN)]) == ["restored"]
    assert scored(s, s.keys.due) == []


def test_a_schedule_back_from_its_tombstone_with_a_new_trigger_recomputes_its_next_fire_time(
    redis_url: str,
) -> None:
    s = led(redis_url)
    removed(s, "a", runs=4)
    assert s.leader.upsert("tok", [item("a", "every 30", T + MIN, digest="d2")]) == ["changed"]
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d2", "owner": "files", "source": "", "trigger_key": "every 30",
        "next_ms": str(T + MIN),
                                             "due_ms": str(T + MIN + 3), "runs": "4"}  # fmt: skip
    assert scored(s, s.keys.due) == [("a", T + MIN + 3)]
    assert history(s, "a") == ["event"]
    assert s.client.ttl(s.keys.state("a")) == -1 and s.client.ttl(s.keys.history("a")) == -1


# -- pause and resume ------------------------------------------------------------------------


def test_pause_leaves_the_due_set_and_records_the_event_once(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T), item("b", "x", T)]) == ["added"] * 2
    assert s.ops.set_paused("a", True, "paused") is True
    assert hash_of(s, s.keys.state("a"))["paused"] == "1"
    assert scored(s, s.keys.due) == [("b", T + 3)]
    assert history(s, "a") == ["paused"]
    before = snapshot(s)
    assert s.ops.set_paused("a", True, "paused again") is False
    assert snapshot(s) == before


def test_resume_continues_from_the_given_fire_time_and_counts_the_missed_ones(
    redis_url: str,
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    s.client.hset(s.keys.state("a"), "missed", 2)
    assert s.ops.set_paused("a", True, "paused")
    assert s.ops.set_paused("a", False, "resumed", T + 9 * MIN, T + 9 * MIN + 3, 5, T + 8 * MIN)
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d1",
        "owner": "files",
        "source": "",
        "trigger_key": "every 60",
        "next_ms": str(T + 9 * MIN),
        "due_ms": str(T + 9 * MIN + 3),
        "paused": "0",
        "missed": "7",
        "last_missed_ms": str(T + 8 * MIN),
    }
    assert scored(s, s.keys.due) == [("a", T + 9 * MIN + 3)]
    assert history(s, "a") == ["resumed", "paused"]
    before = snapshot(s)
    assert s.ops.set_paused("a", False, "resumed again", T, T, 1, T) is False
    assert snapshot(s) == before


def test_resume_with_nothing_missed_records_no_missed_count(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    assert s.ops.set_paused("a", True, "paused")
    assert s.ops.set_paused("a", False, "resumed", T + MIN, T + MIN, 0, None)
    assert hash_of(s, s.keys.state("a")) == {
        "digest": "d1", "owner": "files", "source": "", "trigger_key": "every 60",
        "next_ms": str(T + MIN), "due_ms": str(T + MIN),
                                             "paused": "0"}  # fmt: skip


def test_resume_after_one_missed_fire_time_counts_it(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    assert s.ops.set_paused("a", True, "paused")
    assert s.ops.set_paused("a", False, "resumed", T + 2 * MIN, T + 2 * MIN, 1, T + MIN)
    got = hash_of(s, s.keys.state("a"))
    assert (got["missed"], got["last_missed_ms"]) == ("1", str(T + MIN))


def test_resuming_a_schedule_that_never_fires_again_keeps_it_out_of_the_due_set(
    redis_url: str,
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    assert s.ops.set_paused("a", True, "paused")
    assert s.ops.set_paused("a", False, "resumed", None, None, 1, T)
    assert scored(s, s.keys.due) == []


def test_pause_and_resume_keep_exactly_the_100_newest_history_events(redis_url: str) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    fill_history(s, "a")
    assert s.ops.set_paused("a", True, "paused")
    assert_capped(s, "a", "paused")


# -- enqueue (trigger, backfill) -------------------------------------------------------------


def message(name: str, fire_ms: int, priority: int = 5, attempt: int = 1) -> RunMessage:
    schedule = Schedule(name=name, task="scheduler.tasks:heartbeat", timezone="UTC", every_s=60,
                        queue="q", priority=priority)  # fmt: skip
    body = run_message(schedule, f"{name}@{fire_ms}", from_ms(fire_ms), from_ms(T), "schedule", 1)
    msg = RunMessage.loads(body)
    return msg if attempt == 1 else msg.next_attempt("Boom: x").next_attempt("Boom: y")


def run(name: str, fire_ms: int) -> Run:
    return Run(f"{name}@{fire_ms}", "q", 4 * 10**13 + fire_ms, message(name, fire_ms).dumps())


def test_a_trigger_enqueues_its_run_and_counts_it_active_and_waiting(redis_url: str) -> None:
    s = store(redis_url)
    s.client.hset(s.keys.state("a"), mapping={"active": 2, "waiting": 1})
    assert s.ops.enqueue("a", run("a", T), "triggered") is True
    assert scored(s, s.keys.queue("q")) == [(f"a@{T}", 4 * 10**13 + T)]
    assert text(s.client.hget(s.keys.runs, f"a@{T}")) == message("a", T).dumps()
    assert {text(m) for m in s.client.smembers(s.keys.queues)} == {"q"}
    assert hash_of(s, s.keys.state("a")) == {"active": "3", "waiting": "2"}
    assert history(s, "a") == ["triggered"]
    assert not s.client.exists(s.keys.backfilled("a"))
    before = snapshot(s)
    assert s.ops.enqueue("a", run("a", T), "again") is False
    assert snapshot(s) == before


def test_backfill_enqueues_each_fire_time_once_however_often_repeated(redis_url: str) -> None:
    s = store(redis_url)
    assert s.ops.enqueue("a", run("a", T), "backfilled", backfill_ms=T) is True
    assert scored(s, s.keys.backfilled("a")) == [(str(T), T)]
    assert scored(s, s.keys.queue("q")) == [(f"a@{T}", 4 * 10**13 + T)]
    before = snapshot(s)
    assert s.ops.enqueue("a", run("a", T), "backfilled", backfill_ms=T) is False
    assert snapshot(s) == before
    [claimed] = s.worker("w1").claim("q", 5, T)  # run and acknowledged: still never again
    done = Outcome(claimed.run_id, "a", "q", "succeeded")
    assert s.worker("w1").finish([done], T, started=[(claimed.run_id, "a")]) == [True]
    assert s.client.hget(s.keys.runs, claimed.run_id) is None
    assert s.ops.enqueue("a", run("a", T), "backfilled", backfill_ms=T) is False
    assert scored(s, s.keys.queue("q")) == []


def test_backfill_of_a_fire_time_the_leader_already_enqueued_adds_nothing(redis_url: str) -> None:
    s = store(redis_url)
    s.client.hset(s.keys.runs, f"a@{T}", "dispatched")
    assert s.ops.enqueue("a", run("a", T), "backfilled", backfill_ms=T) is False
    assert text(s.client.hget(s.keys.runs, f"a@{T}")) == "dispatched"
    assert scored(s, s.keys.queue("q")) == []
    assert not s.client.exists(s.keys.state("a"), s.keys.history("a"))


def test_backfill_remembers_the_100000_newest_fire_times(redis_url: str) -> None:
    s = store(redis_url)
    key = s.keys.backfilled("a")
    s.client.zadd(key, {str(i): i for i in range(1, 100_001)})
    assert s.ops.enqueue("a", run("a", T), "backfilled", backfill_ms=T) is True
    assert s.client.zcard(key) == 100_000
    assert s.client.zrange(key, 0, 0) == [b"2"]  # the oldest was forgotten
    assert s.client.zscore(key, str(T)) == T


def test_enqueue_keeps_exactly_the_100_newest_history_events(redis_url: str) -> None:
    s = store(redis_url)
    fill_history(s, "a")
    assert s.ops.enqueue("a", run("a", T), "triggered")
    assert_capped(s, "a", "triggered")


# -- revive ----------------------------------------------------------------------------------


def dead_letter(s: Store, name: str, fire_ms: int) -> str:
    msg = message(name, fire_ms, priority=7, attempt=3)
    letter = DeadLetter(msg, T, "Boom", "x", "", 3, "retries spent")
    s.client.hset(s.keys.dead, msg.run_id, letter.dumps())
    s.client.zadd(s.keys.dead_index, {msg.run_id: T})
    return msg.run_id


def test_revive_moves_a_dead_letter_back_to_its_queue_as_attempt_1(redis_url: str) -> None:
    s = store(redis_url)
    run_id = dead_letter(s, "a", T)
    other = dead_letter(s, "b", T)
    s.client.hset(s.keys.state("a"), mapping={"active": 1, "waiting": 0})
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert ops.dead_retry(s, run_id, now) is True
    [queued] = s.reads.queued_runs("q")
    assert (queued.run_id, queued.attempt, queued.previous_error) == (run_id, 1, None)
    assert scored(s, s.keys.queue("q")) == [(run_id, (9 - 7) * 10**13 + to_ms(now))]
    assert list(hash_of(s, s.keys.dead)) == [other]
    assert scored(s, s.keys.dead_index) == [(other, T)]
    assert {text(m) for m in s.client.smembers(s.keys.queues)} == {"q"}
    assert hash_of(s, s.keys.state("a")) == {"active": "2", "waiting": "1"}
    assert [e.event for e in s.reads.history("a")] == ["revived"]


def test_revive_of_a_run_that_is_not_dead_changes_nothing(redis_url: str) -> None:
    s = store(redis_url)
    dead_letter(s, "b", T)
    before = snapshot(s)
    assert s.ops.revive(run("a", T), "a", "revived") is False
    assert snapshot(s) == before


def test_revive_keeps_exactly_the_100_newest_history_events(redis_url: str) -> None:
    s = store(redis_url)
    run_id = dead_letter(s, "a", T)
    fill_history(s, "a")
    assert s.ops.revive(Run(run_id, "q", 1, message("a", T).dumps()), "a", "revived")
    assert_capped(s, "a", "revived")


# -- the scripts' own replies, as their headers document them --------------------------------


def test_operator_scripts_reply_1_when_they_act_and_0_when_not(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = led(redis_url)
    assert s.leader.upsert("tok", [item("a", "every 60", T)]) == ["added"]
    run_id = dead_letter(s, "a", T)
    replies: list[Any] = []
    original = s.conn.run

    def spy(script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        replies.append(original(script, keys, args))
        return replies[-1]

    monkeypatch.setattr(s.conn, "run", spy)
    s.ops.set_paused("a", True, "paused")
    s.ops.set_paused("a", True, "paused")
    s.ops.enqueue("a", run("a", T + 1), "triggered")
    s.ops.enqueue("a", run("a", T + 1), "triggered")
    s.ops.revive(Run(run_id, "q", 1, message("a", T).dumps()), "a", "revived")
    s.ops.revive(Run(run_id, "q", 1, message("a", T).dumps()), "a", "revived")
    s.leader.remove("tok", "a", T)
    s.leader.release("other")
    s.leader.release("tok")
    assert replies == [1, 0, 1, 0, 1, 0, 1, 0, 1]


def test_purge_drops_one_dead_letter_records_it_and_keeps_100_history_events(
    redis_url: str,
) -> None:
    s = store(redis_url)
    s.client.hset(s.keys.dead, mapping={"a@1": "{}", "a@2": "{}"})
    s.client.zadd(s.keys.dead_index, {"a@1": 1, "a@2": 2})
    fill_history(s, "a")
    keys = [s.keys.dead, s.keys.dead_index, s.keys.history("a")]
    assert s.conn.run("purge", keys, ["a@1", "purged", 100]) == 1
    assert hash_of(s, s.keys.dead) == {"a@2": "{}"}
    assert scored(s, s.keys.dead_index) == [("a@2", 2.0)]
    events = history(s, "a")
    assert len(events) == 100 and events[0] == "purged" and events[-1] == "old-1"
    assert s.conn.run("purge", keys, ["a@1", "again", 100]) == 0  # gone: nothing recorded
    assert history(s, "a")[0] == "purged"
