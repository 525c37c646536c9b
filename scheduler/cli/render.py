"""Text output: tables, instants and relative times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

import typer

from scheduler.core.instants import from_ms
from scheduler.core.model import Schedule
from scheduler.core.zones import ZoneNameError, zone


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


def when(value: str | int | datetime | None, tz: tzinfo | None = None) -> str:
    """One format for every instant a command prints: ``2026-06-01T12:00:00Z`` in UTC, or
    ``2026-06-01T14:00:00+02:00`` in the zone of ``--tz``. Takes stored text, ms or a
    datetime; empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        instant = from_ms(value)
    elif isinstance(value, str):
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        instant = value
    shown = instant.astimezone(tz or UTC).replace(microsecond=0).isoformat()
    return shown.replace("+00:00", "Z") if tz is None else shown


def zone_option(text: str) -> tzinfo | None:
    """``--tz``: UTC (None), ``local`` (this machine's zone) or an IANA zone name."""
    if text.upper() == "UTC":
        return None
    if text == "local":
        return datetime.now().astimezone().tzinfo
    try:
        return zone(text)
    except ZoneNameError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tz") from None


def echo_table(table: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def upcoming_table(
    rows: list[tuple[datetime, Schedule]], quiet: list[tuple[Schedule, str]], now: datetime,
    done: Sequence[tuple[datetime, Schedule]] = (), *, owners: Mapping[str, str],
) -> None:  # fmt: skip
    """Fire times, then one-offs that are done (at their one time), then the silent ones;
    each with its owner (``owners``: name to files or api)."""
    table = [("SCHEDULE", "FIRE AT (LOCAL)", "UTC", "WHEN", "OWNER")]
    timed = [(f, s, relative(f - now)) for f, s in rows] + [(f, s, "done") for f, s in done]
    for fire_at, item, whence in timed:
        local = fire_at.astimezone(item.zone)
        table.append(
            (
                item.name,
                f"{local:%Y-%m-%d %H:%M:%S %z} {item.timezone}",
                f"{fire_at.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}",
                whence,
                owners[item.name],
            )
        )
    for item, why in quiet:
        table.append((item.name, why, "-", "-", owners[item.name]))
    echo_table(table)
    if len(table) == 1:
        typer.echo("(no fire times in this window)")
