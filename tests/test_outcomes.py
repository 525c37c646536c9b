"""The worker's judgement of an attempt, as a pure function: no Redis, explicit instants."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from scheduler.core.messages import MessageTemplate, RunMessage
from scheduler.core.model import Backoff, Overlap, RetryPolicy, Schedule
from scheduler.store.values import Claimed
from scheduler.worker import outcomes
from scheduler.worker.execute import Result

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STARTED = T0 + timedelta(seconds=1)
NOW = STARTED + timedelta(milliseconds=250)


def message(attempt: int = 1, **retry: object) -> RunMessage:
    policy = RetryPolicy(**retry)  # type: ignore[arg-type]
    schedule = Schedule(name="job", task="m:f", timezone="UTC", every_s=60, retry=policy,
                        queue="q", priority=7, expires_s=30)  # fmt: skip
    first = RunMessage.for_fire(schedule, "job@1780315200000", T0, T0, "schedule", 3)
    for _ in range(attempt - 1):
        first = first.next_attempt("ConnectionError: boom")
    return first


def failure(exc: BaseException) -> Result:
    return Result(exc, type(exc).__name__, str(exc), "Traceback ...")


def test_a_success_is_recorded_with_its_times_and_duration() -> None:
    verdict = outcomes.judge(message(), Result(), STARTED, NOW, "w1", random.Random(1))
    assert verdict.outcome.kind == "succeeded"
    assert (verdict.outcome.run_id, verdict.outcome.schedule, verdict.outcome.queue) == (
        "job@1780315200000", "job", "q",
    )  # fmt: skip
    assert json.loads(verdict.outcome.event) == {
        "v": 1, "kind": "event", "event": "succeeded", "at": "2026-06-01T12:00:01.250Z",
        "run_id": "job@1780315200000", "fire_at": "2026-06-01T12:00:00.000Z", "attempt": 1,
        "worker": "w1", "started": "2026-06-01T12:00:01.000Z",
        "finished": "2026-06-01T12:00:01.250Z", "duration_ms": 250,
    }  # fmt: skip
    assert verdict.text == "run job job@1780315200000 attempt 1 succeeded in 250 ms"


def test_a_failure_with_attempts_left_is_retried_after_the_exponential_backoff() -> None:
    # attempt 2 of 4, initial 5 s, no jitter: the wait before attempt 3 is 5 * 2 = 10 s.
    msg = message(2, max_attempts=4, backoff=Backoff.EXPONENTIAL, initial_s=5, jitter=False)
    verdict = outcomes.judge(msg, failure(ConnectionError("down")), STARTED, NOW, "w1",
                             random.Random(1))  # fmt: skip
    assert verdict.outcome.kind == "retry"
    assert verdict.outcome.due_ms == 1780315211250  # NOW + 10 s
    nxt = json.loads(verdict.outcome.new_message)
    assert (nxt["attempt"], nxt["previous_error"]) == (3, "ConnectionError: down")
    assert json.loads(verdict.outcome.event)["retry_at"] == "2026-06-01T12:00:11.250Z"


def test_the_last_attempt_is_dead_lettered_as_dead_and_a_first_and_only_as_failed() -> None:
    rng = random.Random(1)
    spent = outcomes.judge(message(3, max_attempts=3), failure(ValueError("x")), STARTED, NOW,
                           "w1", rng)  # fmt: skip
    only = outcomes.judge(message(1), failure(ValueError("x")), STARTED, NOW, "w1", rng)
    assert (spent.outcome.kind, json.loads(spent.outcome.event)["event"]) == ("dead", "dead")
    assert (only.outcome.kind, json.loads(only.outcome.event)["event"]) == ("dead", "failed")
    letter = json.loads(spent.outcome.dead_letter)
    assert letter["error"] == {"type": "ValueError", "message": "x", "traceback": "Traceback ..."}
    assert (letter["attempts"], letter["why"]) == (3, "attempt 3 of 3: no retries left")
    assert letter["dead_at_ms"] == 1780315201250
    assert letter["run"]["run_id"] == "job@1780315200000"


def test_an_error_outside_retry_on_is_not_retried() -> None:
    msg = message(1, max_attempts=5, retry_on=("ConnectionError",))
    verdict = outcomes.judge(msg, failure(ValueError("x")), STARTED, NOW, "w1", random.Random())
    assert verdict.outcome.kind == "dead"
    assert json.loads(verdict.outcome.dead_letter)["why"] == "ValueError is not in retry_on"


def test_an_error_from_a_child_process_matches_retry_on_by_its_class_name() -> None:
    msg = message(1, max_attempts=5, retry_on=("ConnectionError",), jitter=False)
    from_child = Result(RuntimeError("down"), "ConnectionError", "down", "")
    verdict = outcomes.judge(msg, from_child, STARTED, NOW, "w1", random.Random())
    assert verdict.outcome.kind == "retry"


def test_a_run_started_three_times_without_an_outcome_is_poison_at_the_fourth_delivery() -> None:
    assert not outcomes.is_poison(Claimed("r", message(), 3), 3)
    assert outcomes.is_poison(Claimed("r", message(), 4), 3)
    verdict = outcomes.poison(Claimed("r", message(), 4), NOW, "w1")
    letter = json.loads(verdict.outcome.dead_letter)
    assert (verdict.outcome.kind, letter["error"]["type"], letter["deliveries"]) == (
        "dead", "PoisonRun", 3,
    )  # fmt: skip
    assert json.loads(verdict.outcome.event)["error"] == (
        "PoisonRun: delivered 3 times without an outcome"
    )


def test_a_handback_goes_to_the_end_of_its_priority_band() -> None:
    back = outcomes.handback(message(), NOW)
    assert back.kind == "handback"
    assert back.due_ms == (9 - 7) * 10**13 + 1780315201250


def test_the_message_template_renders_exactly_the_typed_message() -> None:
    schedule = Schedule(name="t", task="m:f", timezone="UTC", every_s=60, args=(1, "a"),
                        kwargs={"k": [1]}, expires_s=600, overlap=Overlap.SKIP)  # fmt: skip
    fire = T0 + timedelta(minutes=1)
    rendered = MessageTemplate(schedule).render(
        "t@1", fire, "2026-06-01T12:01:00.000Z", "2026-06-01T12:01:00.004Z", "schedule", 9
    )
    typed = RunMessage.for_fire(schedule, "t@1", fire, fire + timedelta(milliseconds=4),
                                "schedule", 9)  # fmt: skip
    assert json.loads(rendered) == typed.to_json()
    assert RunMessage.loads(rendered) == typed
