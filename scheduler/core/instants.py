"""Instants as sched stores and prints them: milliseconds since the epoch, and one UTC text form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The dates sched accepts (start, end, --from, --until): far enough from both ends of
# Python's calendar that 100 years of durations, jitter and time zones always fit.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(8999, 12, 31, 23, 59, 59, tzinfo=UTC)
RANGE_TEXT = "between 1970-01-02 and 8999-12-31"


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def utc_text(instant: datetime, timespec: str = "milliseconds") -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-03-29T01:00:00.000Z`` (stored values), or with
    ``timespec="auto"`` ``2026-03-29T01:00:00Z`` (what commands print for whole seconds)."""
    return instant.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def ms_text(ms: int | None) -> str | None:
    """A stored ms instant as commands print it (see ``utc_text``)."""
    return None if ms is None else utc_text(from_ms(ms), "auto")
