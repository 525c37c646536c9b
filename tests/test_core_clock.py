"""RedisClock: the offset to Redis' clock, from samples taken around a command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.core.clock import MAX_RTT_MS, WINDOW, RedisClock

T = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)


def sample(clock: RedisClock, redis_ms: float, rtt_ms: float, skew_ms: float = 0) -> None:
    """Redis answered ``redis_ms`` during a round trip of ``rtt_ms`` sent at T + skew."""
    sent = T + timedelta(milliseconds=skew_ms)
    clock.sample(int(redis_ms), sent, sent + timedelta(milliseconds=rtt_ms))


def test_the_offset_is_redis_time_minus_the_round_trips_midpoint() -> None:
    clock = RedisClock("test")
    sample(clock, T_MS + 30_000 + 2, rtt_ms=4)
    assert clock.offset_ms == 30_000


def test_a_slow_round_trip_does_not_move_a_better_offset() -> None:
    clock = RedisClock("test")
    sample(clock, T_MS + 1, rtt_ms=2)  # accurate: offset 0
    sample(clock, T_MS + 40, rtt_ms=50)  # the reply sat 40 ms in a busy process: +15
    assert clock.offset_ms == 0
    sample(clock, T_MS + 1, rtt_ms=1)  # a shorter one takes over
    assert clock.offset_ms == 0.5


def test_a_real_jump_of_the_clock_wins_within_the_window() -> None:
    clock = RedisClock("test")
    sample(clock, T_MS + 1, rtt_ms=2)
    for _ in range(WINDOW - 1):
        sample(clock, T_MS + 5_000 + 3, rtt_ms=6)  # the host clock stepped back 5 s
        assert clock.offset_ms == 0  # the accurate old sample still counts
    sample(clock, T_MS + 5_000 + 3, rtt_ms=6)
    assert clock.offset_ms == 5_000


def test_a_round_trip_too_long_or_negative_is_ignored() -> None:
    clock = RedisClock("test")
    sample(clock, T_MS + 9_000, rtt_ms=MAX_RTT_MS + 1)
    sample(clock, T_MS + 9_000, rtt_ms=-1)
    assert clock.offset_ms == 0
    sample(clock, T_MS + 9_000 + MAX_RTT_MS / 2, rtt_ms=MAX_RTT_MS)
    assert clock.offset_ms == 9_000
