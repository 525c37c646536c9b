"""The cron dialect, the triggers and the zone helpers, pinned with exact literal times.

Every expected value is written out by hand from the README (Cron dialect, Daylight saving)
or from a calendar; none is computed by the code under test.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from scheduler.core import cron as cron_module
from scheduler.core.cron import CronSpec, naive_after
from scheduler.core.triggers import CronTrigger, IntervalTrigger
from scheduler.core.zones import (
    Segment,
    ZoneNameError,
    offset_at,
    segment_at,
    transitions_in_year,
    zone,
)
from scheduler.errors import CronError

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
ONE_S = timedelta(seconds=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def matches(expression: str, start: datetime, count: int) -> list[datetime]:
    """The first ``count`` naive times at or after ``start`` that the expression matches."""
    spec = CronSpec.parse(expression)
    found: list[datetime] = []
    at = start
    while len(found) < count:
        match = spec.next_match(at)
        assert match is not None
        found.append(match)
        at = match + ONE_S
    return found


def fires(trigger: CronTrigger | IntervalTrigger, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    while len(found) < count:
        fire = trigger.next_fire(after)
        assert fire is not None
        found.append(fire)
        after = fire
    return found


def days(expression: str, start: datetime, count: int) -> list[tuple[int, int, int]]:
    return [(m.year, m.month, m.day) for m in matches(expression, start, count)]


# -- month and year boundaries ---------------------------------------------------------------


def test_a_daily_job_crosses_november_into_december() -> None:
    assert matches("0 0 * * *", datetime(2026, 11, 30, 0, 0, 1), 2) == [
        datetime(2026, 12, 1),
        datetime(2026, 12, 2),
    ]


def test_a_daily_job_crosses_december_into_january() -> None:
    assert matches("0 0 * * *", datetime(2026, 12, 30, 12), 3) == [
        datetime(2026, 12, 31),
        datetime(2027, 1, 1),
        datetime(2027, 1, 2),
    ]


def test_a_daily_job_in_utc_crosses_the_new_year_as_instants() -> None:
    trigger = CronTrigger("0 0 * * *", UTC_ZONE)
    assert fires(trigger, utc(2026, 12, 30, 12), 3) == [
        utc(2026, 12, 31),
        utc(2027, 1, 1),
        utc(2027, 1, 2),
    ]


def test_a_daily_job_crosses_29_february_in_the_leap_year_2028() -> None:
    assert matches("30 6 * * *", datetime(2028, 2, 28, 7), 2) == [
        datetime(2028, 2, 29, 6, 30),
        datetime(2028, 3, 1, 6, 30),
    ]


def test_a_daily_job_goes_from_28_february_to_1_march_in_2027() -> None:
    assert matches("30 6 * * *", datetime(2027, 2, 28, 7), 2) == [
        datetime(2027, 3, 1, 6, 30),
        datetime(2027, 3, 2, 6, 30),
    ]


def test_a_monthly_job_fires_on_the_first_of_each_month_across_the_year_end() -> None:
    assert days("0 0 1 * *", datetime(2026, 10, 2), 5) == [
        (2026, 11, 1),
        (2026, 12, 1),
        (2027, 1, 1),
        (2027, 2, 1),
        (2027, 3, 1),
    ]


def test_a_december_only_job_waits_for_december_and_then_a_year() -> None:
    assert days("0 0 1 12 *", datetime(2026, 1, 1), 2) == [(2026, 12, 1), (2027, 12, 1)]


def test_a_january_only_job_jumps_to_the_next_january() -> None:
    assert days("0 0 1 jan *", datetime(2026, 1, 1, 0, 0, 1), 2) == [(2027, 1, 1), (2028, 1, 1)]


def test_a_job_on_the_30th_skips_february_and_fires_in_march() -> None:
    assert days("0 0 30 * *", datetime(2027, 1, 31), 2) == [(2027, 3, 30), (2027, 4, 30)]


def test_a_job_on_the_30th_of_february_and_march_parses_and_fires_in_march() -> None:
    assert days("0 0 30 2,3 *", datetime(2026, 1, 1), 2) == [(2026, 3, 30), (2027, 3, 30)]


def test_a_job_on_the_31st_fires_only_in_long_months() -> None:
    assert days("0 0 31 * *", datetime(2026, 3, 31, 0, 0, 1), 4) == [
        (2026, 5, 31),
        (2026, 7, 31),
        (2026, 8, 31),
        (2026, 10, 31),
    ]


def test_a_leap_day_job_matches_only_in_leap_years() -> None:
    assert days("0 0 29 2 *", datetime(2026, 1, 1), 3) == [
        (2028, 2, 29),
        (2032, 2, 29),
        (2036, 2, 29),
    ]


def test_a_leap_day_job_skips_2100_which_is_not_a_leap_year() -> None:
    assert days("0 0 29 2 *", datetime(2097, 1, 1), 2) == [(2104, 2, 29), (2108, 2, 29)]


# -- L, N#K and LN -----------------------------------------------------------------------


def test_l_is_the_last_day_of_each_month() -> None:
    assert days("0 0 L * *", datetime(2026, 1, 1), 6) == [
        (2026, 1, 31),
        (2026, 2, 28),
        (2026, 3, 31),
        (2026, 4, 30),
        (2026, 5, 31),
        (2026, 6, 30),
    ]


def test_l_in_february_of_a_leap_year_is_the_29th() -> None:
    assert days("0 0 L 2 *", datetime(2027, 3, 1), 2) == [(2028, 2, 29), (2029, 2, 28)]


def test_l_at_the_last_day_fires_the_same_day_then_next_month() -> None:
    assert days("0 12 L * *", datetime(2026, 4, 30, 11), 2) == [(2026, 4, 30), (2026, 5, 31)]


def test_a_fixed_day_of_month_does_not_also_fire_on_the_last_day() -> None:
    assert days("0 0 15 * *", datetime(2026, 1, 16), 2) == [(2026, 2, 15), (2026, 3, 15)]


def test_5_hash_2_is_the_second_friday_of_each_month() -> None:
    assert days("0 0 * * 5#2", datetime(2026, 1, 1), 12) == [
        (2026, 1, 9),
        (2026, 2, 13),
        (2026, 3, 13),
        (2026, 4, 10),
        (2026, 5, 8),
        (2026, 6, 12),
        (2026, 7, 10),
        (2026, 8, 14),
        (2026, 9, 11),
        (2026, 10, 9),
        (2026, 11, 13),
        (2026, 12, 11),
    ]


def test_fri_hash_1_is_the_first_friday_even_when_it_is_the_7th() -> None:
    assert days("0 0 * * fri#1", datetime(2026, 7, 4), 3) == [
        (2026, 8, 7),
        (2026, 9, 4),
        (2026, 10, 2),
    ]


def test_5_hash_5_fires_only_in_months_with_five_fridays() -> None:
    assert days("0 0 * * 5#5", datetime(2026, 1, 1), 4) == [
        (2026, 1, 30),
        (2026, 5, 29),
        (2026, 7, 31),
        (2026, 10, 30),
    ]


def test_5_hash_3_is_the_third_friday() -> None:
    assert days("0 0 * * 5#3", datetime(2026, 5, 1), 4) == [
        (2026, 5, 15),
        (2026, 6, 19),
        (2026, 7, 17),
        (2026, 8, 21),
    ]


def test_two_nth_weekdays_in_one_field_are_both_kept() -> None:
    assert days("0 0 * * 1#1,5#2", datetime(2026, 3, 1), 4) == [
        (2026, 3, 2),
        (2026, 3, 13),
        (2026, 4, 6),
        (2026, 4, 10),
    ]


def test_l5_is_the_last_friday_of_each_month() -> None:
    assert days("0 0 * * L5", datetime(2026, 1, 1), 12) == [
        (2026, 1, 30),
        (2026, 2, 27),
        (2026, 3, 27),
        (2026, 4, 24),
        (2026, 5, 29),
        (2026, 6, 26),
        (2026, 7, 31),
        (2026, 8, 28),
        (2026, 9, 25),
        (2026, 10, 30),
        (2026, 11, 27),
        (2026, 12, 25),
    ]


def test_l7_and_l0_are_the_last_sunday() -> None:
    assert days("0 0 * * L7", datetime(2026, 3, 1), 2) == [(2026, 3, 29), (2026, 4, 26)]
    assert days("0 0 * * L0", datetime(2026, 3, 1), 2) == [(2026, 3, 29), (2026, 4, 26)]


def test_the_nth_weekday_as_an_instant_in_berlin() -> None:
    trigger = CronTrigger("0 9 * * 5#2", BERLIN)
    assert trigger.next_fire(utc(2026, 1, 1)) == utc(2026, 1, 9, 8)


# -- day-of-month and day-of-week combination ------------------------------------------------


def test_a_listed_day_of_month_or_a_monday_fires_on_either() -> None:
    assert days("0 9 1,15 * mon", datetime(2026, 6, 1, 10), 5) == [
        (2026, 6, 8),
        (2026, 6, 15),
        (2026, 6, 22),
        (2026, 6, 29),
        (2026, 7, 1),
    ]


def test_a_stepped_day_of_month_and_a_monday_must_both_match() -> None:
    assert days("0 0 */2 * mon", datetime(2026, 6, 1), 3) == [
        (2026, 6, 1),
        (2026, 6, 15),
        (2026, 6, 29),
    ]


def test_a_day_of_month_with_a_star_day_of_week_means_just_those_days() -> None:
    assert days("0 0 10 * *", datetime(2026, 6, 1), 2) == [(2026, 6, 10), (2026, 7, 10)]


def test_a_weekday_with_a_star_day_of_month_means_just_that_weekday() -> None:
    assert days("0 0 * * wed", datetime(2026, 6, 1), 2) == [(2026, 6, 3), (2026, 6, 10)]


def test_a_question_mark_day_of_week_leaves_the_day_of_month_alone() -> None:
    assert days("0 0 20 * ?", datetime(2026, 6, 1), 2) == [(2026, 6, 20), (2026, 7, 20)]


@pytest.mark.parametrize("field", ["0", "7", "sun"])
def test_every_spelling_of_sunday_means_sunday(field: str) -> None:
    assert days(f"0 0 * * {field}", datetime(2026, 6, 1), 2) == [(2026, 6, 7), (2026, 6, 14)]


def test_saturday_is_6() -> None:
    assert days("0 0 * * 6", datetime(2026, 6, 1), 2) == [(2026, 6, 6), (2026, 6, 13)]


@pytest.mark.parametrize(
    ("field", "first"),
    [("mon-1", (2026, 6, 1)), ("sun-0", (2026, 6, 7)), ("sat-6", (2026, 6, 6))],
)
def test_a_one_value_weekday_range_written_with_a_name_is_that_weekday(
    field: str, first: tuple[int, int, int]
) -> None:
    spec = CronSpec.parse(f"0 0 * * {field}")
    assert len(spec.weekdays) == 1
    assert days(f"0 0 * * {field}", datetime(2026, 6, 1), 1) == [first]


# -- the parsed field sets -------------------------------------------------------------------


def test_stars_expand_to_every_allowed_value() -> None:
    spec = CronSpec.parse("* * * * * *")
    assert spec.seconds == tuple(range(0, 60))
    assert spec.minutes == tuple(range(0, 60))
    assert spec.hours == tuple(range(0, 24))
    assert spec.days == frozenset(range(1, 32))
    assert spec.months == frozenset(range(1, 13))
    assert spec.weekdays == frozenset({0, 1, 2, 3, 4, 5, 6})
    assert spec.last_day is False
    assert spec.nth_weekdays == {}
    assert spec.dom_star is True
    assert spec.dow_star is True


def test_a_five_field_expression_fires_at_second_zero() -> None:
    spec = CronSpec.parse("5 4 3 2 1")
    assert spec.seconds == (0,)
    assert spec.minutes == (5,)
    assert spec.hours == (4,)
    assert spec.days == frozenset({3})
    assert spec.months == frozenset({2})
    assert spec.weekdays == frozenset({1})
    assert spec.dom_star is False
    assert spec.dow_star is False


def test_a_six_field_expression_has_a_leading_seconds_field() -> None:
    spec = CronSpec.parse("7 5 4 3 2 1")
    assert spec.seconds == (7,)
    assert spec.minutes == (5,)
    assert spec.hours == (4,)
    assert spec.days == frozenset({3})
    assert spec.months == frozenset({2})
    assert spec.weekdays == frozenset({1})


def test_a_six_field_expression_with_minute_59_parses() -> None:
    assert CronSpec.parse("0 59 * * * *").minutes == (59,)
    assert CronSpec.parse("59 0 23 * * *").hours == (23,)


def test_l_sets_last_day_and_no_numbered_days() -> None:
    spec = CronSpec.parse("0 0 L * *")
    assert spec.last_day is True
    assert spec.days == frozenset()


def test_names_ranges_steps_and_lists_expand_to_their_values() -> None:
    spec = CronSpec.parse("10-50/20 */6 1,15 jan-mar mon-fri")
    assert spec.minutes == (10, 30, 50)
    assert spec.hours == (0, 6, 12, 18)
    assert spec.days == frozenset({1, 15})
    assert spec.months == frozenset({1, 2, 3})
    assert spec.weekdays == frozenset({1, 2, 3, 4, 5})


@pytest.mark.parametrize(
    ("expression", "hours"),
    [
        ("0 5-5 * * *", (5,)),
        ("0 5-05 * * *", (5,)),
        ("0 5-6 * * *", (5, 6)),
        ("0 5-7/2 * * *", (5, 7)),
    ],
)
def test_a_one_value_range_is_that_value_and_a_wider_one_is_kept(
    expression: str, hours: tuple[int, ...]
) -> None:
    assert CronSpec.parse(expression).hours == hours


def test_a_one_value_month_range_by_name_is_that_month() -> None:
    assert CronSpec.parse("0 0 1 jan-1 *").months == frozenset({1})


def test_every_hour_is_true_for_24_hours_only() -> None:
    assert CronSpec.parse("0 * * * *").every_hour is True
    assert CronSpec.parse("0 0-22 * * *").every_hour is False
    assert CronSpec.parse("0 1-23 * * *").every_hour is False


def test_a_parsed_spec_is_immutable() -> None:
    spec = CronSpec.parse("0 0 * * *")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.minutes = (1,)  # type: ignore[misc]


def test_macros_expand_to_their_five_field_meaning() -> None:
    assert CronSpec.parse("@hourly").minutes == (0,)
    assert CronSpec.parse("@hourly").every_hour is True
    assert CronSpec.parse("@weekly").weekdays == frozenset({0})
    assert CronSpec.parse("@yearly").months == frozenset({1})
    assert CronSpec.parse("@DAILY").hours == (0,)
    assert CronSpec.parse("  0   0  * *   *  ").hours == (0,)


# -- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("@often", "unknown macro '@often'; use one of @annually, @daily, @hourly, @midnight, "
         "@monthly, @weekly, @yearly"),
        ("0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week) "
         "or 6 with a leading seconds field, got 4"),
        ("0 0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week) "
         "or 6 with a leading seconds field, got 7"),
        ("", "expected 5 fields (minute hour day-of-month month day-of-week) "
         "or 6 with a leading seconds field, got 0"),
        ("0 0 15W * *", "day-of-month field '15W' is not supported; allowed: 1-31 or L"),
        ("H 0 * * *", "minute field 'H' is not supported; allowed: 0-59"),
        ("0 H * * *", "hour field 'H' is not supported; allowed: 0-23"),
        ("H 0 0 * * *", "second field 'H' is not supported; allowed: 0-59"),
        # croniter's R picks a random value at each parse: two schedulers would disagree
        ("0 0 * R *", "month field 'R' is not supported; allowed: 1-12 or jan-dec"),
        ("0 0 R * *", "day-of-month field 'R' is not supported; allowed: 1-31 or L"),
        ("0 0 * * r(1-5)", "day-of-week field 'r(1-5)' is not supported; allowed: 0-7 or sun-sat "
         "(0 and 7 are Sunday), with N#K for the K-th and LN for the last"),
        ("0 0 * * H/2", "day-of-week field 'H/2' is not supported; allowed: 0-7 or sun-sat "
         "(0 and 7 are Sunday), with N#K for the K-th and LN for the last"),
        ("61 0 * * *", "minute field '61' is invalid; allowed: 0-59, "
         "with ranges a-b, steps */n and lists a,b"),
        ("0 24 * * *", "hour field '24' is invalid; allowed: 0-23, "
         "with ranges a-b, steps */n and lists a,b"),
        ("0 0 * 13 *", "month field '13' is invalid; allowed: 1-12 or jan-dec, "
         "with ranges a-b, steps */n and lists a,b"),
        ("60 0 0 * * *", "second field '60' is invalid; allowed: 0-59, "
         "with ranges a-b, steps */n and lists a,b"),
        ("0 0 30 2 *", "'0 0 30 2 *' names no date that exists; it would never fire"),
        ("0 0 31 4,6,9,11 *", "'0 0 31 4,6,9,11 *' names no date that exists; it would never fire"),
    ],
)  # fmt: skip
def test_a_bad_expression_is_rejected_with_an_exact_message(expression: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        CronSpec.parse(expression)
    assert str(info.value) == message


def test_names_with_an_r_in_them_are_still_months_and_weekdays() -> None:
    spec = CronSpec.parse("0 0 * mar,apr fri")
    assert spec.months == {3, 4}
    assert spec.weekdays == {5}


@pytest.mark.parametrize(
    "expression", ["0 0 1 * *", "0 0 31 * *", "0 0 L * *", "0 0 29 2 *", "0 0 29 2 mon"]
)
def test_an_expression_that_names_a_real_date_is_accepted(expression: str) -> None:
    assert CronSpec.parse(expression).expression == expression


# -- matching times within a day -------------------------------------------------------------

SPEC = "10,40 15,45 9,17 * * *"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2026, 6, 1, 0, 0, 0), datetime(2026, 6, 1, 9, 15, 10)),
        (datetime(2026, 6, 1, 9, 14, 59), datetime(2026, 6, 1, 9, 15, 10)),
        (datetime(2026, 6, 1, 9, 15, 0), datetime(2026, 6, 1, 9, 15, 10)),
        (datetime(2026, 6, 1, 9, 15, 10), datetime(2026, 6, 1, 9, 15, 10)),
        (datetime(2026, 6, 1, 9, 15, 11), datetime(2026, 6, 1, 9, 15, 40)),
        (datetime(2026, 6, 1, 9, 15, 41), datetime(2026, 6, 1, 9, 45, 10)),
        (datetime(2026, 6, 1, 9, 45, 41), datetime(2026, 6, 1, 17, 15, 10)),
        (datetime(2026, 6, 1, 12, 0, 0), datetime(2026, 6, 1, 17, 15, 10)),
        (datetime(2026, 6, 1, 12, 50, 0), datetime(2026, 6, 1, 17, 15, 10)),
        (datetime(2026, 6, 1, 17, 45, 40), datetime(2026, 6, 1, 17, 45, 40)),
        (datetime(2026, 6, 1, 17, 45, 41), datetime(2026, 6, 2, 9, 15, 10)),
        (datetime(2026, 6, 1, 23, 59, 59), datetime(2026, 6, 2, 9, 15, 10)),
    ],
)
def test_next_match_is_the_first_matching_second_at_or_after_the_start(
    start: datetime, expected: datetime
) -> None:
    assert CronSpec.parse(SPEC).next_match(start) == expected


def test_a_minute_zero_seconds_job_rolls_to_the_next_minute_past_its_second() -> None:
    assert CronSpec.parse("0 * * * * *").next_match(datetime(2026, 6, 1, 12, 0, 30)) == datetime(
        2026, 6, 1, 12, 1, 0
    )


def test_every_second_includes_second_zero_and_second_59() -> None:
    spec = CronSpec.parse("* * * * * *")
    assert spec.next_match(datetime(2026, 6, 1, 12, 0, 59)) == datetime(2026, 6, 1, 12, 0, 59)
    assert spec.next_match(datetime(2026, 6, 1, 12, 1, 0)) == datetime(2026, 6, 1, 12, 1, 0)


def test_naive_after_is_the_next_whole_second() -> None:
    assert naive_after(datetime(2026, 6, 1, 12, 0, 0, 500_000)) == datetime(2026, 6, 1, 12, 0, 1)
    assert naive_after(datetime(2026, 6, 1, 12, 0, 0)) == datetime(2026, 6, 1, 12, 0, 1)


# -- triggers: the README's daylight-saving examples -----------------------------------------


def test_an_hourly_job_in_berlin_fires_twice_at_two_on_the_fall_back_day() -> None:
    trigger = CronTrigger("0 * * * *", BERLIN)
    assert fires(trigger, utc(2026, 10, 24, 23, 30), 4) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
    ]


def test_an_hourly_job_in_berlin_skips_the_missing_hour_on_the_spring_day() -> None:
    trigger = CronTrigger("0 * * * *", BERLIN)
    assert fires(trigger, utc(2026, 3, 28, 23, 30), 3) == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
    ]


def test_a_0230_job_in_berlin_fires_at_the_end_of_the_spring_gap() -> None:
    trigger = CronTrigger("30 2 * * *", BERLIN)
    assert fires(trigger, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]


def test_a_0000_and_0230_job_in_berlin_fires_once_in_the_spring_gap() -> None:
    trigger = CronTrigger("0,30 2 * * *", BERLIN)
    assert fires(trigger, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0)]


def test_a_two_and_three_oclock_job_fires_once_at_three_on_the_spring_day() -> None:
    trigger = CronTrigger("0 2,3 * * *", BERLIN)
    assert fires(trigger, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0),
        utc(2026, 3, 30, 1),
    ]


def test_a_0230_job_in_berlin_fires_only_at_the_first_0230_on_the_fall_back_day() -> None:
    trigger = CronTrigger("30 2 * * *", BERLIN)
    assert fires(trigger, utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_a_0230_job_asked_during_the_second_pass_waits_for_the_next_day() -> None:
    trigger = CronTrigger("30 2 * * *", BERLIN)
    assert trigger.next_fire(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)
    assert trigger.next_fire(utc(2026, 10, 25, 0, 59, 59)) == utc(2026, 10, 26, 1, 30)


def test_a_0300_job_asked_during_the_second_pass_fires_at_three_cet() -> None:
    trigger = CronTrigger("0 3 * * *", BERLIN)
    assert trigger.next_fire(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 2)


def test_a_0230_job_asked_just_after_the_repeated_hour_fires_the_next_day() -> None:
    trigger = CronTrigger("30 2 * * *", BERLIN)
    assert trigger.next_fire(utc(2026, 10, 25, 2)) == utc(2026, 10, 26, 1, 30)


def test_a_0130_job_asked_just_before_the_fall_back_fires_the_next_day() -> None:
    trigger = CronTrigger("30 1 * * *", BERLIN)
    assert trigger.next_fire(utc(2026, 10, 24, 23, 30)) == utc(2026, 10, 26, 0, 30)


def test_a_cron_trigger_fires_strictly_after_the_given_instant() -> None:
    trigger = CronTrigger("0 12 * * *", UTC_ZONE)
    assert trigger.next_fire(utc(2026, 6, 1, 12)) == utc(2026, 6, 2, 12)
    assert trigger.next_fire(utc(2026, 6, 1, 11, 59, 59)) == utc(2026, 6, 1, 12)


def test_an_every_second_trigger_fires_one_second_later() -> None:
    trigger = CronTrigger("* * * * * *", UTC_ZONE)
    assert trigger.next_fire(utc(2026, 6, 1, 12)) == utc(2026, 6, 1, 12, 0, 1)
    after = datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert trigger.next_fire(after) == utc(2026, 6, 1, 12, 0, 1)


def test_an_hourly_cron_trigger_accepts_an_aware_instant_in_another_zone() -> None:
    trigger = CronTrigger("15 * * * *", UTC_ZONE)
    assert trigger.next_fire(datetime(2026, 6, 1, 14, 20, tzinfo=BERLIN)) == utc(2026, 6, 1, 13, 15)


def test_a_hourly_trigger_in_utc_crosses_the_year_end() -> None:
    trigger = CronTrigger("0 * * * *", UTC_ZONE)
    assert fires(trigger, utc(2026, 12, 31, 22, 30), 3) == [
        utc(2026, 12, 31, 23),
        utc(2027, 1, 1, 0),
        utc(2027, 1, 1, 1),
    ]


def test_an_hourly_trigger_on_leap_days_only_waits_for_2028() -> None:
    trigger = CronTrigger("0 * 29 2 *", UTC_ZONE)
    assert trigger.next_fire(utc(2026, 6, 1)) == utc(2028, 2, 29, 0)


# -- interval triggers -----------------------------------------------------------------------


def test_a_weekly_interval_without_start_fires_on_thursdays_like_1_january_1970() -> None:
    trigger = IntervalTrigger(7 * 86400)
    assert trigger.next_fire(utc(2026, 3, 2, 9)) == utc(2026, 3, 5)


def test_a_seven_second_interval_counts_from_1970() -> None:
    assert IntervalTrigger(7).next_fire(utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 0, 7)
    assert IntervalTrigger(7).next_fire(utc(2026, 1, 1, 0, 0, 6)) == utc(2026, 1, 1, 0, 0, 7)


def test_an_hourly_interval_fires_on_the_hour_utc() -> None:
    trigger = IntervalTrigger(3600)
    assert trigger.next_fire(utc(2026, 6, 1, 12, 59, 59)) == utc(2026, 6, 1, 13)
    assert trigger.next_fire(utc(2026, 6, 1, 13)) == utc(2026, 6, 1, 14)


def test_an_interval_with_an_anchor_counts_from_it() -> None:
    trigger = IntervalTrigger(90, utc(2026, 6, 1, 12, 0, 20))
    assert fires(trigger, utc(2026, 6, 1, 12, 1), 3) == [
        utc(2026, 6, 1, 12, 1, 50),
        utc(2026, 6, 1, 12, 3, 20),
        utc(2026, 6, 1, 12, 4, 50),
    ]


def test_an_interval_fires_strictly_after_a_fraction_of_a_second() -> None:
    trigger = IntervalTrigger(1)
    after = datetime(2026, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    assert trigger.next_fire(after) == utc(2026, 6, 1, 12, 0, 1)
    assert trigger.next_fire(utc(2026, 6, 1, 12)) == utc(2026, 6, 1, 12, 0, 1)


def test_an_interval_of_one_second_is_allowed_and_zero_is_not() -> None:
    assert IntervalTrigger(1).every_s == 1
    assert IntervalTrigger(2).every_s == 2
    with pytest.raises(ValueError, match="an interval must be at least 1 second"):
        IntervalTrigger(0)


# -- zones -----------------------------------------------------------------------------------


def test_a_region_name_and_utc_are_zones() -> None:
    assert zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone("America/Los_Angeles") == ZoneInfo("America/Los_Angeles")
    assert zone("UTC") == ZoneInfo("UTC")


def test_an_abbreviation_is_rejected_with_the_region_it_stands_for() -> None:
    with pytest.raises(ZoneNameError) as info:
        zone("PST")
    assert str(info.value) == (
        "'PST' is an abbreviation, not an IANA time zone; "
        "use a region name such as 'America/Los_Angeles'"
    )


def test_a_misspelt_region_gets_a_suggestion() -> None:
    with pytest.raises(ZoneNameError) as info:
        zone("Europe/Berln")
    assert str(info.value) == "unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"


def test_a_name_far_from_any_region_gets_an_example() -> None:
    with pytest.raises(ZoneNameError) as info:
        zone("qqqqqqqqqqqqqq")
    assert str(info.value) == (
        "unknown time zone 'qqqqqqqqqqqqqq'; use an IANA name such as 'Europe/Berlin'"
    )


@pytest.mark.parametrize("name", ["Japan", "Zulu", "posix/Europe/Berlin", "right/Europe/Berlin"])
def test_legacy_names_without_a_region_and_posix_copies_are_rejected(name: str) -> None:
    with pytest.raises(ZoneNameError, match=f"^unknown time zone '{name}'"):
        zone(name)


def test_berlin_changes_offset_at_one_oclock_utc_in_march_and_october_2026() -> None:
    assert transitions_in_year(BERLIN, 2026) == (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1))


def test_new_york_changes_offset_at_seven_and_six_oclock_utc_in_2026() -> None:
    new_york = ZoneInfo("America/New_York")
    assert transitions_in_year(new_york, 2026) == (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6))


def test_lord_howe_changes_by_half_an_hour_at_exact_seconds() -> None:
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert transitions_in_year(lord_howe, 2026) == (utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30))


def test_utc_has_no_transitions() -> None:
    assert transitions_in_year(UTC_ZONE, 2026) == ()


def test_a_segment_runs_from_one_transition_to_the_next() -> None:
    assert segment_at(BERLIN, utc(2026, 6, 1)) == Segment(
        utc(2026, 3, 29, 1), utc(2026, 10, 25, 1), timedelta(hours=2)
    )
    assert segment_at(BERLIN, utc(2026, 1, 15)) == Segment(
        utc(2025, 10, 26, 1), utc(2026, 3, 29, 1), timedelta(hours=1)
    )
    assert segment_at(BERLIN, utc(2026, 12, 1)) == Segment(
        utc(2026, 10, 25, 1), utc(2027, 3, 28, 1), timedelta(hours=1)
    )


def test_a_segment_starts_at_the_very_instant_of_its_transition() -> None:
    assert segment_at(BERLIN, utc(2026, 3, 29, 1)) == Segment(
        utc(2026, 3, 29, 1), utc(2026, 10, 25, 1), timedelta(hours=2)
    )
    assert segment_at(BERLIN, utc(2026, 3, 29, 0, 59, 59)) == Segment(
        utc(2025, 10, 26, 1), utc(2026, 3, 29, 1), timedelta(hours=1)
    )


def test_a_zone_without_transitions_has_a_segment_bounded_by_year_ends() -> None:
    assert segment_at(UTC_ZONE, utc(2026, 6, 1)) == Segment(
        utc(2025, 1, 1), utc(2028, 1, 1), timedelta(0)
    )


def test_a_segment_converts_between_instants_and_wall_times() -> None:
    summer = Segment(utc(2026, 3, 29, 1), utc(2026, 10, 25, 1), timedelta(hours=2))
    assert summer.wall(utc(2026, 6, 1, 10)) == datetime(2026, 6, 1, 12)
    assert summer.instant(datetime(2026, 6, 1, 12)) == utc(2026, 6, 1, 10)


def test_a_segment_is_immutable() -> None:
    segment = Segment(utc(2026, 1, 1), utc(2026, 2, 1), timedelta(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.offset = timedelta(hours=1)  # type: ignore[misc]


def test_offset_at_is_the_utc_offset_of_the_instant() -> None:
    assert offset_at(BERLIN, utc(2026, 3, 29, 0, 59, 59)) == timedelta(hours=1)
    assert offset_at(BERLIN, utc(2026, 3, 29, 1)) == timedelta(hours=2)


def test_a_transition_at_the_very_first_second_of_a_year_is_found() -> None:
    # Madrid left local mean time at 1901-01-01T00:00:00Z.
    assert transitions_in_year(ZoneInfo("Europe/Madrid"), 1901)[0] == utc(1901, 1, 1)


def test_a_transition_on_new_years_day_is_found() -> None:
    assert transitions_in_year(ZoneInfo("Africa/Sao_Tome"), 2018) == (utc(2018, 1, 1, 1),)


def test_a_transition_in_january_is_found() -> None:
    fiji = ZoneInfo("Pacific/Fiji")
    assert transitions_in_year(fiji, 2012) == (utc(2012, 1, 21, 14), utc(2012, 10, 20, 14))


def test_a_transition_in_the_last_hours_of_a_year_is_found() -> None:
    dhaka = ZoneInfo("Asia/Dhaka")
    assert transitions_in_year(dhaka, 2009) == (utc(2009, 6, 19, 17), utc(2009, 12, 31, 17))


def test_a_transition_at_an_odd_second_is_found_to_the_second() -> None:
    # Berlin left local mean time (+0:53:28) at 1893-04-01T00:00 local.
    assert transitions_in_year(BERLIN, 1893) == (utc(1893, 3, 31, 23, 6, 32),)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 5-1 * * *", "hour field '5-1': '5-1' is a reversed range; write 5-23,0-1 for the "
         "values it wraps around"),
        ("0 0 * dec-jan *", "month field 'dec-jan': 'dec-jan' is a reversed range; write 12,1 "
         "for the values it wraps around"),
        ("0 0 * * fri-mon", "day-of-week field 'fri-mon': 'fri-mon' is a reversed range; write "
         "5-6,0-1 for the values it wraps around"),
        ("0 5-1/2 * * *", "hour field '5-1/2': '5-1/2' is a reversed range; write 5-23/2,0-1/2 "
         "for the values it wraps around"),
        ("0 0 20-10 * *", "day-of-month field '20-10': '20-10' is a reversed range; write "
         "20-31,1-10 for the values it wraps around"),
        ("50-10 * * * *", "minute field '50-10': '50-10' is a reversed range; write "
         "50-59,0-10 for the values it wraps around"),
        ("59-0 0 0 * * *", "second field '59-0': '59-0' is a reversed range; write 59,0 for "
         "the values it wraps around"),
    ],
)  # fmt: skip
def test_a_reversed_range_is_refused_with_the_ranges_it_means(
    expression: str, message: str
) -> None:
    with pytest.raises(CronError) as info:
        CronSpec.parse(expression)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 5-0 * *", "day-of-month field '5-0' is invalid; allowed: 1-31 or L, with ranges "
         "a-b, steps */n and lists a,b"),
        ("0 0 * 12-0 *", "month field '12-0' is invalid; allowed: 1-12 or jan-dec, with ranges "
         "a-b, steps */n and lists a,b"),
        ("0 24-1 * * *", "hour field '24-1' is invalid; allowed: 0-23, with ranges a-b, steps "
         "*/n and lists a,b"),
        ("0 0 * * 8-1", "day-of-week field '8-1' is invalid; allowed: 0-7 or sun-sat (0 and 7 "
         "are Sunday), with N#K for the K-th and LN for the last, with ranges a-b, steps */n "
         "and lists a,b"),
    ],
)  # fmt: skip
def test_a_range_with_an_end_outside_the_field_is_invalid_not_reversed(
    expression: str, message: str
) -> None:
    with pytest.raises(CronError) as info:
        CronSpec.parse(expression)
    assert str(info.value) == message


def test_a_range_ending_on_sunday_as_7_is_not_reversed() -> None:
    assert CronSpec.parse("0 0 * * 5-7").weekdays == frozenset({5, 6, 0})


def january_2026(expression: str) -> list[int]:
    """The days of January 2026 (the 1st is a Thursday) on which the expression fires."""
    spec = CronSpec.parse(expression)
    return [day for day in range(1, 32) if spec.day_matches(2026, 1, day)]


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("0 9 * * 1,5#2", [5, 9, 12, 19, 26]),  # every Monday, and the second Friday
        ("0 9 * * 1,L5", [5, 12, 19, 26, 30]),  # every Monday, and the last Friday
        ("0 9 * * 5,5#2", [2, 9, 16, 23, 30]),  # every Friday (5#2 adds nothing)
        ("0 9 * * *,1", list(range(1, 32))),  # a list with `*` is every day
        ("0 9 * * 5#2,5#4", [9, 23]),
        ("0 9 * * sun,6#2", [4, 10, 11, 18, 25]),  # every Sunday, and the second Saturday
        ("0 9 * * *,6#2", list(range(1, 32))),  # `*` holds Saturday: 6#2 adds nothing
        ("0 9 * * *,0#2", list(range(1, 32))),  # ... and Sunday
    ],
)
def test_a_weekday_list_is_the_union_of_its_items(expression: str, days: list[int]) -> None:
    assert january_2026(expression) == days


def test_a_six_field_expression_may_mix_weekdays_with_an_nth_weekday() -> None:
    spec = CronSpec.parse("0 30 9 * * 1,5#2")
    assert (spec.seconds, spec.minutes, spec.hours) == ((0,), (30,), (9,))
    assert january_2026("0 30 9 * * 1,5#2") == [5, 9, 12, 19, 26]


def test_a_minute_list_with_a_star_is_every_minute() -> None:
    assert CronSpec.parse("*,5 * * * *").minutes == tuple(range(60))


def test_a_range_of_one_value_is_that_value_not_a_reversed_range() -> None:
    assert matches("0 5-5 * * *", datetime(2026, 6, 1), 2) == [
        datetime(2026, 6, 1, 5),
        datetime(2026, 6, 2, 5),
    ]
    assert matches("0 0 * * 3-3", datetime(2026, 6, 1), 1) == [datetime(2026, 6, 3)]


# -- field by field is whole expressions -----------------------------------------------------


def _corpus(count: int) -> list[str]:
    """Expressions of every form the dialect allows, many fields in each, from a seeded
    generator: numbers, names, ranges (reversed ones left out: refused before croniter),
    steps, lists, ``*``, ``?``, ``L``, ``N#K``, ``LN``, five and six fields."""
    rng = random.Random(20261202)
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    def item(low: int, high: int, names: list[str] | None) -> str:
        a, b = sorted(rng.sample(range(low, high + 1), 2))
        shown = (lambda v: names[v - low]) if names and rng.random() < 0.3 else str
        form = rng.randrange(6)
        if form == 0:
            return shown(a)
        if form == 1:
            return f"{shown(a)}-{shown(b)}"
        if form == 2:
            return f"*/{rng.randint(1, high - low + 1)}"
        if form == 3:
            return f"{shown(a)}-{shown(b)}/{rng.randint(1, 9)}"
        if form == 4:
            return f"{a}/{rng.randint(1, 9)}"
        return "*"

    def field(low: int, high: int, names: list[str] | None = None) -> str:
        return ",".join(item(low, high, names) for _ in range(rng.choice([1, 1, 1, 2, 3])))

    out = []
    for _ in range(count):
        dom = rng.choice([field(1, 31), field(1, 31), "L", "?", "*"])
        dow = rng.choice([field(0, 6, weekdays), field(0, 6, weekdays), "?", "*",
                          f"{rng.randint(0, 7)}#{rng.randint(1, 5)}", f"L{rng.randint(0, 7)}",
                          f"{rng.randint(1, 5)}#2,{rng.randint(1, 5)}#4"])  # fmt: skip
        fields = [field(0, 59), field(0, 23), dom, field(1, 12, months), dow]
        if rng.random() < 0.3:
            fields.insert(0, field(0, 59))
        out.append(" ".join(fields))
    return out


def _as_sets(expanded: list[list[int | str]]) -> list[set[object]]:
    """The values each field allows, in croniter's field order: ``*`` (alone or in a list)
    as every value, and a weekday 7 as Sunday, 0 (croniter writes a full weekday list as
    ``*`` or not, depending on the day-of-month field; both mean every day)."""
    lows, highs = [0, 0, 1, 1, 0, 0], [59, 23, 31, 12, 6, 59]
    sets: list[set[object]] = []
    for index, values in enumerate(expanded):
        found: set[object] = (set(range(lows[index], highs[index] + 1)) if "*" in values
                              else set(values))  # fmt: skip
        sets.append({v % 7 if isinstance(v, int) else v for v in found} if index == 4 else found)
    return sets


def test_expanding_field_by_field_gives_what_croniter_gives_for_the_whole_expression() -> None:
    """Each field is expanded alone and kept while in use (a million schedules share their
    fields); this holds only if croniter expands every field of an expression as it does
    that field alone, which 3,000 generated expressions check against croniter itself."""
    compared = 0
    for expression in _corpus(3000):
        fields = expression.split(" ")
        names = cron_module._FIELDS_6 if len(fields) == 6 else cron_module._FIELDS_5
        try:
            whole, whole_nth = croniter.expand(expression, second_at_beginning=len(fields) == 6)
        except (ValueError, TypeError, KeyError, IndexError):
            with pytest.raises(CronError):
                cron_module._compose(fields, names)
            continue
        composed, nth = cron_module._compose(fields, names)
        assert _as_sets(composed) == _as_sets(list(whole)), expression
        assert nth == {int(k): set(v) for k, v in dict(whole_nth).items()}, expression
        compared += 1
    assert compared > 2000  # most of the corpus is valid: the comparison is not vacuous
