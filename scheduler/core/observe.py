"""What the loops report as they work, for whoever watches (metrics): one seam, no I/O.

The scheduler and worker loops call an ``Observer``; ``scheduler.metrics`` implements it
with Prometheus counters and histograms. The loops never import the metrics package, and
without one they report to ``SILENT``, which does nothing.
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def dispatched(
        self, schedule: str, enqueued: int, skipped: int, missed: int, lateness_s: float | None
    ) -> None:
        """One schedule's fire time was dispatched: runs enqueued, fires skipped by overlap,
        fire times missed, and how late the dispatch was (None when nothing fired)."""

    def reloaded(self, ok: bool) -> None:
        """The schedule files were reloaded (or the reload was rejected)."""

    def started(self, schedule: str, delay_s: float | None, redelivered: bool) -> None:
        """A run's attempt started; a first attempt ``delay_s`` after its fire time (None
        for later attempts); ``redelivered``: it had been started before without an
        outcome (its worker died)."""

    def ended(self, schedule: str, outcome: str, duration_s: float | None) -> None:
        """A run's attempt ended with ``outcome`` (a history event name)."""


class Silent:
    """The observer of a loop nobody watches."""

    def dispatched(
        self, schedule: str, enqueued: int, skipped: int, missed: int, lateness_s: float | None
    ) -> None:
        pass

    def reloaded(self, ok: bool) -> None:
        pass

    def started(self, schedule: str, delay_s: float | None, redelivered: bool) -> None:
        pass

    def ended(self, schedule: str, outcome: str, duration_s: float | None) -> None:
        pass


SILENT: Observer = Silent()
