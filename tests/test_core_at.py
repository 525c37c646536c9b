"""One-off schedules (``at:``): the trigger, the first fire time a sync gives them, and the
missed-run policy applied to an instant that has already passed. Explicit instants only."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from scheduler.core.misfire import Catchup, plan_due
from scheduler.core.model import Misfire, Schedule
from scheduler.core.triggers import AtTrigger

AT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, just after Berlin sprang forward
AT_MS = 1_774_747_800_000


def one_off(
    misfire: Misfire = Misfire.COALESCE, grace_s: int | None = None, jitter_s: int = 0,
    enabled: bool = True,
) -> Schedule:  # fmt: skip
    return Schedule(name="launch", task="app.jobs:launch", timezone="Europe/Berlin", at=AT,
                    misfire=misfire, misfire_grace_s=grace_s, jitter_s=jitter_s,
                    enabled=enabled)  # fmt: skip


# -- the trigger -------------------------------------------------------------------------


def test_the_at_trigger_fires_at_its_instant_when_asked_from_before_it() -> None:
    assert AtTrigger(AT).next_fire(AT - timedelta(days=400)) == AT
    assert AtTrigger(AT).next_fire(AT - timedelta(microseconds=1)) == AT


def test_the_at_trigger_has_nothing_at_or_after_its_instant() -> None:
    assert AtTrigger(AT).next_fire(AT) is None
    assert AtTrigger(AT).next_fire(AT + timedelta(seconds=1)) is None


def test_the_at_trigger_keeps_its_instant_in_utc() -> None:
    berlin = AT.astimezone(one_off().zone)
    assert AtTrigger(berlin).at == AT
    assert AtTrigger(berlin).at.tzinfo is UTC


def test_a_one_off_has_exactly_one_fire_time() -> None:
    assert one_off().fire_times(AT - timedelta(days=1)) == [AT]
    assert one_off().fire_times(AT) == []
    assert list(one_off().fires_from(AT)) == [AT]


# -- the first fire time -----------------------------------------------------------------


def test_a_future_one_off_is_first_given_its_instant() -> None:
    assert one_off().first_fire(AT - timedelta(hours=1)) == AT


def test_a_past_one_off_not_yet_fired_is_first_given_its_instant_for_the_policy() -> None:
    assert one_off().first_fire(AT + timedelta(days=3)) == AT


def test_a_one_off_that_fired_or_was_missed_at_its_instant_is_given_none() -> None:
    later = AT + timedelta(hours=1)
    assert one_off().first_fire(later, [AT]) is None
    assert one_off().first_fire(later, [AT - timedelta(days=1), AT]) is None


def test_a_one_off_whose_state_settled_other_instants_is_given_its_own() -> None:
    later = AT + timedelta(hours=1)
    assert one_off().first_fire(later, [AT - timedelta(days=1)]) == AT


def test_a_disabled_schedule_is_first_given_no_fire_time() -> None:
    assert one_off(enabled=False).first_fire(AT - timedelta(hours=1)) is None
    hourly = Schedule(name="h", task="app.jobs:h", timezone="UTC", cron="0 * * * *",
                      enabled=False)  # fmt: skip
    assert hourly.first_fire(AT) is None


def test_other_schedules_are_first_given_the_next_fire_time_after_now() -> None:
    hourly = Schedule(name="h", task="app.jobs:h", timezone="UTC", cron="0 * * * *")
    assert hourly.first_fire(AT) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert hourly.first_fire(AT, [datetime(2026, 3, 29, 2, 0, tzinfo=UTC)]) == datetime(
        2026, 3, 29, 2, 0, tzinfo=UTC
    )
    minutely = Schedule(name="m", task="app.jobs:m", timezone="UTC", every_s=60)
    assert minutely.first_fire(AT + timedelta(seconds=1)) == AT + timedelta(minutes=1)


# -- the missed-run policy ---------------------------------------------------------------


def test_a_one_off_not_yet_due_runs_nothing_and_keeps_its_instant() -> None:
    plan = plan_due(one_off(), AT, AT - timedelta(seconds=1))
    assert plan == Catchup(run=[], missed=0, last_missed=None, next_fire=AT)


def test_a_one_off_due_now_runs_once_and_has_no_next_fire_time() -> None:
    assert plan_due(one_off(), AT, AT) == Catchup(
        run=[AT], missed=0, last_missed=None, next_fire=None
    )


def test_coalesce_runs_a_past_one_off_once_however_late() -> None:
    plan = plan_due(one_off(Misfire.COALESCE), AT, AT + timedelta(days=30))
    assert plan == Catchup(run=[AT], missed=0, last_missed=None, next_fire=None)


def test_all_runs_a_past_one_off_once() -> None:
    plan = plan_due(one_off(Misfire.ALL), AT, AT + timedelta(days=30))
    assert plan == Catchup(run=[AT], missed=0, last_missed=None, next_fire=None)


def test_skip_records_a_late_one_off_as_missed() -> None:
    plan = plan_due(one_off(Misfire.SKIP), AT, AT + timedelta(seconds=6))
    assert plan == Catchup(run=[], missed=1, last_missed=AT, next_fire=None)


def test_skip_runs_a_one_off_that_is_on_time() -> None:
    plan = plan_due(one_off(Misfire.SKIP), AT, AT + timedelta(seconds=5))
    assert plan == Catchup(run=[AT], missed=0, last_missed=None, next_fire=None)


def test_the_grace_bounds_how_late_a_one_off_still_runs() -> None:
    for misfire in (Misfire.COALESCE, Misfire.ALL):
        in_time = plan_due(one_off(misfire, grace_s=3600), AT, AT + timedelta(hours=1))
        assert in_time == Catchup(run=[AT], missed=0, last_missed=None, next_fire=None)
        late = plan_due(one_off(misfire, grace_s=3600), AT, AT + timedelta(hours=1, seconds=1))
        assert late == Catchup(run=[], missed=1, last_missed=AT, next_fire=None)


def test_a_one_off_with_jitter_is_late_from_its_instant_plus_its_jitter() -> None:
    digest = hashlib.sha256(f"launch@{AT_MS}".encode()).digest()
    offset_ms = int.from_bytes(digest[:8], "big") % 60_000
    schedule = one_off(Misfire.SKIP, jitter_s=60)
    assert schedule.due_ms(AT_MS) == AT_MS + offset_ms
    on_time = AT + timedelta(milliseconds=offset_ms + 5000)
    assert plan_due(schedule, AT, on_time).run == [AT]
    assert plan_due(schedule, AT, on_time + timedelta(milliseconds=1)).missed == 1


# -- the stored definition ---------------------------------------------------------------


def test_a_one_off_is_described_by_its_instant_in_its_zone() -> None:
    assert one_off().describe_trigger() == "once at 2026-03-29T03:30:00+02:00"


def test_a_one_off_round_trips_through_its_json_with_at_in_utc() -> None:
    body = one_off().to_json()
    assert body["at"] == "2026-03-29T01:30:00Z"
    assert Schedule.from_json(body) == one_off()


def test_the_trigger_key_of_a_one_off_holds_its_instant() -> None:
    assert one_off().trigger_key() == (
        '[null, null, "Europe/Berlin", null, null, "2026-03-29T01:30:00Z"]|enabled=True'
    )


def test_other_schedules_keep_their_json_digest_and_trigger_key() -> None:
    hourly = Schedule(name="h", task="app.jobs:h", timezone="UTC", cron="0 * * * *")
    body = hourly.to_json()
    assert "at" not in body
    assert hourly.trigger_key() == '["0 * * * *", null, "UTC", null, null]|enabled=True'
    assert hourly.digest() == "3c90a272c36464aa"  # as before one-offs existed


def test_a_definition_stored_before_one_offs_existed_still_loads() -> None:
    hourly = Schedule(name="h", task="app.jobs:h", timezone="UTC", cron="0 * * * *")
    assert Schedule.from_json(hourly.to_json()) == hourly
    assert Schedule.from_json(hourly.to_json()).at is None
