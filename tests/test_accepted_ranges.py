"""Whatever `sched validate` accepts runs: schedules drawn from the full accepted ranges of
every field go through fire times, the missed-run plan, the run message, jitter, expiry and
the retry delay without an error (the documented bounds: durations up to 36500d, dates
between 1970-01-02 and 8999-12-31)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.config import load
from scheduler.core.instants import to_ms, utc_text
from scheduler.core.messages import MessageTemplate, RunMessage
from scheduler.core.misfire import plan_due
from scheduler.core.retries import decide
from scheduler.errors import ConfigError

MAX_DURATION_S = 36500 * 86400
FIRST_DAY = datetime(1970, 1, 2, tzinfo=UTC)
LAST_DAY = datetime(8999, 12, 31, tzinfo=UTC)
CRONS = ["* * * * *", "*/10 * * * * *", "0 0 L * *", "0 9 * * 5#2", "0 9 * * L5",
         "30 2 * * *", "0 0 29 2 *", "59 23 31 12 *", "0 0 1 1 *", "0 */6 * * mon-fri",
         "0 0 1,15 * mon"]  # fmt: skip
ZONES = ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia", "Pacific/Kiritimati",
         "Pacific/Pago_Pago", "America/St_Johns"]  # fmt: skip

# Mostly inside the accepted ranges, sometimes far beyond them (those must be refused).
durations = st.one_of(st.integers(min_value=0, max_value=MAX_DURATION_S), st.integers(0, 10**12))
inside = st.datetimes(
    min_value=FIRST_DAY.replace(tzinfo=None), max_value=LAST_DAY.replace(tzinfo=None)
)
instants = st.one_of(inside, inside, st.datetimes()).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)
nows = inside.map(lambda d: d.replace(microsecond=0, tzinfo=UTC))


@st.composite
def schedule_yaml(draw: st.DrawFn) -> str:
    fields: dict[str, object] = {"task": "scheduler.tasks:heartbeat"}
    trigger = draw(st.sampled_from(["cron", "every", "at"]))
    if trigger == "cron":
        fields["cron"] = draw(st.sampled_from(CRONS))
    elif trigger == "every":
        fields["every"] = max(1, draw(durations))
    else:
        fields["at"] = utc_text(draw(instants))
    fields["timezone"] = draw(st.sampled_from(ZONES))
    for name in ("timeout", "expires"):
        if draw(st.booleans()):
            fields[name] = max(1, draw(durations))
    fields["jitter"] = draw(durations)
    fields["misfire"] = draw(st.sampled_from(["coalesce", "all", "skip"]))
    if draw(st.booleans()):
        fields["misfire_grace"] = draw(durations)
    initial = draw(durations)
    fields["retry"] = {
        "max_attempts": draw(st.integers(min_value=1, max_value=100)),
        "backoff": draw(st.sampled_from(["fixed", "exponential"])),
        "initial": initial,
        "max": initial + draw(durations),
    }
    if trigger != "at" and draw(st.booleans()):
        fields["start"] = utc_text(draw(instants))
    if trigger != "at" and draw(st.booleans()):
        fields["end"] = utc_text(draw(instants))
    return json.dumps({"schedules": {"drawn": fields}})  # JSON is YAML


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=schedule_yaml(), now=nows, gap_s=st.integers(0, 3600), seed=st.integers(0, 9))
def test_every_accepted_schedule_can_be_planned_dispatched_retried_and_expired(
    tmp_path_factory: object, text: str, now: datetime, gap_s: int, seed: int
) -> None:
    folder = Path(str(tmp_path_factory.mktemp("drawn")))  # type: ignore[attr-defined]
    (folder / "s.yaml").write_text(text, encoding="utf-8")
    try:
        schedule = load([folder]).schedules["drawn"]
    except ConfigError:  # refused with a message: fine; what is accepted must run
        return
    first = schedule.first_fire(now)  # a one-off's instant even when it has passed
    if first is None:
        return
    plan = plan_due(schedule, first, first + timedelta(seconds=gap_s))
    assert plan.run or plan.missed
    for fire_at in plan.run[-3:]:
        message = RunMessage.for_fire(schedule, f"drawn@{to_ms(fire_at)}", fire_at, fire_at,
                                      "schedule", 1)  # fmt: skip
        rendered = MessageTemplate(schedule).render(
            message.run_id, fire_at, message.fire_at, message.enqueued_at, "schedule", 1
        )
        assert json.loads(rendered) == message.to_json()
        assert schedule.due_ms(to_ms(fire_at)) is not None
        if message.expires is not None:
            assert message.expires > fire_at
        for attempt in (1, schedule.retry.max_attempts):
            decision = decide(schedule.retry, attempt, ConnectionError(), random.Random(seed))
            if decision.retry:
                assert utc_text(fire_at + timedelta(seconds=decision.delay_s))
