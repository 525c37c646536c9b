"""The worker loop: claim runs, start them in a pool, record every outcome.

Execution is at least once: a run stays claimed by its worker until the outcome is
recorded, and runs held by a worker whose heartbeat stops are delivered again. The step
``process_once()`` is what tests drive; ``run()`` adds the timers and the shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from scheduler.core import clock
from scheduler.core.backoff import Outage
from scheduler.core.instants import from_ms, to_ms
from scheduler.core.observe import SILENT, Observer
from scheduler.errors import StoreError
from scheduler.store import Store
from scheduler.store.keys import DEAD_MAX, DEAD_MAX_AGE_S
from scheduler.store.values import Claimed, Outcome
from scheduler.worker import outcomes
from scheduler.worker.execute import Result, missing_module
from scheduler.worker.outcomes import Verdict
from scheduler.worker.pools import Job, make_pool
from scheduler.worker.wake import Waker

log = logging.getLogger("sched.worker")

HEARTBEAT_EVERY_S = 1.0
DESCRIBE_EVERY_S = 10.0  # the worker's description is written again this often (or changed)
WORKER_TIMEOUT_S = 10.0  # a worker silent this long is presumed dead; its runs come back
MAX_DELIVERIES = 5  # deliveries without an outcome before a run is dead-lettered as poison
GRACE_S = 30.0  # on SIGTERM, how long running runs may finish before they are handed back
IDLE_POLL_S = 0.005  # the wait between claims while run announcements do not reach us
IDLE_WAIT_S = 1.0  # the longest wait for an announcement before claiming anyway
CLAIM_BATCH = 100
PREFETCH = 32  # runs claimed beyond the free slots, to save round trips under load
STALL_S = 15.0  # a worker loop silent this long is stuck (its liveness probe fails)
DEFER_S = 10.0  # a run this worker cannot import waits this long for another worker
DEFER_LIMIT_S = 3600.0  # and is dead-lettered when no worker could import it for this long


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass
class Worker:
    store: Store
    queues: Sequence[str] = ("default",)
    concurrency: int = 4
    pool_kind: str = "thread"
    max_runs_per_child: int = 0  # prefork: a child is replaced after this many runs (0: never)
    worker_id: str = field(default_factory=default_worker_id)
    now: Callable[[], datetime] | None = None  # default: the Redis-corrected clock
    rng: random.Random = field(default_factory=random.Random)
    max_deliveries: int = MAX_DELIVERIES
    worker_timeout_s: float = WORKER_TIMEOUT_S
    prefetch: int = PREFETCH
    dead_max: int = DEAD_MAX
    dead_max_age_s: int = DEAD_MAX_AGE_S
    observer: Observer = SILENT

    def __post_init__(self) -> None:
        self.backend = self.store.worker(self.worker_id, self.dead_max, self.dead_max_age_s)
        self.pool = make_pool(self.pool_kind, self.concurrency, self.worker_id,
                              self.max_runs_per_child)  # fmt: skip
        self.running: dict[str, Job] = {}
        self.backlog: deque[Claimed] = deque()
        self.early: list[Job] = []  # finished jobs taken while waiting
        self.unacked: list[Outcome] = []  # recorded here, not yet acknowledged by Redis
        self.returned: list[str] = []  # abandoned attempts that returned, not yet told
        self.unimportable: dict[str, tuple[float, str]] = {}  # task -> (check again at, why)
        self.clock = clock.RedisClock(f"worker {self.worker_id}")
        self._now = self.now or self.clock.now
        self.accepting = True
        self._next_queue = 0
        self._beat_at = time.monotonic()  # the loop's last sign of progress
        self._described = ("", 0.0)  # the description last written, and when to write it again
        # Announcements reach this worker (``run`` sets it): a claim that found every queue
        # drained then waits for one (or IDLE_WAIT_S) instead of being sent again after
        # each run, a round trip that would find nothing.
        self.listening: Callable[[], bool] = lambda: False
        self._announced = True  # a run was announced since the last claim was sent
        self._drained = False  # the last claim took fewer runs than it asked for
        self._claimed_at = 0.0  # monotonic, when the last claim was sent

    # -- one step -----------------------------------------------------------------------

    def process_once(self) -> int:
        """Record finished runs, time out stuck ones, start and take runs; returns runs taken.

        Runs are claimed ahead of free slots (up to ``prefetch``), which saves round trips;
        a prefetched run is claimed like a running one and comes back if this worker dies.
        No claim is sent while the runs claimed ahead can fill every slot: under load, one
        claim of up to ``prefetch`` runs for that many runs started, not one per step.
        """
        now = self._now()
        recorded = self._collect(now) + self._time_out(now)
        if not self.accepting:
            self._acknowledge(recorded, [], now)
            return 0
        self._start(recorded, now)
        if self._nothing_to_claim() or len(self.backlog) >= self.concurrency:
            return 0
        wanted = self.concurrency + self.prefetch - len(self.running) - len(self.backlog)
        # Slots ``_start`` left free with nothing to start: the claim marks that many runs
        # started, so they run without a second round trip (none while a suspect runs, which
        # runs alone).
        idle = not self.backlog and not self._suspect_running([])
        free = self.concurrency - len(self.running) if idle else 0
        taken, poisoned = 0, []
        if wanted > 0:  # before the claim, so that none is lost; a claim that fails drained
            self._announced, self._drained, self._claimed_at = False, False, time.monotonic()
        for _ in range(len(self.queues)):
            if wanted - taken <= 0:
                break
            queue = self.queues[self._next_queue % len(self.queues)]
            self._next_queue += 1
            count = min(wanted - taken, CLAIM_BATCH)
            claimed = self.backend.claim(queue, count, to_ms(now), free)
            free -= sum(item.started for item in claimed)
            for item in claimed:
                if outcomes.is_poison(item, self.max_deliveries):
                    poisoned.append(self._say(outcomes.poison(item, now, self.worker_id)))
                else:
                    self.backlog.append(item)
            taken += len(claimed)
        self._drained = 0 <= taken < wanted  # nothing, if the claim failed: ask again
        if taken:
            self._start(poisoned, now)
        return taken

    def _nothing_to_claim(self) -> bool:
        """True when a claim now would find nothing: the last one found every queue
        drained, no run was announced since it was sent, and it is less than IDLE_WAIT_S
        old (a lost announcement costs at most that)."""
        return (self._drained and not self._announced and self.listening()
                and time.monotonic() - self._claimed_at < IDLE_WAIT_S)  # fmt: skip

    def _start(self, recorded: list[Outcome], now: datetime) -> None:
        """Report outcomes and mark the runs about to start, in one round trip; then start them.

        The start mark must reach Redis before the task runs: a task that kills its worker
        at once (``os._exit``) must still count the delivery, or it is never found poison.
        Runs the claim marked started already (``Claimed.started``) need no round trip. A
        run found delivered to another worker meanwhile frees its slot for the next run
        claimed ahead, in the same step.
        """
        while True:
            jobs = self._next_jobs(recorded, now)
            ours = self._acknowledge(recorded, jobs, now)
            recorded, lost = [], False
            for job, mine in zip(jobs, ours, strict=True):
                if not mine:
                    log.warning("run %s was delivered to another worker meanwhile; not "
                                "running it", job.claimed.run_id)  # fmt: skip
                    lost = True
                    continue
                self.running[job.claimed.run_id] = job
                self.pool.submit(job)
                message = job.claimed.message
                delay_s = max(0.0, (now - from_ms(message.fire_at_ms)).total_seconds())
                self.observer.started(message.schedule,
                                      delay_s if message.attempt == 1 else None,
                                      job.claimed.deliveries > 1)  # fmt: skip
            if not lost:
                return

    def _next_jobs(self, recorded: list[Outcome], now: datetime) -> list[Job]:
        """Take runs from the backlog for the free slots; expired and unimportable ones
        are recorded instead (added to ``recorded``)."""
        jobs: list[Job] = []
        while self.backlog and len(self.running) + len(jobs) < self.concurrency:
            # A run started twice without an outcome was there at two crashes: it may be what
            # kills its workers, so it runs alone and takes no innocent run down with it
            # again. After one crash every run gets one more try together, so a worker that
            # died of something else (OOM, a deploy, a node) costs no serial recovery.
            suspect = outcomes.is_suspect(self.backlog[0])
            if (suspect and (self.running or jobs)) or self._suspect_running(jobs):
                break
            item = self.backlog.popleft()
            expires = item.message.expires
            if expires is not None and now > expires:
                recorded.append(self._say(outcomes.expired(item.message, now, self.worker_id)))
                continue
            why = self._cannot_import(item.message.task)
            if why:
                recorded.append(self._defer(item, why, now))
                continue
            timeout_s = item.message.timeout_s
            jobs.append(Job(item, now, time.monotonic() + timeout_s if timeout_s else None))
        return jobs

    def _acknowledge(self, recorded: list[Outcome], jobs: list[Job], now: datetime) -> list[bool]:
        """Send outcomes (with any still unacknowledged) and start marks in one round trip.

        Nothing lives only in this worker's memory: when the round trip fails, the outcomes
        are kept to be sent again and the runs go back to the front of the backlog, and
        both scripts are idempotent, so a reply lost after Redis executed them is harmless.
        Returns per job whether it is still ours to run.
        """
        self.unacked += recorded
        marking = [job for job in jobs if not job.claimed.started]  # the claim marked the rest
        if not self.unacked and not marking and not self.returned:
            return [True] * len(jobs)
        started = [(job.claimed.run_id, job.claimed.message.schedule) for job in marking]
        try:
            replies, _ = self.backend.settle(self.unacked, to_ms(now), started, self.returned)
        except StoreError:
            self.backlog.extendleft(job.claimed for job in reversed(jobs))
            raise
        self.unacked, self.returned = [], []
        ours = dict(zip((job.claimed.run_id for job in marking), replies, strict=True))
        return [ours.get(job.claimed.run_id, True) for job in jobs]

    def _cannot_import(self, task: str) -> str:
        """'' when this worker can find ``task``'s module, else why not (a failure is
        checked again after ``DEFER_S``: a deploy may bring the module)."""
        known = self.unimportable.get(task)
        if known is not None and time.monotonic() < known[0]:
            return known[1]
        why = missing_module(task)
        if why:
            self.unimportable[task] = (time.monotonic() + DEFER_S, why)
        else:
            self.unimportable[task] = (float("inf"), "")
        return why

    def _defer(self, item: Claimed, why: str, now: datetime) -> Outcome:
        """Leave a run this worker cannot import for a worker that can (see
        ``outcomes.deferred``)."""
        return self._say(outcomes.deferred(item.message, why, now, DEFER_S, DEFER_LIMIT_S,
                                           self.worker_id))  # fmt: skip

    def _suspect_running(self, pending: list[Job]) -> bool:
        return any(outcomes.is_suspect(j.claimed) for j in [*self.running.values(), *pending])

    def _say(self, verdict: Verdict) -> Outcome:
        log.log(verdict.level, "%s", verdict.text, extra=verdict.fields)
        duration_ms = verdict.fields.get("duration_ms")
        self.observer.ended(verdict.outcome.schedule, verdict.fields["outcome"],
                            None if duration_ms is None else duration_ms / 1000)  # fmt: skip
        return verdict.outcome

    def wait(self, timeout_s: float) -> None:
        """Sleep until a run finishes, runs are announced (``wake``) or ``timeout_s``
        passes, whichever comes first."""
        self.early.extend(self.pool.finished(timeout_s))

    def wake(self) -> None:
        """End the current or next ``wait`` now (runs were announced); any thread."""
        self._announced = True
        self.pool.wake()

    def idle_wait_s(self, listening: bool, until: float) -> float:
        """How long an idle loop may wait: until ``until`` (monotonic: the next upkeep) or
        the first running attempt's timeout, at most IDLE_WAIT_S; IDLE_POLL_S while
        announcements do not reach this worker."""
        if not listening:
            return IDLE_POLL_S
        ends = [job.deadline for job in self.running.values() if job.deadline is not None]
        return max(0.0, min(IDLE_WAIT_S, until - time.monotonic(),
                            *(end - time.monotonic() for end in ends)))  # fmt: skip

    def _collect(self, now: datetime) -> list[Outcome]:
        finished, self.early = [*self.early, *self.pool.finished(0)], []
        recorded = []
        for job in finished:
            if job.abandoned:
                if job.entry:  # a thread abandoned at its timeout has returned
                    self.returned.append(job.entry)
                    log.info("run %s %s attempt %d, abandoned at its timeout, returned after "
                             "%.1f s: it no longer counts as running", job.claimed.message.schedule,
                             job.claimed.run_id, job.claimed.message.attempt,
                             (now - job.started).total_seconds())  # fmt: skip
                continue
            if self.running.pop(job.claimed.run_id, None) is None:
                continue
            assert job.result is not None
            recorded.append(self._judge(job, job.result, now))
        return recorded

    def _time_out(self, now: datetime) -> list[Outcome]:
        recorded = []
        clock_now = time.monotonic()
        for run_id, job in list(self.running.items()):
            if job.deadline is not None and clock_now >= job.deadline:
                del self.running[run_id]
                still_running = self.pool.abandon(job)
                result = outcomes.timed_out(job.claimed.message, still_running)
                if not still_running and job.result is not None:
                    result = job.result  # a thread returned at the last moment: its truth
                outcome = self._judge(job, result, now)
                if still_running:
                    job.entry = f"{run_id}#{job.claimed.message.attempt}"
                    outcome = replace(outcome, abandoned=job.entry)
                recorded.append(outcome)
        return recorded

    def _judge(self, job: Job, result: Result, now: datetime) -> Outcome:
        message = job.claimed.message
        return self._say(outcomes.judge(message, result, job.started, now, self.worker_id,
                                        self.rng))  # fmt: skip

    # -- upkeep and the loop ------------------------------------------------------------

    def upkeep(self) -> None:
        """Heartbeat, bring due retries back, deliver again the runs of dead workers."""
        self._beat()
        now_ms = to_ms(self._now())
        self.backend.promote(now_ms)
        moved = self.backend.reap(now_ms, int(self.worker_timeout_s * 1000))
        if moved:
            log.warning("delivered %d runs of silent workers again", moved)

    def _beat(self) -> None:
        description = self._description()
        if description == self._described[0] and time.monotonic() < self._described[1]:
            description = ""  # unchanged and still there: only the beat is written
        else:
            self._described = (description, time.monotonic() + DESCRIBE_EVERY_S)
        sent = clock.utc_now()
        redis_ms = self.backend.heartbeat(description, int(self.worker_timeout_s) * 3)
        self.clock.sample(redis_ms, sent, clock.utc_now())

    def _description(self) -> str:
        host, _, pid = self.worker_id.partition(":")
        return json.dumps({"host": host, "pid": pid.partition(":")[0], "queues": list(self.queues),
                           "concurrency": self.concurrency, "pool": self.pool_kind})  # fmt: skip

    def hand_back(self) -> int:
        """Return every unfinished run to its queue (graceful stop); the number returned."""
        now = self._now()
        recorded = self._collect(now)
        back = [outcomes.handback(job.claimed.message, now) for job in self.running.values()]
        back += [outcomes.handback(item.message, now) for item in self.backlog]
        for job in self.running.values():
            job.abandoned = True
        self.running.clear()
        self.backlog.clear()
        self._acknowledge(recorded + back, [], now)
        return len(back)

    def reconcile(self) -> int:
        """After Redis was unreachable: hand back every run Redis says this worker holds
        but this worker does not know of (a claim whose reply was lost); the number."""
        known = {*self.running, *(c.run_id for c in self.backlog),
                 *(o.run_id for o in self.unacked)}  # fmt: skip
        now = self._now()
        lost = [outcomes.handback(message, now)
                for run_id, message in self.backend.held().items()
                if run_id not in known and message is not None]  # fmt: skip
        if lost:
            self._acknowledge(lost, [], now)
            log.warning("handed back %d runs claimed while Redis did not answer", len(lost))
        return len(lost)

    def run(
        self, stop: threading.Event, grace_s: float = GRACE_S,
        force: threading.Event | None = None,
    ) -> None:  # fmt: skip
        """Work until ``stop``; then let running runs finish for ``grace_s`` (or until
        ``force``: a second Ctrl-C) and hand the rest back."""
        log.info("worker %s taking runs from %s with %d %s slots", self.worker_id,
                 ",".join(self.queues), self.concurrency, self.pool_kind)  # fmt: skip
        next_upkeep = 0.0
        outage = Outage(log)
        waker = Waker(self.backend.announcements, lambda: self.queues, self.wake)
        self.listening = lambda: waker.listening
        waker.start()
        # A stop ends the wait at once, so the worker hands back and leaves without delay.
        threading.Thread(target=self._wake_on, args=(stop,), daemon=True,
                         name="sched-stop").start()  # fmt: skip
        try:
            while not stop.is_set():
                self._beat_at = time.monotonic()
                try:
                    if time.monotonic() >= next_upkeep:
                        self.upkeep()
                        next_upkeep = time.monotonic() + HEARTBEAT_EVERY_S
                    if outage.failures:
                        self.reconcile()
                    taken = self.process_once()
                    outage.over()
                except StoreError as exc:
                    stop.wait(outage.failed(exc))
                    continue
                if not taken:
                    self.wait(self.idle_wait_s(waker.listening, next_upkeep))
        finally:
            waker.stop()
        self._stop(grace_s, force or threading.Event())

    def _wake_on(self, stop: threading.Event) -> None:
        stop.wait()
        self.wake()

    def alive(self) -> bool:
        """True while the loop makes progress (the liveness probe asks)."""
        return self.tick_age_s() < STALL_S

    def tick_age_s(self) -> float:
        """Seconds since the loop last made progress."""
        return time.monotonic() - self._beat_at

    def _stop(self, grace_s: float, force: threading.Event) -> None:
        # Stop taking runs; let running ones finish for the grace period, heartbeating so
        # that nobody delivers them again meanwhile; then hand back what is left.
        self.accepting = False
        if self.running:
            log.warning("finishing %d runs, up to %.0f s; press Ctrl-C again (or send SIGTERM "
                        "again) to hand them back now", len(self.running), grace_s)  # fmt: skip
        deadline = time.monotonic() + grace_s
        next_beat = 0.0
        while self.running and time.monotonic() < deadline and not force.is_set():
            self._beat_at = time.monotonic()
            self.process_once()
            self.wait(0.01)
            if time.monotonic() >= next_beat:
                self._beat()
                next_beat = time.monotonic() + HEARTBEAT_EVERY_S
        returned = self.hand_back()
        if returned:
            log.warning("handed %d unfinished runs back for redelivery", returned)
        self.pool.close()
        self.backend.leave()
        log.info("worker %s stopped", self.worker_id)
