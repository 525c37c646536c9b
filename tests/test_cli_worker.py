"""CLI contracts of the worker side: dead letters, history, JSON logs, connections."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import redis
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.cli.logs import JsonFormatter
from scheduler.core.instants import to_ms
from scheduler.core.messages import event, priority_score, run_message
from scheduler.core.model import RetryPolicy, Schedule
from scheduler.errors import SchedError, StoreError
from scheduler.store import Run, Store, connect
from scheduler.worker import Worker

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


def dead_run(url: str) -> str:
    s = Store(redis.Redis.from_url(url))
    schedule = Schedule(
        name="bad",
        task="worker_tasks:fail",
        timezone="UTC",
        every_s=60,
        retry=RetryPolicy(max_attempts=1),
    )
    run_id = f"bad@{to_ms(T0)}"
    message = run_message(schedule, run_id, T0, T0, "schedule", 1)
    s.ops.enqueue(
        "bad",
        Run(run_id, "default", priority_score(5, to_ms(T0)), message),
        event("enqueued", T0, run_id=run_id),
    )
    worker = Worker(s, now=lambda: T0, worker_id="w")
    for _ in range(200):
        worker.process_once()
        if s.reads.dead_letter(run_id):
            return run_id
        worker.wait(0.01)
    pytest.fail("the run did not reach the dead-letter queue")


def test_dead_list_show_retry_and_purge(redis_url: str) -> None:
    run_id = dead_run(redis_url)
    url = ["--redis-url", redis_url]
    listed = runner.invoke(app, ["dead", "list", *url])
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[1].split()[:4] == [run_id, "bad", "2026-06-01T12:00:00Z", "1"]
    assert listed.stdout.splitlines()[1].endswith("ConnectionError: boom")
    as_json = json.loads(runner.invoke(app, ["dead", "list", "--json", *url]).stdout)
    assert [d["run"]["run_id"] for d in as_json] == [run_id]
    shown = runner.invoke(app, ["dead", "show", run_id, *url]).stdout
    assert f"run:      {run_id}" in shown
    assert "error:    ConnectionError: boom" in shown
    assert "Traceback (most recent call last)" in shown
    missing = runner.invoke(app, ["dead", "show", "nope@1", *url])
    assert (missing.exit_code, missing.stderr) == (
        2,
        "error: no dead letter with run id 'nope@1' (see `sched dead list`)\n",
    )
    retried = runner.invoke(app, ["dead", "retry", run_id, *url])
    assert (retried.exit_code, retried.stdout) == (0, f"{run_id}: back on its queue\n")
    assert runner.invoke(app, ["dead", "list", "--json", *url]).stdout.strip() == "[]"
    dead_run(redis_url)
    assert runner.invoke(app, ["dead", "purge", *url]).stdout == "purged 1 dead letters\n"


def test_history_shows_outcomes_newest_first(redis_url: str) -> None:
    run_id = dead_run(redis_url)
    result = runner.invoke(app, ["history", "bad", "--json", "--redis-url", redis_url])
    events = json.loads(result.stdout)
    assert [e["event"] for e in events] == ["failed", "enqueued"]
    assert events[0]["run_id"] == run_id
    assert events[0]["error"] == "ConnectionError: boom"
    table = runner.invoke(app, ["history", "bad", "--redis-url", redis_url]).stdout.splitlines()
    assert table[0].split() == [
        "AT",
        "EVENT",
        "RUN",
        "FIRE",
        "AT",
        "ATTEMPT",
        "DURATION",
        "WORKER",
        "ERROR",
        "DETAIL",
    ]
    unknown = runner.invoke(app, ["history", "nothing", "--redis-url", redis_url])
    assert (unknown.exit_code, unknown.stderr) == (
        2,
        "error: no schedule named 'nothing' in Redis\n",
    )


def test_json_logs_carry_the_run_fields() -> None:
    record = logging.LogRecord("sched.worker", logging.INFO, __file__, 1, "run %s ok", ("a",), None)
    for key, value in {
        "schedule": "a",
        "run_id": "a@1",
        "attempt": 2,
        "outcome": "succeeded",
        "duration_ms": 12,
    }.items():
        setattr(record, key, value)
    line = json.loads(JsonFormatter().format(record))
    assert {
        k: line[k]
        for k in (
            "level",
            "logger",
            "message",
            "schedule",
            "run_id",
            "attempt",
            "outcome",
            "duration_ms",
        )
    } == {
        "level": "info",
        "logger": "sched.worker",
        "message": "run a ok",
        "schedule": "a",
        "run_id": "a@1",
        "attempt": 2,
        "outcome": "succeeded",
        "duration_ms": 12,
    }


def test_tls_urls_verify_certificates_and_keep_user_and_database() -> None:
    client = connect("rediss://app:secret@db.example.invalid:6380/2")
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert (kwargs["ssl_cert_reqs"], kwargs["username"], kwargs["db"]) == ("required", "app", 2)


def test_an_unsupported_url_is_refused_without_its_password() -> None:
    with pytest.raises(StoreError) as info:
        connect("http://app:secret@host:6379/0")
    assert str(info.value) == (
        "unsupported Redis URL 'http://app:***@host:6379/0'; use redis://, rediss:// or unix://"
    )
    assert isinstance(info.value, SchedError)


def test_an_unreachable_redis_is_a_clear_error_without_a_traceback() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler",
            "status",
            "--redis-url",
            "redis://:hunter2@127.0.0.1:1/0",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: Redis unavailable: ")
    assert "Connection refused" in done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_log_lines_go_to_stderr_as_it_is_when_they_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler follows sys.stderr: one replaced since set-up (and closed: a test's
    capture, a daemon's redirect) is never written to."""
    import io

    from scheduler.cli import logs

    first, second = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.setattr(sys, "stderr", first)
        logs.setup("text")
        monkeypatch.setattr(sys, "stderr", second)
        first.close()
        logging.getLogger("sched.test").warning("after the swap")
        assert second.getvalue().endswith("WARNING sched.test: after the swap\n")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
