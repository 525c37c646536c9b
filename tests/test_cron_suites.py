"""The explicit expectations of cronsim's and croniter's own test suites, in sched's terms.

Each case is an expectation one of those suites asserts, translated into sched's API: an
expression, a zone, an instant to start after, and the next fire times written out as
literals (ISO 8601; one without an offset is UTC). The source test is named in every case id.

Taken from:

* cuu508/cronsim ``tests/test_cronsim.py`` (release 2.7, commit fd2e617): TestParse,
  TestValidation, TestIterator, TestDstTransitions (Europe/Riga, 2021).
* kiorky/croniter ``src/croniter/tests/test_croniter.py``, ``test_croniter_range.py`` and
  ``test_croniter_dst_repetition.py`` (6.0.x, commit d813502).

Translated, not copied: cronsim's last-weekday notation ``5L`` is sched's ``L5``; croniter's
trailing seconds field is sched's leading one (``* * * * * 15,25`` is ``15,25 * * * * *``);
croniter's ``croniter_range(start, stop)`` is every fire in ``[start, stop]``; its
``match(expr, t)`` is "the first match at or after t is t"; the pytz start times are written
as the instants they denote (croniter's ``tz.localize`` picks standard time for an ambiguous
wall time, and ``datetime(..., tzinfo=pytz_zone)`` means local mean time, so
test_dst_iter's start is written as the evening before).

Left out on purpose, because sched documents something else or has no such API:

* ``W`` / ``LW`` (cronsim test_it_parses_day_lw, test_it_handles_lw, ...): sched rejects W
  (README, Cron dialect); the rejection is tested below instead.
* ``L/2`` (cronsim test_it_accepts_l_with_step): cronsim reads it as ``L``; sched rejects it,
  as croniter does (test_issue_k34).
* cronsim test_no_tz_fixup_for_subminute_granularity, test_no_tz_fixup_with_nonzero_seconds_field
  and test_no_tz_fixup_with_zero_seconds_field: cronsim applies cron's DST handling to five
  fields only; sched applies it to six-field expressions too (README, Daylight saving), so
  ``11,22 30 1,2,3,4 * * *`` fires at 04:00:00 EEST for the skipped 03:30:11, not at 04:30:11.
* cronsim test_it_handles_no_matches (``1 1 */100 * MON#4`` yields nothing): sched rejects an
  expression that can never fire when it is parsed; tested below as a rejection.
* cronsim TestReverse and every croniter ``get_prev`` / ``all_prev`` expectation (testPrev*,
  testBug1, testDay2, test_issue_47, test_bug_62_leap, testPrevious*, ...): sched only computes
  the next fire time. test_lwom_saturday_rev's dates are taken, walked forwards.
* cronsim TestExplain and TestOptimizations, croniter's return types, ``get_current`` /
  ``set_current``, 32-bit overflow modes, the speed test: no such API.
* croniter's year field (test_year*, test_invalid_year, test_year_range): sched has no year
  field.
* croniter's ``day_or=False`` (testWeekDayDayAnd, the day_or=False halves of test_match and
  test_match_range, test_issue145*, test_explicit_year_forward) is an opt-in that ANDs the day
  fields; sched combines them as Vixie cron does. For testDomDowVixieCronBug sched *is* the
  "cron bug": ``0 16 */2 * sat`` means odd days that are Saturdays, so the
  ``implement_cron_bug=True`` expectations are taken and croniter's default union is not.
* croniter test_issue_k33 (``30 23 1-7 JAN MON-FRI#1``) expects the days 1-7 of January that
  are Monday to Friday, an intersection; both fields are restricted, so sched (Vixie's rule)
  ORs them and fires on every day 1-7 of January.
* croniter test_hash_mixup_all_fri_3rd_sat and test_lwom_mixup_all_fri_last_sat expect
  ``5,6#3`` and ``5,L6`` to be refused; sched documents such a list as the union of its items.
  Their single-item expectations are taken.
* croniter test_issue156's ``0 0 * * *,sat#3`` (third Saturday only): sched documents a list
  holding ``*`` as every value.
* croniter test_sunday_ranges_to/from: ``Sun-Sun`` is every day for croniter, Sunday for cron
  and sched (a one-value range). A range ending on Sunday written ``Sun`` or ``0`` (``Mon-Sun``,
  ``Wed-Sun`` in test_issue_monsun_117) or starting at ``7`` (``7-Mon``) is reversed: Vixie
  cron (entry.c, ``num1 > num2``) and cronsim reject it and so does sched, with the ranges to
  write instead; cronie accepts the ``X-Sun`` form since March 2025 (commit d037042). The
  other spellings of the same ranges (``Mon-7``, ``Sun-Mon``, ``0-Mon``) are taken.
* Wrap-around ranges (``Thu-Tue/2``, ``Nov-Mar``, ``Apr-Feb``, ``Apr-Mar/3``, ``Apr-Mar/2`` in
  test_sunday_ranges_from and test_mth_ranges_from): rejected as reversed, as in cron.
* croniter test_dst_issue90_st31ny (Paris, ``1 2 * * *`` on 2020-03-29): croniter moves the
  skipped 02:01 to 03:01 (or drops it, from a start just before the gap); sched fires it once
  at the first instant after the gap, 03:00 CEST, as cronie runs the fixed-time jobs of the
  minutes it skipped.
* croniter test_expand_from_start_time_*: an option that counts steps from the start time;
  steps count from the field's first value in cron and in sched.
* croniter's hashed (``H``) and random (``R``) fields: H is rejected (README); R does not
  exist in sched.
* croniter test_issue151 (``* * * * *`` "matches" 11:00:59.999999): sched fires at whole
  seconds; there is no "within the minute" match. test_mixdow asserts only a return type.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest

from scheduler.core.cron import CronSpec
from scheduler.core.triggers import CronTrigger
from scheduler.errors import CronError


def instant(text: str) -> datetime:
    """An ISO 8601 literal; one without an offset is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def next_fires(expression: str, zone: str, after: str, count: int) -> list[datetime]:
    trigger = CronTrigger(expression, ZoneInfo(zone))
    found: list[datetime] = []
    at = instant(after)
    while len(found) < count:
        fire = trigger.next_fire(at)
        assert fire is not None, f"{expression!r} stopped after {found}"
        assert fire.tzinfo is UTC
        found.append(fire)
        at = fire
    return found


def fires_between(expression: str, zone: str, first: str, last: str) -> list[datetime]:
    """Every fire in [first, last], both ends included (croniter_range)."""
    trigger = CronTrigger(expression, ZoneInfo(zone))
    found: list[datetime] = []
    at = instant(first) - timedelta(microseconds=1)
    while (fire := trigger.next_fire(at)) is not None and fire <= instant(last):
        found.append(fire)
        at = fire
    return found


def matches(expression: str, wall: str) -> bool:
    """croniter.match: the naive wall time is one the expression matches."""
    at = datetime.fromisoformat(wall)
    return CronSpec.parse(expression).next_match(at) == at


@dataclass(frozen=True)
class Case:
    source: str
    expression: str
    after: str
    expected: tuple[str, ...]
    zone: str = "UTC"


def case(source: str, expression: str, after: str, *expected: str, zone: str = "UTC") -> Case:
    return Case(source, expression, after, expected, zone)


def check(c: Case) -> None:
    got = next_fires(c.expression, c.zone, c.after, len(c.expected))
    assert got == [instant(text) for text in c.expected], [f"{g:%Y-%m-%d %H:%M:%S}Z" for g in got]


# -- field syntax: what each field expands to ------------------------------------------------

ALL_MINUTES = tuple(range(60))
ALL_HOURS = tuple(range(24))
ALL_DAYS = frozenset(range(1, 32))
ALL_MONTHS = frozenset(range(1, 13))
ALL_WEEKDAYS = frozenset(range(7))  # cronsim keeps 7 as well; sched folds it onto 0

EXPANSIONS: list[tuple[str, str, str, object]] = [
    ("cronsim test_it_parses_stars", "* * * * *", "minutes", ALL_MINUTES),
    ("cronsim test_it_parses_stars", "* * * * *", "hours", ALL_HOURS),
    ("cronsim test_it_parses_stars", "* * * * *", "days", ALL_DAYS),
    ("cronsim test_it_parses_stars", "* * * * *", "months", ALL_MONTHS),
    ("cronsim test_it_parses_stars", "* * * * *", "weekdays", ALL_WEEKDAYS),
    ("cronsim test_it_parses_6th_field", "* * * * * *", "seconds", tuple(range(60))),
    ("cronsim test_it_parses_numbers", "1 * * * *", "minutes", (1,)),
    ("cronsim test_it_parses_weekday", "* * * * 1", "weekdays", {1}),
    ("cronsim test_it_handles_0_sunday", "* * * * 0", "weekdays", {0}),
    ("cronsim test_it_parses_list", "1,2,3 * * * *", "minutes", (1, 2, 3)),
    ("cronsim test_it_parses_interval", "1-3 * * * *", "minutes", (1, 2, 3)),
    ("cronsim test_it_parses_two_intervals", "1-3,7-9 * * * *", "minutes", (1, 2, 3, 7, 8, 9)),
    ("cronsim test_it_parses_step", "*/15 * * * *", "minutes", (0, 15, 30, 45)),
    ("cronsim test_it_parses_interval_with_step", "0-10/2 * * * *", "minutes",
     (0, 2, 4, 6, 8, 10)),
    ("cronsim test_it_parses_start_with_step", "5/15 * * * *", "minutes", (5, 20, 35, 50)),
    ("cronsim test_it_parses_day_l", "* * L * *", "days", set()),
    ("cronsim test_it_parses_day_l", "* * L * *", "last_day", True),
    ("cronsim test_it_parses_day_lowercase_l", "* * l * *", "days", set()),
    ("cronsim test_it_parses_day_lowercase_l", "* * l * *", "last_day", True),
    ("cronsim test_it_parses_unrestricted_day_restricted_dow", "* * * * 1", "days", ALL_DAYS),
    ("cronsim test_it_parses_unrestricted_day_restricted_dow", "* * * * 1", "dom_star", True),
    ("cronsim test_it_parses_restricted_day_unrestricted_dow", "* * 1 * *", "days", {1}),
    ("cronsim test_it_parses_restricted_day_unrestricted_dow", "* * 1 * *", "weekdays",
     ALL_WEEKDAYS),
    ("cronsim test_it_parses_restricted_day_unrestricted_dow", "* * 1 * *", "dow_star", True),
    ("cronsim test_it_parses_nth_weekday", "* * * * 1#2", "nth_weekdays", {1: {2}}),
    ("cronsim test_it_parses_symbolic_weekday", "* * * * MON", "weekdays", {1}),
    ("cronsim test_it_parses_lowercase_symbolic_weekday", "* * * * mon", "weekdays", {1}),
    ("cronsim test_it_parses_symbolic_month", "* * * JAN *", "months", {1}),
    ("cronsim test_it_parses_weekday_range_from_zero", "* * * * 0-2", "weekdays", {0, 1, 2}),
    ("cronsim test_it_parses_sun_tue", "* * * * sun-tue", "weekdays", {0, 1, 2}),
    ("cronsim test_it_starts_weekday_step_from_zero", "* * * * */2", "weekdays", {0, 2, 4, 6}),
    ("cronsim test_it_handles_a_mix_of_ints_and_tuples", "* * * * 1,2,3#1", "weekdays",
     {1, 2, 3}),
    ("cronsim test_it_handles_a_mix_of_ints_and_tuples", "* * * * 1,2,3#1", "nth_weekdays",
     {3: {1}}),
    ("cronsim test_it_accepts_weekday_7", "* * * * 7", "weekdays", {0}),
    ("croniter testOptimizeCronExpressions", "0-59 0 1 1 0", "minutes", ALL_MINUTES),
    ("croniter testOptimizeCronExpressions", "0 0-23 1 1 0", "hours", ALL_HOURS),
    ("croniter testOptimizeCronExpressions", "0 0 1-31 1 *", "days", ALL_DAYS),
    ("croniter testOptimizeCronExpressions", "0 0 1 1-12 0", "months", ALL_MONTHS),
    ("croniter testOptimizeCronExpressions", "0 0 1 1 0-6", "weekdays", ALL_WEEKDAYS),
    ("croniter testOptimizeCronExpressions", "0-59 0 0 1 1 0", "seconds", tuple(range(60))),
    ("croniter testOptimizeCronExpressions", "30 1-12,0,10-23 15-21 * fri", "hours", ALL_HOURS),
    ("croniter testOptimizeCronExpressions", "30 1-23,0 15-21 * fri", "hours", ALL_HOURS),
    ("croniter testBlockDupRanges", "* 5,5,1-6 * * *", "hours", (1, 2, 3, 4, 5, 6)),
    ("croniter testBlockDupRanges", "* * * * 2-3,4-5,3,3,3", "weekdays", {2, 3, 4, 5}),
    ("croniter testBlockDupRanges", "1,5,*/20,20,15 * * * * *", "seconds",
     (0, 1, 5, 15, 20, 40)),
    ("croniter testBlockDupRanges", "* 4,1-4,5,4 * * *", "hours", (1, 2, 3, 4, 5)),
    ("croniter testBlockDupRanges", "59 23 * 1 wed,fri,mon-thu,tue,tue", "weekdays",
     {1, 2, 3, 4, 5}),
    ("croniter test_confirm_sort", "0 8,22,10,23 1 1 0", "hours", (8, 10, 22, 23)),
    ("croniter test_confirm_sort", "0 0 25-L 1 0", "days", {25, 26, 27, 28, 29, 30, 31}),
    ("croniter test_confirm_sort", "1 1 7,14,21,L * *", "days", {7, 14, 21}),
    ("croniter test_confirm_sort", "1 1 7,14,21,L * *", "last_day", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expression", "field", "expected"),
    EXPANSIONS,
    ids=[f"{s.split()[1]}:{e}:{f}" for s, e, f, _ in EXPANSIONS],
)
def test_a_field_expands_to_the_values_the_suites_expect(
    source: str, expression: str, field: str, expected: object
) -> None:
    assert getattr(CronSpec.parse(expression), field) == expected, source


@pytest.mark.parametrize("expression", ["* * * * 1-7", "* * * * 7"])
def test_sunday_as_7_is_accepted_at_the_end_of_a_range_and_alone(expression: str) -> None:
    # croniter test_revert_issue_90_aka_support_DOW7
    assert CronSpec.parse(expression).expression == expression


# -- field syntax: next fire times -----------------------------------------------------------

SYNTAX: list[Case] = [
    case("cronsim test_it_handles_l", "1 1 L * *", "2020-01-01", "2020-01-31 01:01"),
    case("cronsim test_it_handles_last_friday (5L)", "1 1 * * L5", "2020-01-01",
         "2020-01-31 01:01", "2020-02-28 01:01", "2020-03-27 01:01", "2020-04-24 01:01",
         "2020-05-29 01:01", "2020-06-26 01:01", "2020-07-31 01:01", "2020-08-28 01:01",
         "2020-09-25 01:01", "2020-10-30 01:01", "2020-11-27 01:01", "2020-12-25 01:01"),
    case("cronsim test_it_handles_last_sunday_two_notations (0L)", "1 1 * * L0", "2020-01-01",
         "2020-01-26 01:01"),
    case("cronsim test_it_handles_last_sunday_two_notations (7L)", "1 1 * * L7", "2020-01-01",
         "2020-01-26 01:01"),
    case("cronsim test_it_handles_nth_weekday", "1 1 * * 1#2", "2020-01-01", "2020-01-13 01:01"),
    case("cronsim test_it_handles_every_x_weekdays", "1 1 * * */3", "2020-01-01",
         "2020-01-01 01:01", "2020-01-04 01:01", "2020-01-05 01:01", "2020-01-08 01:01"),
    case("cronsim test_it_handles_seconds", "*/15 * * * * *", "2020-01-01",
         "2020-01-01 00:00:15", "2020-01-01 00:00:30", "2020-01-01 00:00:45",
         "2020-01-01 00:01:00", "2020-01-01 00:01:15"),
    case("croniter testSecondSec", "15,25 * * * * *", "2012-04-06 13:26:10",
         "2012-04-06 13:26:15", "2012-04-06 13:26:25", "2012-04-06 13:27:15"),
    case("croniter testSecond", "*/1 * * * * *", "2012-04-06 13:26:10", "2012-04-06 13:26:11"),
    case("croniter testSecondRepeat", "*/15 * * * * *", "2012-04-06 13:26:36",
         "2012-04-06 13:26:45", "2012-04-06 13:27:00", "2012-04-06 13:27:15"),
    case("croniter testMinute", "*/1 * * * *", "2010-01-23 12:18",
         *[f"2010-01-23 12:{minute:02}" for minute in range(19, 60)], "2010-01-23 13:00"),
    case("croniter testMinute", "*/5 * * * *", "2010-01-23 12:18",
         *[f"2010-01-23 12:{minute:02}" for minute in range(20, 60, 5)], "2010-01-23 13:00"),
    case("croniter testHour", "0 */3 * * *", "2010-01-24 12:02",
         "2010-01-24 15:00", "2010-01-24 18:00", "2010-01-24 21:00", "2010-01-25 00:00"),
    case("croniter testDay", "0 0 */3 * *", "2010-02-24 12:09",
         "2010-02-25", "2010-02-28", "2010-03-01"),
    case("croniter testWeekDay", "0 0 * * sat", "2010-02-25", "2010-02-27", "2010-03-06"),
    case("croniter testISOWeekday", "0 0 * * 6", "2010-02-25", "2010-02-27", "2010-03-06"),
    case("croniter testSundayToThursdayWithAlphaConversion", "30 22 * * sun-thu",
         "2010-08-25 15:56", "2010-08-25 22:30"),
    case("croniter testNthWeekDay", "0 0 * * sat#1", "2010-02-25", "2010-03-06", "2010-04-03"),
    case("croniter testNthWeekDay", "0 0 * * wed#5", "2010-01-25",
         "2010-03-31", "2010-06-30", "2010-09-29"),
    case("croniter testMonth", "0 0 1 * *", "2010-01-25",
         *[f"2010-{month:02}-01" for month in range(2, 13)], "2011-01-01"),
    case("croniter testBug2", "0 * * 3 *", "2012-01-01",
         "2012-03-01 00:00", "2012-03-01 01:00", "2012-03-01 02:00"),
    case("croniter testBug3", "00 03 16,30 * *", "2013-03-01 12:17:34.257877",
         "2013-03-16 03:00", "2013-03-30 03:00", "2013-04-16 03:00"),
    case("croniter testBug57", "0 4/6 * * *", "2012-02-24", "2012-02-24 04:00"),
    case("croniter testBug57", "0 0/6 * * *", "2012-02-24", "2012-02-24 06:00"),
    case("croniter test_multiple_months", "0 0 1 3,6,9,12 *", "2016-03-01", "2016-06-01"),
    case("croniter test_multiple_months", "0 0 1 3,6,9,12 *", "2016-02-15", "2016-03-01"),
    case("croniter test_multiple_months", "0 0 1 3,6,9,12 *", "2016-12-03 10:00",
         "2017-03-01"),
    case("croniter test_rangeGenerator", "1-9/2 0 1 * *", "2013-03-04",
         "2013-04-01 00:01", "2013-04-01 00:03", "2013-04-01 00:05", "2013-04-01 00:07",
         "2013-04-01 00:09"),
    case("croniter test_milliseconds", "0 10 * * *", "2018-01-02 10:00:00.000500",
         "2018-01-03 10:00"),
    case("croniter test_milliseconds", "0 10 * * *", "2018-01-02 10:00:01", "2018-01-03 10:00"),
    case("croniter test_milliseconds", "0 10 * * *", "2018-01-02 09:59:59.999999",
         "2018-01-02 10:00"),
    case("croniter test_issue156", "* * * * *,0", "2019-01-14 11:00:59.999999",
         "2019-01-14 11:01"),
    case("croniter test_question_mark", "0 0 1 * ?", "2010-08-25 15:56", "2010-09-01"),
    case("croniter test_configure_second_location", "59 58 1 * * *", "2010-08-25",
         "2010-08-25 01:58:59"),
    case("croniter test_get_next_update_current", "* * * * * *", "2024-07-12",
         "2024-07-12 00:00:01", "2024-07-12 00:00:02", "2024-07-12 00:00:03"),
    case("croniter test_issue_2038y", "* * * * *", "2040-01-01", "2040-01-01 00:01"),
    case("croniter_dst_repetition CroniterDST138Test", "*/5 * * * *", "2024-01-25 04:46",
         "2024-01-25 04:50", "2024-01-25 04:55", "2024-01-25 05:00"),
    case("croniter test_lwom_friday", "0 0 * * L5", "1987-01-15",
         "1987-01-30", "1987-02-27", "1987-03-27", "1987-04-24", "1987-05-29", "1987-06-26",
         "1987-07-31", "1987-08-28", "1987-09-25", "1987-10-30", "1987-11-27", "1987-12-25"),
    case("croniter test_lwom_friday_2hours", "0 1,5 * * L5", "1987-01-15",
         "1987-01-30 01:00", "1987-01-30 05:00", "1987-02-27 01:00", "1987-02-27 05:00",
         "1987-03-27 01:00", "1987-03-27 05:00", "1987-04-24 01:00", "1987-04-24 05:00",
         "1987-05-29 01:00", "1987-05-29 05:00", "1987-06-26 01:00", "1987-06-26 05:00"),
    case("croniter test_lwom_friday_2xh_2xm", "0,30 1,5 * * L5", "1987-01-15",
         "1987-01-30 01:00", "1987-01-30 01:30", "1987-01-30 05:00", "1987-01-30 05:30",
         "1987-02-27 01:00", "1987-02-27 01:30", "1987-02-27 05:00", "1987-02-27 05:30",
         "1987-03-27 01:00", "1987-03-27 01:30", "1987-03-27 05:00", "1987-03-27 05:30"),
    case("croniter test_lwom_saturday_rev (walked forwards)", "0 0 * * L6", "2017-01-01",
         "2017-01-28", "2017-02-25", "2017-03-25", "2017-04-29", "2017-05-27", "2017-06-24",
         "2017-07-29", "2017-08-26", "2017-09-30", "2017-10-28", "2017-11-25", "2017-12-30"),
    case("croniter test_lwom_tue_thu", "0 0 * * L2,L4", "2016-06-01",
         "2016-06-28", "2016-06-30", "2016-07-26", "2016-07-28", "2016-08-25", "2016-08-30",
         "2016-09-27", "2016-09-29", "2016-10-25", "2016-10-27"),
    case("croniter test_hash_mixup_all_fri_3rd_sat", "0 0 * * 6#3", "2021-03-01", "2021-03-20"),
    case("croniter test_hash_mixup_all_fri_3rd_sat", "0 0 * * 5", "2021-03-01",
         "2021-03-05", "2021-03-12", "2021-03-19", "2021-03-26"),
    case("croniter test_lwom_mixup_all_fri_last_sat", "0 0 * * L6", "2021-03-01", "2021-03-27"),
    case("croniter test_lwom_mixup_firstlast_sat", "0 0 * * 6#1", "2021-03-01",
         "2021-03-06", "2021-04-03", "2021-05-01"),
    case("croniter test_lwom_mixup_firstlast_sat", "0 0 * * L6", "2021-03-01",
         "2021-03-27", "2021-04-24", "2021-05-29"),
    case("croniter test_lwom_mixup_firstlast_sat", "0 0 * * L6,6#1", "2021-03-01",
         "2021-03-06", "2021-03-27", "2021-04-03", "2021-04-24", "2021-05-01", "2021-05-29"),
    case("croniter test_lwom_mixup_4th_and_last", "0 0 * * 1#4", "2021-11-01",
         "2021-11-22", "2021-12-27", "2022-01-24"),
    case("croniter test_lwom_mixup_4th_and_last", "0 0 * * L1", "2021-11-01",
         "2021-11-29", "2021-12-27", "2022-01-31"),
    case("croniter test_lwom_mixup_4th_and_last", "0 0 * * 1#4,L1", "2021-11-01",
         "2021-11-22", "2021-11-29", "2021-12-27", "2022-01-24", "2022-01-31"),
]  # fmt: skip


@pytest.mark.parametrize("c", SYNTAX, ids=[f"{c.source}:{c.expression}" for c in SYNTAX])
def test_field_syntax_fires_where_the_suites_expect(c: Case) -> None:
    check(c)


# croniter test_sunday_ranges_to / _from: the day of the month of the first 30 fires after
# 2024-01-01 (a Monday), for each spelling of the range sched accepts.
SUNDAY_RANGES: list[tuple[str, list[int]]] = [
    ("mon-7", list(range(2, 32))),
    ("tue-7", [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 23, 24, 25,
               26, 27, 28, 30, 31, 1, 2, 3, 4]),
    ("wed-7", [3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28, 31,
               1, 2, 3, 4, 7, 8, 9, 10, 11]),
    ("thu-7", [4, 5, 6, 7, 11, 12, 13, 14, 18, 19, 20, 21, 25, 26, 27, 28, 1, 2, 3, 4, 8, 9,
               10, 11, 15, 16, 17, 18, 22, 23]),
    ("fri-7", [5, 6, 7, 12, 13, 14, 19, 20, 21, 26, 27, 28, 2, 3, 4, 9, 10, 11, 16, 17, 18,
               23, 24, 25, 1, 2, 3, 8, 9, 10]),
    ("sat-7", [6, 7, 13, 14, 20, 21, 27, 28, 3, 4, 10, 11, 17, 18, 24, 25, 2, 3, 9, 10, 16,
               17, 23, 24, 30, 31, 6, 7, 13, 14]),
    ("sun-mon", [7, 8, 14, 15, 21, 22, 28, 29, 4, 5, 11, 12, 18, 19, 25, 26, 3, 4, 10, 11, 17,
                 18, 24, 25, 31, 1, 7, 8, 14, 15]),
    ("0-mon", [7, 8, 14, 15, 21, 22, 28, 29, 4, 5, 11, 12, 18, 19, 25, 26, 3, 4, 10, 11, 17,
               18, 24, 25, 31, 1, 7, 8, 14, 15]),
    ("sun-tue", [2, 7, 8, 9, 14, 15, 16, 21, 22, 23, 28, 29, 30, 4, 5, 6, 11, 12, 13, 18, 19,
                 20, 25, 26, 27, 3, 4, 5, 10, 11]),
    ("sun-wed", [2, 3, 7, 8, 9, 10, 14, 15, 16, 17, 21, 22, 23, 24, 28, 29, 30, 31, 4, 5, 6, 7,
                 11, 12, 13, 14, 18, 19, 20, 21]),
    ("0-thu", [2, 3, 4, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 28, 29, 30,
               31, 1, 4, 5, 6, 7, 8, 11, 12]),
    ("sun-fri", [2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25,
                 26, 28, 29, 30, 31, 1, 2, 4, 5]),
    ("0-sat", list(range(2, 32))),
]  # fmt: skip


@pytest.mark.parametrize(("weekdays", "days"), SUNDAY_RANGES, ids=[r for r, _ in SUNDAY_RANGES])
def test_a_weekday_range_starting_or_ending_on_sunday_fires_on_the_suites_days(
    weekdays: str, days: list[int]
) -> None:
    fires = next_fires(f"0 0 * * {weekdays}", "UTC", "2024-01-01", 30)
    assert [fire.day for fire in fires] == days


# croniter test_mth_ranges_from: (year, month) of the first 16 fires after 2024-01-01.
MONTH_RANGES: list[tuple[str, list[tuple[int, int]]]] = [
    ("Jan-Dec", [(2024, m) for m in range(2, 13)] + [(2025, m) for m in range(1, 6)]),
    ("Jan-Aug/2", [(2024, 3), (2024, 5), (2024, 7)]
     + [(y, m) for y in (2025, 2026, 2027) for m in (1, 3, 5, 7)] + [(2028, 1)]),
    ("Jan-Aug/4", [(2024, 5)] + [(y, m) for y in range(2025, 2032) for m in (1, 5)]
     + [(2032, 1)]),
]  # fmt: skip


@pytest.mark.parametrize(("months", "expected"), MONTH_RANGES, ids=[r for r, _ in MONTH_RANGES])
def test_a_month_range_fires_in_the_suites_months(
    months: str, expected: list[tuple[int, int]]
) -> None:
    fires = next_fires(f"0 0 1 {months} *", "UTC", "2024-01-01", 16)
    assert [(fire.year, fire.month) for fire in fires] == expected


def test_a_stepped_range_up_to_the_last_day_restarts_each_month() -> None:
    # croniter test_issue_142_dow: "35 * 1-l/8 * *" is the 1st, 9th, 17th and 25th, started
    # from midnight on each day of January 2020.
    expected = {1: "01-01", 9: "01-09", 17: "01-17", 25: "01-25", 30: "02-01"}
    for start_day in range(1, 31):
        first_day = min(day for day in expected if day >= start_day)
        wanted = instant(f"2020-{expected[first_day]} 00:35")
        assert next_fires("35 * 1-l/8 * *", "UTC", f"2020-01-{start_day:02}", 1) == [wanted]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # croniter test_weekday_range, with the seconds field moved to the front
        ("* 0 0 * * 2-4", ["2019-01-15 00:00:00", "2019-01-16 00:00:01", "2019-01-17 00:00:02",
                           "2019-01-22 00:00:00", "2019-01-23 00:00:01", "2019-01-24 00:00:02",
                           "2019-01-29 00:00:00", "2019-01-30 00:00:01", "2019-01-31 00:00:02",
                           "2019-02-05 00:00:00"]),
        ("* 0 0 * * 0-6", ["2019-01-14 00:00:01", "2019-01-15 00:00:02", "2019-01-16 00:00:03",
                           "2019-01-17 00:00:04", "2019-01-18 00:00:05", "2019-01-19 00:00:06",
                           "2019-01-20 00:00:07", "2019-01-21 00:00:08", "2019-01-22 00:00:09",
                           "2019-01-23 00:00:10"]),
    ],
)  # fmt: skip
def test_restarting_a_day_later_each_time_walks_the_seconds_of_midnight(
    expression: str, expected: list[str]
) -> None:
    trigger = CronTrigger(expression, ZoneInfo("UTC"))
    got: list[datetime] = []
    after = instant("2019-01-14")
    for _ in expected:
        fire = trigger.next_fire(after)
        assert fire is not None
        got.append(fire)
        after = fire + timedelta(days=1)
    assert got == [instant(text) for text in expected]


@pytest.mark.parametrize(
    ("expression", "first", "last", "expected"),
    [
        # croniter test_match_range (day_or=True halves)
        ("0 0 * * *", "2019-01-13 00:59", "2019-01-14 00:01", ["2019-01-14"]),
        ("0 0 * * *", "2019-01-13 00:01", "2019-01-13 00:59", []),
        ("1 0 0 * * *", "2023-05-25 00:00:00", "2023-05-25 00:00:02", ["2023-05-25 00:00:01"]),
        ("1 0 0 * * *", "2023-05-25 00:00:02", "2023-05-25 00:00:04", []),
        ("1 0 0 * * *", "2023-05-25 00:00:01", "2023-05-25 00:00:04", ["2023-05-25 00:00:01"]),
        ("31 * * * *", "2019-01-14 01:30", "2019-01-14 01:31", ["2019-01-14 01:31"]),
        ("0 0 10 * wed", "2020-06-09", "2020-06-11", ["2020-06-10"]),
        ("0 0 10 * fri", "2020-06-10", "2020-06-11", ["2020-06-10"]),
        ("0 0 10 * fri", "2020-06-11", "2020-06-12", ["2020-06-12"]),
        # croniter_range: test_1day_step, test_1minute_step_float, test_configure_second_location
        ("0 0 * * *", "2016-12-02", "2016-12-10", [f"2016-12-{day:02}" for day in range(2, 11)]),
        ("* * * * *", "2000-01-01 00:00", "2000-01-01 00:01",
         ["2000-01-01 00:00", "2000-01-01 00:01"]),
        ("*/20 * * * * *", "2016-12-02 00:00:00", "2016-12-02 00:01:00",
         ["2016-12-02 00:00:00", "2016-12-02 00:00:20", "2016-12-02 00:00:40",
          "2016-12-02 00:01:00"]),
        # test_1month_step: 24 first days of the month, from 1982-01-01 to 1983-12-01
        ("0 0 1 * *", "1982-01-01", "1983-12-31",
         [f"{year}-{month:02}-01" for year in (1982, 1983) for month in range(1, 13)]),
    ],
)  # fmt: skip
def test_the_fires_in_a_closed_window_are_the_suites_range(
    expression: str, first: str, last: str, expected: list[str]
) -> None:
    assert fires_between(expression, "UTC", first, last) == [instant(t) for t in expected]


@pytest.mark.parametrize(
    ("expression", "wall", "expected"),
    [
        # croniter test_match (day_or=True)
        ("0 0 * * *", "2019-01-14 00:00", True),
        ("0 0 * * *", "2019-01-14 00:01", False),
        ("1 0 0 * * *", "2023-05-25 00:00:01", True),
        ("1 0 0 * * *", "2023-05-25 00:00:02", False),
        ("31 * * * *", "2019-01-14 01:31", True),
        ("0 0 10 * wed", "2020-06-10", True),
        ("0 0 10 * fri", "2020-06-10", True),
        ("0 0 10 * fri", "2020-06-12", True),
    ],
)
def test_a_wall_time_matches_as_the_suites_expect(
    expression: str, wall: str, expected: bool
) -> None:
    assert matches(expression, wall) is expected


@pytest.mark.parametrize(
    ("expression", "year", "month", "days"),
    [
        # croniter test_nth_wday_simple: every Monday, Tuesday, ... of a month
        ("0 0 * * mon", 2000, 1, [3, 10, 17, 24, 31]),
        ("0 0 * * tue", 2000, 2, [1, 8, 15, 22, 29]),
        ("0 0 * * wed", 2000, 3, [1, 8, 15, 22, 29]),
        ("0 0 * * thu", 2000, 4, [6, 13, 20, 27]),
        ("0 0 * * fri", 2000, 2, [4, 11, 18, 25]),
        ("0 0 * * sat", 2000, 2, [5, 12, 19, 26]),
        # test_nth_as_last_wday_simple and test_wdom_core_leap_year: last weekdays of
        # February 2000, a leap month
        ("0 0 * * L2", 2000, 2, [29]),
        ("0 0 * * L0", 2000, 2, [27]),
        ("0 0 * * L1", 2000, 2, [28]),
        ("0 0 * * L3", 2000, 2, [23]),
        ("0 0 * * L4", 2000, 2, [24]),
        ("0 0 * * L5", 2000, 2, [25]),
        ("0 0 * * L6", 2000, 2, [26]),
    ],
)
def test_the_days_of_a_month_a_weekday_expression_matches(
    expression: str, year: int, month: int, days: list[int]
) -> None:
    spec = CronSpec.parse(expression)
    month_days = range(1, calendar.monthrange(year, month)[1] + 1)
    assert [day for day in month_days if spec.day_matches(year, month, day)] == days


# -- day-of-month and day-of-week: Vixie cron's OR, unless a field starts with * -------------

DAY_FIELDS: list[Case] = [
    case("croniter testWeekDay (1st or Wednesday)", "0 0 1 * wed", "2010-01-25",
         "2010-01-27", "2010-02-01", "2010-02-03"),
    case("cronsim test_it_handles_dow_star (first Sunday)", "1 1 1-7 * */7", "2020-01-01",
         "2020-01-05 01:01", "2020-02-02 01:01", "2020-03-01 01:01", "2020-04-05 01:01"),
    case("cronsim test_it_handles_dom_star (first Monday)", "1 1 */100,1-7 * MON",
         "2020-01-01",
         "2020-01-06 01:01", "2020-02-03 01:01", "2020-03-02 01:01", "2020-04-06 01:01"),
    case("croniter testDomDowVixieCronBug (implement_cron_bug)", "0 16 */2 * sat", "2023-05-02",
         "2023-05-13 16:00", "2023-05-27 16:00", "2023-06-03 16:00", "2023-06-17 16:00"),
]  # fmt: skip


@pytest.mark.parametrize("c", DAY_FIELDS, ids=[f"{c.source}:{c.expression}" for c in DAY_FIELDS])
def test_the_day_fields_combine_as_vixie_cron_combines_them(c: Case) -> None:
    check(c)


# -- month ends and leap years ---------------------------------------------------------------

CALENDAR: list[Case] = [
    case("croniter testDay (leap year 1996)", "0 0 * * *", "1996-02-27",
         "1996-02-28", "1996-02-29"),
    case("croniter testDay (leap year 2000)", "0 0 * * *", "2000-02-27",
         "2000-02-28", "2000-02-29"),
    case("croniter testLastDayOfMonth", "0 0 l * *", "2015-09-04",
         "2015-09-30", "2015-10-31", "2015-11-30", "2015-12-31"),
    case("croniter testRangeWithUppercaseLastDayOfMonth", "0 0 29-L * *", "2015-09-04",
         "2015-09-29", "2015-09-30"),
]  # fmt: skip


@pytest.mark.parametrize("c", CALENDAR, ids=[f"{c.source}:{c.expression}" for c in CALENDAR])
def test_month_ends_and_leap_days_are_where_the_suites_expect(c: Case) -> None:
    check(c)


# -- daylight saving in real zones -----------------------------------------------------------

# Europe/Riga in 2021 (cronsim TestDstTransitions): 03:00 EET -> 04:00 EEST on 28 March,
# 04:00 EEST -> 03:00 EET on 31 October.
RIGA = "Europe/Riga"
EVERY_HOUR_LISTED = "0 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 * * *"
DST: list[Case] = [
    case("cronsim test_001_every_hour_mar", "0 * * * *", "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-28T04:00+03:00", zone=RIGA),
    case("cronsim test_001_every_hour_oct", "0 * * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-10-31T03:00+03:00", "2021-10-31T03:00+02:00",
         "2021-10-31T04:00+02:00", zone=RIGA),
    case("cronsim test_002_every_30_minutes_mar", "*/30 * * * *", "2021-03-28T02:10+02:00",
         "2021-03-28T02:30+02:00", "2021-03-28T04:00+03:00", "2021-03-28T04:30+03:00",
         zone=RIGA),
    case("cronsim test_002_every_30_minutes_oct", "*/30 * * * *", "2021-10-31T02:10+03:00",
         "2021-10-31T02:30+03:00", "2021-10-31T03:00+03:00", "2021-10-31T03:30+03:00",
         "2021-10-31T03:00+02:00", "2021-10-31T03:30+02:00", "2021-10-31T04:00+02:00",
         zone=RIGA),
    case("cronsim test_003_every_15_minutes_mar", "*/15 * * * *", "2021-03-28T02:40+02:00",
         "2021-03-28T02:45+02:00", "2021-03-28T04:00+03:00", zone=RIGA),
    case("cronsim test_003_every_15_minutes_oct", "*/15 * * * *", "2021-10-31T02:40+03:00",
         "2021-10-31T02:45+03:00", "2021-10-31T03:00+03:00", "2021-10-31T03:15+03:00",
         "2021-10-31T03:30+03:00", "2021-10-31T03:45+03:00", "2021-10-31T03:00+02:00",
         "2021-10-31T03:15+02:00", "2021-10-31T03:30+02:00", "2021-10-31T03:45+02:00",
         "2021-10-31T04:00+02:00", zone=RIGA),
    case("cronsim test_004_every_2_hours_mar", "0 */2 * * *", "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-28T04:00+03:00", "2021-03-28T06:00+03:00",
         zone=RIGA),
    case("cronsim test_004_every_2_hours_oct", "0 */2 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-10-31T04:00+02:00", "2021-10-31T06:00+02:00",
         zone=RIGA),
    case("cronsim test_005_30_minutes_past_every_2_hours_mar", "30 */2 * * *",
         "2021-03-28T01:30+02:00",
         "2021-03-28T02:30+02:00", "2021-03-28T04:30+03:00", zone=RIGA),
    case("cronsim test_005_30_minutes_past_every_2_hours_oct", "30 */2 * * *",
         "2021-10-31T01:30+03:00",
         "2021-10-31T02:30+03:00", "2021-10-31T04:30+02:00", zone=RIGA),
    case("cronsim test_006_every_3_hours_oct", "0 */3 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T03:00+03:00", "2021-10-31T03:00+02:00", "2021-10-31T06:00+02:00",
         zone=RIGA),
    case("cronsim test_008_at_1_2_3_4_5_mar", "0 1,2,3,4,5 * * *", "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-28T04:00+03:00", "2021-03-28T05:00+03:00",
         zone=RIGA),
    case("cronsim test_008_at_1_2_3_4_5_oct", "0 1,2,3,4,5 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-10-31T03:00+03:00", "2021-10-31T04:00+02:00",
         zone=RIGA),
    case("cronsim test_009_30_past_1_2_3_4_5_mar", "30 1,2,3,4,5 * * *",
         "2021-03-28T01:30+02:00",
         "2021-03-28T02:30+02:00", "2021-03-28T04:00+03:00", "2021-03-28T04:30+03:00",
         zone=RIGA),
    case("cronsim test_009_30_past_1_2_3_4_5_oct", "30 1,2,3,4,5 * * *",
         "2021-10-31T01:30+03:00",
         "2021-10-31T02:30+03:00", "2021-10-31T03:30+03:00", "2021-10-31T04:30+02:00",
         zone=RIGA),
    case("cronsim test_010_at_2_mar", "0 2 * * *", "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-29T02:00+03:00", zone=RIGA),
    case("cronsim test_010_at_2_oct", "0 2 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-11-01T02:00+02:00", zone=RIGA),
    case("cronsim test_011_at_3_mar", "0 3 * * *", "2021-03-27T01:30+02:00",
         "2021-03-27T03:00+02:00", "2021-03-28T04:00+03:00", "2021-03-29T03:00+03:00",
         zone=RIGA),
    case("cronsim test_011_at_3_oct", "0 3 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T03:00+03:00", "2021-11-01T03:00+02:00", zone=RIGA),
    case("cronsim test_012_at_4_mar", "0 4 * * *", "2021-03-27T01:30+02:00",
         "2021-03-27T04:00+02:00", "2021-03-28T04:00+03:00", "2021-03-29T04:00+03:00",
         zone=RIGA),
    case("cronsim test_012_at_4_oct", "0 4 * * *", "2021-10-30T01:30+03:00",
         "2021-10-30T04:00+03:00", "2021-10-31T04:00+02:00", "2021-11-01T04:00+02:00",
         zone=RIGA),
    case("cronsim test_014_every_hour_enumerated_mar", EVERY_HOUR_LISTED,
         "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-28T04:00+03:00", "2021-03-28T05:00+03:00",
         zone=RIGA),
    case("cronsim test_014_every_hour_enumerated_oct", EVERY_HOUR_LISTED,
         "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-10-31T03:00+03:00", "2021-10-31T04:00+02:00",
         zone=RIGA),
    case("cronsim test_015_every_other_hour_enumerated_mar",
         "0 1,3,5,7,9,11,13,15,17,19,21,23 * * *", "2021-03-28T00:30+02:00",
         "2021-03-28T01:00+02:00", "2021-03-28T04:00+03:00", "2021-03-28T05:00+03:00",
         zone=RIGA),
    case("cronsim test_015_every_other_hour_enumerated_oct",
         "0 1,3,5,7,9,11,13,15,17,19,21,23 * * *", "2021-10-31T00:30+03:00",
         "2021-10-31T01:00+03:00", "2021-10-31T03:00+03:00", "2021-10-31T05:00+02:00",
         zone=RIGA),
    case("cronsim test_016_at_1_to_5_mar", "0 1-5 * * *", "2021-03-28T01:30+02:00",
         "2021-03-28T02:00+02:00", "2021-03-28T04:00+03:00", "2021-03-28T05:00+03:00",
         zone=RIGA),
    case("cronsim test_016_at_1_to_5_oct", "0 1-5 * * *", "2021-10-31T01:30+03:00",
         "2021-10-31T02:00+03:00", "2021-10-31T03:00+03:00", "2021-10-31T04:00+02:00",
         zone=RIGA),
    case("cronsim test_at_3_15_mar", "15 3 * * *", "2021-03-27T00:00+02:00",
         "2021-03-27T03:15+02:00", "2021-03-28T04:00+03:00", "2021-03-29T03:15+03:00",
         zone=RIGA),
    case("cronsim test_at_3_15_oct", "15 3 * * *", "2021-10-30T00:00+03:00",
         "2021-10-30T03:15+03:00", "2021-10-31T03:15+03:00", "2021-11-01T03:15+02:00",
         zone=RIGA),
    case("cronsim test_every_minute_mar", "* * * * *", "2021-03-28T02:58+02:00",
         "2021-03-28T02:59+02:00", "2021-03-28T04:00+03:00", zone=RIGA),
    case("cronsim test_every_minute_oct", "* * * * *", "2021-10-31T03:58+03:00",
         "2021-10-31T03:59+03:00", "2021-10-31T03:00+02:00", "2021-10-31T03:01+02:00",
         zone=RIGA),
    case("cronsim test_every_minute_from_1_to_6_mar", "* 1-6 * * *", "2021-03-28T02:58+02:00",
         "2021-03-28T02:59+02:00", "2021-03-28T04:00+03:00", zone=RIGA),
    case("cronsim test_every_minute_from_1_to_6_oct", "* 1-6 * * *", "2021-10-31T03:58+03:00",
         "2021-10-31T03:59+03:00", "2021-10-31T03:00+02:00", "2021-10-31T03:01+02:00",
         zone=RIGA),
    # Europe/Athens 2013: 03:00 EET -> 04:00 EEST on 31 March, 04:00 -> 03:00 on 27 October.
    case("croniter testTimezoneWinterTime", "*/30 * * * *", "2013-10-27T02:00+03:00",
         "2013-10-27T02:30+03:00", "2013-10-27T03:00+03:00", "2013-10-27T03:30+03:00",
         "2013-10-27T03:00+02:00", "2013-10-27T03:30+02:00", "2013-10-27T04:00+02:00",
         "2013-10-27T04:30+02:00", zone="Europe/Athens"),
    case("croniter testTimezoneSummerTime", "*/30 * * * *", "2013-03-31T01:00+02:00",
         "2013-03-31T01:30+02:00", "2013-03-31T02:00+02:00", "2013-03-31T02:30+02:00",
         "2013-03-31T04:00+03:00", "2013-03-31T04:30+03:00", zone="Europe/Athens"),
    # Europe/Warsaw 2017: 02:00 CET -> 03:00 CEST on 26 March, 03:00 -> 02:00 on 29 October.
    case("croniter test_std_dst", "0 0 * * *", "2017-03-26T00:00+01:00",
         "2017-03-27T00:00+02:00", zone="Europe/Warsaw"),
    case("croniter test_std_dst", "0 * * * *", "2017-03-26T01:00+01:00",
         "2017-03-26T03:00+02:00", zone="Europe/Warsaw"),
    case("croniter test_std_dst", "0 0 * * *", "2017-10-29T00:00+02:00",
         "2017-10-30T00:00+01:00", zone="Europe/Warsaw"),
    case("croniter test_std_dst", "0 * * * *", "2017-10-29T01:59+02:00",
         "2017-10-29T02:00+02:00", zone="Europe/Warsaw"),
    case("croniter test_std_dst", "0 * * * *", "2017-10-29T02:00+01:00",
         "2017-10-29T03:00+01:00", "2017-10-29T04:00+01:00", "2017-10-29T05:00+01:00",
         "2017-10-29T06:00+01:00", zone="Europe/Warsaw"),
    # America/Sao_Paulo: 00:00 -02 -> 23:00 -03 the evening before, on 18 February 2018.
    *[
        case("croniter test_std_dst2", "0 0 * * *", start, "2018-02-18T00:00-03:00",
             zone="America/Sao_Paulo")
        for start in ["2018-02-17T21:00-02:00", "2018-02-17T22:00-02:00",
                      "2018-02-17T23:00-03:00", "2018-02-17T21:05-02:00",
                      "2018-02-17T22:05-02:00", "2018-02-17T23:05-03:00"]
    ],
    *[
        case("croniter test_std_dst2", "0 0 * * *", start, "2018-02-19T00:00-03:00",
             zone="America/Sao_Paulo")
        for start in ["2018-02-18T00:00-03:00", "2018-02-18T00:05-03:00"]
    ],
    case("croniter test_std_dst3", "0 0 24 * *", "2020-04-15T00:00+09:30",
         "2020-04-24T00:00+09:30", zone="Australia/Adelaide"),
    # Asia/Hebron: 00:00 -> 01:00 on 27 March 2022; midnight does not exist that day.
    case("croniter test_dst_iter", "0 0 * * *", "2022-03-25T23:30+02:00",
         "2022-03-26T00:00+02:00", "2022-03-27T01:00+03:00", "2022-03-28T00:00+03:00",
         zone="Asia/Hebron"),
]  # fmt: skip


@pytest.mark.parametrize("c", DST, ids=[f"{c.source}:{c.after}" for c in DST])
def test_dst_changes_in_real_zones_fire_where_the_suites_expect(c: Case) -> None:
    check(c)


@pytest.mark.parametrize(
    ("expression", "first", "last", "expected"),
    [
        # croniter_range test_extra_hour_day_prio: 02:00 EST -> 03:00 EDT on 8 March 2020
        ("0 3 * * *", "2020-03-07T00:00-05:00", "2020-03-11T00:00-04:00",
         ["2020-03-07T03:00-05:00", "2020-03-08T03:00-04:00", "2020-03-09T03:00-04:00",
          "2020-03-10T03:00-04:00"]),
        # croniter_range test_timezone_dst: 12 midnights across 02:00 EDT -> 01:00 EST on
        # 1 November 2020
        ("0 0 * * *", "2020-10-30T00:00-04:00", "2020-11-10T00:00-05:00",
         ["2020-10-30T00:00-04:00", "2020-10-31T00:00-04:00", "2020-11-01T00:00-04:00",
          *[f"2020-11-{day:02}T00:00-05:00" for day in range(2, 11)]]),
    ],
)  # fmt: skip
def test_the_fires_in_a_window_across_a_new_york_change_are_the_suites_range(
    expression: str, first: str, last: str, expected: list[str]
) -> None:
    got = fires_between(expression, "America/New_York", first, last)
    assert got == [instant(text) for text in expected]


# -- rejections ------------------------------------------------------------------------------

ALLOWED_MINUTE = "allowed: 0-59, with ranges a-b, steps */n and lists a,b"
ALLOWED_DOM = "allowed: 1-31 or L, with ranges a-b, steps */n and lists a,b"
ALLOWED_DOW = (
    "allowed: 0-7 or sun-sat (0 and 7 are Sunday), with N#K for the K-th and LN for the last, "
    "with ranges a-b, steps */n and lists a,b"
)
FIELD_COUNT = (
    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading "
    "seconds field, got"
)

REJECTIONS: list[tuple[str, str, str]] = [
    ("cronsim test_it_rejects_4_components", "* * * *", f"{FIELD_COUNT} 4"),
    ("croniter test_error_bad_cron", "* * * * * * * *", f"{FIELD_COUNT} 8"),
    ("cronsim test_it_rejects_lopsided_range", "* * 5-1 * *",
     "day-of-month field '5-1': '5-1' is a reversed range; write 5-31,1 for the values it "
     "wraps around"),
    ("cronsim test_it_rejects_underscores", "1-1_0 * * * *",
     f"minute field '1-1_0' is invalid; {ALLOWED_MINUTE}"),
    ("cronsim test_it_rejects_zero_step", "*/0 * * * *",
     f"minute field '*/0' is invalid; {ALLOWED_MINUTE}"),
    ("cronsim test_it_rejects_zero_nth", "* * * * 1#0",
     f"day-of-week field '1#0' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_rejects_big_nth", "* * * * 1#6",
     f"day-of-week field '1#6' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_checks_day_of_month_range", "* * 30 2 *",
     "'* * 30 2 *' names no date that exists; it would never fire"),
    ("cronsim test_it_checks_day_of_month_range", "* * 31 4 *",
     "'* * 31 4 *' names no date that exists; it would never fire"),
    ("cronsim test_it_handles_no_matches", "1 1 */100 * MON#4",
     "'1 1 */100 * MON#4' names no date that exists; it would never fire"),
    ("cronsim test_it_rejects_dow_l_range", "* * * * 5L-6",
     f"day-of-week field '5L-6' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_rejects_dow_l_hash", "* * * * 5L#1",
     f"day-of-week field '5L#1' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_rejects_dow_l_slash", "* * * * 5L/3",
     f"day-of-week field '5L/3' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_rejects_symbolic_dow_l", "* * * * MONL",
     f"day-of-week field 'MONL' is invalid; {ALLOWED_DOW}"),
    ("cronsim test_it_parses_day_lw (W is not supported)", "* * LW * *",
     "day-of-month field 'LW' is not supported; allowed: 1-31 or L"),
    ("cronsim test_it_parses_day_lowercase_lw", "* * lw * *",
     "day-of-month field 'lw' is not supported; allowed: 1-31 or L"),
    ("cronsim test_it_handles_lw", "1 1 LW 5 *",
     "day-of-month field 'LW' is not supported; allowed: 1-31 or L"),
    ("cronsim test_it_accepts_l_with_step (croniter test_issue_k34)", "4 0 L/2 2 0",
     f"day-of-month field 'L/2' is invalid; {ALLOWED_DOM}"),
    ("croniter testError", "-90 * * * *", f"minute field '-90' is invalid; {ALLOWED_MINUTE}"),
    ("croniter testError", "a * * * *", "minute field 'a' is not supported; allowed: 0-59"),
    ("croniter testError (test_error_alpha_cron)", "* * * janu-jun *",
     "month field 'janu-jun' is invalid; allowed: 1-12 or jan-dec, with ranges a-b, steps */n "
     "and lists a,b"),
    ("croniter testError", "0-10/error * * * *",
     "minute field '0-10/error' is not supported; allowed: 0-59"),
    ("croniter testError", "0-10/ * * * *", f"minute field '0-10/' is invalid; {ALLOWED_MINUTE}"),
    ("croniter testError", "0-1& * * * *", f"minute field '0-1&' is invalid; {ALLOWED_MINUTE}"),
    ("croniter testError", "* * 5-100 * *",
     f"day-of-month field '5-100' is invalid; {ALLOWED_DOM}"),
    ("croniter test_bug34", "* * 31 2 *",
     "'* * 31 2 *' names no date that exists; it would never fire"),
    ("croniter test_nth_out_of_range", "0 0 * * 1#7",
     f"day-of-week field '1#7' is invalid; {ALLOWED_DOW}"),
    ("croniter test_last_out_of_range", "0 0 * * L-1",
     f"day-of-week field 'L-1' is invalid; {ALLOWED_DOW}"),
    ("croniter test_last_out_of_range", "0 0 * * L8",
     f"day-of-week field 'L8' is invalid; {ALLOWED_DOW}"),
    ("croniter test_invalid_question_mark", "? * * * *",
     f"minute field '?' is invalid; {ALLOWED_MINUTE}"),
    ("croniter test_invalid_question_mark", "* ? * * *",
     "hour field '?' is invalid; allowed: 0-23, with ranges a-b, steps */n and lists a,b"),
    ("croniter test_invalid_question_mark", "* * ?,* * *",
     f"day-of-month field '?,*' is invalid; {ALLOWED_DOM}"),
    ("croniter test_issue_k6", "0 0 0 0 0", f"day-of-month field '0' is invalid; {ALLOWED_DOM}"),
    ("croniter test_issue_k6", "0 0 0 1 0", f"day-of-month field '0' is invalid; {ALLOWED_DOM}"),
    ("croniter test_overflow", "0-10000000 * * * *",
     f"minute field '0-10000000' is invalid; {ALLOWED_MINUTE}"),
    ("croniter test_issue156", "* * * * *,b", f"day-of-week field '*,b' is invalid; {ALLOWED_DOW}"),
    ("croniter test_invalid_zerorepeat", "*/0 * * * *",
     f"minute field '*/0' is invalid; {ALLOWED_MINUTE}"),
    # cronsim test_it_rejects_bad_values: a digit that is not an ASCII digit, and a range whose
    # ends are out of the field, are invalid values, not a reversed range to rewrite.
    ("cronsim test_it_rejects_bad_values", "1-\u00b9 * * * *",
     f"minute field '1-\u00b9' is invalid; {ALLOWED_MINUTE}"),
    ("cronsim test_it_rejects_bad_values", "* * * JAN-\u00b9 *",
     "month field 'JAN-\u00b9' is invalid; allowed: 1-12 or jan-dec, with ranges a-b, "
     "steps */n and lists a,b"),
    ("cronsim test_it_rejects_bad_values", "61-60 * * * *",
     f"minute field '61-60' is invalid; {ALLOWED_MINUTE}"),
    ("cronsim test_it_rejects_bad_values", "* * * 61-DEC *",
     "month field '61-DEC' is invalid; allowed: 1-12 or jan-dec, with ranges a-b, "
     "steps */n and lists a,b"),
    ("cronsim test_it_rejects_bad_values", "* * * * 61-SUN",
     f"day-of-week field '61-SUN' is invalid; {ALLOWED_DOW}"),
    # croniter test_sunday_ranges_from, Sunday written 7: reversed in cron; it means 0-1.
    ("croniter test_sunday_ranges_from", "0 0 * * 7-mon",
     "day-of-week field '7-mon': '7-mon' is a reversed range; write 0-1 for the values it "
     "wraps around"),
    ("croniter test_sunday_ranges_from", "0 0 * * 7-fri/2",
     "day-of-week field '7-fri/2': '7-fri/2' is a reversed range; write 0-5/2 for the values "
     "it wraps around"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expression", "message"),
    REJECTIONS,
    ids=[f"{s.split()[1]}:{e}" for s, e, _ in REJECTIONS],
)
def test_a_bad_expression_is_rejected_with_a_message_naming_the_field(
    source: str, expression: str, message: str
) -> None:
    with pytest.raises(CronError) as info:
        CronSpec.parse(expression)
    assert str(info.value) == message, source


# cronsim test_it_rejects_bad_values: each bad value in each position; the message must name
# the field that holds it (a seven-field expression is refused for its length).
BAD_VALUE_PATTERNS: list[tuple[str, str]] = [
    ("%s * * * *", "minute field"),
    ("* %s * * *", "hour field"),
    ("* * %s * *", "day-of-month field"),
    ("* * * %s * ", "month field"),
    ("* * * * %s", "day-of-week field"),
    ("* * * * * %s", "day-of-week field"),
    ("* * * * * * %s", FIELD_COUNT),
    ("1-%s * * * *", "minute field"),
    ("%s-60 * * * *", "minute field"),
    ("* * 1-%s * *", "day-of-month field"),
    ("* * 1,%s * *", "day-of-month field"),
    ("* * %s/1 * *", "day-of-month field"),
    ("* * * %s-DEC *", "month field"),
    ("* * * JAN-%s *", "month field"),
    ("* * * * %s-SUN", "day-of-week field"),
    ("* * * * MON-%s", "day-of-week field"),
    ("1-%s * * * * *", "second field"),
    ("%s-60 * * * * *", "second field"),
]
# "\u00b9" is a superscript one: Python's str.isdigit() is true for it, int() refuses it.
BAD_VALUES = ["-1", "61", "ABC", "2/", "/2", "2#", "#2", "1##1", "1//2", "\u00b9", "LL", "LWX"]


@pytest.mark.parametrize(
    ("pattern", "field", "value"),
    [(p, f, v) for (p, f), v in product(BAD_VALUE_PATTERNS, BAD_VALUES)],
)
def test_each_bad_value_in_each_position_is_a_cron_error_naming_its_field(
    pattern: str, field: str, value: str
) -> None:
    with pytest.raises(CronError) as info:
        CronSpec.parse(pattern % value)
    assert str(info.value).startswith(field)
