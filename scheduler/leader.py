"""The scheduler replica: elect a leader, sync schedules, dispatch due fire times.

``tick(now)`` and ``elect(now)`` are the steps tests drive with explicit instants; ``run()``
around them only waits, renews the lease on its own thread and handles outages.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from scheduler import clock
from scheduler.dispatch import (
    MessageTemplate,
    event,
    from_ms,
    jitter_ms,
    plan_due,
    run_id_for,
    to_ms,
    utc_text,
)
from scheduler.model import Schedule
from scheduler.store import (
    NotLeaderError,
    Run,
    Step,
    Store,
    StoreError,
    Upsert,
    dumps,
    priority_score,
)

log = logging.getLogger("sched.scheduler")

LEASE_TTL_MS = 5000
RENEW_EVERY_MS = 500  # also how often a standby tries to take an expired lease
BATCH_SIZE = 500
SYNC_CHUNK = 1000
PREPARE_AHEAD_S = 0.02  # build the next instant's batch when at least this idle time is left
PREPARE_LIMIT = 50_000  # fires built ahead for one instant; more are planned at the instant
PREPARED_GRACE_MS = 1000  # a prepared batch later than this is planned afresh
IDLE_WAIT_S = 0.5  # longest sleep between checks for new due times


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    def __init__(
        self,
        store: Store,
        schedules: Mapping[str, Schedule],
        identity: str | None = None,
        lease_ttl_ms: int = LEASE_TTL_MS,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.store = store
        self.schedules = dict(schedules)
        self.identity = identity or default_identity()
        self.lease_ttl_ms = lease_ttl_ms
        self.batch_size = batch_size
        self.token = secrets.token_hex(16)
        self.epoch = 0
        self._synced = False
        self._next_ms: dict[str, int] = {}  # next fire times this leader wrote (a cache)
        self._templates: dict[str, MessageTemplate] = {}
        # (due ms, steps) built ahead of the next due instant; see prepare().
        self._prepared: tuple[int, list[Step]] | None = None
        self._lock = threading.Lock()
        # Called after a batch is computed and before it is sent: a seam for tests that
        # pause a leader at the worst moment.
        self.before_dispatch: Callable[[], None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.epoch > 0

    # -- leadership -------------------------------------------------------------------

    def elect(self, now: datetime) -> bool:
        """Take or renew the lease; True while this replica leads."""
        epoch = self.store.acquire(self.token, self.lease_ttl_ms, self.identity, to_ms(now))
        if epoch and not self.epoch:
            log.info("leading as %s (epoch %d)", self.identity, epoch)
            self._synced = False
            self._next_ms.clear()
            self._prepared = None
        elif not epoch and self.epoch:
            log.warning("lost the leader lease (epoch %d); standing by", self.epoch)
        self.epoch = epoch
        return epoch > 0

    def step_down(self, why: str) -> None:
        self._prepared = None
        if self.epoch:
            log.warning("stepping down (epoch %d): %s", self.epoch, why)
        self.epoch = 0

    def release(self) -> None:
        if self.epoch:
            self.store.release(self.token)
            log.info("released the leader lease (epoch %d)", self.epoch)
        self.epoch = 0

    # -- schedules --------------------------------------------------------------------

    def replace_schedules(self, schedules: Mapping[str, Schedule]) -> None:
        """Take a new, already validated set of schedules (a reload); synced on next tick."""
        with self._lock:
            self.schedules = dict(schedules)
            self._synced = False
            self._prepared = None

    def sync(self, now: datetime) -> dict[str, str]:
        """Make Redis hold exactly our schedules; returns name -> added/changed/updated/removed.

        Works in chunks, so syncing 100,000 schedules needs neither 100,000 round trips nor
        every stored definition in memory at once.
        """
        report: dict[str, str] = {}
        self._next_ms.clear()
        self._prepared = None
        names = list(self.schedules)
        for start in range(0, len(names), SYNC_CHUNK):
            chunk = names[start : start + SYNC_CHUNK]
            states = self.store.states(chunk)
            items = []
            for name in chunk:
                schedule = self.schedules[name]
                digest, state = schedule.digest(), states.get(name)
                trigger_key = _trigger_key(schedule)
                if state and state.digest == digest and state.trigger_key == trigger_key:
                    continue
                next_fire = schedule.next_fire(now) if schedule.enabled else None
                next_ms = to_ms(next_fire) if next_fire else None
                due_ms = next_ms + jitter_ms(schedule, next_ms) if next_ms is not None else None
                body = _definition_json(schedule.to_json(), digest)
                items.append(Upsert(name, body, digest, trigger_key, next_ms, due_ms))
            if items:
                results = self.store.upsert(self.token, items)
                report.update(zip((i.name for i in items), results, strict=True))
        for name in self.store.names() - set(self.schedules):
            self.store.remove(self.token, name)
            report[name] = "removed"
        changed = {name: what for name, what in report.items() if what != "updated"}
        if len(changed) <= 20:
            for name, what in sorted(changed.items()):
                log.info("schedule %s %s", name, what)
        else:
            counts = {what: list(changed.values()).count(what) for what in set(changed.values())}
            log.info(
                "synced schedules: %s", ", ".join(f"{n} {w}" for w, n in sorted(counts.items()))
            )
        self._synced = True
        return report

    # -- dispatch ---------------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """Dispatch everything due at ``now``; the number of runs enqueued."""
        if not self.is_leader:
            return 0
        enqueued = 0
        try:
            with self._lock:
                if not self._synced:
                    self.sync(now)
                enqueued += self._send_prepared(now)
                while True:
                    names = self.store.due(to_ms(now), self.batch_size)
                    if not names:
                        break
                    steps = self._steps(names, now)
                    enqueued += self._send(steps, now)
                    if len(names) < self.batch_size:
                        break
        except NotLeaderError:
            self.step_down("a dispatch was refused: the lease is no longer ours")
        return enqueued

    def _send(self, steps: list[Step], now: datetime) -> int:
        if not steps:
            return 0
        if self.before_dispatch is not None:
            self.before_dispatch()
        results = self.store.dispatch(self.token, steps, utc_text(now))
        self._remember(steps, results)
        return sum(r for r in results if r > 0)

    def prepare(self, now: datetime) -> int:
        """Build the batch of the next due instant ahead of time, while idle.

        At the instant itself only the scripts are sent, so a burst of thousands of fires
        becomes visible as fast as Redis can take it. Nothing is decided early that could
        go wrong: each step is still compared and set inside Redis (a schedule paused,
        resumed or dispatched meanwhile is refused), and a batch sent more than
        ``PREPARED_GRACE_MS`` late is thrown away and planned afresh. Returns the steps built.
        """
        if not self.is_leader or not self._synced:
            return 0
        due_ms = self.store.next_due_ms()
        if due_ms is None or due_ms <= to_ms(now):
            return 0
        if self._prepared is not None and self._prepared[0] == due_ms:
            return len(self._prepared[1])
        with self._lock:
            names = self.store.due(due_ms, PREPARE_LIMIT)
            self._prepared = (due_ms, self._steps(names, from_ms(due_ms)))
        return len(self._prepared[1])

    def _send_prepared(self, now: datetime) -> int:
        prepared = self._prepared
        if prepared is None or prepared[0] > to_ms(now):
            return 0
        self._prepared = None
        due_ms, steps = prepared
        if to_ms(now) - due_ms > PREPARED_GRACE_MS:
            return 0  # too late to trust: the normal path re-plans (missed-run policy)
        at = from_ms(due_ms)
        return sum(
            self._send(steps[i : i + self.batch_size], at)
            for i in range(0, len(steps), self.batch_size)
        )

    def _remember(self, steps: list[Step], results: list[int]) -> None:
        for step, result in zip(steps, results, strict=True):
            if result < 0 or step.new_next_ms is None:
                self._next_ms.pop(step.name, None)  # refused or finished: ask Redis next time
            else:
                self._next_ms[step.name] = step.new_next_ms

    def _next_fires(self, names: list[str]) -> dict[str, int]:
        """Stored next fire times: from what this leader last wrote, else read from Redis.

        The cache only saves a round trip: the dispatch script compares each value with the
        stored one, so a stale entry (an operator's resume, another leader) is refused and
        dropped, never dispatched.
        """
        missing = [name for name in names if name not in self._next_ms]
        for name, state in self.store.states(missing).items():
            if state.next_ms is not None:
                self._next_ms[name] = state.next_ms
        return {name: self._next_ms[name] for name in names if name in self._next_ms}

    def _steps(self, names: list[str], now: datetime) -> list[Step]:
        next_fires = self._next_fires(names)
        now_ms, now_text = to_ms(now), utc_text(now)
        steps = []
        for name in names:
            schedule, stored_ms = self.schedules.get(name), next_fires.get(name)
            if schedule is None or stored_ms is None:
                continue  # stale: the next sync removes it
            plan = plan_due(schedule, from_ms(stored_ms), now)
            runs = [self._run(schedule, f, now_ms, now_text) for f in plan.run]
            missed_event = ""
            if plan.missed:
                missed_event = event("missed", now, count=plan.missed,
                                     last_missed=_iso(plan.last_missed))  # fmt: skip
            next_ms = to_ms(plan.next_fire) if plan.next_fire else None
            steps.append(
                Step(
                    name=name,
                    queue=schedule.queue,
                    expected_next_ms=stored_ms,
                    new_next_ms=next_ms,
                    new_due_ms=next_ms + jitter_ms(schedule, next_ms) if next_ms else None,
                    overlap=schedule.overlap.value,
                    runs=runs,
                    fired_ms=to_ms(plan.run[-1]) if plan.run else None,
                    missed=plan.missed,
                    last_missed_ms=to_ms(plan.last_missed) if plan.last_missed else None,
                    missed_event=missed_event,
                )
            )
        return steps

    def _run(self, schedule: Schedule, fire_at: datetime, now_ms: int, now_text: str) -> Run:
        fire_ms = to_ms(fire_at)
        run_id = run_id_for(schedule.name, fire_ms)
        template = self._templates.get(schedule.name)
        if template is None or template.schedule is not schedule:
            template = self._templates[schedule.name] = MessageTemplate(schedule)
        fire_text = utc_text(fire_at)
        message = template.render(run_id, fire_at, fire_text, now_text, "schedule", self.epoch)
        return Run(run_id, schedule.queue, priority_score(schedule.priority, now_ms), message,
                   fire_text)  # fmt: skip

    def seconds_until_due(self, now: datetime) -> float:
        due_ms = self.store.next_due_ms()
        if due_ms is None:
            return IDLE_WAIT_S
        return max(0.0, min(IDLE_WAIT_S, (due_ms - to_ms(now)) / 1000))

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event, poll: Callable[[], None] | None = None) -> None:
        """Lead or stand by until ``stop`` is set; release the lease on the way out.

        ``poll`` is called between ticks (the CLI uses it to reload changed files).
        """
        keeper = threading.Thread(target=self._keep_lease, args=(stop,), daemon=True)
        keeper.start()
        outage = _Outage()
        while not stop.is_set():
            try:
                if poll is not None:
                    poll()
                if self.is_leader:
                    self.tick(clock.utc_now())
                    if self.seconds_until_due(clock.utc_now()) > PREPARE_AHEAD_S:
                        self.prepare(clock.utc_now())
                    wait_s = self.seconds_until_due(clock.utc_now())
                else:
                    wait_s = RENEW_EVERY_MS / 1000
                outage.over()
            except StoreError as exc:
                wait_s = outage.failed(exc)
                self.step_down("Redis is unreachable")
            stop.wait(wait_s)
        keeper.join(timeout=2)
        try:
            self.release()
        except StoreError:
            log.warning("could not release the lease (Redis unreachable); it expires by itself")

    def _keep_lease(self, stop: threading.Event) -> None:
        # Renewal runs on its own timer so a slow dispatch never lets the lease lapse.
        outage = _Outage()
        while not stop.is_set():
            try:
                self.elect(clock.utc_now())
                outage.over()
                wait_s = RENEW_EVERY_MS / 1000
            except StoreError as exc:
                self.step_down("Redis is unreachable")
                wait_s = outage.failed(exc)
            stop.wait(wait_s)


class _Outage:
    """Backoff and log-once bookkeeping for a stretch of time with Redis unreachable."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self, exc: Exception) -> float:
        if self.failures == 0:
            log.error("Redis unreachable, retrying with backoff: %s", exc)
        self.failures += 1
        return float(min(5.0, 0.1 * 2 ** min(self.failures, 6)))

    def over(self) -> None:
        if self.failures:
            log.info("Redis reachable again after %d failed attempts", self.failures)
        self.failures = 0


def _trigger_key(schedule: Schedule) -> str:
    return f"{schedule.trigger_key()}|enabled={schedule.enabled}"


def _definition_json(definition: dict[str, object], digest: str) -> str:
    return dumps("definition", {"digest": digest, "schedule": definition})


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else utc_text(instant)
