"""YAML 1.1 surprises in arguments are errors with the hint the README promises, and an
indentation or tab mistake is one message with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import problems


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("args: [12:30]", "5:12: schedules.job.args: YAML reads the unquoted '12:30' as the "
         'number 750 (base 60); put it in quotes: "12:30"'),
        ("args: [on]", "5:12: schedules.job.args: YAML reads the unquoted 'on' as true; write "
         'true or false, or put it in quotes: "on"'),
        ("kwargs: {a: No}", "5:17: schedules.job.kwargs: YAML reads the unquoted 'No' as false; "
         'write true or false, or put it in quotes: "No"'),
        ("args: [1:02:03]", "5:12: schedules.job.args: YAML reads the unquoted '1:02:03' as the "
         'number 3723 (base 60); put it in quotes: "1:02:03"'),
    ],
)  # fmt: skip
def test_a_yaml_11_value_in_arguments_is_an_error_with_a_hint(
    tmp_path: Path, written: str, message: str
) -> None:
    text = f"schedules:\n  job:\n    task: m:f\n    every: 1h\n    {written}\n"
    assert problems(tmp_path, text) == [message]


def test_quoted_and_json_values_in_arguments_are_kept_as_written(tmp_path: Path) -> None:
    from scheduler.config import load

    path = tmp_path / "s.yaml"
    path.write_text(
        'schedules:\n  job:\n    task: m:f\n    every: 1h\n    args: ["12:30", "on", true, 1.5]\n',
        encoding="utf-8",
    )
    assert load([path]).schedules["job"].args == ("12:30", "on", True, 1.5)


def test_the_same_text_plain_and_quoted_in_one_file_keeps_each_its_own_type(
    tmp_path: Path,
) -> None:
    # The reader remembers a scalar's type within a file: by its text and its quoting both.
    from scheduler.config import load

    path = tmp_path / "s.yaml"
    path.write_text(
        "schedules:\n"
        '  a:\n    task: m:f\n    every: 1h\n    args: [1, "1", null, "null", true, "true"]\n'
        '  b:\n    task: m:f\n    every: 1h\n    args: ["1", 1, "null", null, "true", true]\n'
        "  c:\n    task: m:f\n    every: 1h\n    args: ['1', '2.5']\n"
        "  d:\n    task: m:f\n    every: 1h\n    args: [2.5, 1]\n",
        encoding="utf-8",
    )
    loaded = load([path]).schedules
    assert loaded["a"].args == (1, "1", None, "null", True, "true")
    assert loaded["b"].args == ("1", 1, "null", None, "true", True)
    assert loaded["c"].args == ("1", "2.5")
    assert loaded["d"].args == (2.5, 1)


def test_a_tab_in_the_indentation_is_one_problem_with_a_hint(tmp_path: Path) -> None:
    assert problems(tmp_path, "schedules:\n  a:\n\ttask: m:f\n") == [
        "3:1: (file): invalid YAML: found character that cannot start any token; YAML does "
        "not allow tabs for indentation: indent with spaces"
    ]


def test_a_line_indented_wrongly_is_one_problem_with_a_hint(tmp_path: Path) -> None:
    text = "schedules:\n  a:\n    task: m:f\n   every: 1h\n"
    assert problems(tmp_path, text) == [
        "4:4: (file): invalid YAML: did not find expected key; check the indentation of this "
        "line and the one above it"
    ]
