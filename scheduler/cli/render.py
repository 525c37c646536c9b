"""Text output: tables, instants and relative times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import typer

from scheduler.core.instants import utc_text
from scheduler.core.model import Schedule


def relative(delta: timedelta) -> str:
    """``in 2h 5m``, ``3m ago`` or ``now``: the two largest units."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "now"
    amount = abs(seconds)
    parts = []
    for suffix, unit in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, amount = divmod(amount, unit)
        if count:
            parts.append(f"{count}{suffix}")
    text = " ".join(parts[:2])
    return f"in {text}" if seconds > 0 else f"{text} ago"


def utc_seconds(instant: datetime) -> str:
    """ISO 8601 UTC as ``upcoming --json`` and operator commands print it."""
    return utc_text(instant, "auto")


def echo_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def upcoming_table(
    rows: list[tuple[datetime, Schedule]], quiet: list[tuple[Schedule, str]], now: datetime
) -> None:
    table = [("SCHEDULE", "FIRE AT (LOCAL)", "UTC", "WHEN")]
    for fire_at, item in rows:
        local = fire_at.astimezone(item.zone)
        table.append(
            (
                item.name,
                f"{local:%Y-%m-%d %H:%M:%S %z} {item.timezone}",
                f"{fire_at.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}",
                relative(fire_at - now),
            )
        )
    for item, why in quiet:
        table.append((item.name, why, "-", "-"))
    echo_table(table)
    if len(table) == 1:
        typer.echo("(no fire times in this window)")
