"""Schedules from code (ops.schedules, the Client): owned by the API, dispatched by the
leader from Redis with the same exactly-once guarantee as the files', refused where the files
own the name and the other way round. Driven by explicit instants against a real server."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler import Client, OwnershipError, ScheduleError, ScheduleExistsError
from scheduler.beat import Scheduler
from scheduler.beat.reload import Reloader
from scheduler.beat.sync import owner_conflicts
from scheduler.config import load
from scheduler.core.model import Schedule
from scheduler.errors import UnknownScheduleError
from scheduler.ops import schedules
from scheduler.store import Store

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HEARTBEAT = "scheduler.tasks:heartbeat"


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def enqueued(s: Store, queue: str = "default") -> Counter[tuple[str, str]]:
    return Counter((m.schedule, m.fire_at) for m in s.reads.queued_runs(queue))


def text(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_schedules(tmp_path: Path, body: str) -> dict[str, Schedule]:
    path = tmp_path / "s.yaml"
    path.write_text(body, encoding="utf-8")
    return load([path]).schedules


def test_an_api_schedule_is_dispatched_by_a_leader_that_never_loaded_it(redis_url: str) -> None:
    leader = Scheduler(store(redis_url), {})
    assert leader.elect(T0)
    leader.tick(T0)
    schedules.add(store(redis_url), "api-tick", {"task": HEARTBEAT, "every": "1m"}, T0)
    for minute in range(1, 4):
        leader.tick(T0 + timedelta(minutes=minute))
    assert enqueued(leader.store) == Counter(
        {("api-tick", text(T0 + timedelta(minutes=m))): 1 for m in (1, 2, 3)})  # fmt: skip


def test_api_schedules_run_exactly_once_across_replicas_and_failovers(redis_url: str) -> None:
    s = store(redis_url)
    fields = {"every": "20s"}
    schedules.add_many(s, [(f"tenant-{i}", {"task": HEARTBEAT, **fields}) for i in range(50)], T0)
    replicas = [Scheduler(store(redis_url), {}, identity=f"r{i}") for i in range(3)]
    now, end, step = T0, T0 + timedelta(minutes=20), 0
    while now <= end:
        for replica in replicas[step % 3 :] + replicas[: step % 3]:
            replica.elect(now)
            replica.tick(now)
            replica.prepare(now)
        step += 1
        if step % 7 == 0:  # the leader crashes: its lease expires
            leader = next(r for r in replicas if r.is_leader)
            redis.Redis.from_url(redis_url).delete("{sched}:lease")
            leader.lease.epoch = 0
        now += timedelta(seconds=10)
    got = enqueued(s)
    assert max(got.values()) == 1
    fires = [T0 + timedelta(seconds=20 * k) for k in range(1, 61)]
    assert got == Counter({(f"tenant-{i}", text(f)): 1 for i in range(50) for f in fires})


def test_changing_the_trigger_while_due_dispatches_the_old_fire_time_at_most_once(
    redis_url: str,
) -> None:
    s = store(redis_url)
    schedules.add(s, "a", {"task": HEARTBEAT, "every": "1m"}, T0)
    leader = Scheduler(store(redis_url), {})
    leader.elect(T0)
    leader.tick(T0)
    due = T0 + timedelta(minutes=1)
    leader.prepare(T0 + timedelta(seconds=59))  # the batch for 09:01 is built...
    schedules.update(s, "a", {"every": "5m"}, T0 + timedelta(seconds=59, milliseconds=500))
    leader.tick(due)  # ...and refused: the trigger changed under it
    leader.tick(T0 + timedelta(minutes=5))
    assert enqueued(s) == Counter({("a", text(T0 + timedelta(minutes=5))): 1})


def test_an_unchanged_update_keeps_the_next_fire_time(redis_url: str) -> None:
    s = store(redis_url)
    schedules.add(s, "a", {"task": HEARTBEAT, "every": "1h"}, T0)
    before = s.reads.states(["a"])["a"].next_ms
    schedules.update(s, "a", {"description": "new words"}, T0 + timedelta(minutes=30))
    assert s.reads.states(["a"])["a"].next_ms == before
    assert schedules.get(s, "a").schedule.description == "new words"
    assert schedules.get(s, "a").fields == {"task": HEARTBEAT, "every": "1h",
                                            "description": "new words"}  # fmt: skip


def test_removing_an_api_schedule_stops_it_and_its_run_in_flight_still_runs(
    redis_url: str,
) -> None:
    s = store(redis_url)
    schedules.add(s, "a", {"task": HEARTBEAT, "every": "1m"}, T0)
    leader = Scheduler(store(redis_url), {})
    leader.elect(T0)
    leader.tick(T0 + timedelta(minutes=1))
    schedules.remove(s, "a", T0 + timedelta(minutes=1, seconds=1))
    leader.tick(T0 + timedelta(minutes=2))
    assert enqueued(s) == Counter({("a", text(T0 + timedelta(minutes=1))): 1})
    assert s.reads.states(["a"])["a"].removed
    with pytest.raises(UnknownScheduleError, match="no schedule named 'a'"):
        schedules.remove(s, "a", T0 + timedelta(minutes=3))


def test_the_api_cannot_change_a_schedule_the_files_own(redis_url: str, tmp_path: Path) -> None:
    files = file_schedules(tmp_path, "schedules:\n  nightly:\n    task: a:b\n    every: 1h\n")
    leader = Scheduler(store(redis_url), files)
    leader.elect(T0)
    leader.tick(T0)
    s = store(redis_url)
    where = f"{tmp_path / 's.yaml'}:2"
    with pytest.raises(OwnershipError) as add:
        schedules.add(s, "nightly", {"task": HEARTBEAT, "every": "1m"}, T0)
    assert (
        str(add.value)
        == f"schedule 'nightly' is defined in {where}: change it there, the API cannot"
    )
    with pytest.raises(OwnershipError, match="is defined in"):
        schedules.update(s, "nightly", {"every": "2h"}, T0)
    with pytest.raises(OwnershipError, match="is defined in"):
        schedules.remove(s, "nightly", T0)
    assert s.reads.definition("nightly") is not None  # untouched
    # add_many writes every other schedule of the batch, then names the conflict
    items = [(f"t-{i:04}", {"task": HEARTBEAT, "every": 60}) for i in range(1500)]
    items.insert(700, ("nightly", {"task": HEARTBEAT, "every": "1m"}))
    with pytest.raises(OwnershipError) as many:
        schedules.add_many(s, items, T0)
    assert str(many.value) == str(add.value)
    assert s.reads.names() == {"nightly", *(f"t-{i:04}" for i in range(1500))}
    assert schedules.get(s, "nightly").owner == "files"


def test_the_files_cannot_declare_a_name_the_api_owns(redis_url: str, tmp_path: Path) -> None:
    s = store(redis_url)
    schedules.add(s, "report", {"task": HEARTBEAT, "every": "1m"}, T0)
    files = file_schedules(tmp_path, "schedules:\n  report:\n    task: a:b\n    every: 1h\n")
    assert owner_conflicts(s.reads, files) == [
        f"{tmp_path / 's.yaml'}:2: schedules.report: the API owns a schedule of this name "
        "(added with sched add or Client.add); rename this one, or remove the API's first "
        "(sched remove report)"
    ]
    leader = Scheduler(store(redis_url), files)
    leader.elect(T0)
    report = leader.sync(T0)
    assert report == {"report": "conflict:api"}  # the sync refuses it too
    assert schedules.get(s, "report").owner == "api"


def test_a_reload_declaring_an_api_name_is_rejected_and_the_last_good_schedules_stay(
    redis_url: str, tmp_path: Path
) -> None:
    s = store(redis_url)
    schedules.add(s, "report", {"task": HEARTBEAT, "every": "1m"}, T0)
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  ok:\n    task: a:b\n    every: 1h\n", encoding="utf-8")
    applied: list[object] = []
    clock = [0.0]
    reloader = Reloader([path], dict, applied.append, monotonic=lambda: clock[0],
                        conflicts=lambda new: owner_conflicts(s.reads, new))  # fmt: skip
    path.write_text("schedules:\n  report:\n    task: a:b\n    every: 1h\n", encoding="utf-8")
    reloader.request()
    reloader.poll()
    clock[0] = 5.0
    reloader.poll()
    assert applied == []
    assert "the API owns a schedule of this name" in reloader.last_error


def test_a_removed_file_schedule_may_be_taken_over_by_the_api(
    redis_url: str, tmp_path: Path
) -> None:
    files = file_schedules(tmp_path, "schedules:\n  moving:\n    task: a:b\n    every: 1h\n")
    leader = Scheduler(store(redis_url), files)
    leader.elect(T0)
    leader.tick(T0)
    leader.replace_schedules({})
    leader.tick(T0 + timedelta(seconds=1))  # the sync removes it (a tombstone)
    s = store(redis_url)
    schedules.add(s, "moving", {"task": HEARTBEAT, "every": "1m"}, T0 + timedelta(seconds=2))
    assert schedules.get(s, "moving").owner == "api"
    assert s.reads.owned("files") == set() and s.reads.owned("api") == {"moving"}


def test_add_refuses_a_taken_name_and_bad_fields_with_the_yaml_messages(
    redis_url: str, tmp_path: Path
) -> None:
    s = store(redis_url)
    schedules.add(s, "a", {"task": HEARTBEAT, "every": 60}, T0)
    with pytest.raises(ScheduleExistsError, match="schedule 'a' exists"):
        schedules.add(s, "a", {"task": HEARTBEAT, "every": 60}, T0)
    with pytest.raises(ScheduleError) as bad:
        schedules.add(s, "b", {"task": "nope", "cron": "0 25 * * *", "every": "5m"}, T0)
    assert str(bad.value).splitlines() == [  # in the order of the fields given
        "schedules.b.task: 'nope' is not a task reference; write module.path:callable",
        "schedules.b.cron: hour field '25' is invalid; allowed: 0-23, with ranges a-b, steps */n "
        "and lists a,b",
        "schedules.b.every: give either cron or every, not both",
    ]
    with pytest.raises(ScheduleError):
        schedules.update(s, "a", {"every": "-5s"}, T0)
    assert s.reads.definition("b") is None
    assert schedules.get(s, "a").schedule.every_s == 60


def test_add_many_checks_every_one_before_writing_any(redis_url: str) -> None:
    s = store(redis_url)
    items: list[tuple[str, dict[str, object]]] = [
        ("ok-1", {"task": HEARTBEAT, "every": 60}), ("bad", {"task": HEARTBEAT}),
        ("ok-2", {"task": HEARTBEAT, "every": 60})]  # fmt: skip
    with pytest.raises(ScheduleError, match=r"schedules\.bad: needs a trigger"):
        schedules.add_many(s, items, T0)
    assert s.reads.names() == set()
    assert schedules.add_many(s, [items[0], items[2]], T0) == ["added", "added"]
    assert schedules.add_many(s, [items[0]], T0) == ["exists"]


def test_add_many_answers_each_schedule_in_order_across_script_calls(redis_url: str) -> None:
    """Definitions are written 1,000 to a script call: the answers of 2,500 line up with
    the schedules, whichever call each was in."""
    s = store(redis_url)
    taken = [999, 1000, 2499]
    for i in taken:
        schedules.add(s, f"t-{i:04}", {"task": HEARTBEAT, "every": 60}, T0)
    items = [(f"t-{i:04}", {"task": HEARTBEAT, "every": 60 + i}) for i in range(2500)]
    results = schedules.add_many(s, items, T0)
    assert [i for i, r in enumerate(results) if r != "added"] == taken
    assert {results[i] for i in taken} == {"exists"}
    assert len(s.reads.names()) == 2500
    assert schedules.get(s, "t-0999").schedule.every_s == 60  # kept, not overwritten
    assert schedules.get(s, "t-1001").schedule.every_s == 1061
    # every 2558 s counts from 1970 (README, Interval anchor): 702,190 x 2558 s is 09:00:20
    state = s.reads.states(["t-2498"])["t-2498"]
    assert state.next_ms == 1_796_202_020_000  # 2026-12-02T09:00:20Z


def test_add_many_of_a_name_given_twice_adds_the_first_and_keeps_it(redis_url: str) -> None:
    s = store(redis_url)
    items = [(f"t-{i:04}", {"task": HEARTBEAT, "every": 60}) for i in range(2500)]
    items.append(("t-1995", {"task": HEARTBEAT, "every": 3600}))  # the next chunk
    results = schedules.add_many(s, items, T0)
    assert results[1995] == "added" and results[-1] == "exists"
    assert schedules.get(s, "t-1995").schedule.every_s == 60


def test_the_client_lists_names_page_by_page(redis_url: str) -> None:
    with Client(redis_url) as client:
        client.add_many([(f"t-{i:03}", {"task": HEARTBEAT, "every": 60}) for i in range(250)])
        client.add("other", task=HEARTBEAT, every="1h")
        assert sorted(client.names("t-")) == [f"t-{i:03}" for i in range(250)]
        assert sorted(client.names()) == sorted([f"t-{i:03}" for i in range(250)] + ["other"])
        first = client.list("t-", count=10)
        assert first.cursor != 0 and all(n.startswith("t-") for n in first.names)


def test_the_client_adds_pauses_triggers_and_reads_back(redis_url: str) -> None:
    with Client(redis_url) as client:
        added = client.add("report-acme", task=HEARTBEAT, cron="0 9 * * mon",
                           timezone="Europe/Berlin", kwargs={"tenant": "acme"})  # fmt: skip
        assert (added.cron, added.timezone, added.kwargs) == ("0 9 * * mon", "Europe/Berlin",
                                                               {"tenant": "acme"})  # fmt: skip
        got = client.get("report-acme")
        assert (got.owner, got.source, got.schedule) == ("api", "api", added)
        fires = client.upcoming("report-acme", 2)
        assert [f.weekday() for f in fires] == [0, 0]
        assert fires[1] - fires[0] == timedelta(days=7)
        assert client.pause("report-acme") is True
        run_id = client.trigger("report-acme")
        assert run_id.startswith("report-acme@trigger-")
        events = client.history("report-acme")
        assert [(e.event, e.by) for e in events] == [
            ("triggered", "client"), ("paused", "client"), ("added", "client")]  # fmt: skip
        assert client.resume("report-acme") is True
        client.update("report-acme", cron="0 10 * * mon")
        assert client.get("report-acme").schedule.cron == "0 10 * * mon"
        assert client.history("report-acme")[0].event == "changed"
        client.remove("report-acme")
        s = store(redis_url)
        assert [(e.event, e.by) for e in s.reads.history("report-acme", 1)] == [
            ("removed", "client")]  # fmt: skip
        with pytest.raises(UnknownScheduleError):
            client.get("report-acme")


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from scheduler.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sched_add_edit_and_remove_a_schedule_from_the_command_line(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    r = ["--redis-url", redis_url]
    assert cli(["add", "nightly", "--task", HEARTBEAT, "--cron", "30 2 * * *", "--timezone",
                "Europe/Berlin", "--args", '["x", 1]', "--timeout", "90", *r], capsys) == (
        0, "nightly: added (cron '30 2 * * *')\n", "")  # fmt: skip
    s = store(redis_url)
    got = schedules.get(s, "nightly")
    assert (got.owner, got.schedule.args, got.schedule.timeout_s) == ("api", ("x", 1), 90)
    assert cli(["edit", "nightly", "--cron", "0 3 * * *", "--unset", "timeout", *r], capsys) == (
        0, "nightly: changed (cron '0 3 * * *')\n", "")  # fmt: skip
    got = schedules.get(s, "nightly")
    assert (got.schedule.cron, got.schedule.timeout_s) == ("0 3 * * *", None)
    assert cli(["remove", "nightly", *r], capsys) == (0, "nightly: removed\n", "")
    assert s.reads.definition("nightly") is None


def test_sched_add_reports_every_problem_as_the_yaml_does_and_exits_1(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(["add", "x", "--task", "a:b", "--cron", "* * *", "--priority", "12",
                          "--redis-url", redis_url], capsys)  # fmt: skip
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: schedules.x.cron: expected 5 fields (minute hour day-of-month month "
        "day-of-week) or 6 with a leading seconds field, got 3",
        "error: schedules.x.priority: 12 is out of range; allowed: 0 to 9",
    ]


def test_sched_edit_and_remove_refuse_a_file_schedule_and_an_unknown_one(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = file_schedules(tmp_path, "schedules:\n  nightly:\n    task: a:b\n    every: 1h\n")
    leader = Scheduler(store(redis_url), files)
    leader.elect(T0)
    leader.sync(T0)
    r = ["--redis-url", redis_url]
    code, _, err = cli(["edit", "nightly", "--every", "2h", *r], capsys)
    assert (code, err) == (1, f"error: schedule 'nightly' is defined in {tmp_path / 's.yaml'}:2: "
                              "change it there, the API cannot\n")  # fmt: skip
    code, _, err = cli(["remove", "ghost", *r], capsys)
    assert (code, err) == (1, "error: no schedule named 'ghost'\n")
    code, _, err = cli(["edit", "nightly", *r], capsys)
    assert code == 2 and "nothing to change" in err


def test_enqueue_with_a_delay_runs_once_at_now_plus_the_delay(redis_url: str) -> None:
    s = store(redis_url)
    leader = Scheduler(store(redis_url), {})
    leader.elect(T0)
    leader.tick(T0)
    now = T0 + timedelta(seconds=10, milliseconds=250)  # an injected clock
    once = schedules.enqueue(s, HEARTBEAT, now, delay_s=90, fields={"args": [7]})
    assert once.at == T0 + timedelta(seconds=101)  # 100.25 s, up to the whole second
    assert once.name.startswith("once-20261202T090010-")
    leader.tick(T0 + timedelta(seconds=100))
    assert enqueued(s) == Counter()
    for later in (101, 102, 3600):
        leader.tick(T0 + timedelta(seconds=later))
    assert enqueued(s) == Counter({(once.name, text(T0 + timedelta(seconds=101))): 1})
    assert [m.args for m in s.reads.queued_runs("default")] == [[7]]
    state = s.reads.states([once.name])[once.name]
    assert (state.next_ms, state.runs) == (None, 1)  # done


def test_a_one_off_added_for_a_moment_already_past_runs_once_by_the_misfire_policy(
    redis_url: str,
) -> None:
    s = store(redis_url)
    leader = Scheduler(store(redis_url), {})
    leader.elect(T0)
    schedules.add(s, "late", {"task": HEARTBEAT, "at": T0 - timedelta(minutes=5)}, T0)
    schedules.add(s, "skipped", {"task": HEARTBEAT, "at": T0 - timedelta(minutes=5),
                                 "misfire": "skip"}, T0)  # fmt: skip
    leader.tick(T0)
    leader.tick(T0 + timedelta(minutes=1))
    assert enqueued(s) == Counter({("late", text(T0 - timedelta(minutes=5))): 1})
    assert s.reads.states(["skipped"])["skipped"].missed == 1


def test_enqueue_refuses_at_and_delay_together(redis_url: str) -> None:
    from scheduler.errors import UsageError

    with pytest.raises(UsageError, match="give at or delay, not both"):
        schedules.enqueue(store(redis_url), HEARTBEAT, T0, at=T0, delay_s=5)


def test_sched_enqueue_schedules_one_run_at_an_instant(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = "2030-01-01T09:00:00+01:00"
    code, out, err = cli(["enqueue", HEARTBEAT, "--at", at, "--name", "new-year", "--queue",
                          "mail", "--redis-url", redis_url], capsys)  # fmt: skip
    assert (code, out, err) == (0, "new-year: enqueued (once at 2030-01-01T08:00:00+00:00)\n", "")
    got = schedules.get(store(redis_url), "new-year")
    assert (got.owner, got.schedule.at, got.schedule.queue) == (
        "api", datetime(2030, 1, 1, 8, 0, tzinfo=UTC), "mail")  # fmt: skip


def test_plan_leaves_the_apis_schedules_alone_and_flags_a_file_naming_one(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = store(redis_url)
    schedules.add(s, "tenant-1", {"task": HEARTBEAT, "every": "1m"}, T0)
    schedules.add(s, "report", {"task": HEARTBEAT, "every": "1m"}, T0)
    path = tmp_path / "s.yaml"
    path.write_text("schedules:\n  report:\n    task: a:b\n    every: 1h\n", encoding="utf-8")
    code, out, _ = cli(["plan", str(path), "--redis-url", redis_url], capsys)
    assert code == 3
    assert out.splitlines() == [
        "! report: the API owns a schedule of this name: the sync refuses this one; next fire -",
        "0 added, 0 removed, 0 changed, 1 conflict",
    ]


def test_add_many_stores_exactly_what_add_one_by_one_stores(redis_url: str) -> None:
    """add_many checks a shape of fields once and reuses it for schedules that differ only in
    name, args and kwargs, splicing those into the first one's JSON: what it stores must be
    what the full check and the whole encoding give, byte for byte."""
    items: list[tuple[str, dict[str, object]]] = [
        (f"t-{i}", {"task": HEARTBEAT, "cron": "0 9 * * mon", "timezone": "Europe/Berlin",
                    "jitter": "30s", "description": "per tenant \u00e9", "priority": 7,
                    "args": [i, f"tenant-{i}", 1.5, None, True, "\u00e9\"\\"],
                    "kwargs": {"z": 1, "deep": {"list": [i, {"k": "v"}]}, "a": "\n"}})
        for i in range(5)
    ]  # fmt: skip
    items += [(f"o-{i}", {"kwargs": {"b": [2], "a": i}, "task": HEARTBEAT, "cron": "0 9 * * mon",
                          "timezone": "Europe/Berlin", "jitter": "30s",
                          "description": "per tenant \u00e9", "priority": 7, "args": ["x"]})
              for i in range(2)]  # the same shape, args and kwargs elsewhere  # fmt: skip
    items += [(f"hole-{i}", {"task": HEARTBEAT, "every": 60, "args": [i],
                             "description": "\x00kwargs"})
              for i in range(2)]  # fmt: skip
    items.append(("odd-one", {"task": HEARTBEAT, "every": 90}))
    items.append(("no-args", {"task": HEARTBEAT, "cron": "0 9 * * mon"}))
    items.append(("no-args-2", {"task": HEARTBEAT, "cron": "0 9 * * mon"}))
    many, one = store(redis_url), Store(redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1"))
    schedules.add_many(many, items, T0)
    for name, fields in items:
        schedules.add(one, name, fields, T0)
    for name, _ in items:
        text = [s.conn.call("hget", s.keys.defs, name) for s in (many, one)]
        assert text[0] == text[1], name
        assert many.reads.states([name])[name].next_ms == one.reads.states([name])[name].next_ms
        assert many.reads.states([name])[name].due_ms == one.reads.states([name])[name].due_ms


def test_add_many_refuses_arguments_of_a_known_shape_over_the_size_limit_as_add_does(
    redis_url: str,
) -> None:
    """The limit is on json.dumps' text (a space after each separator): 30,000 numbers in a
    list are 60 KB compact and 90 KB so, over the 64 KiB."""
    good: dict[str, object] = {"task": HEARTBEAT, "every": 60, "args": [1]}
    big: dict[str, object] = {**good, "args": [[[0] * 100] * 100] * 3}
    with pytest.raises(ScheduleError) as alone:
        schedules.add(store(redis_url), "big", big, T0)
    assert str(alone.value).endswith("args and kwargs are 90612 bytes as JSON; the limit is 65536")
    with pytest.raises(ScheduleError) as batched:
        schedules.add_many(store(redis_url), [("good", good), ("big", big)], T0)
    assert str(batched.value) == str(alone.value)
    assert store(redis_url).reads.names() == set()


def test_a_copy_template_splices_a_copy_and_gives_up_only_on_a_value_that_is_a_hole() -> None:
    """What the lane for copies rests on: the template of a schedule gives a copy's
    definition byte for byte, the fields' text spliced too (kept per order of their keys);
    a value that reads like a hole leaves no template, and each copy is encoded whole."""
    from dataclasses import replace

    from scheduler.config.values import schedule_from
    from scheduler.core.messages import CopyTemplate, definition_and_digest

    fields: dict[str, object] = {"task": HEARTBEAT, "every": 60, "kwargs": {"b": 1, "a": 2}}
    template = CopyTemplate.of(schedule_from("t", fields), "api", "api")
    assert template is not None
    copy = {**fields, "kwargs": {"b": 3, "a": [4]}}
    got = template.definition("u", "[]", '{"a":[4],"b":3}', copy)
    whole = replace(schedule_from("t", fields), name="u", kwargs={"b": 3, "a": [4]})
    assert got == definition_and_digest(whole, "api", copy)
    assert template._rest[("task", "every", "kwargs")] is not None  # spliced, not whole
    for value in ("\x00args", "\x00kwargs"):  # the description lies before both holes
        odd = schedule_from("t", {"task": HEARTBEAT, "every": 60, "description": value})
        assert CopyTemplate.of(odd, "api", "api") is None, value
    # ... and before the name's, cut after the kwargs': not in the way, the copy is right
    named: dict[str, object] = {"task": HEARTBEAT, "every": 60, "description": "\x00name"}
    template = CopyTemplate.of(schedule_from("t", named), "api", "api")
    assert template is not None
    whole = replace(schedule_from("t", named), name="u")
    assert template.definition("u", "[]", "{}", named) == definition_and_digest(whole, "api", named)


@pytest.mark.parametrize(("size", "loads"), [(65_526, True), (65_527, False)])
def test_a_copy_of_a_known_shape_with_arguments_at_the_size_limit_is_checked_as_add_does(
    redis_url: str, size: int, loads: bool
) -> None:
    """[["x...x"], {}] is the string plus 10 bytes as json.dumps writes it: 65,536 load."""
    good: dict[str, object] = {"task": HEARTBEAT, "every": 60, "args": ["x"]}
    edge: dict[str, object] = {**good, "args": ["x" * size]}
    if loads:
        assert schedules.add_many(store(redis_url), [("a", good), ("b", edge)], T0) == [
            "added", "added"]  # fmt: skip
        return
    with pytest.raises(ScheduleError) as batched:
        schedules.add_many(store(redis_url), [("a", good), ("b", edge)], T0)
    assert str(batched.value) == (
        "schedules.b.args: args and kwargs are 65537 bytes as JSON; the limit is 65536"
    )


def test_add_many_reports_a_bad_argument_of_a_known_shape_as_the_full_check_does(
    redis_url: str,
) -> None:
    good: dict[str, object] = {"task": HEARTBEAT, "every": 60, "args": [1]}
    bad: dict[str, object] = {**good, "args": [float("nan")]}
    with pytest.raises(ScheduleError) as alone:
        schedules.add(store(redis_url), "bad", bad, T0)
    with pytest.raises(ScheduleError) as batched:
        schedules.add_many(store(redis_url), [("good", good), ("bad", bad)], T0)
    assert str(batched.value) == str(alone.value)
    assert store(redis_url).reads.names() == set()


def test_add_many_pauses_the_cycle_collector_only_while_it_runs(redis_url: str) -> None:
    """Its many containers would make each full collection walk them all again; it makes no
    cycles, and leaves the collector as it found it, on or off, even when it raises."""
    import gc

    seen: list[bool] = []
    real = schedules._add_many

    def spy(*args: Any) -> list[str]:
        seen.append(gc.isenabled())
        return real(*args)

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedules, "_add_many", spy)
        schedules.add_many(store(redis_url), [("a", {"task": HEARTBEAT, "every": 60})], T0)
        with pytest.raises(ScheduleError):
            schedules.add_many(store(redis_url), [("b", {"task": HEARTBEAT})], T0)
        assert gc.isenabled()
        gc.disable()
        try:
            schedules.add_many(store(redis_url), [("c", {"task": HEARTBEAT, "every": 60})], T0)
            assert not gc.isenabled()
        finally:
            gc.enable()
    assert seen == [False, False, False]
