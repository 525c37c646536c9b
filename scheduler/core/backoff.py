"""Backoff and log-once bookkeeping for a stretch of time with Redis unreachable.

Both loops (the scheduler's and the worker's) use it, so an outage is logged the same way
everywhere: once when it starts, once when it ends.
"""

from __future__ import annotations

import logging

log = logging.getLogger("sched")

FIRST_WAIT_S = 0.2  # after the first failure; doubles up to MAX_WAIT_S
MAX_WAIT_S = 5.0


def outage_wait_s(failures: int) -> float:
    """The wait after ``failures`` consecutive failures (1 for the first): 0.2, 0.4 ... 5 s."""
    return float(min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (min(failures, 6) - 1)))


class Outage:
    def __init__(self, logger: logging.Logger = log) -> None:
        self.failures = 0
        self.log = logger

    def failed(self, exc: Exception) -> float:
        """Count a failure; the seconds to wait before trying again."""
        if self.failures == 0:
            self.log.error("Redis unreachable, retrying with backoff: %s", exc)
        self.failures += 1
        return outage_wait_s(self.failures)

    def over(self) -> None:
        if self.failures:
            self.log.info("Redis reachable again after %d failed attempts", self.failures)
        self.failures = 0
