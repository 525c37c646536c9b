"""Durations as users write them: ``30s``, ``5m``, ``1h30m``, ``2d`` or whole seconds."""

from __future__ import annotations

import re
from functools import lru_cache

from scheduler.errors import DurationError

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_S = (86400, 3600, 60, 1)
HINT = "write a duration like 30s, 5m, 1h30m, 2d or a whole number of seconds"
# Every duration sched accepts can be added to any date it accepts without leaving the
# calendar Python can compute in (up to year 9999): at most 100 years of 365 days.
MAX_DURATION_S = 36500 * 86400


def parse_duration_s(value: object) -> int:
    """Return the duration in whole seconds (at most 100 years); reject anything else."""
    seconds = _seconds(value)
    if seconds > MAX_DURATION_S:
        raise DurationError(f"{value!r} is longer than the longest duration, 36500d (100 years)")
    return seconds


def _seconds(value: object) -> int:
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bool):
        raise DurationError(f"expected a duration, got {value!r}; {HINT}")
    if isinstance(value, int):
        if value < 0:
            raise DurationError(f"duration must not be negative, got {value}")
        return value
    raise DurationError(f"expected a duration, got {type(value).__name__} {value!r}; {HINT}")


@lru_cache(maxsize=4096)  # schedule files repeat the same few durations many times
def _parse_text(value: str) -> int:
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None:
        raise DurationError(f"malformed duration {value!r}; {HINT}")
    return sum(int(part) * unit for part, unit in zip(match.groups(), _UNIT_S, strict=True) if part)


def format_duration_s(seconds: int) -> str:
    """The shortest canonical spelling, e.g. 5400 -> '1h30m', 0 -> '0s'."""
    if seconds == 0:
        return "0s"
    parts = []
    for suffix, unit in zip("dhms", _UNIT_S, strict=True):
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts)
