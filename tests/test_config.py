"""Schedule files: what loads, and the exact message for each kind of bad input."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from scheduler.config import MAX_FILE_BYTES, MAX_NODES, PathError, load
from scheduler.core.model import Backoff, Misfire, Overlap
from scheduler.errors import ConfigError

# The parser's own words: libyaml's (in PyYAML's wheels) or, without it, PyYAML's.
BROKEN_YAML = (
    "3:1: (file): invalid YAML: did not find expected node content"
    if yaml.__with_libyaml__
    else "3:1: (file): invalid YAML: expected the node content, but found '<stream end>'"
)


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load([path])
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def one_problem(tmp_path: Path, body: str) -> str:
    found = problems(tmp_path, "schedules:\n  job:\n    task: app.jobs:run\n" + body)
    assert len(found) == 1, found
    return found[0]


def test_a_full_schedule_loads_with_defaults_applied(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
defaults:
  timezone: Europe/Berlin
  queue: reports
  retry: {max_attempts: 3, initial: 30s}
schedules:
  nightly:
    task: app.reports:nightly
    cron: "30 2 * * *"
    args: [1, "two", {three: 3.5}]
    kwargs: {flag: true, none: null}
    priority: 7
    retry: {backoff: fixed, max: 1h, retry_on: [ConnectionError, app.errors.Flaky]}
    timeout: 1h30m
    expires: 2d
    jitter: 30
    start: 2026-01-01T00:00:00
    end: "2027-01-01T00:00:00+00:00"
    enabled: false
    description: Nightly report
    misfire: all
    misfire_grace: 6h
    overlap: queue_one
""",
    )
    job = load([path]).schedules["nightly"]
    assert job.task == "app.reports:nightly"
    assert job.timezone == "Europe/Berlin"
    assert job.queue == "reports"
    assert job.args == (1, "two", {"three": 3.5})
    assert job.kwargs == {"flag": True, "none": None}
    assert job.priority == 7
    assert job.retry.max_attempts == 3
    assert job.retry.initial_s == 30
    assert job.retry.max_s == 3600
    assert job.retry.backoff is Backoff.FIXED
    assert job.retry.retry_on == ("ConnectionError", "app.errors.Flaky")
    assert (job.timeout_s, job.expires_s, job.jitter_s) == (5400, 172800, 30)
    assert job.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)  # naive: Berlin time
    assert job.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert job.enabled is False
    assert job.misfire is Misfire.ALL
    assert job.misfire_grace_s == 21600
    assert job.overlap is Overlap.QUEUE_ONE
    assert job.source == f"{path}:7"


def test_a_minimal_schedule_gets_documented_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "schedules:\n  tick:\n    task: app:tick\n    every: 90\n")
    job = load([path]).schedules["tick"]
    assert (job.timezone, job.queue, job.priority, job.every_s) == ("UTC", "default", 5, 90)
    assert job.retry.max_attempts == 1
    assert (job.misfire, job.overlap, job.enabled, job.jitter_s) == (
        Misfire.COALESCE,
        Overlap.ALLOW,
        True,
        0,
    )


def test_interval_start_is_the_anchor_and_start_end_bound_fire_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "schedules:\n  t:\n    task: a:b\n    every: 1h\n"
        "    start: 2026-05-01T10:20:00Z\n    end: 2026-05-01T13:20:00Z\n",
    )
    job = load([path]).schedules["t"]
    fires = job.fire_times(datetime(2026, 1, 1, tzinfo=UTC))
    assert [f.strftime("%H:%M") for f in fires] == ["10:20", "11:20", "12:20", "13:20"]


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    assert one_problem(tmp_path, "    every: 5m\n    queu: fast\n") == (
        "5:5: schedules.job.queu: unknown key 'queu' (did you mean 'queue'?); allowed: task, "
        "celery_task, celery_broker_url, cron, every, at, timezone, args, kwargs, queue, priority, "
        "retry, timeout, expires, jitter, "
        "start, end, enabled, description, misfire, misfire_grace, overlap"
    )


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, "schedule:\n  a: {task: a:b, every: 5}\n")
    assert found == [
        "1:1: (file): missing the 'schedules:' key",
        "1:1: schedule: unknown key 'schedule' (did you mean 'schedules'?); "
        "allowed: defaults, schedules",
    ]


def test_a_duplicate_key_in_one_mapping_is_rejected(tmp_path: Path) -> None:
    assert one_problem(tmp_path, "    every: 5m\n    every: 10m\n") == (
        "5:5: schedules.job.every: duplicate key 'every' (first defined on line 4)"
    )


def test_a_duplicate_schedule_name_across_files_names_the_first(tmp_path: Path) -> None:
    first = write(tmp_path, "schedules:\n  same:\n    task: a:b\n    every: 5\n", "a.yaml")
    write(tmp_path, "schedules:\n\n  same:\n    task: a:b\n    every: 5\n", "b.yml")
    with pytest.raises(ConfigError) as info:
        load([tmp_path])
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'b.yml'}:3:3: schedules.same: duplicate schedule name; "
        f"first defined at {first}:2"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '    cron: "0 * * * *"\n    description: on\n',
            "5:18: schedules.job.description: expected a string; YAML reads the unquoted 'on' "
            'as bool true, put it in quotes: "on"',
        ),
        (
            "    cron: 12:30\n",
            "4:11: schedules.job.cron: expected a string; YAML reads the unquoted '12:30' as "
            'int 750, put it in quotes: "12:30"',
        ),
        (
            "    every: 5m\n    queue: no\n",
            "5:12: schedules.job.queue: expected a string; YAML reads the unquoted 'no' as "
            'bool false, put it in quotes: "no"',
        ),
        (
            "    every: 5m\n    args: [2026-01-01]\n",
            "5:12: schedules.job.args: YAML reads the unquoted '2026-01-01' as a date, which is "
            'not JSON; put it in quotes: "2026-01-01"',
        ),
        (
            "    every: 5m\n    args: [1, .nan]\n",
            "5:15: schedules.job.args: '.nan' is not a JSON number; only finite numbers are allowed",  # noqa: E501
        ),
        (
            "    every: 5m\n    kwargs: {1: one}\n",
            "5:14: schedules.job.kwargs: keys must be strings; YAML reads the unquoted '1' as "
            'int 1, put it in quotes: "1"',
        ),
        (
            "    every: 5m\n    args: {a: 1}\n",
            "5:11: schedules.job.args: expected a list of arguments, got a mapping",
        ),
        (
            "    every: 5m\n    priority: 10\n",
            "5:15: schedules.job.priority: 10 is out of range; allowed: 0 to 9",
        ),
        (
            "    every: 5m\n    priority: high\n",
            "5:15: schedules.job.priority: expected a whole number from 0 to 9, got 'high'",
        ),
        (
            "    every: 5m\n    enabled: maybe\n",
            "5:14: schedules.job.enabled: expected true or false, got 'maybe'",
        ),
        (
            "    every: 5m\n    misfire: coalsce\n",
            "5:14: schedules.job.misfire: 'coalsce' is not one of coalesce, all, skip "
            "(did you mean 'coalesce'?)",
        ),
        (
            "    every: 5m\n    overlap: never\n",
            "5:14: schedules.job.overlap: 'never' is not one of allow, skip, queue_one",
        ),
        (
            "    every: 5m\n    retry: {max_attempts: 0}\n",
            "5:27: schedules.job.retry.max_attempts: 0 is out of range; allowed: 1 to 100",
        ),
        (
            "    every: 5m\n    retry: {backof: fixed}\n",
            "5:13: schedules.job.retry.backof: unknown key 'backof' (did you mean 'backoff'?); "
            "allowed: max_attempts, backoff, initial, max, jitter, retry_on",
        ),
        (
            "    every: 5m\n    retry: {initial: 1m, max: 10s}\n",
            "5:31: schedules.job.retry.max: must not be shorter than retry.initial",
        ),
        (
            "    every: 5m\n    retry: {retry_on: [not-a-name]}\n",
            "5:24: schedules.job.retry.retry_on: 'not-a-name' is not an exception class name "
            "(e.g. ConnectionError)",
        ),
        (
            "    every: 0\n",
            "4:12: schedules.job.every: must be at least 1s, got '0'",
        ),
        (
            "    every: -5s\n",
            "4:12: schedules.job.every: malformed duration '-5s'; write a duration like 30s, 5m, "
            "1h30m, 2d or a whole number of seconds",
        ),
        (
            "    every: 1.5\n",
            "4:12: schedules.job.every: expected a duration, got float 1.5; write a duration "
            "like 30s, 5m, 1h30m, 2d or a whole number of seconds",
        ),
        (
            "    every: 5m\n    timeout: 5 minutes\n",
            "5:14: schedules.job.timeout: malformed duration '5 minutes'; write a duration like "
            "30s, 5m, 1h30m, 2d or a whole number of seconds",
        ),
        (
            '    cron: "0 * * * *"\n    every: 5m\n',
            "5:12: schedules.job.every: give either cron or every, not both",
        ),
        (
            '    cron: "61 * * * *"\n',
            "4:11: schedules.job.cron: minute field '61' is invalid; allowed: 0-59, with ranges "
            "a-b, steps */n and lists a,b",
        ),
        (
            '    cron: "0 0 * jab *"\n',
            "4:11: schedules.job.cron: month field 'jab' is invalid; allowed: 1-12 or jan-dec, "
            "with ranges a-b, steps */n and lists a,b",
        ),
        (
            '    cron: "0 0 30 2 *"\n',
            "4:11: schedules.job.cron: '0 0 30 2 *' names no date that exists; it would never fire",
        ),
        (
            '    cron: "0 0 31 4,6,9,11 *"\n',
            "4:11: schedules.job.cron: '0 0 31 4,6,9,11 *' names no date that exists; "
            "it would never fire",
        ),
        (
            '    cron: "* * * *"\n',
            "4:11: schedules.job.cron: expected 5 fields (minute hour day-of-month month "
            "day-of-week) or 6 with a leading seconds field, got 4",
        ),
        (
            '    cron: "@reboot"\n',
            "4:11: schedules.job.cron: unknown macro '@reboot'; use one of @annually, @daily, "
            "@hourly, @midnight, @monthly, @weekly, @yearly",
        ),
        (
            '    cron: "0 0 15W * *"\n',
            "4:11: schedules.job.cron: day-of-month field '15W' is not supported; "
            "allowed: 1-31 or L",
        ),
        (
            "    every: 5m\n    timezone: PST\n",
            "5:15: schedules.job.timezone: 'PST' is an abbreviation, not an IANA time zone; "
            "use a region name such as 'America/Los_Angeles'",
        ),
        (
            "    every: 5m\n    timezone: Europe/Berln\n",
            "5:15: schedules.job.timezone: unknown time zone 'Europe/Berln'; "
            "did you mean 'Europe/Berlin'?",
        ),
        (
            "    every: 5m\n    start: 2026-13-01\n",
            "5:12: schedules.job.start: '2026-13-01' looks like a timestamp but is not a valid "
            "one: month must be in 1..12",
        ),
        (
            "    every: 5m\n    start: 2026-02-01\n    end: 2026-01-01\n",
            "6:10: schedules.job.end: must be later than start",
        ),
        (
            "    every: 5m\n    start: tomorrow\n",
            "5:12: schedules.job.start: 'tomorrow' is not an ISO 8601 date-time; write e.g. "
            "2026-01-31T09:00:00+01:00 (without an offset it is taken in the schedule's time zone)",
        ),
        (
            "    every: 5m\n    <<: {queue: x}\n",
            "5:5: schedules.job: merge keys (<<) are not supported; use a defaults: block",
        ),
    ],
)
def test_bad_field_values_get_an_exact_message(tmp_path: Path, body: str, expected: str) -> None:
    assert one_problem(tmp_path, body) == expected


def test_a_task_reference_must_be_module_colon_attribute(tmp_path: Path) -> None:
    found = problems(tmp_path, "schedules:\n  job:\n    task: app.jobs.run\n    every: 5\n")
    assert found == [
        "3:11: schedules.job.task: 'app.jobs.run' is not a task reference; "
        "write module.path:callable"
    ]


def test_a_missing_task_and_trigger_are_both_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, "schedules:\n  job:\n    queue: q\n")
    assert found == [
        '2:3: schedules.job: needs a trigger: cron: "<expression>", every: <duration> or at: '
        "<ISO 8601 date-time>",
        "2:3: schedules.job.task: missing required key 'task' (module.path:callable) or "
        "'celery_task' (a Celery task's registered name)",
    ]


def test_an_invalid_schedule_name_is_rejected(tmp_path: Path) -> None:
    found = problems(tmp_path, 'schedules:\n  "a b":\n    task: a:b\n    every: 5\n')
    assert found == [
        "2:3: schedules.a b: invalid schedule name; use 1-128 letters, digits, '-', '_', '.'"
    ]


def test_python_object_tags_are_never_constructed(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "schedules:\n  job:\n    task: a:b\n    every: 5\n"
        '    args: [!!python/object/apply:os.system ["touch pwned"]]\n',
    )
    assert found == [
        "5:12: schedules.job.args: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' "
        "is not allowed; schedule files hold plain values only"
    ]
    assert not (tmp_path / "pwned").exists()


def test_an_alias_bomb_is_stopped_by_the_node_limit(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcd", "bcde", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = "defaults: {}\n_: \n" + "\n".join("  " + line for line in levels)
    text += "\nschedules:\n  z:\n    task: m:f\n    every: 5\n    args: [*e, *e]\n"
    found = problems(tmp_path, text)
    assert found[-1] == (
        f"3:31: schedules.z.args: the file expands to more than {MAX_NODES} YAML nodes "
        "(anchors and aliases count each time they are used); split or simplify it"
    )


def test_arguments_over_the_size_limit_are_rejected(tmp_path: Path) -> None:
    big = "x" * (64 * 1024)
    found = problems(
        tmp_path, f"schedules:\n  job:\n    task: a:b\n    every: 5\n    args: [{big}]\n"
    )
    assert found == [
        "5:11: schedules.job.args: args and kwargs are 65546 bytes as JSON; the limit is 65536"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "1:1: (file): the file is empty; expected a mapping with a 'schedules:' key"),
        (b"# only a comment\n", "1:1: (file): the file is empty; expected a mapping with a "
         "'schedules:' key"),
        (b"- a\n- b\n", "1:1: (file): the file must be a mapping with a 'schedules:' key, "
         "got a list"),
        (b"schedules: {}\n---\nschedules: {}\n", "3:1: (file): several YAML documents (---) in "
         "one file; use one per file"),
        (b"schedules:\n  a: {task: 'caf\xe9'}\n", "2:17: (file): not UTF-8 text: save the file "
         "as UTF-8"),
        (b"schedules:\n  x: [\n", BROKEN_YAML),
        (b"schedules: 5\n", "1:12: schedules: expected a mapping of key: value, got '5'"),
    ],
)  # fmt: skip
def test_bad_files_get_an_exact_message(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load([path])
    assert [str(p).removeprefix(f"{path}:") for p in info.value.problems] == [expected]


def test_a_file_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError) as info:
        load([path])
    assert [str(p) for p in info.value.problems] == [
        f"{path}:1:1: (file): file is {MAX_FILE_BYTES + 1} bytes; the limit is {MAX_FILE_BYTES}"
    ]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path, "schedules:\n  a: {task: a:b, every: 0}\n  b: {task: nope, every: 5}\n", "1.yaml"
    )
    write(tmp_path, "schedules:\n  c: {task: a:b, cron: '* *'}\n", "2.yaml")
    with pytest.raises(ConfigError) as info:
        load([tmp_path])
    assert [(Path(p.path).name, p.line, p.where) for p in info.value.problems] == [
        ("1.yaml", 2, "schedules.a.every"),
        ("1.yaml", 3, "schedules.b.task"),
        ("2.yaml", 2, "schedules.c.cron"),
    ]


def test_missing_paths_and_empty_directories_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="no such file or directory"):
        load([tmp_path / "missing"])
    with pytest.raises(PathError, match=r"no \*\.yaml or \*\.yml files in this directory"):
        load([tmp_path])


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of each cycle collection that starts while the test runs."""
    started: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield started
    finally:
        gc.callbacks.remove(note)


def test_loading_many_schedules_runs_no_cycle_collection(
    tmp_path: Path, collections: list[int]
) -> None:
    """Each collection would walk every node made so far (more than half of reading
    100,000 schedules); loading makes no cycles, so the collector waits until it is done."""
    lines = [f"  s{i}: {{task: app.jobs:run, every: 60s}}" for i in range(3_000)]
    path = write(tmp_path, "schedules:\n" + "\n".join(lines) + "\n")
    assert gc.isenabled()
    assert len(load([path]).schedules) == 3_000
    # 113 without the pause; at most one once it is on again, of whichever generation the
    # counters left by earlier work call for (0 alone, or 1 after other tests' garbage)
    assert len(collections) <= 1
    assert gc.isenabled()


def test_the_collector_is_as_it_was_after_a_load_that_failed(tmp_path: Path) -> None:
    bad = write(tmp_path, "schedules:\n  s: {task: app.jobs:run}\n")
    with pytest.raises(ConfigError):
        load([bad])
    assert gc.isenabled()
    gc.disable()
    try:
        load([write(tmp_path, "schedules:\n  s: {task: app.jobs:run, every: 60s}\n", "ok.yaml")])
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
