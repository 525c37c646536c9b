"""Missed fire times, retries and backoff, jitter and durations: the README's exact values.

Jitter offsets are recomputed here with hashlib from the documented rule (sha256 of
``NAME@FIRE_MS``, first 8 bytes big-endian, modulo ``jitter * 1000`` ms), never taken from
the code under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.core.context import Retry
from scheduler.core.durations import format_duration_s, parse_duration_s
from scheduler.core.jitter import due_ms, jitter_ms
from scheduler.core.misfire import Catchup, count_fires, plan_due
from scheduler.core.model import Backoff, Misfire, RetryPolicy, Schedule
from scheduler.core.retries import Decision, backoff_s, decide, matches
from scheduler.errors import DurationError


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def minutely(
    misfire: Misfire, grace_s: int | None = None, jitter_s: int = 0, every_s: int = 60
) -> Schedule:
    return Schedule(
        name="report",
        task="app.jobs:report",
        timezone="UTC",
        every_s=every_s,
        misfire=misfire,
        misfire_grace_s=grace_s,
        jitter_s=jitter_s,
    )


def sha256_jitter_ms(name: str, jitter_s: int, fire_ms: int) -> int:
    digest = hashlib.sha256(f"{name}@{fire_ms}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (jitter_s * 1000)


# 2026-01-01T12:00:00Z in ms since the epoch.
NOON_MS = 1_767_268_800_000
NOON = utc(2026, 1, 1, 12)


# -- misfire: all ------------------------------------------------------------------------


def test_misfire_all_after_180_missed_minutely_fires_runs_the_100_most_recent() -> None:
    plan = plan_due(minutely(Misfire.ALL), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 2, 59))
    assert len(plan.run) == 100
    assert plan.run[0] == utc(2026, 1, 1, 1, 20)
    assert plan.run[-1] == utc(2026, 1, 1, 2, 59)
    assert plan.run == sorted(plan.run)
    assert plan.missed == 80
    assert plan.last_missed == utc(2026, 1, 1, 1, 19)
    assert plan.next_fire == utc(2026, 1, 1, 3, 0)


def test_misfire_all_with_exactly_100_due_runs_all_of_them() -> None:
    plan = plan_due(minutely(Misfire.ALL), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 39))
    assert len(plan.run) == 100
    assert plan.run[0] == utc(2026, 1, 1, 0, 0)
    assert plan.run[-1] == utc(2026, 1, 1, 1, 39)
    assert plan.missed == 0
    assert plan.last_missed is None


def test_misfire_all_with_101_due_misses_only_the_oldest() -> None:
    plan = plan_due(minutely(Misfire.ALL), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 40))
    assert len(plan.run) == 100
    assert plan.run[0] == utc(2026, 1, 1, 0, 1)
    assert plan.missed == 1
    assert plan.last_missed == utc(2026, 1, 1, 0, 0)


def test_misfire_all_runs_only_the_fire_times_within_the_grace() -> None:
    plan = plan_due(
        minutely(Misfire.ALL, grace_s=150), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 30)
    )
    assert plan == Catchup(
        run=[utc(2026, 1, 1, 0, 8), utc(2026, 1, 1, 0, 9), utc(2026, 1, 1, 0, 10)],
        missed=8,
        last_missed=utc(2026, 1, 1, 0, 7),
        next_fire=utc(2026, 1, 1, 0, 11),
    )


def test_misfire_all_with_two_due_runs_both() -> None:
    plan = plan_due(minutely(Misfire.ALL), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1))
    assert plan.run == [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1)]
    assert plan.missed == 0


# -- misfire: coalesce -------------------------------------------------------------------


def test_coalesce_runs_the_latest_and_counts_the_others_as_missed() -> None:
    plan = plan_due(minutely(Misfire.COALESCE), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 30))
    assert plan == Catchup(
        run=[utc(2026, 1, 1, 0, 10)],
        missed=10,
        last_missed=utc(2026, 1, 1, 0, 9),
        next_fire=utc(2026, 1, 1, 0, 11),
    )


def test_coalesce_with_two_due_runs_the_later() -> None:
    plan = plan_due(minutely(Misfire.COALESCE), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1))
    assert plan.run == [utc(2026, 1, 1, 0, 1)]
    assert plan.missed == 1
    assert plan.last_missed == utc(2026, 1, 1, 0, 0)


def test_coalesce_with_one_due_runs_it() -> None:
    plan = plan_due(minutely(Misfire.COALESCE), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0, 20))
    assert plan == Catchup([utc(2026, 1, 1, 0, 0)], 0, None, utc(2026, 1, 1, 0, 1))


def test_coalesce_runs_the_latest_when_it_is_exactly_at_the_grace() -> None:
    schedule = minutely(Misfire.COALESCE, grace_s=30)
    plan = plan_due(schedule, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 30))
    assert plan.run == [utc(2026, 1, 1, 0, 10)]
    assert plan.missed == 10


def test_coalesce_runs_nothing_when_the_latest_is_past_the_grace() -> None:
    schedule = minutely(Misfire.COALESCE, grace_s=29)
    plan = plan_due(schedule, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 30))
    assert plan == Catchup([], 11, utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 11))


def test_nothing_is_due_before_the_next_fire_time() -> None:
    plan = plan_due(minutely(Misfire.COALESCE), utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 4))
    assert plan == Catchup([], 0, None, utc(2026, 1, 1, 0, 5))


def test_a_catchup_is_immutable() -> None:
    plan = Catchup([], 0, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.missed = 1  # type: ignore[misc]


# -- misfire: skip -----------------------------------------------------------------------


def test_skip_runs_a_fire_time_that_is_exactly_5_seconds_late() -> None:
    plan = plan_due(minutely(Misfire.SKIP), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 5))
    assert plan == Catchup(
        [utc(2026, 1, 1, 0, 10)], 10, utc(2026, 1, 1, 0, 9), utc(2026, 1, 1, 0, 11)
    )


def test_skip_runs_nothing_when_the_latest_is_6_seconds_late() -> None:
    plan = plan_due(minutely(Misfire.SKIP), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 6))
    assert plan == Catchup([], 11, utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 11))


def test_skip_ignores_the_grace_and_runs_an_on_time_fire() -> None:
    schedule = minutely(Misfire.SKIP, grace_s=3600)
    plan = plan_due(schedule, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10, 6))
    assert plan.run == []
    assert plan.missed == 11


def test_skip_measures_lateness_from_the_fire_time_plus_its_jitter() -> None:
    schedule = minutely(Misfire.SKIP, jitter_s=600, every_s=86400)
    offset_ms = sha256_jitter_ms("report", 600, NOON_MS)
    assert offset_ms > 1000  # large enough that a wrong ms-to-s factor shows
    on_time = NOON + timedelta(milliseconds=offset_ms + 5000)
    late = NOON + timedelta(milliseconds=offset_ms + 5001)
    assert plan_due(schedule, NOON, on_time).run == [NOON]
    assert plan_due(schedule, NOON, late).run == []
    assert plan_due(schedule, NOON, late).missed == 1


def test_coalesce_grace_counts_from_the_fire_time_plus_its_jitter() -> None:
    schedule = minutely(Misfire.COALESCE, grace_s=60, jitter_s=600, every_s=86400)
    offset_ms = sha256_jitter_ms("report", 600, NOON_MS)
    assert plan_due(schedule, NOON, NOON + timedelta(milliseconds=offset_ms)).run == [NOON]
    within = NOON + timedelta(milliseconds=offset_ms + 60_000)
    beyond = NOON + timedelta(milliseconds=offset_ms + 60_001)
    assert plan_due(schedule, NOON, within).run == [NOON]
    assert plan_due(schedule, NOON, beyond).run == []


# -- count_fires -------------------------------------------------------------------------


def test_count_fires_counts_both_ends_of_the_range() -> None:
    schedule = minutely(Misfire.ALL)
    assert count_fires(schedule, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 10)) == (
        11,
        utc(2026, 1, 1, 0, 10),
    )


def test_count_fires_of_one_fire_time_is_one() -> None:
    schedule = minutely(Misfire.ALL)
    assert count_fires(schedule, utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 59)) == (1, utc(2026, 1, 1))


def test_count_fires_of_an_empty_range_is_zero() -> None:
    schedule = minutely(Misfire.ALL)
    assert count_fires(schedule, utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 4)) == (0, None)


# -- retries and backoff -----------------------------------------------------------------


class RecordingRandom(random.Random):
    """Returns the upper bound of every uniform() draw and remembers each call."""

    def __init__(self) -> None:
        super().__init__(0)
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b


def exponential(initial_s: int = 5, max_s: int = 60, jitter: bool = False) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=10,
        backoff=Backoff.EXPONENTIAL,
        initial_s=initial_s,
        max_s=max_s,
        jitter=jitter,
    )


def test_exponential_backoff_doubles_from_5s_up_to_the_1m_cap() -> None:
    policy = exponential()
    rng = random.Random(1)
    waits = [backoff_s(policy, attempt, rng) for attempt in (1, 2, 3, 4, 5, 6)]
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_exponential_backoff_waits_initial_after_the_first_attempt() -> None:
    assert backoff_s(exponential(initial_s=7, max_s=600), 1, random.Random(1)) == 7.0
    assert backoff_s(exponential(initial_s=7, max_s=600), 2, random.Random(1)) == 14.0


def test_fixed_backoff_waits_initial_every_time() -> None:
    policy = RetryPolicy(max_attempts=5, backoff=Backoff.FIXED, initial_s=7, max_s=60, jitter=False)
    waits = [backoff_s(policy, attempt, random.Random(1)) for attempt in (1, 2, 3, 4)]
    assert waits == [7.0, 7.0, 7.0, 7.0]


def test_fixed_backoff_is_capped_by_max() -> None:
    policy = RetryPolicy(
        max_attempts=5, backoff=Backoff.FIXED, initial_s=90, max_s=60, jitter=False
    )
    assert backoff_s(policy, 1, random.Random(1)) == 60.0


def test_full_jitter_draws_uniformly_between_zero_and_the_wait() -> None:
    rng = RecordingRandom()
    assert backoff_s(exponential(jitter=True), 3, rng) == 20.0
    assert rng.calls == [(0, 20.0)]


def test_default_retry_policy_waits_10s_then_doubles_up_to_10m() -> None:
    policy = RetryPolicy(max_attempts=20, jitter=False)
    waits = [backoff_s(policy, attempt, random.Random(1)) for attempt in (1, 2, 6, 7, 8)]
    assert waits == [10.0, 20.0, 320.0, 600.0, 600.0]


def test_a_failed_attempt_is_retried_while_attempts_remain() -> None:
    policy = RetryPolicy(max_attempts=3, initial_s=5, max_s=60, jitter=False)
    assert decide(policy, 1, ValueError("x")) == Decision(True, 5.0, "retrying")
    assert decide(policy, 2, ValueError("x")) == Decision(True, 10.0, "retrying")
    assert decide(policy, 3, ValueError("x")) == Decision(
        False, 0.0, "attempt 3 of 3: no retries left"
    )


def test_one_attempt_means_no_retry() -> None:
    assert decide(RetryPolicy(), 1, ValueError("x")) == Decision(
        False, 0.0, "attempt 1 of 1: no retries left"
    )


def test_decide_uses_the_given_random_source_for_jitter() -> None:
    rng = RecordingRandom()
    policy = RetryPolicy(max_attempts=3, initial_s=5, max_s=60, jitter=True)
    assert decide(policy, 2, ValueError("x"), rng) == Decision(True, 10.0, "retrying")
    assert rng.calls == [(0, 10.0)]


def test_decide_without_a_random_source_jitters_within_the_wait() -> None:
    policy = RetryPolicy(max_attempts=3, initial_s=5, max_s=60, jitter=True)
    decision = decide(policy, 2, ValueError("x"))
    assert decision.retry is True
    assert 0.0 <= decision.delay_s <= 10.0


def test_a_task_asking_for_a_retry_gets_its_delay() -> None:
    policy = RetryPolicy(max_attempts=3, initial_s=5, max_s=60, jitter=False)
    assert decide(policy, 1, Retry(delay=30)) == Decision(True, 30, "the task asked for a retry")
    assert decide(policy, 1, Retry()) == Decision(True, 5.0, "the task asked for a retry")
    assert decide(policy, 1, Retry(delay=-4)) == Decision(True, 0.0, "the task asked for a retry")


def test_a_task_asking_for_a_retry_still_counts_against_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=2, retry_on=("ConnectionError",), jitter=False)
    assert decide(policy, 2, Retry(delay=30)) == Decision(
        False, 0.0, "attempt 2 of 2: no retries left"
    )


def test_retry_asked_by_the_task_ignores_retry_on() -> None:
    policy = RetryPolicy(max_attempts=2, retry_on=("ConnectionError",), jitter=False)
    assert decide(policy, 1, Retry(delay=3)).retry is True


def test_an_error_not_in_retry_on_is_not_retried() -> None:
    policy = RetryPolicy(max_attempts=5, retry_on=("ConnectionError",), jitter=False)
    assert decide(policy, 1, ValueError("x")) == Decision(
        False, 0.0, "ValueError is not in retry_on"
    )
    assert decide(policy, 1, ConnectionResetError()) == Decision(True, 10.0, "retrying")


class FlakyError(RuntimeError):
    pass


def test_retry_on_matches_by_class_name_dotted_name_and_base_classes() -> None:
    assert matches(FlakyError(), ("FlakyError",)) is True
    assert matches(FlakyError(), (f"{__name__}.FlakyError",)) is True
    assert matches(FlakyError(), ("RuntimeError",)) is True
    assert matches(FlakyError(), ("builtins.RuntimeError",)) is True
    assert matches(FlakyError(), ("Exception",)) is True
    assert matches(FlakyError(), ("ValueError", "builtins.KeyError")) is False
    assert matches(ValueError(), ()) is False


def test_a_decision_is_immutable() -> None:
    decision = Decision(True, 1.0, "retrying")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.retry = False  # type: ignore[misc]


# -- jitter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "jitter_s", "fire_ms"),
    [
        ("report", 600, NOON_MS),
        ("report", 30, NOON_MS),
        ("heartbeat", 1, NOON_MS + 10_000),
        ("heartbeat", 1, NOON_MS + 20_000),
        ("nightly-report", 3600, 1_774_746_000_000),
    ],
)
def test_jitter_is_sha256_of_name_at_fire_ms_modulo_the_jitter(
    name: str, jitter_s: int, fire_ms: int
) -> None:
    assert jitter_ms(name, jitter_s, fire_ms) == sha256_jitter_ms(name, jitter_s, fire_ms)


def test_a_one_second_jitter_can_be_nonzero() -> None:
    offsets = {jitter_ms("heartbeat", 1, NOON_MS + k * 1000) for k in range(10)}
    expected = {sha256_jitter_ms("heartbeat", 1, NOON_MS + k * 1000) for k in range(10)}
    assert offsets == expected
    assert max(offsets) > 0
    assert max(offsets) < 1000


def test_no_jitter_is_zero_delay() -> None:
    assert jitter_ms("report", 0, NOON_MS) == 0
    assert jitter_ms("report", -5, NOON_MS) == 0


def test_the_jitter_of_the_example_fire_is_the_documented_hash() -> None:
    digest = hashlib.sha256(b"report@1767268800000").digest()
    assert (
        jitter_ms("report", 600, 1_767_268_800_000) == int.from_bytes(digest[:8], "big") % 600_000
    )


def test_a_fire_time_is_due_at_its_time_plus_its_jitter() -> None:
    offset = sha256_jitter_ms("report", 600, NOON_MS)
    assert due_ms("report", 600, NOON_MS) == NOON_MS + offset
    assert due_ms("report", 0, NOON_MS) == NOON_MS
    assert due_ms("report", 600, None) is None


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1s", 1),
        ("5m", 300),
        ("1m", 60),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1d", 86400),
        ("1d1h1m1s", 90061),
        (" 10s ", 10),
        ("0s", 0),
    ],
)
def test_a_duration_text_is_its_number_of_seconds(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


def test_a_whole_number_is_seconds() -> None:
    assert parse_duration_s(0) == 0
    assert parse_duration_s(1) == 1
    assert parse_duration_s(90) == 90


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "malformed duration ''; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        ("   ", "malformed duration '   '; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        ("5x", "malformed duration '5x'; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        ("30m1h", "malformed duration '30m1h'; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        (True, "expected a duration, got True; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        (1.5, "expected a duration, got float 1.5; write a duration like 30s, 5m, 1h30m, 2d "
         "or a whole number of seconds"),
        (-1, "duration must not be negative, got -1"),
    ],
)  # fmt: skip
def test_a_bad_duration_is_rejected_with_a_hint(value: object, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration_s(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (172800, "2d"),
        (3601, "1h1s"),
    ],
)
def test_format_duration_is_the_shortest_canonical_spelling(seconds: int, text: str) -> None:
    assert format_duration_s(seconds) == text
