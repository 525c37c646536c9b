"""What the Lua script tests share: a store, and readings of raw Redis values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from scheduler.store import Store


def store(url: str) -> Store:
    return Store(redis.Redis.from_url(url))


def text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def scored(s: Store, key: str) -> list[tuple[str, float]]:
    rows: Any = s.client.zrange(key, 0, -1, withscores=True)
    return [(text(m), float(sc)) for m, sc in rows]


def hash_of(s: Store, key: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in s.client.hgetall(key).items()}


def members(s: Store, key: str) -> set[str]:
    return {text(m) for m in s.client.smembers(key)}


def history(s: Store, name: str) -> list[str]:
    return [text(v) for v in s.client.lrange(s.keys.history(name), 0, -1)]


def snapshot(s: Store) -> dict[str, Any]:
    """Every key and its whole value, for 'nothing changed' checks."""
    c = s.client
    out: dict[str, Any] = {}
    for raw_key in c.keys("*"):
        key = text(raw_key)
        kind = text(c.type(key))
        if kind == "string":
            out[key] = text(c.get(key))
        elif kind == "hash":
            out[key] = hash_of(s, key)
        elif kind == "zset":
            out[key] = scored(s, key)
        elif kind == "set":
            out[key] = sorted(members(s, key))
        else:
            out[key] = [text(v) for v in c.lrange(key, 0, -1)]
    return out


def fill_history(s: Store, name: str) -> None:
    """100 events, the cap, oldest (0) first."""
    s.client.lpush(s.keys.history(name), *[f"old-{i}" for i in range(100)])


def redis_ms(s: Store) -> int:
    """Redis' own clock, in ms, as the scripts compute it from ``TIME``."""
    seconds, micros = s.client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def redis_us(s: Store) -> int:
    """Redis' own clock, in microseconds."""
    seconds, micros = s.client.time()
    return int(seconds) * 1_000_000 + int(micros)


def assert_by_redis_microseconds(s: Store, act: Callable[[], float], rounds: int) -> None:
    """``act()`` returns Redis' time in ms to the microsecond: it lies within Redis' clock
    read just before and just after (a whole ms alone lags it by up to 999 µs)."""
    for _ in range(rounds):
        before = redis_us(s)
        got = round(act() * 1000)
        assert before <= got <= redis_us(s)


def assert_by_redis_clock(
    s: Store, act: Callable[[], int], span_ms: int = 1_000, min_same_ms: int = 50
) -> None:
    """``act()`` returns an instant a script took from Redis' clock: it must lie within Redis'
    clock read just before and just after, and equal it when both reads fall in one ms.
    Repeated over ``span_ms`` of Redis' clock (a whole second: every microsecond value, so
    a conversion off by under 1 ms shows) and at least ``min_same_ms`` rounds in one ms."""
    start, same_ms = redis_ms(s), 0
    for _ in range(50_000):
        before = redis_ms(s)
        got = act()
        after = redis_ms(s)
        assert before <= got <= after
        if before == after:
            same_ms += 1
            assert got == before
        if after - start >= span_ms and same_ms >= min_same_ms:
            return
    raise AssertionError(f"only {same_ms} rounds within one ms")
