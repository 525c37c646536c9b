"""The relay: publishes the outbox to Celery brokers other than sched's own Redis.

The dispatch script writes such a run's Celery message to the outbox in the same atomic
step as its compare-and-set; the relay, in the leader, publishes it and removes it only
once the broker confirmed it. A relay that dies between the two publishes it again, with
the same task id: hand-off through the relay is at least once. The relay also stops
counting Celery runs whose end ``report_outcomes`` never reported (``core.celery.
outcome_deadline_ms``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from scheduler.core.celery import OutboxEntry, Published, redis_identity
from scheduler.core.instants import to_ms, utc_text
from scheduler.core.messages import VERSION, Event
from scheduler.errors import BrokerError, SchedError
from scheduler.store import Store, connect, redact
from scheduler.store.celery import RedisPublisher

log = logging.getLogger("sched.relay")

BATCH = 500
IDLE_WAIT_S = 1.0  # between looks at an empty outbox (a dispatch that fills it wakes us)
EXPIRE_EVERY_S = 5.0  # between looks for overdue Celery runs (their deadlines are minutes)
RETRY_WAIT_S = (1.0, 30.0)  # a broker that failed: first and longest wait before the next try
NO_OUTCOME = ("no outcome was reported before the deadline (expires + timeout + 60 s); is "
              "scheduler.celery.report_outcomes(app) in the Celery app?")  # fmt: skip
WARN_EVERY_S = 60.0  # a refused entry is logged at most this often


def sent_event(entry: OutboxEntry, now_text: str) -> str:
    """The history event of a confirmed hand-off: ``Event(...).dumps()``, written directly
    because the relay writes one per message (a test keeps the two equal)."""
    return (f'{{"v":{VERSION},"kind":"event","event":"sent_to_celery","at":"{now_text}",'
            f'"run_id":{json.dumps(entry.run_id)},"fire_at":"{entry.fire_at}",'
            f'"celery_id":"{entry.task_id}"}}')  # fmt: skip


class Publisher(Protocol):
    def publish(self, entries: list[OutboxEntry]) -> Published: ...

    def close(self) -> None: ...


def open_publisher(url: str) -> Publisher:
    """A publisher for a broker URL: Redis, or RabbitMQ (py-amqp, from ``sched[celery]``)."""
    if redis_identity(url) is not None:
        return RedisPublisher(connect(url), url)
    try:  # py-amqp comes with the celery extra; the Redis path never needs it
        from scheduler.brokers.amqp import AmqpPublisher
    except ImportError as exc:
        raise BrokerError(
            f"publishing to {redact(url)} needs py-amqp: pip install 'sched[celery]' ({exc})"
        ) from None
    return AmqpPublisher(url)


class Relay:
    def __init__(
        self, store: Store, default_broker_url: str | None = None,
        opener: Callable[[str], Publisher] = open_publisher,
    ) -> None:  # fmt: skip
        self.store = store
        self.default_broker_url = default_broker_url
        self.opener = opener
        self.publishers: dict[str, Publisher] = {}
        self._failing: dict[str, tuple[float, float]] = {}  # url -> (retry at, last wait)
        self._warned: dict[str, float] = {}
        self.wake = threading.Event()

    def broker_of(self, entry: OutboxEntry) -> str:
        """An entry's broker; '' (an operator's trigger) is the default one."""
        return entry.broker_url or self.default_broker_url or ""

    def pump(self, now: datetime, expire: bool = True) -> int:
        """Publish one batch of the outbox (and ``expire`` overdue Celery runs); the number
        of entries the brokers confirmed."""
        entries, unreadable = self.store.celery.outbox(BATCH)
        for run_id, why in unreadable.items():
            self._warn(run_id, f"cannot read outbox entry {run_id}: {why}; it stays there")
        by_broker: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            by_broker.setdefault(self.broker_of(entry), []).append(entry)
        confirmed = 0
        for url, batch in by_broker.items():
            confirmed += self._publish(url, batch, now)
        if expire:
            self.expire(now)
        return confirmed

    def _publish(self, url: str, batch: list[OutboxEntry], now: datetime) -> int:
        retry_at = self._failing.get(url, (0.0, 0.0))[0]
        if time.monotonic() < retry_at:
            return 0
        try:
            published = self._publisher(url).publish(batch)
        except BrokerError as exc:
            self._failed(url, exc)
            return 0
        self._failing.pop(url, None)
        now_text = utc_text(now)
        by_id = {entry.run_id: entry for entry in batch}
        notes = [(run_id, sent_event(by_id[run_id], now_text)) for run_id in published.confirmed]
        self.store.celery.relayed(notes)
        for run_id in published.confirmed:
            self._warned.pop(run_id, None)  # refused before, gone now
        for run_id, why in published.refused.items():
            self._warn(run_id, f"{redact(url)} refused {run_id}: {why}; it stays in the outbox")
        return len(published.confirmed)

    def expire(self, now: datetime) -> int:
        """Stop counting Celery runs whose end was not reported before their deadline."""
        now_ms, expired = to_ms(now), 0
        for run_id in self.store.celery.overdue(now_ms, BATCH):
            note = Event("no_outcome", utc_text(now), run_id=run_id, error=NO_OUTCOME).dumps()
            expired += self.store.celery.report(run_id, "overdue", note, now_ms=now_ms)
        return expired

    def _publisher(self, url: str) -> Publisher:
        publisher = self.publishers.get(url)
        if publisher is None:
            # '': no broker configured anywhere, so sched's own Redis (an operator's trigger)
            publisher = RedisPublisher(self.store.client) if not url else self.opener(url)
            self.publishers[url] = publisher
        return publisher

    def _failed(self, url: str, exc: SchedError) -> None:
        wait = self._failing.get(url, (0.0, 0.0))[1]
        wait = min(RETRY_WAIT_S[1], max(RETRY_WAIT_S[0], wait * 2))
        self._failing[url] = (time.monotonic() + wait, wait)
        log.warning("could not publish to %s: %s; retrying in %.0f s", redact(url), exc, wait)
        publisher = self.publishers.pop(url, None)
        if publisher is not None:
            try:
                publisher.close()
            except Exception:  # closing a broken connection may fail in any way
                log.debug("closing the publisher failed", exc_info=True)

    def _warn(self, run_id: str, message: str) -> None:
        last = self._warned.get(run_id)
        if last is None or time.monotonic() - last >= WARN_EVERY_S:
            self._warned[run_id] = time.monotonic()
            log.warning("%s", message)

    def keep(self, done: threading.Event, leading: Callable[[], bool],
             now: Callable[[], datetime]) -> threading.Thread:  # fmt: skip
        """Relay on a thread of its own while ``leading()``, until ``done`` is set."""

        def loop() -> None:
            expire_at = 0.0
            while not done.is_set():
                busy = False
                if leading():
                    try:
                        expire = time.monotonic() >= expire_at
                        busy = self.pump(now(), expire) > 0
                        if expire:
                            expire_at = time.monotonic() + EXPIRE_EVERY_S
                    except SchedError as exc:  # Redis unreachable: the next round retries
                        log.warning("relay: %s", exc)
                if not busy:
                    self.wake.wait(IDLE_WAIT_S)
                    self.wake.clear()
            for publisher in self.publishers.values():
                try:
                    publisher.close()
                except Exception:  # best effort on the way out
                    log.debug("closing the publisher failed", exc_info=True)

        thread = threading.Thread(target=loop, name="sched-relay", daemon=True)
        thread.start()
        return thread
