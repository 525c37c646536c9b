"""Tasks shipped with sched, used by the example schedules in ``schedules/``."""

from __future__ import annotations

import logging
import random

log = logging.getLogger("sched.tasks")


def heartbeat(message: str = "alive") -> str:
    """Logs one line; the smallest possible periodic job."""
    log.info("heartbeat: %s", message)
    return message


def flaky(failure_rate: float = 0.5) -> str:
    """Fails at random, to show retries and the dead-letter queue at work."""
    if random.random() < failure_rate:
        raise ConnectionError(f"simulated failure (failure_rate={failure_rate})")
    return "ok"


def report(name: str, recipients: list[str] | None = None) -> dict[str, object]:
    """Pretends to build a report; returns what it would send."""
    result: dict[str, object] = {"report": name, "recipients": recipients or []}
    log.info("report %s built for %d recipient(s)", name, len(recipients or []))
    return result
