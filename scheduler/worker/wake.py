"""Wake a waiting worker when runs arrive on its queues, instead of polling for them.

Every script that puts runs on a queue announces it on a channel (``Announcements``). A
thread of the worker listens and wakes the worker's wait (``Pool.wake``), so a run is
claimed about when it is enqueued, and an idle worker sends Redis nothing but its upkeep.

Pub/sub keeps nothing for a subscriber that is not there: while the subscription is down
(Redis restarting, a dropped connection) ``listening`` is False and the worker polls as it
did before; each new subscription wakes the worker once, to claim what was announced
while nobody listened. A wait also never outlasts ``Worker``'s bound, so a lost
announcement delays a run by at most that bound, never loses it: the runs are in Redis.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection

from scheduler.core.backoff import outage_wait_s
from scheduler.errors import StoreError
from scheduler.store.worker import Announcements

log = logging.getLogger("sched.worker")

RECEIVE_S = 0.1  # the longest a receive blocks: how soon the thread notices it should stop
CONFIRM_S = 5.0  # a subscription not confirmed within this is tried again


class Waker:
    def __init__(
        self,
        subscribe: Callable[[], Announcements],
        queues: Callable[[], Collection[str]],
        wake: Callable[[], None],
    ) -> None:
        self.subscribe = subscribe
        self.queues = queues  # read for each announcement: a reload may change them
        self.wake = wake
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._failures = 0  # in a row since the last confirmed subscription
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        """True while announcements reach this worker (the subscription is confirmed)."""
        return self._listening.is_set()

    def start(self) -> None:
        """Listen on a thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="sched-wake")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=RECEIVE_S + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except StoreError as exc:
                self._failures += 1
                if self._failures == 1:
                    log.info("not subscribed to run announcements, polling until Redis "
                             "answers: %s", exc)  # fmt: skip
                self._stop.wait(outage_wait_s(self._failures))

    def _listen(self) -> None:
        announcements = self.subscribe()
        try:
            if not announcements.confirmed(CONFIRM_S):
                return
            self._listening.set()
            self._failures = 0  # the next failure is a new outage, logged again
            self.wake()  # claim what came while nobody listened
            while not self._stop.is_set():
                queue = announcements.receive(RECEIVE_S)
                if queue is not None and queue in self.queues():
                    self.wake()
        finally:
            self._listening.clear()
            with contextlib.suppress(StoreError):
                announcements.close()
