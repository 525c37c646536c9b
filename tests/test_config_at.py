"""The `at:` field: a one-off schedule's instant as written, and each way to get it wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.config import load
from scheduler.config.fields import DEFAULT_KEYS
from scheduler.core.model import Misfire, Schedule
from scheduler.errors import ConfigError

HEAD = "schedules:\n  job:\n    task: app.jobs:run\n"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def job(tmp_path: Path, body: str) -> Schedule:
    return load([write(tmp_path, HEAD + body)]).schedules["job"]


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load([path])
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def test_an_at_with_an_offset_is_that_instant_whatever_the_zone(tmp_path: Path) -> None:
    loaded = job(tmp_path, "    at: 2026-06-01T09:00:00+00:00\n    timezone: Europe/Berlin\n")
    assert loaded.at == utc(2026, 6, 1, 9)
    assert (loaded.cron, loaded.every_s, loaded.start, loaded.end) == (None, None, None, None)
    assert loaded.source == f"{tmp_path / 's.yaml'}:2"


def test_a_quoted_at_with_z_is_utc(tmp_path: Path) -> None:
    assert job(tmp_path, '    at: "2026-06-01T09:00:00Z"\n').at == utc(2026, 6, 1, 9)


def test_a_naive_at_is_read_in_the_schedules_zone(tmp_path: Path) -> None:
    body = "    at: 2026-06-01T09:00:00\n    timezone: Europe/Berlin\n"
    assert job(tmp_path, body).at == utc(2026, 6, 1, 7)


def test_a_naive_at_without_a_zone_is_utc(tmp_path: Path) -> None:
    assert job(tmp_path, "    at: 2026-06-01T09:00:00\n").at == utc(2026, 6, 1, 9)


def test_a_naive_at_takes_the_zone_from_defaults(tmp_path: Path) -> None:
    text = "defaults:\n  timezone: America/New_York\n" + HEAD + "    at: 2026-06-01T09:00:00\n"
    assert load([write(tmp_path, text)]).schedules["job"].at == utc(2026, 6, 1, 13)


def test_a_date_alone_is_midnight_in_the_zone(tmp_path: Path) -> None:
    body = "    at: 2026-06-01\n    timezone: Europe/Berlin\n"
    assert job(tmp_path, body).at == utc(2026, 5, 31, 22)


def test_a_naive_at_in_the_repeated_hour_is_its_first_occurrence(tmp_path: Path) -> None:
    body = "    at: 2026-10-25T02:30:00\n    timezone: Europe/Berlin\n"
    assert job(tmp_path, body).at == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not CET


def test_a_naive_at_in_the_spring_gap_is_the_first_instant_after_the_gap(tmp_path: Path) -> None:
    body = "    at: 2026-03-29T02:30:00\n    timezone: Europe/Berlin\n"
    assert job(tmp_path, body).at == utc(2026, 3, 29, 1)  # 03:00 CEST, as a cron fire time


def test_an_at_with_an_offset_inside_the_gap_is_taken_as_written(tmp_path: Path) -> None:
    body = "    at: 2026-03-29T02:30:00+01:00\n    timezone: Europe/Berlin\n"
    assert job(tmp_path, body).at == utc(2026, 3, 29, 1, 30)


def test_jitter_and_the_missed_run_policy_apply_to_a_one_off(tmp_path: Path) -> None:
    body = "    at: 2026-06-01T09:00:00Z\n    jitter: 30s\n    misfire: skip\n"
    loaded = job(tmp_path, body)
    assert (loaded.jitter_s, loaded.misfire) == (30, Misfire.SKIP)


def test_at_is_a_trigger_so_defaults_cannot_set_it() -> None:
    assert "at" not in DEFAULT_KEYS


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '    cron: "0 * * * *"\n    at: 2026-06-01T09:00:00Z\n',
            ["5:9: schedules.job.at: give either cron or at, not both"],
        ),
        (
            "    at: 2026-06-01T09:00:00Z\n    every: 5m\n",
            ["4:9: schedules.job.at: give either every or at, not both"],
        ),
        (
            "    at: 2026-06-01T09:00:00Z\n    start: 2026-05-01T00:00:00Z\n",
            [
                "5:12: schedules.job.start: does not apply to a one-off (at:); remove start or "
                "use cron or every"
            ],
        ),
        (
            "    at: 2026-06-01T09:00:00Z\n    end: 2026-07-01T00:00:00Z\n",
            [
                "5:10: schedules.job.end: does not apply to a one-off (at:); remove end or use "
                "cron or every"
            ],
        ),
        (
            "    at: 2026-06-01T09:00:00.5Z\n",
            ["4:9: schedules.job.at: must be whole seconds"],
        ),
        (
            "    at: 1969-12-31T00:00:00Z\n",
            [
                "4:9: schedules.job.at: 1969-12-31 is out of range; dates must be between "
                "1970-01-02 and 8999-12-31"
            ],
        ),
        (
            '    at: "9999-01-01T00:00:00Z"\n',
            [
                "4:9: schedules.job.at: 9999-01-01 is out of range; dates must be between "
                "1970-01-02 and 8999-12-31"
            ],
        ),
        (
            "    at: next tuesday\n",
            [
                "4:9: schedules.job.at: 'next tuesday' is not an ISO 8601 date-time; write e.g. "
                "2026-01-31T09:00:00+01:00 (without an offset it is taken in the schedule's time "
                "zone)"
            ],
        ),
        (
            "    at: [2026-06-01]\n",
            ["4:9: schedules.job.at: expected a single value, got a list"],
        ),
    ],
)
def test_a_wrong_at_is_reported_at_its_field(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    assert problems(tmp_path, HEAD + body) == expected


def test_all_three_triggers_are_reported_at_each_extra_one(tmp_path: Path) -> None:
    body = '    cron: "0 * * * *"\n    every: 5m\n    at: 2026-06-01T09:00:00Z\n'
    assert problems(tmp_path, HEAD + body) == [
        "5:12: schedules.job.every: give either cron or every, not both",
        "6:9: schedules.job.at: give either cron or at, not both",
    ]


def test_an_end_from_defaults_is_refused_at_the_one_offs_at(tmp_path: Path) -> None:
    text = (
        "defaults:\n  end: 2027-01-01T00:00:00Z\n"
        "schedules:\n  job:\n    task: app.jobs:run\n    at: 2026-06-01T09:00:00Z\n"
        "  hourly:\n    task: app.jobs:run\n    cron: '0 * * * *'\n"
    )
    assert problems(tmp_path, text) == [
        "6:9: schedules.job.at: defaults.end does not apply to a one-off; set end on the "
        "schedules it bounds instead of in defaults"
    ]


def test_an_invalid_start_beside_at_is_reported_once(tmp_path: Path) -> None:
    body = "    at: 2026-06-01T09:00:00Z\n    start: tomorrow\n"
    assert problems(tmp_path, HEAD + body) == [
        "5:12: schedules.job.start: 'tomorrow' is not an ISO 8601 date-time; write e.g. "
        "2026-01-31T09:00:00+01:00 (without an offset it is taken in the schedule's time zone)"
    ]
