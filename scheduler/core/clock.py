"""The one place sched reads the wall clock. Everything else takes ``now`` as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
