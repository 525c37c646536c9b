"""Celery's message as sched writes it, next to the one Celery's own client writes; the
priority mapping; which broker URLs are sched's own Redis; the YAML fields."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from scheduler.config import celery_warnings, load
from scheduler.core.celery import (
    KOMBU_PRIORITY_STEPS,
    CeleryMessage,
    CeleryRouting,
    Route,
    celery_task_id,
    outcome_deadline_ms,
    redis_identity,
    redis_list,
    redis_priority,
)
from scheduler.core.model import Overlap, RetryPolicy, Schedule, Target
from scheduler.errors import ConfigError

FIRE = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def cleanup(**fields: Any) -> Schedule:
    return Schedule(name="cleanup", task="proj.tasks.cleanup", timezone="UTC", every_s=60,
                    target=Target.CELERY, queue="celery", **fields)  # fmt: skip


def test_the_message_is_the_one_celerys_own_client_sends(redis_url: str) -> None:
    from celery import Celery

    schedule = cleanup(args=(1, 2**60), kwargs={"a": "b"}, expires_s=1800, timeout_s=30)
    run_id = "cleanup@1796203800000"
    ours = json.loads(CeleryMessage.for_run(schedule, run_id, FIRE, "2026-12-02T09:30:00.000Z",
                                            "sched@host").redis_envelope("tag-1"))  # fmt: skip
    app = Celery("proj", broker=redis_url, set_as_current=False)
    task_id = celery_task_id(run_id)
    headers = {"sched_run_id": run_id, "sched_fire_at": "2026-12-02T09:30:00.000Z"}
    with app.connection_for_write() as conn:
        app.send_task("proj.tasks.cleanup", args=[1, 2**60], kwargs={"a": "b"}, queue="celery",
                      expires=datetime(2026, 12, 2, 10, 0, tzinfo=UTC), time_limit=30,
                      task_id=task_id, headers=headers, connection=conn)  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    theirs = json.loads(cast(bytes, client.lpop("celery")))
    client.close()
    assert base64.b64decode(ours["body"]) != b""
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(
        base64.b64decode(theirs["body"]))  # fmt: skip
    differ = {"origin"}  # the sender's name: ours says sched@host
    assert {k: v for k, v in ours["headers"].items() if k not in differ} == {
        k: v for k, v in theirs["headers"].items() if k not in differ}  # fmt: skip
    assert ours["headers"]["origin"] == "sched@host"
    # reply_to names a result queue of Celery's client; delivery tags are unique per
    # message; expiration is an AMQP TTL kombu's Redis transport ignores.
    differ = {"reply_to", "delivery_tag", "expiration"}
    assert {k: v for k, v in ours["properties"].items() if k not in differ} == {
        k: v for k, v in theirs["properties"].items() if k not in differ}  # fmt: skip
    assert ours["properties"]["delivery_tag"] == "tag-1"
    assert {k: ours[k] for k in ("content-type", "content-encoding")} == {
        k: theirs[k] for k in ("content-type", "content-encoding")}  # fmt: skip


def test_the_task_id_is_the_same_for_the_same_fire_time_only() -> None:
    assert celery_task_id("a@1000") == celery_task_id("a@1000")
    assert celery_task_id("a@1000") != celery_task_id("a@2000")
    # uuid5 in sched's namespace: pinned, so that a changed namespace cannot go unnoticed
    # (a task id that changes across versions would break deduplication downstream)
    assert celery_task_id("a@1000") == "3120e93a-a130-536d-ae5b-dd5db91ec3be"


def test_the_headers_carry_the_contract_and_the_limits() -> None:
    message = CeleryMessage.for_run(cleanup(expires_s=90, timeout_s=5), "cleanup@1", FIRE,
                                    "2026-12-02T09:30:00.000Z", "sched@h")  # fmt: skip
    assert message.headers["sched_run_id"] == "cleanup@1"
    assert message.headers["sched_fire_at"] == "2026-12-02T09:30:00.000Z"
    assert message.headers["expires"] == "2026-12-02T09:31:30+00:00"
    assert message.headers["timelimit"] == [5, None]
    assert message.headers["id"] == message.headers["root_id"] == celery_task_id("cleanup@1")
    plain = CeleryMessage.for_run(cleanup(), "cleanup@1", FIRE, "x", "sched@h")
    assert (plain.headers["expires"], plain.headers["timelimit"]) == (None, [None, None])


@pytest.mark.parametrize(
    ("priority", "kombu", "key"),
    [(9, 0, "celery"), (7, 0, "celery"), (5, 0, "celery"), (4, 3, "celery\x06\x163"),
     (3, 3, "celery\x06\x163"), (2, 6, "celery\x06\x166"), (1, 6, "celery\x06\x166"),
     (0, 9, "celery\x06\x169")],
)  # fmt: skip
def test_sched_priorities_land_in_kombus_lists(priority: int, kombu: int, key: str) -> None:
    assert redis_priority(priority) == kombu
    assert redis_list("celery", priority) == key


def test_every_one_of_kombus_four_lists_is_used() -> None:
    assert KOMBU_PRIORITY_STEPS == (0, 3, 6, 9)  # kombu's PRIORITY_STEPS, read in this order
    assert sorted({redis_priority(p) for p in range(10)}) == list(KOMBU_PRIORITY_STEPS)


@pytest.mark.parametrize(
    ("url", "identity"),
    [("redis://localhost", ("127.0.0.1", 6379, 0)),
     ("redis://127.0.0.1:6379/0", ("127.0.0.1", 6379, 0)),
     ("rediss://:pw@Cache.Example:6380/2", ("cache.example", 6380, 2)),
     ("redis://h:1?db=3", ("h", 1, 3)),
     ("unix:///run/r.sock?db=1", ("unix", "/run/r.sock", 1)),
     ("unix:///run/r.sock?db=", ("unix", "/run/r.sock", 0)),
     ("redis://h:1/?db=", ("h", 1, 0)),
     ("amqp://guest@localhost//", None)],
)  # fmt: skip
def test_a_broker_url_names_a_server_and_database(url: str, identity: object) -> None:
    assert redis_identity(url) == identity


def test_a_broker_url_whose_database_is_not_a_number_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="database 'x' of 'redis://u:\\*\\*\\*@h/x' is not a number"
    ):
        redis_identity("redis://u:pw@h/x")
    text = ("schedules:\n  j:\n    celery_task: proj.x\n    celery_broker_url: redis://h/x\n"
            "    every: 5s\n")  # fmt: skip
    assert problems(tmp_path, text) == [
        "4:24: schedules.j.celery_broker_url: database 'x' of 'redis://h/x' is not a number"
    ]


def test_only_sched_own_server_and_database_is_handed_over_atomically() -> None:
    routing = CeleryRouting(("127.0.0.1", 6379, 0), None)
    assert routing.route(cleanup()) == Route("celery", "")
    assert routing.route(cleanup(celery_broker_url="redis://localhost:6379")) == Route(
        "celery", "redis://localhost:6379")  # fmt: skip
    for other in ("redis://localhost:6379/1", "redis://other:6379/0", "amqp://h//"):
        assert routing.route(cleanup(celery_broker_url=other)) == Route("outbox", other)
    default = CeleryRouting(("127.0.0.1", 6379, 0), "amqp://rabbit//")
    assert default.route(cleanup()) == Route("outbox", "amqp://rabbit//")


def test_runs_are_counted_for_overlap_only_under_an_overlap_rule() -> None:
    assert outcome_deadline_ms(cleanup(), 1000) is None
    skip = cleanup(overlap=Overlap.SKIP, expires_s=60, timeout_s=30)
    assert outcome_deadline_ms(skip, 1000) == 1000 + (60 + 30 + 60) * 1000
    assert outcome_deadline_ms(cleanup(overlap=Overlap.SKIP), 0) == (3600 + 3600 + 60) * 1000


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load([write(tmp_path, text)])
    return [f"{p.line}:{p.column}: {p.where}: {p.message}" for p in caught.value.problems]


def test_a_celery_task_schedule_loads_with_celerys_default_queue(tmp_path: Path) -> None:
    text = ("defaults:\n  celery_broker_url: amqp://u:p@rabbit//\nschedules:\n"
            "  c:\n    celery_task: proj.tasks.cleanup\n    every: 5m\n"
            "  s:\n    task: scheduler.tasks:heartbeat\n    every: 5m\n")  # fmt: skip
    loaded = load([write(tmp_path, text)]).schedules
    c, s = loaded["c"], loaded["s"]
    assert (c.target, c.task, c.queue, c.celery_broker_url) == (
        Target.CELERY, "proj.tasks.cleanup", "celery", "amqp://u:p@rabbit//")  # fmt: skip
    assert (s.target, s.queue, s.celery_broker_url) == (Target.SCHED, "default", None)
    assert Schedule.from_json(c.to_json()) == replace(c, source="")
    assert "target" not in s.to_json()  # a sched schedule's digest is unchanged
    assert c.shown()["celery_broker_url"] == "amqp://u:***@rabbit//"


def test_task_and_celery_task_together_are_refused(tmp_path: Path) -> None:
    text = "schedules:\n  j:\n    task: a:b\n    celery_task: proj.x\n    every: 5s\n"
    assert problems(tmp_path, text) == [
        "4:18: schedules.j.celery_task: give either task or celery_task, not both"]  # fmt: skip


def test_a_broker_url_of_another_kind_is_refused_at_its_value(tmp_path: Path) -> None:
    text = (
        "schedules:\n  j:\n    celery_task: proj.x\n    celery_broker_url: sqs://q\n    every: 5s\n"
    )
    assert problems(tmp_path, text) == [
        "4:24: schedules.j.celery_broker_url: 'sqs://q' is not a broker URL sched can publish "
        "to; use redis://, rediss://, unix:// or amqp://"]  # fmt: skip


def test_a_broker_url_on_a_sched_task_is_refused(tmp_path: Path) -> None:
    text = "schedules:\n  j:\n    task: a:b\n    celery_broker_url: redis://h\n    every: 5s\n"
    assert problems(tmp_path, text) == [
        "4:24: schedules.j.celery_broker_url: applies only to a celery_task schedule"]  # fmt: skip


def test_validate_says_what_celery_cannot_honour(tmp_path: Path) -> None:
    text = ("schedules:\n  c:\n    celery_task: proj.x\n    every: 5s\n    overlap: skip\n"
            "    retry: {max_attempts: 3}\n  s:\n    task: a:b\n    every: 5s\n"
            "    overlap: skip\n")  # fmt: skip
    path = write(tmp_path, text)
    found = celery_warnings(load([path]).schedules.values())
    assert [m.split(": ", 2)[1] for m in found] == ["schedules.c.overlap", "schedules.c.retry"]
    assert found[0].startswith(f"{path}:2: schedules.c.overlap: a Celery run's end reaches sched")
    assert "autoretry_for" in found[1]
    assert celery_warnings([cleanup(retry=RetryPolicy(max_attempts=1))]) == []


def test_the_leader_and_the_cli_import_nothing_of_celery() -> None:
    """The Redis path hands runs to Celery without Celery: sched without the celery extra
    runs celery_task schedules, and the CLI starts without loading Celery."""
    import subprocess
    import sys

    celery_side = "{'celery', 'kombu', 'amqp', 'django', 'django_celery_beat', 'billiard'}"
    code = ("import sys, scheduler.cli, scheduler.beat.relay, scheduler.beat.planner, "
            "scheduler.store.celery; print(sorted({m.split('.')[0] for m in sys.modules} & "
            f"{celery_side}))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_the_celery_values_are_immutable_and_slotted() -> None:
    import dataclasses

    from scheduler.core.celery import OutboxEntry, Published

    values: list[Any] = [
        CeleryMessage("id", "q", 5, {}, b"[]"),
        OutboxEntry("a@1", "", 5, "{}", "q", "id", "t"),
        Published([], {}),
        Route("celery", ""),
        CeleryRouting(None),
    ]
    for value in values:
        name = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)
        assert not hasattr(value, "__dict__")
