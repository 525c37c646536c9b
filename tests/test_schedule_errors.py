"""One corpus of bad schedules, four entry points: a YAML file (`sched validate`), the Python
client (`Client.add`), the CLI verb (`sched add`) and the HTTP API (`POST /api/schedules`).
Each says the same `schedules.NAME.FIELD: message`; the file adds `path:line:column:`.

Values are written into the YAML files as JSON (which YAML reads as it is), so each entry
point gets the same values. YAML 1.1's surprises (`12:30` read as 750) exist only in files;
the last test shows the other entry points take the JSON value as written."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler import Client, ScheduleError
from scheduler.store import Store
from scheduler.web import Health, HttpServer, api, pages
from scheduler.web.app import App, Context, parse_tokens

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
T = "scheduler.tasks:heartbeat"
SECRET = "corpus-secret"
DURATION = "write a duration like 30s, 5m, 1h30m, 2d or a whole number of seconds"

# name -> (fields, the problems every entry point reports, as `where: message`)
CORPUS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bad-cron": ({"task": T, "cron": "61 * * * *"}, [
        "schedules.bad-cron.cron: minute field '61' is invalid; allowed: 0-59, with ranges "
        "a-b, steps */n and lists a,b"]),
    "unknown-key": ({"task": T, "every": "1h", "queu": "mail"}, [
        "schedules.unknown-key.queu: unknown key 'queu' (did you mean 'queue'?); allowed: "
        "task, celery_task, celery_broker_url, cron, every, at, timezone, args, kwargs, queue, "
        "priority, retry, timeout, expires, jitter, start, end, enabled, description, misfire, "
        "misfire_grace, overlap"]),
    "cron-and-every": ({"task": T, "cron": "0 9 * * *", "every": "1h"}, [
        "schedules.cron-and-every.every: give either cron or every, not both"]),
    "no-trigger": ({"task": T}, [
        'schedules.no-trigger: needs a trigger: cron: "<expression>", every: <duration> or '
        "at: <ISO 8601 date-time>"]),
    "bad-duration": ({"task": T, "every": "5x"}, [
        f"schedules.bad-duration.every: malformed duration '5x'; {DURATION}"]),
    "negative-every": ({"task": T, "every": "-5s"}, [
        f"schedules.negative-every.every: malformed duration '-5s'; {DURATION}"]),
    "priority-range": ({"task": T, "every": "1h", "priority": 11}, [
        "schedules.priority-range.priority: 11 is out of range; allowed: 0 to 9"]),
    "bad-zone": ({"task": T, "every": "1h", "timezone": "Europe/Berln"}, [
        "schedules.bad-zone.timezone: unknown time zone 'Europe/Berln'; did you mean "
        "'Europe/Berlin'?"]),
    "bad-retry-key": ({"task": T, "every": "1h", "retry": {"max_attempt": 3}}, [
        "schedules.bad-retry-key.retry.max_attempt: unknown key 'max_attempt' (did you mean "
        "'max_attempts'?); allowed: max_attempts, backoff, initial, max, jitter, retry_on"]),
    "end-before-start": ({"task": T, "every": "1h", "start": "2026-06-02T00:00:00Z",
                          "end": "2026-06-01T00:00:00Z"}, [
        "schedules.end-before-start.end: must be later than start"]),
    "bad-task": ({"task": "nope", "every": "1h"}, [
        "schedules.bad-task.task: 'nope' is not a task reference; write module.path:callable"]),
    "two-tasks": ({"task": T, "celery_task": "app.tasks.add", "every": "1h"}, [
        "schedules.two-tasks.celery_task: give either task or celery_task, not both"]),
    "bad-overlap": ({"task": T, "every": "1h", "overlap": "sometimes"}, [
        "schedules.bad-overlap.overlap: 'sometimes' is not one of allow, skip, queue_one"]),
    "zero-timeout": ({"task": T, "every": "1h", "timeout": "0s"}, [
        "schedules.zero-timeout.timeout: must be at least 1s, got '0s'"]),
    "enabled-string": ({"task": T, "every": "1h", "enabled": "yes"}, [
        "schedules.enabled-string.enabled: expected true or false, got 'yes'"]),
    "kwargs-list": ({"task": T, "every": "1h", "kwargs": [1]}, [
        "schedules.kwargs-list.kwargs: expected a mapping of keyword arguments, got a list"]),
    "args-string": ({"task": T, "every": "1h", "args": "abc"}, [
        "schedules.args-string.args: expected a list of arguments, got 'abc'"]),
    "three-at-once": ({"task": "nope", "cron": "0 25 * * *", "every": "5m"}, [
        "schedules.three-at-once.task: 'nope' is not a task reference; write "
        "module.path:callable",
        "schedules.three-at-once.cron: hour field '25' is invalid; allowed: 0-23, with ranges "
        "a-b, steps */n and lists a,b",
        "schedules.three-at-once.every: give either cron or every, not both"]),
}  # fmt: skip

# What `sched add` cannot even be given: it has no option for an unknown key, and --enabled
# is a flag. Typer refuses those as usage errors (exit 2) before sched sees them.
CLI_CANNOT = {"unknown-key", "enabled-string"}


def yaml_text(name: str, fields: dict[str, Any]) -> str:
    lines = [f"    {key}: {json.dumps(value)}\n" for key, value in fields.items()]
    return f"schedules:\n  {name}:\n" + "".join(lines)


def field_line(name: str, fields: dict[str, Any], where: str) -> int:
    """The line of the field a problem names (the schedule's own line for the schedule)."""
    field = where.removeprefix(f"schedules.{name}").lstrip(".").partition(".")[0]
    return 2 if not field else 3 + list(fields).index(field)


# -- the four entry points: each answers `where: message` lines -------------------------------


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """`sched validate` over one file per corpus entry (one process): per entry, its lines."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, (fields, _) in CORPUS.items():
        (folder / f"{name}.yaml").write_text(yaml_text(name, fields), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}", "SCHED_REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-m", "scheduler", "validate", str(folder)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines: dict[str, list[str]] = {name: [] for name in CORPUS}
    for line in done.stdout.splitlines():
        found = re.fullmatch(rf"{re.escape(str(folder))}/([\w-]+)\.yaml:(\d+):(\d+): (.*)", line)
        if found:
            lines[found[1]].append(f"{found[2]}:{found[3]}: {found[4]}")
    assert done.stderr == f"{len(CORPUS) + 2} problems in {len(CORPUS)} file(s)\n"
    return lines


def problems_from_client(redis_url: str, name: str, fields: dict[str, Any]) -> list[str]:
    with Client(redis_url) as client, pytest.raises(ScheduleError) as refused:
        client.add(name, **fields)
    return str(refused.value).splitlines()


def problems_from_sched_add(redis_url: str, name: str, fields: dict[str, Any]) -> list[str]:
    """`sched add NAME --field ...` on ``fields``: the `where: message` lines it prints."""
    from scheduler.cli import main

    args = ["add", name, "--redis-url", redis_url]
    for field, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        args += [f"--{field.replace('_', '-')}", text]
    with pytest.raises(SystemExit) as done, contextlib.redirect_stderr(io.StringIO()) as err:
        main(args)
    assert done.value.code == 1
    return [line.removeprefix("error: ") for line in err.getvalue().splitlines()]


class Api:
    """A real HTTP server over the test's Redis, as the web tests start it."""

    def __init__(self, redis_url: str) -> None:
        store = Store(redis.Redis.from_url(redis_url))
        context = Context(store, lambda: datetime(2026, 6, 1, 12, tzinfo=UTC),
                          parse_tokens(f"corpus:{SECRET}"))  # fmt: skip
        app = App(context, [*api.ROUTES, *pages.ROUTES], pages.error_page)
        health = Health(store, [], lambda: "test")
        self.server = HttpServer(("127.0.0.1", 0), health, lambda: b"", app).start()

    def add(self, name: str, fields: dict[str, Any]) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.server.address[1]}/api/schedules"
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        body = json.dumps({"name": name, "fields": fields}).encode()
        request = urllib.request.Request(url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def http_api(redis_url: str) -> Iterator[Api]:
    served = Api(redis_url)
    yield served
    served.server.close()


def problems_from_http(http_api: Api, name: str, fields: dict[str, Any]) -> list[str]:
    status, body = http_api.add(name, fields)
    assert status == 422, body
    lines = [f"{p['where']}: {p['message']}" for p in body["problems"]]
    assert body["error"] == "\n".join(lines)
    return lines


# -- the same messages everywhere --------------------------------------------------------------


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_schedule_file_names_each_problem_with_its_file_line_and_the_field(
    name: str, validated: dict[str, list[str]]
) -> None:
    fields, expected = CORPUS[name]
    at = [f"{field_line(name, fields, line.partition(':')[0])}:" for line in expected]
    got = validated[name]
    assert [line.partition(":")[0] + ":" for line in got] == at
    assert [line.split(": ", 1)[1] for line in got] == expected


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_client_refuses_with_the_files_messages(redis_url: str, name: str) -> None:
    fields, expected = CORPUS[name]
    assert problems_from_client(redis_url, name, fields) == expected
    assert Store(redis.Redis.from_url(redis_url)).reads.names() == set()


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_http_api_refuses_with_the_files_messages(http_api: Api, name: str) -> None:
    fields, expected = CORPUS[name]
    assert problems_from_http(http_api, name, fields) == expected


@pytest.mark.parametrize("name", sorted(set(CORPUS) - CLI_CANNOT))
def test_sched_add_refuses_with_the_files_messages(redis_url: str, name: str) -> None:
    fields, expected = CORPUS[name]
    assert problems_from_sched_add(redis_url, name, fields) == expected


@pytest.mark.parametrize("name", list(CORPUS))
def test_add_many_refuses_with_the_files_messages_after_good_schedules_of_the_same_values(
    redis_url: str, name: str
) -> None:
    """add_many checks each distinct field value once and keeps what passed: a bad schedule
    that comes after good ones sharing its other values still gets every message of the
    full check, and nothing of the batch is written."""
    fields, expected = CORPUS[name]
    good = {"task": T, "every": "1h", "cron": "0 9 * * *", "timezone": "Europe/Berlin",
            "retry": {"max_attempts": 3}, "start": "2026-06-01T00:00:00Z", "kwargs": {"k": 1},
            "priority": 5, "overlap": "skip", "timeout": "30s", "enabled": True}  # fmt: skip
    shared = {key: good[key] for key in fields if key in good and key not in ("cron", "every")}
    before = [(f"good-{i}", {"task": T, "every": "1h", **shared}) for i in range(3)]
    with Client(redis_url) as client, pytest.raises(ScheduleError) as refused:
        client.add_many([*before, (name, fields), ("good-last", {"task": T, "every": "1h"})])
    assert str(refused.value).splitlines() == expected
    assert Store(redis.Redis.from_url(redis_url)).reads.names() == set()


def test_every_entry_point_says_the_same_for_the_whole_corpus(
    redis_url: str, http_api: Api, validated: dict[str, list[str]]
) -> None:
    for name, (fields, _) in CORPUS.items():
        from_file = [line.split(": ", 1)[1] for line in validated[name]]
        assert problems_from_http(http_api, name, fields) == from_file, name
        assert problems_from_client(redis_url, name, fields) == from_file, name
        if name not in CLI_CANNOT:
            assert problems_from_sched_add(redis_url, name, fields) == from_file, name


def test_yaml_11_surprises_exist_only_in_files(
    tmp_path: Path, redis_url: str, http_api: Api
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"schedules:\n  job:\n    task: {T}\n    every: 1h\n    args: [12:30]\n",
                    encoding="utf-8")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}", "SCHED_REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-m", "scheduler", "validate", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.splitlines()[0] == (
        f"{path}:5:12: schedules.job.args: YAML reads the unquoted '12:30' as the number 750 "
        '(base 60); put it in quotes: "12:30"')  # fmt: skip
    # JSON and Python have no base 60: the string arrives as written.
    with Client(redis_url) as client:
        assert client.add("from-client", task=T, every="1h", args=["12:30"]).args == ("12:30",)
    status, shown = http_api.add("over-http", {"task": T, "every": "1h", "args": ["12:30"]})
    assert (status, shown["definition"]["args"]) == (201, ["12:30"])
