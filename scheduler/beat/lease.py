"""The leader lease: a random token, the epoch it was granted, and the thread that renews it.

The renewal thread touches nothing but this object, so it can never race the dispatch loop:
the loop notices a new epoch on its own thread and resets what it planned.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from scheduler.core import clock
from scheduler.core.backoff import Outage
from scheduler.core.instants import to_ms
from scheduler.errors import StoreError
from scheduler.store.leader import LeaderStore

log = logging.getLogger("sched.scheduler")

LEASE_TTL_MS = 5000
RENEW_EVERY_MS = 1000  # how often the leader renews (the TTL leaves it four more tries)
ASK_EVERY_MS = 500  # how often a standby tries to take an expired lease


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    def __init__(
        self, store: LeaderStore, identity: str | None = None, ttl_ms: int = LEASE_TTL_MS
    ) -> None:
        self.store = store
        self.identity = identity or default_identity()
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)
        self.epoch = 0  # > 0 while we lead; a new lease always has a new epoch
        self.clock = clock.RedisClock(f"scheduler {self.identity}")
        self.granted_at = 0.0  # time.monotonic() of the last grant or renewal

    @property
    def held(self) -> bool:
        return self.epoch > 0

    def elect(self, now: datetime) -> int:
        """Take or renew the lease; the epoch while we lead, else 0."""
        sent, asked = clock.utc_now(), time.monotonic()
        epoch, redis_ms = self.store.grant(self.token, self.ttl_ms, self.identity, to_ms(now))
        self.granted_at = asked
        self.clock.sample(redis_ms, sent, clock.utc_now())
        if epoch and epoch != self.epoch:
            log.info("leading as %s (epoch %d)", self.identity, epoch)
        elif not epoch and self.epoch:
            log.warning("lost the leader lease (epoch %d); standing by", self.epoch)
        self.epoch = epoch
        return epoch

    def left_s(self) -> float | None:
        """Seconds until the lease expires unless renewed (at most; None when not held)."""
        if not self.held:
            return None
        return max(0.0, self.ttl_ms / 1000 - (time.monotonic() - self.granted_at))

    def step_down(self, why: str) -> None:
        if self.epoch:
            log.warning("stepping down (epoch %d): %s", self.epoch, why)
        self.epoch = 0

    def release(self) -> None:
        if self.epoch:
            self.store.release(self.token)
            log.info("released the leader lease (epoch %d)", self.epoch)
        self.epoch = 0

    def keep(self, stop: threading.Event, alive: Callable[[], bool]) -> threading.Thread:
        """Renew on a thread of its own, so that a slow dispatch never lets the lease lapse,
        but only while ``alive()`` says the dispatch loop still makes progress: a stuck
        loop must not hold the lease and keep every standby out."""
        thread = threading.Thread(target=self._renew, args=(stop, alive), daemon=True,
                                  name="sched-lease")  # fmt: skip
        thread.start()
        return thread

    def _renew(self, stop: threading.Event, alive: Callable[[], bool]) -> None:
        outage = Outage(log)
        while not stop.is_set():
            wait_s = (RENEW_EVERY_MS if self.held else ASK_EVERY_MS) / 1000
            try:
                if alive():
                    self.elect(self.clock.now())
                else:
                    self.step_down("the dispatch loop is stuck; the lease is left to expire")
                outage.over()
            except StoreError as exc:
                self.step_down("Redis is unreachable")
                wait_s = outage.failed(exc)
            stop.wait(wait_s)
