"""Schedule files at the documented edges of every limit: the last value that loads and the
first one that is rejected, with the exact problem (line, column, where, message)."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from yaml.nodes import ScalarNode

from scheduler.config import load
from scheduler.config.fields import LocalTime
from scheduler.config.files import read_file
from scheduler.config.nodes import SourceFile
from scheduler.core.model import Backoff, Misfire, Overlap, Schedule
from scheduler.errors import ConfigError, PathError

HEAD = "schedules:\n  job:\n    task: app.jobs:run\n"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def write(tmp_path: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def loads(tmp_path: Path, text: str | bytes) -> dict[str, Schedule]:
    return load([write(tmp_path, text)]).schedules


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load([path])
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def job(tmp_path: Path, body: str) -> Schedule:
    return loads(tmp_path, HEAD + body)["job"]


# -- file size: 1 MiB ----------------------------------------------------------------------


def padded(size: int) -> bytes:
    text = (HEAD + "    every: 10s\n").encode()
    filler = size - len(text) - 2
    return text + b"#" + b"x" * filler + b"\n"


def test_a_file_of_exactly_1_mib_loads(tmp_path: Path) -> None:
    data = padded(1024 * 1024)
    assert len(data) == 1_048_576
    assert list(loads(tmp_path, data)) == ["job"]


def test_a_file_of_1_mib_and_one_byte_is_rejected(tmp_path: Path) -> None:
    data = padded(1024 * 1024 + 1)
    assert problems(tmp_path, data) == ["1:1: (file): file is 1048577 bytes; the limit is 1048576"]


# -- YAML nodes: 100,000 -----------------------------------------------------------------


def node_file(last_items: int) -> str:
    """3 + 5 * (10 + 19,000) + (10 + last_items) nodes: the root mapping, the `schedules`
    key and mapping; per schedule its name and mapping, task and every (key and value each),
    the retry key and mapping, the retry_on key, its list and the list's items (an alias
    counts its items every time it is used)."""
    names = ", ".join(["E"] * 19_000)
    body = "task: app.jobs:run, every: 10s, retry"
    lines = ["schedules:", f"  a: {{{body}: {{retry_on: &r [{names}]}}}}"]
    lines += [f"  {name}: {{{body}: {{retry_on: *r}}}}" for name in "bcde"]
    last = ", ".join(["E"] * last_items)
    lines.append(f"  f: {{{body}: {{retry_on: [{last}]}}}}")
    return "\n".join(lines) + "\n"


def test_a_file_of_exactly_100000_nodes_loads(tmp_path: Path) -> None:
    schedules = loads(tmp_path, node_file(4_937))
    assert sorted(schedules) == ["a", "b", "c", "d", "e", "f"]
    assert len(schedules["e"].retry.retry_on) == 19_000
    assert len(schedules["f"].retry.retry_on) == 4_937


def test_a_file_of_100001_nodes_is_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, node_file(4_938)) == [
        # the 4,938th name of f's list is node 100,001: line 7, column 58 + 4,937 * 3 + 1
        "7:14869: schedules.f.retry.retry_on: the file expands to more than 100000 YAML nodes "
        "(anchors and aliases count each time they are used); split or simplify it"
    ]


def test_a_file_of_60027_nodes_with_large_args_loads(tmp_path: Path) -> None:
    # 3 + 3 * (8 + 20,000) nodes; each schedule's args are 60,010 bytes as JSON.
    zeros = ", ".join(["0"] * 20_000)
    text = (
        "schedules:\n"
        f"  a: {{task: app.jobs:run, every: 10s, args: &z [{zeros}]}}\n"
        "  b: {task: app.jobs:run, every: 10s, args: *z}\n"
        "  c: {task: app.jobs:run, every: 10s, args: *z}\n"
    )
    assert sorted(loads(tmp_path, text)) == ["a", "b", "c"]


# -- args and kwargs: 100 levels deep ---------------------------------------------------------

DEEP = "nested more than 100 levels deep (a value that holds itself, such as an alias inside " \
    "its own anchor, nests forever)"  # fmt: skip


def innermost(args: object, levels: int) -> object:
    """What lies ``levels`` one-item lists (or tuples) down in ``args``."""
    for _ in range(levels):
        assert isinstance(args, list | tuple) and len(args) == 1
        [args] = args
    return args


def test_args_nested_100_levels_deep_load(tmp_path: Path) -> None:
    loaded = job(tmp_path, f"    every: 5s\n    args: {'[' * 100}1{']' * 100}\n")
    assert innermost(loaded.args, 100) == 1


def test_args_nested_101_levels_deep_are_rejected_at_the_101st(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + f"    every: 5s\n    args: {'[' * 101}1{']' * 101}\n") == [
        f"5:111: schedules.job.args: {DEEP}"
    ]


def test_an_alias_inside_its_own_anchor_is_rejected_not_followed_forever(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    kwargs: &k {a: 1, me: *k}\n") == [
        f"5:13: schedules.job.kwargs: {DEEP}"
    ]


def test_a_python_value_that_holds_itself_or_nests_5000_deep_is_rejected_by_the_api() -> None:
    from scheduler.config.values import Checker, clean, schedule_from
    from scheduler.errors import ScheduleError

    loop: list[object] = [1]
    loop.append(loop)
    deep: object = 1
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    deep_tuple: object = 1
    for _ in range(5000):
        deep_tuple = (deep_tuple,)
    for args in (loop, deep, deep_tuple):
        for check in (schedule_from, Checker()):
            with pytest.raises(ScheduleError) as info:
                check("job", clean({"task": "app.jobs:run", "every": 5, "args": args}))
            assert str(info.value) == f"schedules.job.args: {DEEP}"
    plain_mapping: dict[str, object] = {"a": 1}
    plain_mapping["me"] = plain_mapping
    ordered: OrderedDict[str, object] = OrderedDict(a=1)
    ordered["me"] = ordered
    for kwargs in (plain_mapping, ordered):
        with pytest.raises(ScheduleError) as info:
            schedule_from("job", clean({"task": "app.jobs:run", "every": 5, "kwargs": kwargs}))
        assert str(info.value) == f"schedules.job.kwargs: {DEEP}"


@pytest.mark.parametrize("container", [list, tuple])
def test_api_arguments_nested_100_levels_deep_load(container: type) -> None:
    from scheduler.config.values import Checker, clean, schedule_from

    args: object = 1
    for _ in range(100):
        args = container([args])
    for check in (schedule_from, Checker()):
        loaded = check("job", clean({"task": "app.jobs:run", "every": 5, "args": args}))
        assert innermost(loaded.args, 100) == 1


# -- args and kwargs: 64 KiB as JSON ---------------------------------------------------------


def test_args_of_exactly_64_kib_as_json_load(tmp_path: Path) -> None:
    # [["x...x"], {}] is the string plus 10 bytes of JSON.
    loaded = job(tmp_path, f"    every: 5s\n    args: [{'x' * 65_526}]\n")
    assert len(loaded.args[0]) == 65_526


def test_args_of_64_kib_and_one_byte_are_rejected_at_the_args(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + f"    every: 5s\n    args: [{'x' * 65_527}]\n") == [
        "5:11: schedules.job.args: args and kwargs are 65537 bytes as JSON; the limit is 65536"
    ]


def test_kwargs_alone_over_64_kib_are_rejected_at_the_kwargs(tmp_path: Path) -> None:
    # [[], {"k": "x...x"}] is the string plus 15 bytes of JSON.
    assert problems(tmp_path, HEAD + f"    every: 5s\n    kwargs: {{k: {'x' * 65_522}}}\n") == [
        "5:13: schedules.job.args: args and kwargs are 65537 bytes as JSON; the limit is 65536"
    ]


def test_kwargs_of_exactly_64_kib_load(tmp_path: Path) -> None:
    loaded = job(tmp_path, f"    every: 5s\n    kwargs: {{k: {'x' * 65_521}}}\n")
    assert len(loaded.kwargs["k"]) == 65_521


# -- retry, priority, durations ------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 100])
def test_max_attempts_from_1_to_100_load(tmp_path: Path, attempts: int) -> None:
    loaded = job(tmp_path, f"    every: 5s\n    retry: {{max_attempts: {attempts}}}\n")
    assert loaded.retry.max_attempts == attempts


@pytest.mark.parametrize("attempts", [0, 101])
def test_max_attempts_outside_1_to_100_are_rejected(tmp_path: Path, attempts: int) -> None:
    found = problems(tmp_path, HEAD + f"    every: 5s\n    retry: {{max_attempts: {attempts}}}\n")
    assert found == [
        f"5:27: schedules.job.retry.max_attempts: {attempts} is out of range; allowed: 1 to 100"
    ]


@pytest.mark.parametrize("priority", [0, 9])
def test_priorities_0_and_9_load(tmp_path: Path, priority: int) -> None:
    assert job(tmp_path, f"    every: 5s\n    priority: {priority}\n").priority == priority


@pytest.mark.parametrize("priority", [-1, 10])
def test_priorities_outside_0_to_9_are_rejected(tmp_path: Path, priority: int) -> None:
    assert problems(tmp_path, HEAD + f"    every: 5s\n    priority: {priority}\n") == [
        f"5:15: schedules.job.priority: {priority} is out of range; allowed: 0 to 9"
    ]


def test_a_boolean_priority_is_not_a_number(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    priority: true\n") == [
        "5:15: schedules.job.priority: expected a whole number from 0 to 9, got 'true'"
    ]


def test_every_1s_loads(tmp_path: Path) -> None:
    assert job(tmp_path, "    every: 1s\n").every_s == 1


def test_every_0s_is_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 0s\n") == [
        "4:12: schedules.job.every: must be at least 1s, got '0s'"
    ]


@pytest.mark.parametrize("key", ["timeout", "expires"])
def test_a_timeout_or_expiry_of_1s_loads_and_0s_is_rejected(tmp_path: Path, key: str) -> None:
    loaded = job(tmp_path, f"    every: 5s\n    {key}: 1s\n")
    assert (loaded.timeout_s if key == "timeout" else loaded.expires_s) == 1
    column = len(f"    {key}: ") + 1
    assert problems(tmp_path, HEAD + f"    every: 5s\n    {key}: 0s\n") == [
        f"5:{column}: schedules.job.{key}: must be at least 1s, got '0s'"
    ]


def test_a_jitter_and_misfire_grace_of_0s_load(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    every: 5s\n    jitter: 0s\n    misfire_grace: 0s\n")
    assert loaded.jitter_s == 0
    assert loaded.misfire_grace_s == 0


def test_retry_initial_may_equal_max(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    every: 5s\n    retry: {initial: 1m, max: 1m}\n")
    assert (loaded.retry.initial_s, loaded.retry.max_s) == (60, 60)


def test_retry_max_below_a_default_initial_is_reported_at_max(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: {max: 5s}\n") == [
        "5:18: schedules.job.retry.max: must not be shorter than retry.initial"
    ]


def test_retry_initial_above_the_default_max_is_reported_at_initial(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: {initial: 11m}\n") == [
        "5:22: schedules.job.retry.max: must not be shorter than retry.initial"
    ]


# -- names and queues ----------------------------------------------------------------------


def test_a_name_of_128_characters_loads(tmp_path: Path) -> None:
    name = "n" * 128
    assert list(loads(tmp_path, f"schedules:\n  {name}: {{task: a:b, every: 5s}}\n")) == [name]


def test_a_name_of_129_characters_is_rejected(tmp_path: Path) -> None:
    name = "n" * 129
    assert problems(tmp_path, f"schedules:\n  {name}: {{task: a:b, every: 5s}}\n") == [
        f"2:3: schedules.{name}: invalid schedule name; use 1-128 letters, digits, '-', '_', '.'"
    ]


def test_a_name_may_use_letters_digits_dash_underscore_and_dot(tmp_path: Path) -> None:
    text = "schedules:\n  Report-2_b.x: {task: a:b, every: 5s}\n"
    assert list(loads(tmp_path, text)) == ["Report-2_b.x"]
    assert problems(tmp_path, "schedules:\n  a b: {task: a:b, every: 5s}\n") == [
        "2:3: schedules.a b: invalid schedule name; use 1-128 letters, digits, '-', '_', '.'"
    ]


def test_a_queue_name_of_64_characters_loads(tmp_path: Path) -> None:
    assert job(tmp_path, f"    every: 5s\n    queue: {'q' * 64}\n").queue == "q" * 64


def test_a_queue_name_of_65_characters_is_rejected(tmp_path: Path) -> None:
    queue = "q" * 65
    assert problems(tmp_path, HEAD + f"    every: 5s\n    queue: {queue}\n") == [
        f"5:12: schedules.job.queue: '{queue}' is not a queue name; "
        "use 1-64 letters, digits, '-', '_', '.'"
    ]


# -- defaults and the documented default values -----------------------------------------------


def test_a_minimal_schedule_has_every_documented_default(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    every: 10s\n")
    assert loaded.timezone == "UTC"
    assert loaded.args == ()
    assert loaded.kwargs == {}
    assert loaded.queue == "default"
    assert loaded.priority == 5
    assert loaded.retry.max_attempts == 1
    assert loaded.retry.backoff is Backoff.EXPONENTIAL
    assert loaded.retry.initial_s == 10
    assert loaded.retry.max_s == 600
    assert loaded.retry.jitter is True
    assert loaded.retry.retry_on == ()
    assert loaded.timeout_s is None
    assert loaded.expires_s is None
    assert loaded.jitter_s == 0
    assert loaded.start is None
    assert loaded.end is None
    assert loaded.enabled is True
    assert loaded.description == ""
    assert loaded.misfire is Misfire.COALESCE
    assert loaded.misfire_grace_s is None
    assert loaded.overlap is Overlap.ALLOW
    assert loaded.cron is None
    assert loaded.every_s == 10


def test_defaults_apply_and_retry_is_merged_key_by_key(tmp_path: Path) -> None:
    text = (
        "defaults:\n"
        "  timezone: Europe/Berlin\n"
        "  jitter: 30s\n"
        "  enabled: false\n"
        "  retry: {max_attempts: 3, backoff: fixed, initial: 5s, max: 1m}\n"
        "schedules:\n"
        "  job:\n"
        "    task: app.jobs:run\n"
        '    cron: "30 2 * * *"\n'
        "    retry: {initial: 20s}\n"
    )
    loaded = loads(tmp_path, text)["job"]
    assert loaded.timezone == "Europe/Berlin"
    assert loaded.jitter_s == 30
    assert loaded.enabled is False
    assert loaded.retry.max_attempts == 3
    assert loaded.retry.backoff is Backoff.FIXED
    assert loaded.retry.initial_s == 20
    assert loaded.retry.max_s == 60


@pytest.mark.parametrize("key", ["task", "cron", "every", "args", "kwargs", "description"])
def test_defaults_may_not_set_what_names_a_schedules_own_work(tmp_path: Path, key: str) -> None:
    text = f"defaults:\n  {key}: x\nschedules:\n  job: {{task: a:b, every: 5s}}\n"
    assert problems(tmp_path, text) == [
        f"2:3: defaults.{key}: '{key}' cannot be set in defaults; set it per schedule"
    ]


def test_an_unknown_key_in_defaults_lists_the_allowed_ones(tmp_path: Path) -> None:
    text = "defaults:\n  colour: red\nschedules:\n  job: {task: a:b, every: 5s}\n"
    assert problems(tmp_path, text) == [
        "2:3: defaults.colour: unknown key 'colour'; allowed: celery_broker_url, timezone, queue, "
        "priority, "
        "retry, timeout, expires, jitter, start, end, enabled, misfire, misfire_grace, overlap"
    ]


def test_a_bad_default_is_reported_once_and_no_schedule_loads(tmp_path: Path) -> None:
    text = "defaults:\n  priority: 12\nschedules:\n  job: {task: a:b, every: 5s}\n"
    assert problems(tmp_path, text) == [
        "2:13: defaults.priority: 12 is out of range; allowed: 0 to 9"
    ]


def test_an_unknown_retry_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: {max_attempt: 2}\n") == [
        "5:13: schedules.job.retry.max_attempt: unknown key 'max_attempt' (did you mean "
        "'max_attempts'?); allowed: max_attempts, backoff, initial, max, jitter, retry_on"
    ]


def test_an_unknown_retry_key_next_to_a_bad_value_reports_both(tmp_path: Path) -> None:
    assert problems(
        tmp_path, HEAD + "    every: 5s\n    retry: {colour: 1, max_attempts: 0}\n"
    ) == [
        "5:13: schedules.job.retry.colour: unknown key 'colour'; allowed: max_attempts, "
        "backoff, initial, max, jitter, retry_on",
        "5:38: schedules.job.retry.max_attempts: 0 is out of range; allowed: 1 to 100",
    ]


def test_a_bad_schedule_value_does_not_hide_the_next_key(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    priority: 10\n    queue: a b\n") == [
        "5:15: schedules.job.priority: 10 is out of range; allowed: 0 to 9",
        "6:12: schedules.job.queue: 'a b' is not a queue name; "
        "use 1-64 letters, digits, '-', '_', '.'",
    ]


def test_retry_must_be_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: 3\n") == [
        "5:12: schedules.job.retry: expected a mapping of key: value, got '3'"
    ]


def test_a_schedule_body_must_be_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "schedules:\n  job: 5\n") == [
        '2:3: schedules.job: needs a trigger: cron: "<expression>", every: <duration> or at: '
        "<ISO 8601 date-time>",
        "2:3: schedules.job.task: missing required key 'task' (module.path:callable) or "
        "'celery_task' (a Celery task's registered name)",
        "2:8: schedules.job: expected a mapping of key: value, got '5'",
    ]


def test_a_cron_schedule_without_every_loads(tmp_path: Path) -> None:
    loaded = job(tmp_path, '    cron: "0 * * * *"\n')
    assert loaded.cron == "0 * * * *"
    assert loaded.every_s is None


def test_both_triggers_are_reported_at_every(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + '    every: 5s\n    cron: "0 * * * *"\n') == [
        "4:12: schedules.job.every: give either cron or every, not both"
    ]


def test_a_missing_task_is_reported_at_the_name(tmp_path: Path) -> None:
    assert problems(tmp_path, "schedules:\n  job:\n    every: 5s\n") == [
        "2:3: schedules.job.task: missing required key 'task' (module.path:callable) or "
        "'celery_task' (a Celery task's registered name)"
    ]


def test_a_bad_cron_is_reported_at_the_expression(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + '    cron: "0 0 * * * * *"\n') == [
        "4:11: schedules.job.cron: expected 5 fields (minute hour day-of-month month "
        "day-of-week) or 6 with a leading seconds field, got 7"
    ]


def test_an_empty_description_is_allowed_and_an_empty_queue_is_not(tmp_path: Path) -> None:
    assert job(tmp_path, '    every: 5s\n    description: ""\n').description == ""
    assert problems(tmp_path, HEAD + '    every: 5s\n    queue: ""\n') == [
        "5:12: schedules.job.queue: must not be empty"
    ]


def test_a_task_must_be_a_string(tmp_path: Path) -> None:
    assert problems(tmp_path, "schedules:\n  job:\n    task: 5\n    every: 5s\n") == [
        "3:11: schedules.job.task: expected a string; YAML reads the unquoted '5' as int 5, "
        'put it in quotes: "5"'
    ]


def test_a_quoted_number_where_a_string_is_expected_gets_no_yaml_hint(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    queue: !!int '5'\n") == [
        "5:12: schedules.job.queue: expected a string"
    ]


def test_an_unquoted_null_is_shown_as_null(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    queue: null\n") == [
        "5:12: schedules.job.queue: expected a string; YAML reads the unquoted 'null' as "
        'NoneType null, put it in quotes: "null"'
    ]


def test_an_unquoted_time_is_read_as_a_number_with_a_hint(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    description: 12:30\n") == [
        "5:18: schedules.job.description: expected a string; YAML reads the unquoted '12:30' "
        'as int 750, put it in quotes: "12:30"'
    ]


def test_a_list_where_a_value_is_expected_is_named(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    queue: [a]\n") == [
        "5:12: schedules.job.queue: expected a single value, got a list"
    ]
    assert problems(tmp_path, HEAD + "    every: 5s\n    queue: {a: 1}\n") == [
        "5:12: schedules.job.queue: expected a single value, got a mapping"
    ]


def test_args_must_be_a_list_and_kwargs_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    kwargs: [1]\n") == [
        "5:13: schedules.job.kwargs: expected a mapping of keyword arguments, got a list"
    ]
    assert problems(tmp_path, HEAD + "    every: 5s\n    args: 1\n") == [
        "5:11: schedules.job.args: expected a list of arguments, got '1'"
    ]


def test_finite_floats_and_nested_values_are_json_arguments(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    every: 5s\n    args: [1.5, -2, [a, {b: null}]]\n")
    assert loaded.args == (1.5, -2, ["a", {"b": None}])


def test_an_infinite_float_in_kwargs_is_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    kwargs: {a: .inf}\n") == [
        "5:17: schedules.job.kwargs: '.inf' is not a JSON number; only finite numbers are allowed"
    ]


def test_retry_on_must_be_a_list_of_class_names(tmp_path: Path) -> None:
    assert job(
        tmp_path, "    every: 5s\n    retry: {retry_on: [ConnectionError, app.errors.Flaky]}\n"
    ).retry.retry_on == ("ConnectionError", "app.errors.Flaky")
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: {retry_on: ConnectionError}\n") == [
        "5:23: schedules.job.retry.retry_on: expected a list of exception class names, "
        "e.g. [ConnectionError, TimeoutError]"
    ]


def test_a_choice_lists_the_allowed_values_and_a_suggestion(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    misfire: al\n") == [
        "5:14: schedules.job.misfire: 'al' is not one of coalesce, all, skip (did you mean 'all'?)"
    ]
    assert job(tmp_path, "    every: 5s\n    misfire: skip\n").misfire is Misfire.SKIP


def test_a_merge_key_is_rejected(tmp_path: Path) -> None:
    text = "base: &b {every: 5s}\nschedules:\n  job:\n    <<: *b\n    task: a:b\n    every: 5s\n"
    assert problems(tmp_path, text) == [
        "1:1: base: unknown key 'base'; allowed: defaults, schedules",
        "4:5: schedules.job: merge keys (<<) are not supported; use a defaults: block",
    ]


def test_a_non_string_key_is_rejected_with_a_hint(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    on: 1\n") == [
        "5:5: schedules.job: keys must be strings; YAML reads the unquoted 'on' as bool true, "
        'put it in quotes: "on"'
    ]


def test_a_non_string_key_inside_kwargs_names_the_field(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    kwargs: {1: one}\n") == [
        "5:14: schedules.job.kwargs: keys must be strings; YAML reads the unquoted '1' as "
        'int 1, put it in quotes: "1"'
    ]


def test_a_duplicate_key_names_the_line_of_the_first(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    every: 6s\n") == [
        "5:5: schedules.job.every: duplicate key 'every' (first defined on line 4)"
    ]


def test_a_missing_schedules_key_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, "defaults: {queue: q}\n") == [
        "1:1: (file): missing the 'schedules:' key"
    ]


def test_an_empty_schedules_mapping_loads_nothing(tmp_path: Path) -> None:
    assert loads(tmp_path, "schedules: {}\n") == {}


def test_an_invalid_yaml_file_names_the_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, "schedules:\n  job: {task: a:b\n")
    assert len(found) == 1
    assert found[0].startswith("3:1: (file): invalid YAML: ")


def test_a_non_utf8_byte_is_located_by_line_and_column(tmp_path: Path) -> None:
    assert problems(tmp_path, b"schedules:\n  job:\n    task: 'caf\xe9'\n") == [
        "3:15: (file): not UTF-8 text: save the file as UTF-8"
    ]
    assert problems(tmp_path, b"\xff") == ["1:1: (file): not UTF-8 text: save the file as UTF-8"]


def test_a_second_document_is_reported_where_it_starts(tmp_path: Path) -> None:
    assert problems(tmp_path, "schedules: {}\n---\nschedules: {}\n---\nschedules: {}\n") == [
        "3:1: (file): several YAML documents (---) in one file; use one per file"
    ]


# -- start and end -------------------------------------------------------------------------


def test_an_end_one_second_after_start_loads_and_an_equal_end_is_rejected(tmp_path: Path) -> None:
    loaded = job(
        tmp_path,
        "    every: 1s\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-01T00:00:01Z\n",
    )
    assert (loaded.start, loaded.end) == (utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 1))
    body = "    every: 1s\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-01T00:00:00Z\n"
    assert problems(tmp_path, HEAD + body) == ["6:10: schedules.job.end: must be later than start"]


def test_an_end_alone_loads(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    every: 1h\n    end: 2027-01-01T00:00:00Z\n")
    assert loaded.start is None
    assert loaded.end == utc(2027, 1, 1)


def test_a_start_with_an_offset_is_that_instant_whatever_the_zone(tmp_path: Path) -> None:
    body = "    every: 1h\n    timezone: Europe/Berlin\n    start: 2026-06-01T09:00:00+00:00\n"
    assert job(tmp_path, body).start == utc(2026, 6, 1, 9)


def test_a_naive_start_is_read_in_the_schedules_zone(tmp_path: Path) -> None:
    body = "    every: 1h\n    timezone: Europe/Berlin\n    start: 2026-06-01T09:00:00\n"
    assert job(tmp_path, body).start == utc(2026, 6, 1, 7)


def test_a_naive_start_in_the_repeated_hour_is_its_first_occurrence(tmp_path: Path) -> None:
    body = "    every: 1h\n    timezone: Europe/Berlin\n    start: 2026-10-25T02:30:00\n"
    assert job(tmp_path, body).start == utc(2026, 10, 25, 0, 30)


def test_a_naive_start_in_the_spring_gap_is_moved_forward_past_the_gap(tmp_path: Path) -> None:
    body = "    every: 1h\n    timezone: Europe/Berlin\n    start: 2026-03-29T02:30:00\n"
    # 03:00 CEST (the first instant after the gap, like a cron fire time) or 03:30 CEST.
    assert job(tmp_path, body).start in (utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30))


def test_a_start_date_without_a_time_is_midnight_in_the_zone(tmp_path: Path) -> None:
    body = "    every: 1d\n    timezone: Europe/Berlin\n    start: 2026-06-01\n"
    assert job(tmp_path, body).start == utc(2026, 5, 31, 22)


def test_a_start_with_fractions_of_a_second_is_rejected(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 1h\n    start: '2026-06-01T09:00:00.5'\n") == [
        "5:12: schedules.job.start: must be whole seconds"
    ]


def test_a_cron_schedule_that_cannot_fire_between_start_and_end_is_rejected(
    tmp_path: Path,
) -> None:
    body = (
        '    cron: "0 12 * * *"\n    start: 2026-01-01T13:00:00Z\n    end: 2026-01-02T11:00:00Z\n'
    )
    assert problems(tmp_path, HEAD + body) == [
        "5:12: schedules.job.start: the schedule never fires between start and end"
    ]


def test_a_cron_schedule_may_fire_exactly_at_start(tmp_path: Path) -> None:
    body = (
        '    cron: "0 12 * * *"\n    start: 2026-01-01T12:00:00Z\n    end: 2026-01-01T12:00:01Z\n'
    )
    loaded = job(tmp_path, body)
    assert loaded.fire_times(utc(2025, 12, 31)) == [utc(2026, 1, 1, 12)]


def test_a_cron_schedule_that_fires_only_one_second_after_start_loads(tmp_path: Path) -> None:
    body = (
        '    cron: "1 0 12 * * *"\n    start: 2026-01-01T12:00:00Z\n    end: 2026-01-01T12:00:01Z\n'
    )
    loaded = job(tmp_path, body)
    assert loaded.fire_times(utc(2025, 12, 31)) == [utc(2026, 1, 1, 12, 0, 1)]


# -- files and directories -----------------------------------------------------------------


def test_a_directory_stands_for_its_yaml_and_yml_files_only(tmp_path: Path) -> None:
    write(tmp_path, "schedules:\n  a: {task: a:b, every: 5s}\n", "1.yaml")
    write(tmp_path, "schedules:\n  b: {task: a:b, every: 5s}\n", "2.yml")
    write(tmp_path, "not: yaml: at: all\n", "notes.txt")
    (tmp_path / "sub.yaml").mkdir()
    loaded = load([tmp_path])
    assert sorted(loaded.schedules) == ["a", "b"]
    assert [p.name for p in loaded.files] == ["1.yaml", "2.yml"]


def test_a_directory_with_only_other_files_is_a_path_error(tmp_path: Path) -> None:
    write(tmp_path, "x", "notes.txt")
    with pytest.raises(PathError, match=r"no \*\.yaml or \*\.yml files in this directory"):
        load([tmp_path])


def test_a_duplicate_name_in_a_second_file_is_reported_and_the_first_kept(tmp_path: Path) -> None:
    first = write(tmp_path, "schedules:\n  a: {task: a:b, every: 5s}\n", "1.yaml")
    second = write(tmp_path, "schedules:\n\n  a: {task: a:b, every: 6s}\n", "2.yaml")
    with pytest.raises(ConfigError) as info:
        load([first, second])
    assert [str(p) for p in info.value.problems] == [
        f"{second}:3:3: schedules.a: duplicate schedule name; first defined at {first}:2"
    ]


def test_two_files_with_different_names_load_together(tmp_path: Path) -> None:
    first = write(tmp_path, "schedules:\n  a: {task: a:b, every: 5s}\n", "1.yaml")
    second = write(tmp_path, "schedules:\n  b: {task: a:b, every: 6s}\n", "2.yaml")
    loaded = load([first, second])
    assert sorted(loaded.schedules) == ["a", "b"]
    assert loaded.schedules["b"].source == f"{second}:2"


def test_a_naive_start_resolves_without_an_error_in_every_kind_of_local_time(
    tmp_path: Path,
) -> None:
    for wall in ("2026-03-29T02:30:00", "2026-10-25T02:30:00", "2026-06-01T02:30:00"):
        body = f"    every: 1h\n    timezone: Europe/Berlin\n    start: {wall}\n"
        assert job(tmp_path, body).start is not None


def test_a_start_as_written_is_immutable() -> None:
    local = LocalTime(datetime(2026, 1, 1), ScalarNode("tag:yaml.org,2002:str", "2026-01-01"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        local.value = datetime(2027, 1, 1)  # type: ignore[misc]


# -- a schedule with a bad field is not checked across fields --------------------------------

BAD_END = "    start: 2026-02-01T00:00:00Z\n    end: 2026-01-01T00:00:00Z\n"


def test_an_unknown_key_is_the_only_problem_of_its_schedule(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    colour: red\n" + BAD_END) == [
        "5:5: schedules.job.colour: unknown key 'colour'; allowed: task, celery_task, "
        "celery_broker_url, cron, every, at, timezone, args, kwargs, queue, priority, retry, "
        "timeout, "
        "expires, jitter, start, end, enabled, "
        "description, misfire, misfire_grace, overlap"
    ]


def test_an_unknown_retry_key_is_the_only_problem_of_its_schedule(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "    every: 5s\n    retry: {colour: 1}\n" + BAD_END) == [
        "5:13: schedules.job.retry.colour: unknown key 'colour'; allowed: max_attempts, "
        "backoff, initial, max, jitter, retry_on"
    ]


def test_a_bad_retry_value_is_the_only_problem_of_its_schedule(tmp_path: Path) -> None:
    text = HEAD + "    every: 5s\n    retry: {max_attempts: 0}\n" + BAD_END
    assert problems(tmp_path, text) == [
        "5:27: schedules.job.retry.max_attempts: 0 is out of range; allowed: 1 to 100"
    ]


def test_two_triggers_are_the_only_problem_of_their_schedule(tmp_path: Path) -> None:
    text = HEAD + '    cron: "0 * * * *"\n    every: 5s\n' + BAD_END
    assert problems(tmp_path, text) == [
        "5:12: schedules.job.every: give either cron or every, not both"
    ]


def test_retry_max_below_initial_is_the_only_problem_of_its_schedule(tmp_path: Path) -> None:
    text = HEAD + "    every: 5s\n    retry: {initial: 1m, max: 10s}\n" + BAD_END
    assert problems(tmp_path, text) == [
        "5:31: schedules.job.retry.max: must not be shorter than retry.initial"
    ]


def test_defaults_that_are_not_a_mapping_leave_every_schedule_unbuilt(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults: 5\nschedules:\n  job: {task: a:b, every: 5s}\n")
    source = SourceFile(str(path))
    entries = read_file(path, source)
    assert [(name, schedule) for name, _, schedule in entries] == [("job", None)]
    assert [str(p).removeprefix(f"{path}:") for p in source.problems] == [
        "1:11: defaults: expected a mapping of key: value, got '5'"
    ]


# -- positions of file-level problems ----------------------------------------------------------


def test_a_non_utf8_byte_after_a_blank_first_line_is_on_line_2_column_1(tmp_path: Path) -> None:
    assert problems(tmp_path, b"\n\xff\n") == [
        "2:1: (file): not UTF-8 text: save the file as UTF-8"
    ]


def test_a_control_character_is_invalid_yaml_reported_at_the_start_of_the_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "schedules:\n  job: {task: a:b, every: \x07}\n")
    with pytest.raises(ConfigError) as info:
        load([path])
    [problem] = info.value.problems
    assert (problem.line, problem.column, problem.where) == (1, 1, "(file)")
    assert problem.message.startswith("invalid YAML: unacceptable character #x0007")
