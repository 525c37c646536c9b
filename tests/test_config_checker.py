"""``Checker``, add_many's way of checking many schedules: each distinct field value goes
through its parser once. Whatever it answers must be what ``schedule_from`` (the full check
every other entry point uses) answers, schedule by schedule: the same Schedule, or the same
problems."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.config.values import Checker, clean, schedule_from
from scheduler.errors import ScheduleError

T = "scheduler.tasks:heartbeat"

CASES: list[dict[str, Any]] = [
    {"task": T, "every": 90},
    {"task": T, "every": "1h30m", "jitter": "10s", "priority": 0, "queue": "mail"},
    {"task": T, "cron": "0 9 * * mon-fri", "timezone": "Europe/Berlin"},
    {"task": T, "cron": "*/5 * * * *", "args": [1, "two", 3.5, None, True, [4]],
     "kwargs": {"deep": {"list": [1, {"k": "v"}]}, "yes": "yes"}},
    {"task": T, "cron": "30 2 * * *", "timezone": "America/New_York", "misfire": "skip",
     "misfire_grace": "5m", "overlap": "queue_one", "timeout": 30, "expires": "1h"},
    {"task": T, "every": "1d", "start": "2026-06-01T09:00:00", "timezone": "Asia/Tokyo",
     "end": "2027-06-01T00:00:00Z"},
    {"task": T, "every": "1d", "start": datetime(2026, 6, 1, 9, tzinfo=UTC)},
    {"task": T, "every": timedelta(minutes=15), "enabled": False, "description": ""},
    {"task": T, "at": "2026-12-24T18:00:00", "timezone": "Europe/Paris"},
    {"task": T, "every": 60, "retry": {"max_attempts": 5, "backoff": "exponential",
                                       "initial": "2s", "max": "1m", "retry_on": ["OSError"]}},
    {"celery_task": "proj.tasks.cleanup", "every": 60, "queue": "celery-high",
     "celery_broker_url": "redis://127.0.0.1:6379/3"},
    {"task": T, "every": 60, "priority": True},  # True is not 1: refused, as by the parser
    {"task": T, "every": 60, "priority": 1},
    {"task": T, "every": 1.5},
    {"task": T, "every": 60, "args": list(range(100))},
    {"task": T, "every": 60, "kwargs": {"big": "x" * 40_000}},  # within 64 KB
    {"task": T, "every": 60, "args": ["x" * 40_000], "kwargs": {"y": "y" * 30_000}},  # over
    {"task": T, "cron": "0 0 31 2 *"},  # never fires: a problem across the whole expression
    {"task": T, "every": "1d", "start": "2026-06-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"},
    {"task": T, "at": "2026-06-01T00:00:00Z", "start": "2026-05-01T00:00:00Z"},
    {"task": T, "every": 60, "retry": {"initial": "1m", "max": "10s"}},
    {"task": T, "every": 60, "kwargs": {"1": float("inf")}},
    {"task": T, "every": 60, "retry": {"max_attempts": 3}, "timezone": "Mars/Olympus"},
]  # fmt: skip


def outcome(check: Any, name: str, fields: dict[str, Any]) -> object:
    try:
        return check(name, fields)
    except ScheduleError as exc:
        return ("refused", str(exc))


def test_a_checker_answers_what_the_full_check_answers() -> None:
    checker = Checker()
    # The first round parses each value, the next ones use what was kept, in another order.
    for round_, order in enumerate([CASES, CASES[::-1], CASES]):
        for i, fields in enumerate(order):
            name = f"s-{round_}-{i}"
            assert outcome(checker, name, fields) == outcome(schedule_from, name, fields), (
                name, fields)  # fmt: skip


def test_the_corpus_has_accepted_and_refused_schedules() -> None:
    results = [outcome(schedule_from, f"s{i}", f) for i, f in enumerate(CASES)]
    assert [i for i, r in enumerate(results) if isinstance(r, tuple)] == [
        11,
        13,
        16,
        17,
        18,
        19,
        20,
        21,
        22,
    ]


def test_a_bad_name_gets_the_full_checks_message() -> None:
    checker = Checker()
    checker("ok", {"task": T, "every": 60})
    with pytest.raises(ScheduleError) as refused:
        checker("no spaces", {"task": T, "every": 60})
    assert str(refused.value) == (
        "schedules.no spaces: invalid schedule name; use 1-128 letters, digits, '-', '_', '.'"
    )


def test_a_full_checker_forgets_and_still_answers_the_same() -> None:
    checker = Checker(limit=3, shapes_limit=2)
    for round_ in range(2):
        for i in range(10):
            fields = {"task": T, "cron": f"{i} 9 * * *", "timezone": "Europe/Berlin",
                      "kwargs": {"round": round_}}  # fmt: skip
            assert checker(f"s{i}", fields) == schedule_from(f"s{i}", fields)
    assert len(checker._checked) <= 3 and len(checker._shapes) <= 2


@pytest.mark.parametrize("retry", [False, True])
def test_each_value_is_parsed_once_and_a_known_shape_is_a_copy(
    monkeypatch: pytest.MonkeyPatch, retry: bool
) -> None:
    """The point of a Checker: the same answers for a fraction of the work. 300 tenants of
    3 shapes: each distinct value goes through its parser once and the full check never
    runs; build runs once a shape, the rest are copies, unless a field is a mapping (retry),
    which has no shape: then build runs for each, from the values kept."""
    from scheduler.config import values

    parsed: list[tuple[str, object]] = []
    built: list[str] = []
    real_parse, real_build = values._parse_field, values.build  # type: ignore[attr-defined]

    def parse(key: str, value: Any) -> object:
        parsed.append((key, value))
        return real_parse(key, value)

    def build(name: str, *args: Any, **kwargs: Any) -> object:
        built.append(name)
        return real_build(name, *args, **kwargs)

    monkeypatch.setattr(values, "_parse_field", parse)
    monkeypatch.setattr(values, "build", build)
    monkeypatch.setattr(values, "schedule_from", lambda *a: pytest.fail("the full check ran"))
    checker = Checker()
    zones = ["Europe/Berlin", "Asia/Tokyo", "UTC"]
    for i in range(300):
        fields: dict[str, Any] = {"task": T, "cron": "0 9 * * *", "timezone": zones[i % 3],
                                  "kwargs": {"tenant": i}}  # fmt: skip
        if retry:  # the same policy, its keys in either order
            fields["retry"] = ({"max_attempts": 3, "backoff": "fixed"} if i % 2 else
                               {"backoff": "fixed", "max_attempts": 3})  # fmt: skip
        got = checker(f"t{i}", fields)
        assert (got.name, got.timezone, got.kwargs) == (f"t{i}", zones[i % 3], {"tenant": i})
    expected: list[tuple[str, object]] = [("task", T), ("cron", "0 9 * * *"),
                                          *(("timezone", z) for z in zones)]  # fmt: skip
    if retry:
        expected.append(("retry", {"max_attempts": 3, "backoff": "fixed"}))
    assert sorted(parsed, key=str) == sorted(expected, key=str)
    assert built == ([f"t{i}" for i in range(300)] if retry else ["t0", "t1", "t2"])


def nested(levels: int, mapping: bool, leaf: object = "leaf") -> object:
    value: object = leaf
    for _ in range(levels):
        value = {"k": value} if mapping else [value]
    return value


class Text(str):
    pass


@pytest.mark.parametrize(
    ("kwargs", "quick"),
    [
        ({"a": nested(7, False)}, True),  # "leaf" 8 levels below kwargs: the deepest taken
        ({"a": nested(8, False)}, False),
        ({"a": nested(7, True)}, True),
        ({"a": nested(8, True)}, False),
        ({"a": nested(7, False, [])}, True),  # an empty list 8 levels below: nothing deeper
        ({"a": Text("a str of a subclass")}, True),
        ({"a": b"bytes"}, False),  # not JSON
        ({"a": list(range(100))}, True),  # 100 items a level
        ({"a": list(range(101))}, False),
        ({f"k{i}": i for i in range(100)}, True),
        ({f"k{i}": i for i in range(101)}, False),
        ({"a": [1.5, -0.0, None, True, "s"]}, True),
        ({"a": [float("inf")]}, False),
        ({"a": {1: "one"}}, False),  # a key that is not text
        ({"a": ("tuple",)}, True),  # a tuple is given as a list
    ],
)
def test_plain_arguments_within_the_limits_skip_the_full_check_and_others_take_it(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], quick: bool
) -> None:
    """Arguments of at most 100 items a level and 8 levels deep, of plain JSON values, are
    what their parser would return: the schedule is built from them as they are. Anything
    else goes through the full check, which has the messages."""
    from scheduler.config import values

    full: list[str] = []
    real = values.schedule_from

    def counted(name: str, fields: Any) -> object:
        full.append(name)
        return real(name, fields)

    monkeypatch.setattr(values, "schedule_from", counted)
    checker = Checker()
    for name in ("first", "copy"):  # the second has the first's shape: a copy, or not
        with contextlib.suppress(ScheduleError):
            checker(name, clean({"task": T, "every": 60, "kwargs": kwargs}))
    assert full == ([] if quick else ["first", "copy"])


def test_problems_inside_one_field_come_in_the_order_they_were_given(tmp_path: Any) -> None:
    """Problems are sorted by where they stand: within one field, by column, which for the
    API is the order of the values given (not the alphabet), as a file's would be."""
    from scheduler.config import load
    from scheduler.errors import ConfigError

    fields: dict[str, Any] = {"task": T, "every": 60, "retry": {"max": "soon", "initial": "x"}}
    path = tmp_path / "s.yaml"
    path.write_text(f"schedules:\n  s:\n    task: {T}\n    every: 60\n"
                    "    retry: {max: soon, initial: x}\n")  # fmt: skip
    with pytest.raises(ConfigError) as in_file:
        load([path])
    with pytest.raises(ScheduleError) as from_code:
        schedule_from("s", fields)
    expected = [f"{p.where}: {p.message}" for p in in_file.value.problems]
    assert [w.split(":")[0] for w in expected] == ["schedules.s.retry.max",
                                                    "schedules.s.retry.initial"]  # fmt: skip
    assert str(from_code.value).splitlines() == expected
