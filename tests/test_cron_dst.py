"""CronTrigger and IntervalTrigger across DST changes: a specification.

Fire times are compared with the brute-force oracle in ``cron_oracle`` (which walks every
minute or second and applies the DST rules literally) and with hand-written tables of exact
UTC instants. The rules:

* Rule A: a "wildcard" expression (its minute, hour or seconds field starts with ``*``)
  follows real time (gap: nothing; repeated hour: both occurrences).
* Rule B: every other expression follows the wall clock (ambiguous: first occurrence; gap:
  the transition instant, once; a date the zone skips entirely, as Pacific/Apia skipped
  2011-12-30: nothing, which only the hand-written tables check, not the oracle).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest
from cron_oracle import oracle_fires, parse, transitions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.core.triggers import CronTrigger, IntervalTrigger
from scheduler.errors import CronError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SANTIAGO = ZoneInfo("America/Santiago")

MAX_FIRES = 20_000


class Trigger(Protocol):
    def next_fire(self, after: datetime, /) -> datetime | None: ...


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local_midnight(zone: ZoneInfo, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def trigger_fires(trigger: Trigger, start: datetime, end: datetime) -> list[datetime]:
    """Fires in [start, end): call next_fire from start - 1 s until a result reaches end."""
    fires: list[datetime] = []
    after = start - timedelta(seconds=1)
    while True:
        fire = trigger.next_fire(after)
        if fire is None or fire >= end:
            return fires
        assert fire.tzinfo is UTC, f"next_fire({after}) returned tzinfo {fire.tzinfo!r}"
        assert fire.microsecond == 0, f"next_fire({after}) returned {fire}"
        assert fire > after, f"next_fire({after}) returned {fire}, not strictly greater"
        fires.append(fire)
        assert len(fires) <= MAX_FIRES, "runaway trigger"
        after = fire


def cron_fires(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    return trigger_fires(CronTrigger(expr, zone), start, end)


def describe(instant: datetime, zone: ZoneInfo) -> str:
    return f"{instant:%Y-%m-%d %H:%M:%S}Z ({instant.astimezone(zone):%m-%d %H:%M:%S %Z})"


def assert_same_fires(
    got: Sequence[datetime], expected: Sequence[datetime], zone: ZoneInfo, what: str
) -> None:
    if list(got) == list(expected):
        return
    index = next(
        (i for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e),
        min(len(got), len(expected)),
    )
    got_text = describe(got[index], zone) if index < len(got) else "nothing"
    expected_text = describe(expected[index], zone) if index < len(expected) else "nothing"
    pytest.fail(
        f"{what}: {len(got)} fires, expected {len(expected)}; first difference at #{index}: "
        f"got {got_text}, expected {expected_text}"
    )


def check_table(
    expr: str, zone: ZoneInfo, start: datetime, end: datetime, expected: Sequence[datetime]
) -> None:
    """The hand-written table holds for the oracle (sanity) and for the trigger."""
    assert_same_fires(oracle_fires(expr, zone, start, end), expected, zone, f"oracle {expr!r}")
    assert_same_fires(cron_fires(expr, zone, start, end), expected, zone, f"trigger {expr!r}")


def local_hours(fires: Sequence[datetime], zone: ZoneInfo) -> list[int]:
    return [fire.astimezone(zone).hour for fire in fires]


# ---------------------------------------------------------------------------------------
# The 2026 DST changes used below, written out by hand.
# ---------------------------------------------------------------------------------------

CHANGES_2026: dict[str, list[datetime]] = {
    "Europe/Berlin": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "America/New_York": [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
    # Fall back 03:00 AEDT -> 02:00 AEST on 5 April; spring 02:00 AEST -> 03:00 AEDT on 4 Oct.
    "Australia/Sydney": [utc(2026, 4, 4, 16), utc(2026, 10, 3, 16)],
    # 30-minute DST: 02:00 +11 -> 01:30 +10:30 on 5 April; 02:00 -> 02:30 on 4 October.
    "Australia/Lord_Howe": [utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)],
    # Changes at midnight: 24:00 -03 -> 23:00 -04 on 4 April; 24:00 -04 -> 01:00 -03 on 6 Sep.
    "America/Santiago": [utc(2026, 4, 5, 3), utc(2026, 9, 6, 4)],
}


@pytest.mark.parametrize("zone_name", sorted(CHANGES_2026))
def test_the_oracle_finds_the_hand_written_2026_dst_changes(zone_name: str) -> None:
    found = transitions(ZoneInfo(zone_name), utc(2026, 1, 1), utc(2027, 1, 1))
    assert found == CHANGES_2026[zone_name]


def test_zones_without_dst_have_no_changes_in_2026() -> None:
    for name in ["UTC", "America/Sao_Paulo", "Asia/Tehran"]:
        assert transitions(ZoneInfo(name), utc(2026, 1, 1), utc(2027, 1, 1)) == []


# ---------------------------------------------------------------------------------------
# The trigger agrees with the oracle: two-day windows around every change.
# ---------------------------------------------------------------------------------------

WINDOWS: list[tuple[str, datetime]] = [
    (name, change) for name, changes in CHANGES_2026.items() for change in changes
] + [
    ("UTC", utc(2026, 3, 29, 1)),
    # Brazil dropped DST in 2019; this used to be its spring-forward date.
    ("America/Sao_Paulo", utc(2026, 11, 1, 3)),
    ("Asia/Tehran", utc(2026, 3, 21, 20, 30)),
]

EXPRESSIONS: list[str] = [
    "*/15 * * * *",
    "0 * * * *",
    "30 * * * *",
    "7 */1 * * *",
    "0 0-23 * * *",
    "* * * * *",
    "@hourly",
    "30 2 * * *",
    "0 2 * * *",
    "0,30 1-3 * * *",
    "*/20 2 * * *",
    "0 3 * * *",
    "15 2,3 * * *",
    "0 0 * * *",
    "@daily",
    "30 1 * * *",
    "59 1 * * *",
    "45 23 * * *",
    "5 */2 * * *",
    "* 2 * * *",
    "0 2 * * sun",
    "0 2 * * 7",
    "0 0 * * sun",
    "30 23 * * sat",
    "30 2 29 3 *",
    "0 9 1,15 * mon",
    "0 0 */2 * mon",
    "10 1-4 4,5 * *",
    "45 2 * mar,apr,sep-nov 0",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
@pytest.mark.parametrize(
    ("zone_name", "change"), WINDOWS, ids=[f"{n}@{c:%Y-%m-%d}" for n, c in WINDOWS]
)
def test_the_trigger_agrees_with_the_oracle_for_two_days_around_each_dst_change(
    zone_name: str, change: datetime, expr: str
) -> None:
    zone = ZoneInfo(zone_name)
    start, end = change - timedelta(days=1), change + timedelta(days=1)
    expected = oracle_fires(expr, zone, start, end)
    assert_same_fires(cron_fires(expr, zone, start, end), expected, zone, expr)


SECONDS_EXPRESSIONS: list[str] = [
    "*/10 * * * * *",
    "30 */15 * * * *",
    "0 30 2 * * *",
    "*/20 30 2 * * *",
    "0 0 2 * * *",
    "* 0 2 * * *",
    "15,45 * 1-3 * * *",
    "59 59 1 * * *",
    "0 15 2,3 * * *",
]


@pytest.mark.parametrize("expr", SECONDS_EXPRESSIONS)
@pytest.mark.parametrize(
    ("zone_name", "change"),
    WINDOWS[:6],
    ids=[f"{n}@{c:%Y-%m-%d}" for n, c in WINDOWS[:6]],
)
def test_a_seconds_expression_agrees_with_the_oracle_for_four_hours_around_each_change(
    zone_name: str, change: datetime, expr: str
) -> None:
    zone = ZoneInfo(zone_name)
    start, end = change - timedelta(hours=2), change + timedelta(hours=2)
    expected = oracle_fires(expr, zone, start, end)
    assert_same_fires(cron_fires(expr, zone, start, end), expected, zone, expr)


# ---------------------------------------------------------------------------------------
# Hand-written tables: Europe/Berlin (changes at 01:00Z on 29 March and 25 October).
# ---------------------------------------------------------------------------------------


def test_a_daily_0230_job_fires_at_the_end_of_the_gap_on_the_spring_day_in_berlin() -> None:
    check_table(
        "30 2 * * *",
        BERLIN,
        utc(2026, 3, 28),
        utc(2026, 3, 31),
        [
            utc(2026, 3, 28, 1, 30),  # 02:30 CET
            utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST, the end of the gap
            utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        ],
    )


def test_a_daily_0230_job_fires_at_the_first_occurrence_on_the_fall_back_day_in_berlin() -> None:
    check_table(
        "30 2 * * *",
        BERLIN,
        utc(2026, 10, 24),
        utc(2026, 10, 27),
        [
            utc(2026, 10, 24, 0, 30),  # 02:30 CEST
            utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two 02:30s
            utc(2026, 10, 26, 1, 30),  # 02:30 CET
        ],
    )


def test_an_hourly_job_fires_every_real_hour_across_the_fall_back_in_berlin() -> None:
    # The local day of 25 October runs from 00:00 CEST (22:00Z) to 24:00 CET (23:00Z).
    expected = [utc(2026, 10, 24, 22) + timedelta(hours=k) for k in range(25)]
    check_table("0 * * * *", BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), expected)
    assert utc(2026, 10, 25, 0) in expected and utc(2026, 10, 25, 1) in expected  # both 02:00
    assert local_hours(expected, BERLIN) == [0, 1, 2, *range(2, 24)]


def test_an_hourly_job_neither_doubles_nor_pauses_across_spring_forward_in_berlin() -> None:
    # The local day of 29 March runs from 00:00 CET (23:00Z) to 24:00 CEST (22:00Z): 23 hours.
    expected = [utc(2026, 3, 28, 23) + timedelta(hours=k) for k in range(23)]
    check_table("0 * * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), expected)
    assert local_hours(expected, BERLIN) == [0, 1, *range(3, 24)]


def test_a_quarter_hourly_job_fires_100_times_on_the_25_hour_fall_back_day_in_berlin() -> None:
    start, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
    expected = [start + timedelta(minutes=15 * k) for k in range(100)]
    check_table("*/15 * * * *", BERLIN, start, end, expected)


def test_a_quarter_hourly_job_fires_92_times_on_the_23_hour_spring_day_in_berlin() -> None:
    start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)
    expected = [start + timedelta(minutes=15 * k) for k in range(92)]
    check_table("*/15 * * * *", BERLIN, start, end, expected)


def test_half_hourly_jobs_from_1_to_3_fire_once_for_the_whole_gap_in_berlin() -> None:
    check_table(
        "0,30 1-3 * * *",
        BERLIN,
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 22),
        [
            utc(2026, 3, 29, 0, 0),  # 01:00 CET
            utc(2026, 3, 29, 0, 30),  # 01:30 CET
            utc(2026, 3, 29, 1, 0),  # 02:00 and 02:30 (gap) and 03:00 CEST: one instant
            utc(2026, 3, 29, 1, 30),  # 03:30 CEST
        ],
    )


def test_half_hourly_jobs_from_1_to_3_skip_the_second_pass_of_the_hour_in_berlin() -> None:
    check_table(
        "0,30 1-3 * * *",
        BERLIN,
        utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 23),
        [
            utc(2026, 10, 24, 23, 0),  # 01:00 CEST
            utc(2026, 10, 24, 23, 30),  # 01:30 CEST
            utc(2026, 10, 25, 0, 0),  # 02:00 CEST (first occurrence)
            utc(2026, 10, 25, 0, 30),  # 02:30 CEST (first occurrence)
            utc(2026, 10, 25, 2, 0),  # 03:00 CET
            utc(2026, 10, 25, 2, 30),  # 03:30 CET
        ],
    )


# `*/20 2 * * *` is a wildcard job for cronie (its minute field starts with `*`): it follows
# real time, so it fires nowhere in the gap and in both passes of the repeated hour.
def test_every_20_minutes_in_hour_2_does_not_fire_on_the_spring_day_in_berlin() -> None:
    check_table("*/20 2 * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), [])


def test_every_20_minutes_in_hour_2_fires_six_times_on_the_fall_back_day_in_berlin() -> None:
    check_table(
        "*/20 2 * * *",
        BERLIN,
        utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 23),
        [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 20), utc(2026, 10, 25, 0, 40),
         utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 20), utc(2026, 10, 25, 1, 40)],
    )  # fmt: skip


def test_the_same_minutes_written_as_a_list_follow_the_wall_clock_in_berlin() -> None:
    # `0,20,40 2 * * *` is not a wildcard job: once at the gap's end, once in the fall back.
    check_table(
        "0,20,40 2 * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22),
        [utc(2026, 3, 29, 1)],
    )  # fmt: skip
    check_table(
        "0,20,40 2 * * *", BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23),
        [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 20), utc(2026, 10, 25, 0, 40)],
    )  # fmt: skip


def test_a_sunday_0200_job_fires_at_the_end_of_the_gap_on_the_spring_sunday_in_berlin() -> None:
    check_table(
        "0 2 * * sun",
        BERLIN,
        utc(2026, 3, 20),
        utc(2026, 4, 10),
        [utc(2026, 3, 22, 1), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0)],
    )


def test_a_yearly_job_in_the_gap_fires_at_the_gap_end_and_then_a_year_later_in_berlin() -> None:
    trigger = CronTrigger("30 2 29 3 *", BERLIN)
    first = trigger.next_fire(utc(2026, 1, 1))
    assert first == utc(2026, 3, 29, 1)
    assert trigger.next_fire(first) == utc(2027, 3, 29, 0, 30)  # 02:30 CEST on a normal day


DAYS_AROUND_CHANGES: list[tuple[ZoneInfo, date, date]] = [
    (BERLIN, date(2026, 3, 27), date(2026, 4, 1)),
    (BERLIN, date(2026, 10, 23), date(2026, 10, 28)),
    (NEW_YORK, date(2026, 3, 6), date(2026, 3, 11)),
    (NEW_YORK, date(2026, 10, 30), date(2026, 11, 4)),
    (SYDNEY, date(2026, 4, 3), date(2026, 4, 8)),
    (SYDNEY, date(2026, 10, 2), date(2026, 10, 7)),
    (LORD_HOWE, date(2026, 4, 3), date(2026, 4, 8)),
    (LORD_HOWE, date(2026, 10, 2), date(2026, 10, 7)),
]


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 * * *",
        "0 1 * * *",
        "30 1 * * *",
        "59 1 * * *",
        "0 2 * * *",
        "30 2 * * *",
        "45 2 * * *",
        "0 3 * * *",
        "30 3 * * *",
        "0 12 * * *",
    ],
)
@pytest.mark.parametrize(
    ("zone", "first", "last"),
    DAYS_AROUND_CHANGES,
    ids=[f"{z.key}@{f:%m-%d}" for z, f, _ in DAYS_AROUND_CHANGES],
)
def test_a_daily_job_runs_exactly_once_on_each_local_day_around_a_change(
    zone: ZoneInfo, first: date, last: date, expr: str
) -> None:
    start = local_midnight(zone, first)
    end = local_midnight(zone, last + timedelta(days=1))
    fires = cron_fires(expr, zone, start, end)
    per_day = Counter(fire.astimezone(zone).date() for fire in fires)
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    assert per_day == Counter(days), [describe(fire, zone) for fire in fires]


def test_a_daily_job_runs_once_on_the_fall_back_day_in_berlin() -> None:
    for expr in ["0 2 * * *", "30 2 * * *", "59 2 * * *"]:
        start, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
        assert len(cron_fires(expr, BERLIN, start, end)) == 1, expr


def test_a_daily_job_runs_once_on_the_spring_day_in_berlin() -> None:
    for expr in ["0 2 * * *", "30 2 * * *", "59 2 * * *"]:
        start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)
        assert cron_fires(expr, BERLIN, start, end) == [utc(2026, 3, 29, 1)], expr


# ---------------------------------------------------------------------------------------
# Hand-written tables: America/New_York (07:00Z on 8 March, 06:00Z on 1 November).
# ---------------------------------------------------------------------------------------


def test_a_daily_0230_job_fires_at_the_end_of_the_gap_on_the_spring_day_in_new_york() -> None:
    check_table(
        "30 2 * * *",
        NEW_YORK,
        utc(2026, 3, 7),
        utc(2026, 3, 10),
        [
            utc(2026, 3, 7, 7, 30),  # 02:30 EST
            utc(2026, 3, 8, 7, 0),  # 02:30 does not exist: 03:00 EDT
            utc(2026, 3, 9, 6, 30),  # 02:30 EDT
        ],
    )


def test_a_daily_0130_job_fires_at_the_first_occurrence_on_the_fall_back_day_in_new_york() -> None:
    check_table(
        "30 1 * * *",
        NEW_YORK,
        utc(2026, 10, 31),
        utc(2026, 11, 3),
        [
            utc(2026, 10, 31, 5, 30),  # 01:30 EDT
            utc(2026, 11, 1, 5, 30),  # 01:30 EDT, the first of the two 01:30s
            utc(2026, 11, 2, 6, 30),  # 01:30 EST
        ],
    )


def test_a_daily_0230_job_is_an_ordinary_time_on_the_fall_back_day_in_new_york() -> None:
    check_table(
        "30 2 * * *",
        NEW_YORK,
        utc(2026, 10, 31),
        utc(2026, 11, 3),
        [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)],
    )


def test_an_hourly_job_fires_every_real_hour_across_the_fall_back_in_new_york() -> None:
    # The local day of 1 November runs from 00:00 EDT (04:00Z) to 24:00 EST (05:00Z next day).
    expected = [utc(2026, 11, 1, 4) + timedelta(hours=k) for k in range(25)]
    check_table("0 * * * *", NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), expected)
    assert local_hours(expected, NEW_YORK) == [0, 1, *range(1, 24)]


def test_an_hourly_job_neither_doubles_nor_pauses_across_spring_forward_in_new_york() -> None:
    expected = [utc(2026, 3, 8, 5) + timedelta(hours=k) for k in range(23)]
    check_table("0 * * * *", NEW_YORK, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), expected)
    assert local_hours(expected, NEW_YORK) == [0, 1, *range(3, 24)]


def test_a_quarter_hourly_job_fires_100_times_on_the_fall_back_day_in_new_york() -> None:
    start, end = utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)
    check_table(
        "*/15 * * * *",
        NEW_YORK,
        start,
        end,
        [start + timedelta(minutes=15 * k) for k in range(100)],
    )


# ---------------------------------------------------------------------------------------
# Hand-written tables: Australia/Sydney (southern hemisphere; 16:00Z on 4 April and 3 October).
# ---------------------------------------------------------------------------------------


def test_a_daily_0230_job_fires_at_the_first_occurrence_on_the_fall_back_day_in_sydney() -> None:
    check_table(
        "30 2 * * *",
        SYDNEY,
        utc(2026, 4, 3),
        utc(2026, 4, 6, 12),
        [
            utc(2026, 4, 3, 15, 30),  # 4 April 02:30 AEDT
            utc(2026, 4, 4, 15, 30),  # 5 April 02:30 AEDT, the first of the two 02:30s
            utc(2026, 4, 5, 16, 30),  # 6 April 02:30 AEST
        ],
    )


def test_a_daily_0230_job_fires_at_the_end_of_the_gap_on_the_spring_day_in_sydney() -> None:
    check_table(
        "30 2 * * *",
        SYDNEY,
        utc(2026, 10, 2),
        utc(2026, 10, 5, 12),
        [
            utc(2026, 10, 2, 16, 30),  # 3 October 02:30 AEST
            utc(2026, 10, 3, 16, 0),  # 4 October 02:30 does not exist: 03:00 AEDT
            utc(2026, 10, 4, 15, 30),  # 5 October 02:30 AEDT
        ],
    )


def test_an_hourly_job_fires_every_real_hour_across_the_fall_back_in_sydney() -> None:
    # The local day of 5 April runs from 00:00 AEDT (13:00Z) to 24:00 AEST (14:00Z next day).
    expected = [utc(2026, 4, 4, 13) + timedelta(hours=k) for k in range(25)]
    check_table("0 * * * *", SYDNEY, utc(2026, 4, 4, 13), utc(2026, 4, 5, 14), expected)
    assert local_hours(expected, SYDNEY) == [0, 1, 2, *range(2, 24)]


def test_an_hourly_job_neither_doubles_nor_pauses_across_spring_forward_in_sydney() -> None:
    expected = [utc(2026, 10, 3, 14) + timedelta(hours=k) for k in range(23)]
    check_table("0 * * * *", SYDNEY, utc(2026, 10, 3, 14), utc(2026, 10, 4, 13), expected)
    assert local_hours(expected, SYDNEY) == [0, 1, *range(3, 24)]


def test_a_quarter_hourly_job_fires_100_times_on_the_fall_back_day_in_sydney() -> None:
    start, end = utc(2026, 4, 4, 13), utc(2026, 4, 5, 14)
    check_table(
        "*/15 * * * *", SYDNEY, start, end, [start + timedelta(minutes=15 * k) for k in range(100)]
    )


# ---------------------------------------------------------------------------------------
# Zones whose changes are not "02:00, one hour".
# ---------------------------------------------------------------------------------------


def test_a_0215_job_fires_at_0230_when_lord_howe_skips_half_an_hour() -> None:
    check_table(
        "15 2 * * *",
        LORD_HOWE,
        utc(2026, 10, 2, 12),
        utc(2026, 10, 4, 12),
        [utc(2026, 10, 2, 15, 45), utc(2026, 10, 3, 15, 30)],  # 02:15 +10:30; gap -> 02:30 +11
    )


def test_a_0145_job_fires_at_the_first_occurrence_when_lord_howe_repeats_half_an_hour() -> None:
    check_table(
        "45 1 * * *",
        LORD_HOWE,
        utc(2026, 4, 3, 12),
        utc(2026, 4, 5, 12),
        [utc(2026, 4, 3, 14, 45), utc(2026, 4, 4, 14, 45)],  # 01:45 +11 both days
    )


def test_a_half_past_job_fires_twice_in_lord_howes_repeated_half_hour() -> None:
    check_table(
        "30 * * * *",
        LORD_HOWE,
        utc(2026, 4, 4, 13),
        utc(2026, 4, 4, 17),
        [
            utc(2026, 4, 4, 13, 30),  # 00:30 +11
            utc(2026, 4, 4, 14, 30),  # 01:30 +11
            utc(2026, 4, 4, 15, 0),  # 01:30 +10:30 (again)
            utc(2026, 4, 4, 16, 0),  # 02:30 +10:30
        ],
    )


def test_a_sunday_midnight_job_fires_at_one_when_santiago_skips_midnight() -> None:
    check_table(
        "0 0 * * sun",
        SANTIAGO,
        utc(2026, 8, 29),
        utc(2026, 9, 14),
        [
            utc(2026, 8, 30, 4),  # 30 August 00:00 -04
            utc(2026, 9, 6, 4),  # 6 September 00:00 does not exist: 01:00 -03
            utc(2026, 9, 13, 3),  # 13 September 00:00 -03
        ],
    )


def test_a_2330_job_fires_at_the_first_occurrence_when_santiago_repeats_an_evening_hour() -> None:
    check_table(
        "30 23 * * *",
        SANTIAGO,
        utc(2026, 4, 3, 12),
        utc(2026, 4, 6, 12),
        [
            utc(2026, 4, 4, 2, 30),  # 3 April 23:30 -03
            utc(2026, 4, 5, 2, 30),  # 4 April 23:30 -03, the first of the two
            utc(2026, 4, 6, 3, 30),  # 5 April 23:30 -04
        ],
    )


# ---------------------------------------------------------------------------------------
# Multi-hour, half-hour and whole-day jumps: a daily job runs once for every date the zone
# shows (README, Daylight saving). Windows run from local midnight of the first day to
# local midnight after the last; each comment gives the local time of the fire.
# ---------------------------------------------------------------------------------------

TROLL = ZoneInfo("Antarctica/Troll")
CASEY = ZoneInfo("Antarctica/Casey")
MAGADAN = ZoneInfo("Asia/Magadan")
CARACAS = ZoneInfo("America/Caracas")
PYONGYANG = ZoneInfo("Asia/Pyongyang")
APIA = ZoneInfo("Pacific/Apia")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
KWAJALEIN = ZoneInfo("Pacific/Kwajalein")


def check_days(zone: ZoneInfo, first: date, last: date, tables: dict[str, list[datetime]]) -> None:
    start, end = local_midnight(zone, first), local_midnight(zone, last + timedelta(days=1))
    for expr, expected in tables.items():
        check_table(expr, zone, start, end, expected)


def check_days_without_oracle(
    zone: ZoneInfo, first: date, last: date, tables: dict[str, list[datetime]]
) -> None:
    """For a skipped date, which the oracle (gap -> its end, always) does not know."""
    start, end = local_midnight(zone, first), local_midnight(zone, last + timedelta(days=1))
    for expr, expected in tables.items():
        assert_same_fires(cron_fires(expr, zone, start, end), expected, zone, expr)


def test_daily_jobs_run_once_a_day_when_troll_springs_forward_two_hours() -> None:
    # 29 March 2026 at 01:00Z: 01:00 +00 -> 03:00 +02; 01:15 and 02:30 are in the gap.
    check_days(TROLL, date(2026, 3, 28), date(2026, 3, 30), {
        "30 2 * * *": [utc(2026, 3, 28, 2, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
        "0 3 * * *": [utc(2026, 3, 28, 3), utc(2026, 3, 29, 1), utc(2026, 3, 30, 1)],
        "15 1 * * *": [utc(2026, 3, 28, 1, 15), utc(2026, 3, 29, 1), utc(2026, 3, 29, 23, 15)],
    })  # fmt: skip


def test_daily_jobs_run_once_a_day_when_troll_falls_back_two_hours() -> None:
    # 25 October 2026 at 01:00Z: 03:00 +02 -> 01:00 +00; 01:00-03:00 is shown twice.
    check_days(TROLL, date(2026, 10, 24), date(2026, 10, 26), {
        # 02:30 +02; 02:30 +02 (first pass, not 02:30Z); 02:30 +00
        "30 2 * * *": [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30),
                       utc(2026, 10, 26, 2, 30)],
        # 03:00 +02; 03:00 +00 (03:00 is shown once, after the repeat); 03:00 +00
        "0 3 * * *": [utc(2026, 10, 24, 1), utc(2026, 10, 25, 3), utc(2026, 10, 26, 3)],
        # 01:15 +02 (on the evening before in UTC), twice; then 01:15 +00
        "15 1 * * *": [utc(2026, 10, 23, 23, 15), utc(2026, 10, 24, 23, 15),
                       utc(2026, 10, 26, 1, 15)],
    })  # fmt: skip


def test_daily_jobs_run_once_a_day_when_lord_howe_moves_half_an_hour() -> None:
    # 4 October 2026 at 15:30Z (on the 3rd): 02:00 +10:30 -> 02:30 +11.
    check_days(LORD_HOWE, date(2026, 10, 3), date(2026, 10, 5), {
        "30 2 * * *": [utc(2026, 10, 2, 16), utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 30)],
        "0 3 * * *": [utc(2026, 10, 2, 16, 30), utc(2026, 10, 3, 16), utc(2026, 10, 4, 16)],
        "15 1 * * *": [utc(2026, 10, 2, 14, 45), utc(2026, 10, 3, 14, 45),
                       utc(2026, 10, 4, 14, 15)],
    })  # fmt: skip
    # 5 April 2026 at 15:00Z (on the 4th): 02:00 +11 -> 01:30 +10:30.
    check_days(LORD_HOWE, date(2026, 4, 4), date(2026, 4, 6), {
        "30 2 * * *": [utc(2026, 4, 3, 15, 30), utc(2026, 4, 4, 16), utc(2026, 4, 5, 16)],
        "0 3 * * *": [utc(2026, 4, 3, 16), utc(2026, 4, 4, 16, 30), utc(2026, 4, 5, 16, 30)],
        "15 1 * * *": [utc(2026, 4, 3, 14, 15), utc(2026, 4, 4, 14, 15), utc(2026, 4, 5, 14, 45)],
    })  # fmt: skip


def test_daily_jobs_run_once_a_day_when_casey_jumps_three_hours_each_way() -> None:
    # 18 October 2009 at 18:00Z (on the 17th): 02:00 +08 -> 05:00 +11.
    check_days(CASEY, date(2009, 10, 17), date(2009, 10, 19), {
        "30 2 * * *": [utc(2009, 10, 16, 18, 30), utc(2009, 10, 17, 18), utc(2009, 10, 18, 15, 30)],
        "0 3 * * *": [utc(2009, 10, 16, 19), utc(2009, 10, 17, 18), utc(2009, 10, 18, 16)],
        "15 1 * * *": [utc(2009, 10, 16, 17, 15), utc(2009, 10, 17, 17, 15),
                       utc(2009, 10, 18, 14, 15)],
    })  # fmt: skip
    # 5 March 2010 at 15:00Z (on the 4th): 02:00 +11 -> 23:00 +08 on the 4th, so the wall
    # clock shows 4 March 23:00 to 5 March 02:00 twice.
    check_days(CASEY, date(2010, 3, 3), date(2010, 3, 5), {
        "30 2 * * *": [utc(2010, 3, 2, 15, 30), utc(2010, 3, 3, 15, 30), utc(2010, 3, 4, 18, 30)],
        "15 1 * * *": [utc(2010, 3, 2, 14, 15), utc(2010, 3, 3, 14, 15), utc(2010, 3, 4, 14, 15)],
        # 3 March 23:45 +11; 4 March 23:45 +11 (first pass, not 15:45Z); 5 March 23:45 +08
        "45 23 * * *": [utc(2010, 3, 3, 12, 45), utc(2010, 3, 4, 12, 45),
                        utc(2010, 3, 5, 15, 45)],
    })  # fmt: skip


def test_daily_jobs_run_once_a_day_when_magadan_moves_its_offset_back_two_hours() -> None:
    # 26 October 2014 at 14:00Z (on the 25th): 02:00 +12 -> 00:00 +10, for good.
    check_days(MAGADAN, date(2014, 10, 25), date(2014, 10, 27), {
        "30 2 * * *": [utc(2014, 10, 24, 14, 30), utc(2014, 10, 25, 16, 30),
                       utc(2014, 10, 26, 16, 30)],
        "0 3 * * *": [utc(2014, 10, 24, 15), utc(2014, 10, 25, 17), utc(2014, 10, 26, 17)],
        "15 1 * * *": [utc(2014, 10, 24, 13, 15), utc(2014, 10, 25, 13, 15),
                       utc(2014, 10, 26, 15, 15)],
    })  # fmt: skip


def test_daily_jobs_run_once_a_day_when_caracas_moves_its_offset_half_an_hour() -> None:
    # 1 May 2016 at 07:00Z: 02:30 -04:30 -> 03:00 -04, for good.
    check_days(CARACAS, date(2016, 4, 30), date(2016, 5, 2), {
        "30 2 * * *": [utc(2016, 4, 30, 7), utc(2016, 5, 1, 7), utc(2016, 5, 2, 6, 30)],
        "0 3 * * *": [utc(2016, 4, 30, 7, 30), utc(2016, 5, 1, 7), utc(2016, 5, 2, 7)],
        "15 1 * * *": [utc(2016, 4, 30, 5, 45), utc(2016, 5, 1, 5, 45), utc(2016, 5, 2, 5, 15)],
    })  # fmt: skip


def test_a_late_evening_job_runs_once_a_day_when_pyongyang_repeats_half_an_hour() -> None:
    # 15 August 2015 at 15:00Z (on the 14th): 00:00 +09 -> 23:30 +08:30 on the 14th.
    check_days(PYONGYANG, date(2015, 8, 13), date(2015, 8, 15), {
        # 13 and 14 August 23:45 +09 (first pass, not 15:15Z); 15 August 23:45 +08:30
        "45 23 * * *": [utc(2015, 8, 13, 14, 45), utc(2015, 8, 14, 14, 45),
                        utc(2015, 8, 15, 15, 15)],
        # 15 August 00:00 is shown once, after the repeated half hour: +08:30
        "0 0 * * *": [utc(2015, 8, 12, 15), utc(2015, 8, 13, 15), utc(2015, 8, 14, 15, 30)],
    })  # fmt: skip


def test_a_time_skipped_at_the_end_of_a_day_runs_at_midnight_in_pyongyang() -> None:
    # 4 May 2018 at 15:00Z: 23:30 +08:30 -> 00:00 +09 on the 5th. 23:45 on the 4th does
    # not exist; as in cron, it runs at the first instant after the gap, 00:00 on the 5th.
    check_days(PYONGYANG, date(2018, 5, 3), date(2018, 5, 5), {
        "45 23 * * *": [utc(2018, 5, 3, 15, 15), utc(2018, 5, 4, 15), utc(2018, 5, 5, 14, 45)],
        "0 0 * * *": [utc(2018, 5, 2, 15, 30), utc(2018, 5, 3, 15, 30), utc(2018, 5, 4, 15)],
    })  # fmt: skip


def test_daily_jobs_do_not_run_on_the_day_apia_skipped() -> None:
    # 30 December 2011 at 10:00Z: 29 December 24:00 -10 -> 31 December 00:00 +14. No wall
    # time of the 30th exists, so nothing of the 30th runs (cron, too, treats a jump of
    # more than three hours as a clock change and runs nothing it skipped).
    check_days_without_oracle(APIA, date(2011, 12, 28), date(2012, 1, 1), {
        "30 2 * * *": [utc(2011, 12, 28, 12, 30), utc(2011, 12, 29, 12, 30),
                       utc(2011, 12, 30, 12, 30), utc(2011, 12, 31, 12, 30)],
        "0 3 * * *": [utc(2011, 12, 28, 13), utc(2011, 12, 29, 13), utc(2011, 12, 30, 13),
                      utc(2011, 12, 31, 13)],
        "15 1 * * *": [utc(2011, 12, 28, 11, 15), utc(2011, 12, 29, 11, 15),
                       utc(2011, 12, 30, 11, 15), utc(2011, 12, 31, 11, 15)],
        # 31 December 00:00 +14 is the very instant of the jump
        "0 0 * * *": [utc(2011, 12, 28, 10), utc(2011, 12, 29, 10), utc(2011, 12, 30, 10),
                      utc(2011, 12, 31, 10)],
        "45 23 * * *": [utc(2011, 12, 29, 9, 45), utc(2011, 12, 30, 9, 45),
                        utc(2011, 12, 31, 9, 45), utc(2012, 1, 1, 9, 45)],
    })  # fmt: skip


def test_daily_jobs_do_not_run_on_the_days_kiritimati_and_kwajalein_skipped() -> None:
    # Kiritimati, 31 December 1994 at 10:00Z: 30 December 24:00 -10 -> 1 January 00:00 +14.
    check_days_without_oracle(KIRITIMATI, date(1994, 12, 29), date(1995, 1, 2), {
        "30 2 * * *": [utc(1994, 12, 29, 12, 30), utc(1994, 12, 30, 12, 30),
                       utc(1994, 12, 31, 12, 30), utc(1995, 1, 1, 12, 30)],
    })  # fmt: skip
    # Kwajalein, 21 August 1993 at 12:00Z: 20 August 24:00 -12 -> 22 August 00:00 +12.
    check_days_without_oracle(KWAJALEIN, date(1993, 8, 19), date(1993, 8, 23), {
        "0 3 * * *": [utc(1993, 8, 19, 15), utc(1993, 8, 20, 15), utc(1993, 8, 21, 15),
                      utc(1993, 8, 22, 15)],
        "15 1 * * *": [utc(1993, 8, 19, 13, 15), utc(1993, 8, 20, 13, 15),
                       utc(1993, 8, 21, 13, 15), utc(1993, 8, 22, 13, 15)],
    })  # fmt: skip


def test_a_yearly_job_on_the_skipped_day_waits_a_year_in_apia() -> None:
    trigger = CronTrigger("0 9 30 12 *", APIA)
    # Not 2011-12-30T10:00Z (the end of the skipped day): 30 December 2012, 09:00 +14.
    assert trigger.next_fire(utc(2011, 6, 1)) == utc(2012, 12, 29, 19)


def test_a_weekly_job_on_the_skipped_friday_waits_a_week_in_apia() -> None:
    trigger = CronTrigger("0 9 * * fri", APIA)
    # Friday 23 December 2011, 09:00 -10; Friday 30 December never came; 6 January, +14.
    assert trigger.next_fire(utc(2011, 12, 20)) == utc(2011, 12, 23, 19)
    assert trigger.next_fire(utc(2011, 12, 23, 19)) == utc(2012, 1, 5, 19)


# ---------------------------------------------------------------------------------------
# Six fields: a leading seconds field.
# ---------------------------------------------------------------------------------------


def test_every_10_seconds_fires_720_times_from_1_to_4_on_the_spring_day_in_berlin() -> None:
    start, end = utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)  # 01:00 CET .. 04:00 CEST
    expected = [start + timedelta(seconds=10 * k) for k in range(720)]
    check_table("*/10 * * * * *", BERLIN, start, end, expected)


def test_every_10_seconds_fires_1440_times_from_1_to_4_on_the_fall_back_day_in_berlin() -> None:
    start, end = utc(2026, 10, 24, 23), utc(2026, 10, 25, 3)  # 01:00 CEST .. 04:00 CET
    expected = [start + timedelta(seconds=10 * k) for k in range(1440)]
    check_table("*/10 * * * * *", BERLIN, start, end, expected)


def test_a_seconds_job_at_023000_fires_at_the_end_of_the_gap_in_berlin() -> None:
    check_table(
        "0 30 2 * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), [utc(2026, 3, 29, 1)]
    )


def test_a_seconds_job_at_023000_fires_once_on_the_fall_back_day_in_berlin() -> None:
    check_table(
        "0 30 2 * * *",
        BERLIN,
        utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 23),
        [utc(2026, 10, 25, 0, 30)],
    )


def test_every_second_of_hour_2_does_not_fire_in_the_berlin_gap() -> None:
    # A wildcard job (its seconds and minute fields start with `*`): real time.
    check_table("* * 2 * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), [])


def test_every_second_of_hour_2_fires_7200_times_on_the_fall_back_day_in_berlin() -> None:
    start = utc(2026, 10, 25, 0)  # 02:00:00 CEST; then 02:00:00 CET is 01:00Z
    expected = [start + timedelta(seconds=k) for k in range(7200)]
    check_table("* * 2 * * *", BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), expected)


# ---------------------------------------------------------------------------------------
# The next_fire contract.
# ---------------------------------------------------------------------------------------


def test_next_fire_is_strictly_after_the_given_instant() -> None:
    trigger = CronTrigger("0 * * * *", BERLIN)
    assert trigger.next_fire(utc(2026, 10, 25, 0)) == utc(2026, 10, 25, 1)
    assert trigger.next_fire(utc(2026, 10, 25, 0, 59, 59)) == utc(2026, 10, 25, 1)
    assert trigger.next_fire(utc(2026, 10, 25, 0) - timedelta(microseconds=1)) == utc(
        2026, 10, 25, 0
    )


def test_next_fire_after_a_fractional_second_returns_a_whole_second_in_utc() -> None:
    fire = CronTrigger("* * * * *", BERLIN).next_fire(datetime(2026, 5, 1, 10, 0, 0, 1, tzinfo=UTC))
    assert fire == utc(2026, 5, 1, 10, 1)
    assert fire is not None and fire.tzinfo is UTC and fire.microsecond == 0
    seconds = CronTrigger("* * * * * *", BERLIN).next_fire(
        datetime(2026, 5, 1, 10, 0, 0, 999_999, tzinfo=UTC)
    )
    assert seconds == utc(2026, 5, 1, 10, 0, 1)


def test_next_fire_accepts_an_instant_in_the_second_pass_of_the_repeated_hour() -> None:
    every_15 = CronTrigger("*/15 * * * *", BERLIN)
    first_pass = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN)  # 00:30Z
    second_pass = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)  # 01:30Z
    assert every_15.next_fire(first_pass) == utc(2026, 10, 25, 0, 45)
    assert every_15.next_fire(second_pass) == utc(2026, 10, 25, 1, 45)


def test_a_daily_0230_job_does_not_fire_in_the_second_pass_of_the_repeated_hour() -> None:
    daily = CronTrigger("30 2 * * *", BERLIN)
    after = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)  # 01:15Z, after 02:30 CEST
    assert daily.next_fire(after) == utc(2026, 10, 26, 1, 30)


def test_a_daily_0230_job_fires_at_the_gap_end_only_for_instants_before_it() -> None:
    daily = CronTrigger("30 2 * * *", BERLIN)
    assert daily.next_fire(utc(2026, 3, 29, 0, 59, 59)) == utc(2026, 3, 29, 1)
    assert daily.next_fire(utc(2026, 3, 29, 1)) == utc(2026, 3, 30, 0, 30)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("* * * * *", True),
        ("*/15 * * * *", True),
        ("*/15 2 * * *", True),  # the minute field starts with `*`
        ("0 */1 * * *", True),
        ("5 */2 * * *", True),  # the hour field starts with `*`
        ("@hourly", True),
        ("*/10 0 2 * * *", True),  # our seconds field starts with `*`
        ("0 0 * * * *", True),
        ("0 0-23 * * *", False),  # every hour, but written as a range: the wall clock
        ("0 2 * * *", False),
        ("0 1-23 * * *", False),
        ("0 0 2 * * *", False),
        ("@daily", False),
        ("@weekly", False),
        ("@monthly", False),
        ("@yearly", False),
    ],
)
def test_follows_real_time_exactly_when_the_minute_or_hour_field_starts_with_a_star(
    expr: str, expected: bool
) -> None:
    # cronie's and Vixie cron's rule (MIN_STAR or HR_STAR makes a "wildcard" job).
    assert CronTrigger(expr, BERLIN).follows_real_time is expected
    assert parse(expr).follows_real_time is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [("0 0-23/1 * * *", False), ("0 0-11,12-23 * * *", False), ("0 */1,5 * * *", True)],
)
def test_an_hour_field_covering_all_24_hours_follows_real_time_only_written_with_a_star(
    expr: str, expected: bool
) -> None:
    assert CronTrigger(expr, BERLIN).follows_real_time is expected


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "* * * *",
        "* * * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "0 0 0 * *",
        "0 0 32 * *",
        "0 0 * 0 *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "*/0 * * * *",
        "abc * * * *",
        "0 0 * * funday",
        "1,,2 * * * *",
        "60 0 0 * * *",
        "@fortnightly",
    ],
)
def test_an_invalid_expression_is_a_cron_error(expr: str) -> None:
    with pytest.raises(CronError):
        CronTrigger(expr, BERLIN)


@pytest.mark.parametrize("expr", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 feb *"])
def test_an_expression_that_can_never_fire_is_a_cron_error(expr: str) -> None:
    with pytest.raises(CronError):
        CronTrigger(expr, BERLIN).next_fire(utc(2026, 1, 1))


# ---------------------------------------------------------------------------------------
# The dialect (checked in UTC, and against the oracle).
# ---------------------------------------------------------------------------------------


def test_a_stepped_day_of_month_and_a_weekday_mean_odd_days_that_are_mondays() -> None:
    check_table(
        "0 0 */2 * mon",
        ZoneInfo("UTC"),
        utc(2026, 1, 1),
        utc(2026, 4, 1),
        [
            utc(2026, 1, 5),
            utc(2026, 1, 19),
            utc(2026, 2, 9),
            utc(2026, 2, 23),
            utc(2026, 3, 9),
            utc(2026, 3, 23),
        ],
    )


def test_a_listed_day_of_month_and_a_weekday_mean_either() -> None:
    check_table(
        "0 0 1,15 * mon",
        ZoneInfo("UTC"),
        utc(2026, 1, 1),
        utc(2026, 2, 10),
        [
            utc(2026, 1, 1),
            utc(2026, 1, 5),
            utc(2026, 1, 12),
            utc(2026, 1, 15),
            utc(2026, 1, 19),
            utc(2026, 1, 26),
            utc(2026, 2, 1),
            utc(2026, 2, 2),
            utc(2026, 2, 9),
        ],
    )


def test_a_question_mark_day_of_month_does_not_widen_the_weekday() -> None:
    check_table(
        "0 0 ? * mon",
        ZoneInfo("UTC"),
        utc(2026, 1, 1),
        utc(2026, 1, 20),
        [utc(2026, 1, 5), utc(2026, 1, 12), utc(2026, 1, 19)],
    )


def test_sunday_is_both_0_and_7_and_weekly_means_sunday_midnight() -> None:
    start, end = utc(2026, 1, 1), utc(2026, 2, 1)
    sundays = [utc(2026, 1, 4), utc(2026, 1, 11), utc(2026, 1, 18), utc(2026, 1, 25)]
    for expr in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"]:
        check_table(expr, ZoneInfo("UTC"), start, end, sundays)


def test_names_ranges_steps_and_lists_combine() -> None:
    check_table(
        "0 12 * jan-feb mon-wed/2,sat",
        ZoneInfo("UTC"),
        utc(2026, 1, 1),
        utc(2026, 1, 15),
        [
            utc(2026, 1, 3, 12),
            utc(2026, 1, 5, 12),
            utc(2026, 1, 7, 12),
            utc(2026, 1, 10, 12),
            utc(2026, 1, 12, 12),
            utc(2026, 1, 14, 12),
        ],
    )


@pytest.mark.parametrize(
    ("expr", "start", "end", "expected"),
    [
        ("0 5-5 * * *", utc(2026, 1, 1), utc(2026, 1, 3), [utc(2026, 1, 1, 5), utc(2026, 1, 2, 5)]),
        (
            "0 1,3-3 * * *",
            utc(2026, 1, 1),
            utc(2026, 1, 2),
            [utc(2026, 1, 1, 1), utc(2026, 1, 1, 3)],
        ),
        ("0 3-3/2 * * *", utc(2026, 1, 1), utc(2026, 1, 2), [utc(2026, 1, 1, 3)]),
        ("0 0 1 1-1 *", utc(2026, 1, 1), utc(2027, 1, 2), [utc(2026, 1, 1), utc(2027, 1, 1)]),
        ("0 0 * * 7-7", utc(2026, 1, 1), utc(2026, 1, 15), [utc(2026, 1, 4), utc(2026, 1, 11)]),
        ("0 0 14-14 * *", utc(2026, 1, 1), utc(2026, 3, 1), [utc(2026, 1, 14), utc(2026, 2, 14)]),
        ("7-7 0 1 * *", utc(2026, 1, 1), utc(2026, 1, 2), [utc(2026, 1, 1, 0, 7)]),
        # The same value spelled two ways is still one value.
        (
            "0 5-05 * * *",
            utc(2026, 1, 1),
            utc(2026, 1, 3),
            [utc(2026, 1, 1, 5), utc(2026, 1, 2, 5)],
        ),
        ("0 0 * * mon-1", utc(2026, 1, 1), utc(2026, 1, 15), [utc(2026, 1, 5), utc(2026, 1, 12)]),
        (
            "0-0 * * * * *",
            utc(2026, 1, 1),
            utc(2026, 1, 1, 0, 3),
            [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)],
        ),
    ],
)
def test_a_one_value_range_means_just_that_value(
    expr: str, start: datetime, end: datetime, expected: list[datetime]
) -> None:
    check_table(expr, ZoneInfo("UTC"), start, end, expected)


def test_a_one_value_hour_range_follows_the_wall_clock_in_the_berlin_gap() -> None:
    assert CronTrigger("30 2-2 * * *", BERLIN).follows_real_time is False
    check_table(
        "30 2-2 * * *", BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), [utc(2026, 3, 29, 1)]
    )


def test_the_macros_mean_what_vixie_cron_means() -> None:
    trigger = CronTrigger("@yearly", BERLIN)
    assert trigger.next_fire(utc(2026, 6, 1)) == utc(2026, 12, 31, 23)  # 1 January 00:00 CET
    assert CronTrigger("@annually", BERLIN).next_fire(utc(2026, 6, 1)) == utc(2026, 12, 31, 23)
    assert CronTrigger("@monthly", BERLIN).next_fire(utc(2026, 6, 1)) == utc(2026, 6, 30, 22)
    assert CronTrigger("@midnight", BERLIN).next_fire(utc(2026, 6, 1)) == utc(2026, 6, 1, 22)
    assert CronTrigger("@daily", BERLIN).next_fire(utc(2026, 6, 1)) == utc(2026, 6, 1, 22)
    assert CronTrigger("@hourly", BERLIN).next_fire(utc(2026, 6, 1)) == utc(2026, 6, 1, 1)


def test_a_leap_day_job_waits_for_the_next_leap_year() -> None:
    assert CronTrigger("0 0 29 2 *", BERLIN).next_fire(utc(2026, 1, 1)) == utc(2028, 2, 28, 23)


# ---------------------------------------------------------------------------------------
# Property: random expressions, zones and windows agree with the oracle.
# ---------------------------------------------------------------------------------------

PROPERTY_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "Africa/Cairo",
    "Europe/Dublin",
]
ALL_HOURS = frozenset(range(24))


@cache
def changes_2026(zone_name: str) -> tuple[datetime, ...]:
    return tuple(transitions(ZoneInfo(zone_name), utc(2026, 1, 1), utc(2027, 1, 1)))


@st.composite
def numeric_field(
    draw: st.DrawFn, lo: int, hi: int, steps: Sequence[int], favourites: Sequence[int]
) -> str:
    """A restricted field: a list of numbers, ranges a-b, stepped ranges a-b/n, or */n."""
    value = st.one_of(st.sampled_from(favourites), st.integers(lo, hi))

    @st.composite
    def element(draw2: st.DrawFn) -> str:
        kind = draw2(st.sampled_from(["number", "range", "stepped", "star", "one-value range"]))
        if kind == "number":
            return str(draw2(value))
        if kind == "one-value range":  # a-a means a; a-a/n means a too
            a = draw2(value)
            return draw2(st.sampled_from([f"{a}-{a}", f"{a}-{a}/{draw2(st.sampled_from(steps))}"]))
        if kind == "star":
            return f"*/{draw2(st.sampled_from(steps))}"
        a, b = sorted((draw2(value), draw2(value)))
        if kind == "range":
            return f"{a}-{b}"
        return f"{a}-{b}/{draw2(st.sampled_from(steps))}"

    return ",".join(draw(st.lists(element(), min_size=1, max_size=3)))


@dataclass(frozen=True)
class Case:
    expr: str
    zone: str
    start: datetime
    end: datetime


DOW_WORDS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def cron_cases(draw: st.DrawFn, with_seconds: bool) -> Case:
    minute = draw(
        st.one_of(
            st.sampled_from(["*", "*/1", "*/5", "*/15", "*/20", "*/30", "0", "30", "59"]),
            numeric_field(0, 59, [7, 10, 15, 20, 30], [0, 15, 29, 30, 45, 59]),
        )
    )
    if draw(st.booleans()):
        hour = draw(st.sampled_from(["*", "*/1", "0-23"]))
    else:
        hour = draw(
            numeric_field(0, 23, [2, 3, 4, 6], [0, 1, 2, 3, 22, 23]).filter(
                lambda h: parse(f"0 {h} * * *").hours != ALL_HOURS
            )
        )
    dom = draw(
        st.one_of(
            st.sampled_from(["*", "*", "*", "?", "*/2", "*/3"]),
            numeric_field(1, 28, [2, 3, 7], [1, 4, 5, 6, 24, 25, 26, 27, 28]),
        )
    )
    month = draw(
        st.sampled_from(
            [
                "*",
                "*",
                "*",
                "*",
                "*/1",
                "1-12",
                "jan-dec",
                "mar,apr,sep,oct,nov",
                "3-4,9-11",
                "apr",
                "oct",
                "feb,jun",
            ]
        )
    )
    dow = draw(
        st.one_of(
            st.sampled_from(
                [
                    "*",
                    "*",
                    "*",
                    "?",
                    "*/2",
                    "mon-fri",
                    "sat,sun",
                    "5-7",
                    "sun",
                    "7",
                    "0",
                    "fri-sat",
                    "0-6/3",
                ]
            ),
            st.sampled_from(DOW_WORDS),
            numeric_field(0, 7, [2, 3], [0, 5, 6, 7]),
        )
    )
    fields = [minute, hour, dom, month, dow]
    if with_seconds:
        second = draw(
            st.sampled_from(["0", "30", "*/15", "*/20", "10,40", "0-59/30", "59", "5-10", "*/6"])
        )
        fields.insert(0, second)
    zone = draw(st.sampled_from(PROPERTY_ZONES))
    change = draw(st.sampled_from(changes_2026(zone)))
    if with_seconds:
        start = change + timedelta(seconds=draw(st.integers(-2 * 3600, 1800)))
        end = start + timedelta(seconds=draw(st.integers(600, 2 * 3600)))
    else:
        start = change + timedelta(seconds=draw(st.integers(-30 * 3600, 6 * 3600)))
        end = start + timedelta(seconds=draw(st.integers(3600, 30 * 3600)))
    return Case(" ".join(fields), zone, start, end)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_cases(with_seconds=False))
def test_random_expressions_agree_with_the_oracle_around_random_dst_changes(case: Case) -> None:
    zone = ZoneInfo(case.zone)
    expected = oracle_fires(case.expr, zone, case.start, case.end)
    got = cron_fires(case.expr, zone, case.start, case.end)
    assert_same_fires(got, expected, zone, f"{case.expr!r} in {case.zone}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_cases(with_seconds=True))
def test_random_seconds_expressions_agree_with_the_oracle_around_random_dst_changes(
    case: Case,
) -> None:
    zone = ZoneInfo(case.zone)
    expected = oracle_fires(case.expr, zone, case.start, case.end)
    got = cron_fires(case.expr, zone, case.start, case.end)
    assert_same_fires(got, expected, zone, f"{case.expr!r} in {case.zone}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=cron_cases(with_seconds=False),
    afters=st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from([0, 1, 500_000, 999_999])),
        min_size=1,
        max_size=8,
    ),
)
def test_next_fire_from_any_instant_is_the_first_oracle_fire_after_it(
    case: Case, afters: list[tuple[float, int]]
) -> None:
    zone = ZoneInfo(case.zone)
    expected_fires = oracle_fires(case.expr, zone, case.start, case.end)
    trigger = CronTrigger(case.expr, zone)
    span = int((case.end - case.start).total_seconds())
    for fraction, microseconds in afters:
        after = case.start + timedelta(seconds=int(fraction * span), microseconds=microseconds)
        after = after.astimezone(zone)  # also exercises fold=1 for the second pass
        expected = next((fire for fire in expected_fires if fire > after), None)
        got = trigger.next_fire(after)
        if expected is None:
            assert got is None or got >= case.end, (case.expr, after, got)
        else:
            assert got == expected, (case.expr, case.zone, after.astimezone(UTC), got, expected)


# ---------------------------------------------------------------------------------------
# IntervalTrigger: pure arithmetic on instants, blind to DST.
# ---------------------------------------------------------------------------------------

ANCHOR = utc(2026, 1, 1)


def test_an_hourly_interval_fires_25_times_on_the_fall_back_day_in_berlin() -> None:
    trigger = IntervalTrigger(every_s=3600, anchor=ANCHOR)
    start, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
    assert trigger_fires(trigger, start, end) == [start + timedelta(hours=k) for k in range(25)]


def test_an_hourly_interval_fires_23_times_on_the_spring_day_in_berlin() -> None:
    trigger = IntervalTrigger(every_s=3600, anchor=ANCHOR)
    start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)
    assert trigger_fires(trigger, start, end) == [start + timedelta(hours=k) for k in range(23)]


def test_a_daily_interval_keeps_24_real_hours_across_the_change() -> None:
    trigger = IntervalTrigger(every_s=86_400, anchor=datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN))
    fires = trigger_fires(trigger, utc(2026, 3, 27), utc(2026, 3, 31))
    assert fires == [utc(2026, 3, 27, 1, 30) + timedelta(days=k) for k in range(4)]


def test_an_interval_fire_is_strictly_after_the_given_instant() -> None:
    trigger = IntervalTrigger(every_s=90, anchor=ANCHOR)
    assert trigger.next_fire(ANCHOR) == ANCHOR + timedelta(seconds=90)
    assert trigger.next_fire(ANCHOR + timedelta(seconds=450)) == ANCHOR + timedelta(seconds=540)
    just_before = ANCHOR + timedelta(seconds=450) - timedelta(microseconds=1)
    assert trigger.next_fire(just_before) == ANCHOR + timedelta(seconds=450)


def test_an_interval_also_fires_before_its_anchor() -> None:
    trigger = IntervalTrigger(every_s=90, anchor=ANCHOR)
    assert trigger.next_fire(ANCHOR - timedelta(seconds=100)) == ANCHOR - timedelta(seconds=90)
    assert trigger.next_fire(ANCHOR - timedelta(seconds=90)) == ANCHOR
    assert trigger.next_fire(ANCHOR - timedelta(days=400, seconds=1)) == ANCHOR - timedelta(
        days=400
    )


def test_an_interval_accepts_an_instant_in_the_second_pass_of_the_repeated_hour() -> None:
    trigger = IntervalTrigger(every_s=600, anchor=ANCHOR)
    second_pass = datetime(2026, 10, 25, 2, 35, fold=1, tzinfo=BERLIN)  # 01:35Z
    fire = trigger.next_fire(second_pass)
    assert fire == utc(2026, 10, 25, 1, 40)
    assert fire is not None and fire.tzinfo is UTC


@settings(max_examples=200, deadline=None)
@given(
    every_s=st.integers(1, 10 * 86_400),
    anchor_s=st.integers(-(10**8), 10**8),
    after_us=st.integers(-(10**14), 10**14),
)
def test_an_interval_fires_at_the_first_anchor_multiple_after_the_instant(
    every_s: int, anchor_s: int, after_us: int
) -> None:
    anchor = ANCHOR + timedelta(seconds=anchor_s)
    after = ANCHOR + timedelta(microseconds=after_us)
    delta_us = after_us - anchor_s * 1_000_000
    k = delta_us // (every_s * 1_000_000) + 1
    expected = anchor + timedelta(seconds=k * every_s)
    fire = IntervalTrigger(every_s=every_s, anchor=anchor).next_fire(after)
    assert fire == expected
    assert fire is not None and fire.tzinfo is UTC
    assert expected > after >= expected - timedelta(seconds=every_s)
