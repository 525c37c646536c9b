"""What a leader sends for due schedules: one compare-and-set step per schedule, with its runs.

Keeps the next fire times this leader wrote (a cache that only saves a round trip) and the
batch built ahead of the next due instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scheduler.core.celery import (
    CeleryMessage,
    CeleryRouting,
    OutboxEntry,
    new_delivery_tag,
    outcome_deadline_ms,
    redis_list,
)
from scheduler.core.instants import from_ms, to_ms, utc_text
from scheduler.core.messages import Event, MessageTemplate, priority_score, run_id_for
from scheduler.core.misfire import plan_due
from scheduler.core.model import Overlap, Schedule
from scheduler.store.reads import Reads
from scheduler.store.values import Run, Step

PREPARED_GRACE_MS = 1000  # a prepared batch later than this is planned afresh
CACHE_LIMIT = 100_000  # schedules whose parsed definition, message template and next fire
# time a leader keeps: its memory follows what fires, not how many schedules exist


class Planner:
    def __init__(self, reads: Reads, routing: CeleryRouting | None = None) -> None:
        self.reads = reads
        self.routing = routing or CeleryRouting(store=None)
        self.schedules: Mapping[str, Schedule] = {}
        self._next_ms: dict[str, int] = {}  # next fire times this leader wrote
        self._templates: dict[str, MessageTemplate] = {}
        self._api: dict[str, tuple[str, Schedule]] = {}  # API schedules: name -> (digest, it)
        self._prepared: tuple[int, list[Step]] | None = None  # (due ms, steps)

    def reset(self, schedules: Mapping[str, Schedule] | None = None) -> None:
        """Forget everything planned (a new lease, a sync, a reload)."""
        if schedules is not None:
            self.schedules = schedules
        self._next_ms.clear()
        self._prepared = None

    def steps(self, names: list[str], now: datetime, epoch: int) -> list[Step]:
        next_fires = self._next_fires(names)
        schedules = self._definitions(names)
        now_ms, now_text = to_ms(now), utc_text(now)
        steps = []
        for name in names:
            schedule, stored_ms = schedules.get(name), next_fires.get(name)
            if schedule is None or stored_ms is None:
                continue  # stale: the next sync removes it
            plan = plan_due(schedule, from_ms(stored_ms), now)
            mode, celery_list = "sched", ""
            if schedule.is_celery:
                route = self.routing.route(schedule)
                mode = route.mode
                celery_list = redis_list(schedule.queue, schedule.priority)
                runs = [self._celery_run(schedule, f, route.broker_url, mode, now_ms, now_text)
                        for f in plan.run]  # fmt: skip
            else:
                runs = [self._run(schedule, f, now_ms, now_text, epoch) for f in plan.run]
            missed_event = ""
            if plan.missed:
                last = utc_text(plan.last_missed) if plan.last_missed else None
                missed_event = Event("missed", now_text, count=plan.missed,
                                     last_missed=last).dumps()  # fmt: skip
            next_ms = to_ms(plan.next_fire) if plan.next_fire else None
            steps.append(
                Step(
                    name=name,
                    queue=schedule.queue,
                    expected_next_ms=stored_ms,
                    new_next_ms=next_ms,
                    new_due_ms=schedule.due_ms(next_ms),
                    overlap=schedule.overlap.value,
                    runs=runs,
                    fired_ms=to_ms(plan.run[-1]) if plan.run else None,
                    missed=plan.missed,
                    last_missed_ms=to_ms(plan.last_missed) if plan.last_missed else None,
                    missed_event=missed_event,
                    mode=mode,
                    celery_list=celery_list,
                )
            )
        return steps

    def remember(self, steps: list[Step], results: list[int]) -> None:
        for step, result in zip(steps, results, strict=True):
            if result < 0 or step.new_next_ms is None:
                self._next_ms.pop(step.name, None)  # refused or finished: ask Redis next time
            else:
                self._next_ms[step.name] = step.new_next_ms

    # -- built ahead ------------------------------------------------------------------

    def prepared_ms(self) -> int | None:
        """The instant of the batch built ahead, or None if none is."""
        return None if self._prepared is None else self._prepared[0]

    def prepared_for(self, due_ms: int) -> int | None:
        """The number of steps built ahead for ``due_ms``, or None if none are."""
        if self._prepared is None or self._prepared[0] != due_ms:
            return None
        return len(self._prepared[1])

    def hold(self, due_ms: int, steps: list[Step]) -> None:
        """Keep ``steps``, built ahead for ``due_ms``; ``take_prepared`` hands them out then."""
        self._prepared = (due_ms, steps)

    def take_prepared(self, now: datetime) -> tuple[datetime, list[Step]] | None:
        """The batch built for an instant that has come, unless it is too late to trust."""
        prepared = self._prepared
        if prepared is None or prepared[0] > to_ms(now):
            return None
        self._prepared = None
        due_ms, steps = prepared
        if to_ms(now) - due_ms > PREPARED_GRACE_MS:
            return None  # the normal path re-plans it (missed-run policy)
        return from_ms(due_ms), steps

    # -- helpers ----------------------------------------------------------------------

    def _definitions(self, names: list[str]) -> dict[str, Schedule]:
        """The schedules of ``names``: the files' from memory, the API's from Redis (read
        for each batch, parsed again only when their digest changed)."""
        found = {name: self.schedules[name] for name in names if name in self.schedules}
        others = [name for name in names if name not in found]
        for name, body in self.reads.definitions_of(others).items():
            if body.get("owner") != "api":
                continue  # a file's schedule the files no longer hold: the next sync removes it
            cached = self._api.get(name)
            if cached is None or cached[0] != body["digest"]:
                _bounded(self._api)
                cached = self._api[name] = (body["digest"], Schedule.from_json(body["schedule"]))
            found[name] = cached[1]
        return found

    def _next_fires(self, names: list[str]) -> dict[str, int]:
        """Stored next fire times: from what this leader last wrote, else read from Redis.

        A stale entry (an operator's resume, another leader) is refused by the dispatch
        script's compare-and-set and dropped, never dispatched.
        """
        missing = [name for name in names if name not in self._next_ms]
        _bounded(self._next_ms, len(missing))
        for name, state in self.reads.states(missing).items():
            if state.next_ms is not None:
                self._next_ms[name] = state.next_ms
        return {name: self._next_ms[name] for name in names if name in self._next_ms}

    def _run(
        self, schedule: Schedule, fire_at: datetime, now_ms: int, now_text: str, epoch: int
    ) -> Run:
        fire_ms = to_ms(fire_at)
        run_id = run_id_for(schedule.name, fire_ms)
        template = self._templates.get(schedule.name)
        if template is None or template.schedule is not schedule:
            _bounded(self._templates)
            template = self._templates[schedule.name] = MessageTemplate(schedule)
        fire_text = utc_text(fire_at)
        message = template.render(run_id, fire_at, fire_text, now_text, "schedule", epoch)
        skipped = ""
        if schedule.overlap is not Overlap.ALLOW:
            skipped = Event("skipped", now_text, run_id=run_id, fire_at=fire_text).dumps()
        score = priority_score(schedule.priority, now_ms)
        return Run(run_id, schedule.queue, score, message, skipped)

    def _celery_run(
        self, schedule: Schedule, fire_at: datetime, broker_url: str, mode: str, now_ms: int,
        now_text: str,
    ) -> Run:  # fmt: skip
        fire_ms = to_ms(fire_at)
        run_id = run_id_for(schedule.name, fire_ms)
        fire_text = utc_text(fire_at)
        message = CeleryMessage.for_run(schedule, run_id, fire_at, fire_text,
                                        self.routing.origin)  # fmt: skip
        envelope = message.redis_envelope(new_delivery_tag())
        skipped = ""
        if schedule.overlap is not Overlap.ALLOW:
            skipped = Event("skipped", now_text, run_id=run_id, fire_at=fire_text).dumps()
        deadline = outcome_deadline_ms(schedule, now_ms)
        if mode == "outbox":
            entry = OutboxEntry.of(message, run_id, broker_url, envelope).dumps()
            return Run(run_id, schedule.queue, now_ms, entry, skipped, deadline_ms=deadline)
        handoff = Event("sent_to_celery", now_text, run_id=run_id, fire_at=fire_text,
                        celery_id=message.task_id).dumps()  # fmt: skip
        return Run(run_id, schedule.queue, 0, envelope, skipped, handoff, deadline)


def _bounded(cache: dict[str, Any], adding: int = 1) -> None:
    """Make room in a cache before adding: past the limit it starts afresh (each entry is
    one Redis read away), so a leader of a million schedules keeps at most CACHE_LIMIT."""
    if len(cache) + adding > CACHE_LIMIT:
        cache.clear()
