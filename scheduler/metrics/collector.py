"""What the store says, read at scrape time: the leader's view of schedules, queues, dead
letters and workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scheduler.core.model import Schedule
from scheduler.errors import StoreError
from scheduler.store import Store


@dataclass
class Leadership:
    """Read at each scrape: whether this replica leads, its epoch, and its schedules."""

    leading: Callable[[], bool]
    epoch: Callable[[], int]
    schedules: Callable[[], Mapping[str, Schedule]]


class ClusterCollector(Collector):
    """``sched_leader`` and ``sched_leader_epoch`` from every scheduler replica; the rest only
    while it leads, so that each series has exactly one source however many replicas are
    scraped. ``sched_store_up`` says whether the last read reached Redis."""

    def __init__(
        self,
        store: Store,
        leadership: Leadership,
        now_ms: Callable[[], int],
        per_schedule: bool = True,
    ) -> None:
        self.store = store
        self.leadership = leadership
        self.now_ms = now_ms
        self.per_schedule = per_schedule

    def collect(self) -> Iterator[Metric]:
        leading = self.leadership.leading()
        yield GaugeMetricFamily("sched_leader", "1 while this replica leads.", int(leading))
        yield GaugeMetricFamily(
            "sched_leader_epoch",
            "The epoch of this replica's lease (0 when it does not lead).",
            self.leadership.epoch(),
        )
        if not leading:
            return
        try:
            families = list(self._cluster())
        except StoreError:
            yield GaugeMetricFamily("sched_store_up", "1 when Redis answered this scrape.", 0)
            return
        yield GaugeMetricFamily("sched_store_up", "1 when Redis answered this scrape.", 1)
        yield from families

    def _cluster(self) -> Iterator[Metric]:
        if self.per_schedule:
            yield from self._schedules()
        reads = self.store.reads
        depths = reads.queue_depths()
        oldest = reads.queue_oldest_ms(sorted(depths))
        now_ms = self.now_ms()
        depth = GaugeMetricFamily("sched_queue_depth", "Runs waiting on a queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "sched_queue_oldest_age_seconds",
            "How long the longest-waiting run of a queue has waited (0 when empty).",
            labels=["queue"],
        )
        for queue, count in sorted(depths.items()):
            depth.add_metric([queue], count)
            first = oldest.get(queue)
            age.add_metric([queue], 0 if first is None else max(0, now_ms - first) / 1000)
        yield depth
        yield age
        kept, _ = reads.dead_counts()
        yield GaugeMetricFamily("sched_dead_letter_runs", "Runs in the dead-letter queue.", kept)
        outbox, oldest_ms, in_flight = reads.celery_counts()
        yield GaugeMetricFamily(
            "sched_celery_outbox_messages",
            "Celery messages waiting for the relay to publish them.",
            outbox,
        )
        yield GaugeMetricFamily(
            "sched_celery_outbox_oldest_age_seconds",
            "How long the oldest message in the outbox has waited (0 when empty).",
            0 if oldest_ms is None else max(0, now_ms - oldest_ms) / 1000,
        )
        yield GaugeMetricFamily("sched_celery_in_flight",
                                "Celery runs handed over whose end is not yet reported.",
                                in_flight)  # fmt: skip
        serving: dict[str, int] = dict.fromkeys(depths, 0)
        for worker in reads.workers():
            for queue in worker.queues:
                serving[queue] = serving.get(queue, 0) + 1
        workers = GaugeMetricFamily(
            "sched_workers", "Live workers taking from a queue.", labels=["queue"]
        )
        for queue, count in sorted(serving.items()):
            workers.add_metric([queue], count)
        yield workers

    def _schedules(self) -> Iterator[Metric]:
        schedules = self.leadership.schedules()
        names = sorted(schedules)
        states = self.store.reads.states(names)
        label = ["schedule"]
        nxt = GaugeMetricFamily(
            "sched_schedule_next_fire_timestamp_seconds",
            "The next fire time (absent: never again).",
            labels=label,
        )
        last = GaugeMetricFamily(
            "sched_schedule_last_fire_timestamp_seconds",
            "The latest fire time dispatched.",
            labels=label,
        )
        success = GaugeMetricFamily(
            "sched_schedule_last_success_timestamp_seconds",
            "When a run last succeeded.",
            labels=label,
        )
        paused = GaugeMetricFamily("sched_schedule_paused", "1 while paused.", labels=label)
        info = GaugeMetricFamily(
            "sched_schedule_info",
            "One per schedule: its task, queue and trigger.",
            labels=["schedule", "task", "queue", "trigger"],
        )
        for name in names:
            schedule, state = schedules[name], states.get(name)
            info.add_metric([name, schedule.task, schedule.queue, schedule.describe_trigger()], 1)
            if state is None:
                continue
            paused.add_metric([name], int(state.paused))
            if state.next_ms is not None:
                nxt.add_metric([name], state.next_ms / 1000)
            if state.last_fire_ms is not None:
                last.add_metric([name], state.last_fire_ms / 1000)
            if state.last_success_ms is not None:
                success.add_metric([name], state.last_success_ms / 1000)
        yield from (nxt, last, success, paused, info)
