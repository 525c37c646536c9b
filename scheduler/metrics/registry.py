"""The counters and histograms the loops feed, in a registry of our own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

# Seconds. Lateness is milliseconds when all is well and seconds when it is not; a run's
# duration spans a heartbeat task to an hour-long report.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
FRESH_S = 1.0  # a rendering of /metrics is reused this long
DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class Metrics:
    """This process's metrics; an ``Observer`` of its scheduler and worker loops.

    With ``per_schedule=False`` no series carries a ``schedule`` label (for deployments
    with so many schedules that one series each is too many): counters are then summed
    over all schedules, and the per-schedule gauges are not exported.
    """

    def __init__(
        self, per_schedule: bool = True, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_schedule = per_schedule
        self.monotonic = monotonic
        self.registry = CollectorRegistry(auto_describe=True)
        self._rendering = threading.Lock()
        self._rendered: tuple[float, bytes] | None = None
        r, s = self.registry, ["schedule"] if per_schedule else []
        self.fires = Counter(
            "sched_fires", "Runs enqueued by the leader, by origin.", [*s, "origin"], registry=r
        )
        self.missed = Counter("sched_missed", "Fire times missed (misfire policy).", s, registry=r)
        self.skipped = Counter(
            "sched_skipped", "Fire times not run, by reason (overlap).", [*s, "reason"], registry=r
        )
        self.lateness = Histogram(
            "sched_fire_lateness_seconds",
            "From a fire time to its dispatch by the leader.",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            "sched_config_reloads",
            "Reloads of the schedule files, by result (applied or rejected).",
            ["result"],
            registry=r,
        )
        self.runs = Counter(
            "sched_runs",
            "Attempts ended in this worker, by outcome (the history "
            "event: succeeded, failed, dead, retrying, timed_out, expired).",
            [*s, "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "sched_run_duration_seconds",
            "How long attempts ran.",
            s,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.start_delay = Histogram(
            "sched_run_start_delay_seconds",
            "From a fire time to the start of its first attempt.",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.redeliveries = Counter(
            "sched_redeliveries",
            "Runs started again after their worker died without an outcome.",
            registry=r,
        )

    def _by(self, schedule: str, *more: str) -> list[str]:
        return [schedule, *more] if self.per_schedule else list(more)

    # -- Observer -------------------------------------------------------------------------

    def dispatched(
        self, schedule: str, enqueued: int, skipped: int, missed: int, lateness_s: float | None
    ) -> None:
        if enqueued:
            self.fires.labels(*self._by(schedule, "schedule")).inc(enqueued)
        if skipped:
            self.skipped.labels(*self._by(schedule, "overlap")).inc(skipped)
        if missed:
            by = self._by(schedule)
            (self.missed.labels(*by) if by else self.missed).inc(missed)
        if lateness_s is not None and enqueued:
            self.lateness.observe(lateness_s)

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("applied" if ok else "rejected").inc()

    def started(self, schedule: str, delay_s: float | None, redelivered: bool) -> None:
        if delay_s is not None:
            self.start_delay.observe(delay_s)
        if redelivered:
            self.redeliveries.inc()

    def ended(self, schedule: str, outcome: str, duration_s: float | None) -> None:
        self.runs.labels(*self._by(schedule, outcome)).inc()
        if duration_s is not None:
            by = self._by(schedule)
            (self.duration.labels(*by) if by else self.duration).observe(duration_s)

    # -- exposition -----------------------------------------------------------------------

    def watch(self, collector: Collector) -> None:
        """Add a collector read at every scrape (the store's view, in the leader)."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """Everything, in Prometheus' text format. One rendering at a time, reused for
        ``FRESH_S``: two Prometheus servers (or a scrape and a curl) never make the
        leader read every schedule's state twice at once."""
        with self._rendering:
            now = self.monotonic()
            if self._rendered is None or now - self._rendered[0] >= FRESH_S:
                self._rendered = (now, generate_latest(self.registry))
            return self._rendered[1]
