"""The scheduler replica's loop: lead or stand by, sync, dispatch what is due.

``elect(now)`` and ``tick(now)`` are the steps tests drive with explicit instants; ``run()``
around them only waits and handles outages. The lease renews on its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from scheduler.beat.lease import ASK_EVERY_MS, LEASE_TTL_MS, Lease
from scheduler.beat.planner import Planner
from scheduler.beat.relay import Relay
from scheduler.beat.sync import sync
from scheduler.core.backoff import Outage
from scheduler.core.celery import CeleryRouting
from scheduler.core.instants import from_ms, to_ms
from scheduler.core.model import Schedule
from scheduler.core.observe import SILENT, Observer
from scheduler.errors import NotLeaderError, SchedError, StoreError
from scheduler.store import Store
from scheduler.store.client import Packed
from scheduler.store.values import Step

log = logging.getLogger("sched.scheduler")

BATCH_SIZE = 500
PREPARE_AHEAD_S = 0.02  # build the next instant's batch when at least this idle time is left
PREPARE_LIMIT = 50_000  # fires built ahead for one instant; more are planned at the instant
PREPARE_CHUNK = 2  # script calls' worth of fires built ahead between looks at the clock
IDLE_WAIT_S = 0.5  # longest sleep between checks for new due times
SPIN_S = 0.002  # a wait for a due instant spends its last 2 ms reading the clock...
SPIN_GAP_S = 0.9  # ...if the last wait that did ended this long before: whole seconds do
STALL_S = 15.0  # a dispatch loop silent this long is stuck: its lease is not renewed


class Unknown:
    """Not read yet (``prepare``'s ``due_ms``: None is a known answer, nothing is due)."""


UNKNOWN = Unknown()


class Scheduler:
    def __init__(
        self,
        store: Store,
        schedules: Mapping[str, Schedule],
        identity: str | None = None,
        lease_ttl_ms: int = LEASE_TTL_MS,
        batch_size: int = BATCH_SIZE,
        observer: Observer = SILENT,
        routing: CeleryRouting | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        self.schedules = dict(schedules)
        self.lease = Lease(store.leader, identity, lease_ttl_ms)
        self.routing = routing or CeleryRouting(store.identity())
        self.planner = Planner(store.reads, self.routing)
        self.relay = Relay(store, self.routing.default_broker_url)
        self.planner.reset(self.schedules)
        self.batch_size = batch_size
        self._synced_epoch = 0  # the epoch whose lease we last synced under
        # The batch built ahead: its steps, in script calls, and those calls packed.
        self._packed: tuple[list[Step], list[list[Step]], Packed] | None = None
        self.elapsed: Callable[[], float] = time.monotonic  # how long building ahead takes
        self._build_s_per_fire = 0.0  # what building a fire ahead took, last measured
        self._spun_until = -SPIN_GAP_S  # elapsed() at the end of the last wait that spun
        self._beat_at = time.monotonic()  # the loop's last sign of progress
        # Called after a batch is computed and before it is sent: a seam for tests that
        # pause a leader at the worst moment.
        self.before_dispatch: Callable[[], None] | None = None

    @property
    def identity(self) -> str:
        return self.lease.identity

    @property
    def epoch(self) -> int:
        return self.lease.epoch

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    def elect(self, now: datetime) -> bool:
        """Take or renew the lease; True while this replica leads."""
        return self.lease.elect(now) > 0

    def release(self) -> None:
        self.lease.release()

    def replace_schedules(self, schedules: Mapping[str, Schedule]) -> None:
        """Take a new, already validated set of schedules (a reload); synced on next tick."""
        self.schedules = dict(schedules)
        self._synced_epoch = 0

    def sync(self, now: datetime) -> dict[str, str]:
        """Make Redis hold exactly our schedules; name -> added/changed/updated/removed."""
        self.planner.reset(self.schedules)
        report = sync(self.store.leader, self.store.reads, self.lease.token, self.schedules, now,
                      self._progress)  # fmt: skip
        self._synced_epoch = self.lease.epoch
        return report

    def _ready(self, now: datetime, epoch: int) -> None:
        if self._synced_epoch != epoch:  # a new lease, or a reload: plan from Redis again
            self.sync(now)
            self.repair()

    def repair(self) -> None:
        """Fix overlap counters that drifted from the runs that exist (a new leader checks)."""
        for fix in self.store.ops.repair_counters():
            log.warning("repaired the counters of %s: active %d -> %d, waiting %d -> %d",
                        fix.schedule, fix.active_was, fix.active, fix.waiting_was,
                        fix.waiting)  # fmt: skip

    # -- dispatch ---------------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """Dispatch everything due at ``now``; the number of runs enqueued."""
        epoch = self.lease.epoch
        if not epoch:
            return 0
        enqueued = 0
        try:
            self._ready(now, epoch)
            prepared = self.planner.take_prepared(now)
            if prepared is not None:
                enqueued += self._send_all(prepared[1], now)
            self._packed = None
            while True:
                names = self.store.leader.due(to_ms(now), self.batch_size)
                if not names:
                    break
                enqueued += self._send(self.planner.steps(names, now, epoch), now)
                if len(names) < self.batch_size:
                    break
        except NotLeaderError:
            self.lease.step_down("a dispatch was refused: the lease is no longer ours")
        except StoreError:
            # A call may have run with its reply lost: the next fire times this leader
            # remembers may be stale, so the next tick reads them from Redis.
            self.planner.reset()
            raise
        return enqueued

    def _send_all(self, steps: list[Step], now: datetime) -> int:
        """The batch built ahead: its script calls (encoded ahead too) in one round trip."""
        self._progress()
        ready = self._packed
        packed: Packed | None
        if ready is not None and ready[0] is steps:
            _, batches, packed = ready
        else:
            batches = self._batches(steps)
            packed = self.store.leader.pack(self.lease.token, batches) if batches else None
        if packed is None or not batches:
            return 0
        if self.before_dispatch is not None:
            self.before_dispatch()
        replies = self.store.leader.dispatch_all(packed)
        enqueued, failed = 0, None
        for batch, results in zip(batches, replies, strict=True):
            if isinstance(results, SchedError):
                failed = failed or results
                continue
            enqueued += self._sent(batch, results, now)
        if failed is not None:
            raise failed
        return enqueued

    def _send(self, steps: list[Step], now: datetime) -> int:
        self._progress()
        if not steps:
            return 0
        if self.before_dispatch is not None:
            self.before_dispatch()
        return self._sent(steps, self.store.leader.dispatch(self.lease.token, steps), now)

    def _sent(self, steps: list[Step], results: list[int], now: datetime) -> int:
        if any(step.mode == "outbox" for step in steps):
            self.relay.wake.set()
        self.planner.remember(steps, results)
        self._observe(steps, results, to_ms(now))
        return sum(r for r in results if r > 0)

    def _observe(self, steps: list[Step], results: list[int], now_ms: int) -> None:
        for step, result in zip(steps, results, strict=True):
            if result < 0:  # refused: another leader or an operator changed it first
                continue
            late = None if step.fired_ms is None else max(0, now_ms - step.fired_ms) / 1000
            self.observer.dispatched(step.name, result, len(step.runs) - result, step.missed,
                                     late)  # fmt: skip

    def prepare(self, now: datetime, due_ms: int | Unknown | None = UNKNOWN) -> int:
        """Build the batch of the next due instant ahead of time, while idle.

        At the instant itself only the scripts are sent, so a burst of thousands of fires
        becomes visible as fast as Redis can take it. Nothing is decided early that could
        go wrong: each step is still compared and set inside Redis (a schedule paused,
        resumed or dispatched meanwhile is refused), and a batch sent more than a second
        late is thrown away and planned afresh. ``due_ms``: the next due instant, when the
        caller just read it. Building ahead does not delay the instant: each part holds
        as many fires as can be built ``PREPARE_AHEAD_S`` before it, judged by how long a
        fire took to build the last time (the first build ever is not bounded), and what
        is left is planned at the instant, as fires beyond ``PREPARE_LIMIT`` are. Returns
        the steps built.
        """
        epoch = self.lease.epoch
        if not epoch or self._synced_epoch != epoch:
            return 0
        if isinstance(due_ms, Unknown):
            due_ms = self.store.leader.next_due_ms()
        if due_ms is None or due_ms <= to_ms(now):
            return 0
        built = self.planner.prepared_for(due_ms)
        if built is not None:
            return built
        deadline = self.elapsed() + due_ms / 1000 - now.timestamp() - PREPARE_AHEAD_S
        names = self.store.leader.due(due_ms, PREPARE_LIMIT)
        at, size, first = from_ms(due_ms), self.batch_size * PREPARE_CHUNK, 0
        steps: list[Step] = []
        batches: list[list[Step]] = []
        packs: list[Packed] = []
        while first < len(names):
            began, per_fire = self.elapsed(), self._build_s_per_fire
            room = size if per_fire <= 0 else min(size, int((deadline - began) / per_fire))
            if room < 1:
                break  # the rest is planned at the instant
            chunk = names[first : first + room]
            made = self.planner.steps(chunk, at, epoch)
            part = self._batches(made)
            steps += made
            batches += part
            packs.append(self.store.leader.pack(self.lease.token, part))
            self._build_s_per_fire = (self.elapsed() - began) / len(chunk)
            first += len(chunk)
        self.planner.hold(due_ms, steps)
        self._packed = (steps, batches, Packed.joined(packs))
        return len(steps)

    def _batches(self, steps: list[Step]) -> list[list[Step]]:
        """``steps`` in script calls of ``batch_size``."""
        size = self.batch_size
        return [steps[i : i + size] for i in range(0, len(steps), size)]

    def seconds_until_due(self, now: datetime) -> float:
        return _wait_s(self.store.leader.next_due_ms(), now)

    # -- the loop ---------------------------------------------------------------------

    def _progress(self) -> None:
        self._beat_at = time.monotonic()

    def alive(self) -> bool:
        """True while the loop makes progress (the lease thread asks before renewing)."""
        return self.tick_age_s() < STALL_S

    def tick_age_s(self) -> float:
        """Seconds since the loop last made progress."""
        return time.monotonic() - self._beat_at

    def run(self, stop: threading.Event, poll: Callable[[], None] | None = None) -> None:
        """Lead or stand by until ``stop`` is set; release the lease on the way out, also
        when the loop dies of an error (which is logged and raised again).

        ``poll`` is called between ticks (the CLI uses it to reload changed files).
        """
        done = threading.Event()
        self._beat_at = time.monotonic()
        keeper = self.lease.keep(done, self.alive)
        relay = self.relay.keep(done, lambda: self.is_leader, self.lease.clock.now)
        try:
            self._loop(stop, poll)
        except BaseException:
            log.critical("the dispatch loop died; releasing the lease", exc_info=True)
            raise
        finally:
            done.set()
            self.relay.wake.set()
            keeper.join(timeout=2)
            relay.join(timeout=2)
            try:
                self.lease.release()
            except StoreError:
                log.warning("could not release the lease (Redis unreachable); it expires")

    def _loop(self, stop: threading.Event, poll: Callable[[], None] | None) -> None:
        outage = Outage(log)
        while not stop.is_set():
            self._progress()
            try:
                wait_s = self.step()
                until, spin = self.elapsed() + wait_s, self.is_leader and wait_s < IDLE_WAIT_S
                if poll is not None:  # after the dispatch, so that it never delays an instant
                    poll()
                outage.over()
            except StoreError as exc:
                until, spin = self.elapsed() + outage.failed(exc), False
                self.lease.step_down("Redis is unreachable")
            self.pause(stop, until, spin)

    def pause(self, stop: threading.Event, until: float, spin: bool) -> None:
        """Wait until ``elapsed()`` reads ``until``, or until ``stop``.

        With ``spin`` (the wait ends at a due instant) the last SPIN_S are spent reading the
        clock, yielding to other threads between reads: a timed wait on a virtual machine
        returns 0.3 ms late at the median and 0.6 ms at p90, the clock read within
        microseconds of the instant. Fire times are whole seconds, but jitter makes due
        instants of any millisecond, so only a wait ending SPIN_GAP_S or more after the
        last one that spun spins: about 0.2 % of a core at most, however dense the instants.
        """
        left = until - self.elapsed()
        if left <= 0:
            return  # already due: nothing to wait for, and no spin used up
        if not spin or until - self._spun_until < SPIN_GAP_S:
            stop.wait(left)
            return
        if left > SPIN_S and stop.wait(left - SPIN_S):
            return
        self._spun_until = until
        while self.elapsed() < until and not stop.is_set():
            time.sleep(0)

    def step(self) -> float:
        """One pass of the loop at the clock's now: dispatch what is due, build the next
        instant's batch ahead; the seconds to wait before the next pass."""
        if not self.is_leader:
            return ASK_EVERY_MS / 1000
        # One read of the next due instant per idle pass: it decides whether to tick, what to
        # build ahead and how long to wait. When the batch built ahead is due, it is sent
        # at once: its instant was read before the wait, and the tick reads the due set
        # after sending it (one round trip from waking to the runs on their queues).
        now = self.lease.clock.now
        synced = self._synced_epoch == self.lease.epoch
        built_ms = self.planner.prepared_ms()
        due_ms = built_ms if synced else None
        if due_ms is None or due_ms > to_ms(now()):
            due_ms = self.store.leader.next_due_ms()
        if not synced or (due_ms is not None and due_ms <= to_ms(now())):
            self.tick(now())
            due_ms = self.store.leader.next_due_ms()
        if _wait_s(due_ms, now()) > PREPARE_AHEAD_S:
            self.prepare(now(), due_ms)
        return _wait_s(due_ms, now())


def _wait_s(due_ms: int | None, now: datetime) -> float:
    """How long to wait for ``due_ms``: at most IDLE_WAIT_S, so that new due times (a
    schedule added through the API, a resume) are seen within it."""
    if due_ms is None:
        return IDLE_WAIT_S
    # From the exact instant, not a whole ms (that would wake up to 1 ms late).
    return max(0.0, min(IDLE_WAIT_S, due_ms / 1000 - now.timestamp()))
