"""The judgement of a finished attempt: succeeded, retry later, or dead-lettered.

Pure: the clock, the worker's id and the randomness of the retry jitter are parameters,
and the result is a value (what to record, and what to log), so tests need no Redis.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from scheduler.core.durations import format_duration_s
from scheduler.core.instants import from_ms, to_ms, utc_text
from scheduler.core.messages import DeadLetter, Event, RunMessage
from scheduler.core.retries import decide
from scheduler.store.values import Claimed, Outcome
from scheduler.worker.execute import Result

ERROR_SUMMARY_LIMIT = 500  # characters of "Type: message" kept in history and logs


@dataclass(frozen=True)
class Verdict:
    """What to record for a run, and the log line that says so."""

    outcome: Outcome
    level: int
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


class _NamedError(Exception):
    """Stands for an error that happened in another process, keeping its class name."""


def as_exception(result: Result) -> BaseException:
    if result.error is not None and result.error_type == type(result.error).__name__:
        return result.error
    # From a child process only the name travels; rebuild a class of that name so that
    # retry_on matches by name as it does in thread mode.
    cls: type[BaseException] = type(result.error_type or "Exception", (_NamedError,), {})
    return cls(result.error_message)


def log_fields(
    message: RunMessage, outcome: str, duration_ms: int | None = None, error: str = ""
) -> dict[str, Any]:
    """The structured fields of a run's log line (see ``scheduler.cli.logs``)."""
    fields: dict[str, Any] = {
        "schedule": message.schedule,
        "run_id": message.run_id,
        "attempt": message.attempt,
        "outcome": outcome,
        "duration_ms": duration_ms,
    }
    if error:
        fields["error"] = error
    return fields


def run_event(kind: str, message: RunMessage, now: datetime, worker: str, **values: Any) -> str:
    return Event(kind, utc_text(now), run_id=message.run_id, fire_at=message.fire_at,
                 attempt=message.attempt, worker=worker, **values).dumps()  # fmt: skip


def _outcome(message: RunMessage, kind: str, event: str, **values: Any) -> Outcome:
    return Outcome(message.run_id, message.schedule, message.queue, kind, event, **values)


def judge(
    message: RunMessage, result: Result, started: datetime, now: datetime, worker: str,
    rng: random.Random,
) -> Verdict:  # fmt: skip
    """Succeeded, retrying (while the policy allows), or dead (``failed`` when the first
    attempt already was the last, ``dead`` when retries were spent). An attempt stopped at
    its timeout is recorded as ``timed_out`` instead of ``retrying``, ``failed`` or
    ``dead``, with ``retry_at`` when it is retried."""
    duration_ms = int((now - started).total_seconds() * 1000)
    times: dict[str, Any] = {"started": utc_text(started), "finished": utc_text(now),
                             "duration_ms": duration_ms}  # fmt: skip
    head = f"run {message.schedule} {message.run_id} attempt {message.attempt}"
    if result.error is None:
        note = run_event("succeeded", message, now, worker, **times)
        text = f"{head} succeeded in {duration_ms} ms"
        fields = log_fields(message, "succeeded", duration_ms)
        return Verdict(_outcome(message, "succeeded", note), logging.INFO, text, fields)
    error = f"{result.error_type}: {result.error_message}"[:ERROR_SUMMARY_LIMIT]
    decision = decide(message.retry, message.attempt, as_exception(result), rng)
    if decision.retry:
        due = now + timedelta(seconds=decision.delay_s)
        kind = "timed_out" if result.timed_out else "retrying"
        note = run_event(kind, message, now, worker, error=error, retry_at=utc_text(due),
                         **times)  # fmt: skip
        nxt = message.next_attempt(error).dumps()
        outcome = _outcome(message, "retry", note, new_message=nxt, due_ms=to_ms(due))
        verb = "timed out" if result.timed_out else "failed"
        text = f"{head} {verb} ({error}); retry at {utc_text(due)}"
        return Verdict(outcome, logging.WARNING, text,
                       log_fields(message, kind, duration_ms, error))  # fmt: skip
    kind = "dead" if message.attempt > 1 else "failed"
    if result.timed_out:
        kind = "timed_out"
    letter = DeadLetter(message, to_ms(now), result.error_type, result.error_message,
                        result.traceback, message.attempt, decision.why)  # fmt: skip
    note = run_event(kind, message, now, worker, error=error, **times)
    outcome = _outcome(message, "dead", note, dead_letter=letter.dumps())
    text = f"{head} {kind.replace('_', ' ')}: {error} ({decision.why})"
    return Verdict(outcome, logging.ERROR, text, log_fields(message, kind, duration_ms, error))


def timed_out(message: RunMessage, still_running: bool) -> Result:
    """A run past its timeout: its process was killed, or (``still_running``) its thread,
    which Python cannot stop, was abandoned and goes on until the task returns."""
    limit = f"the run exceeded its timeout of {message.timeout_s:g}s"
    text = f"{limit} and its process was killed"
    if still_running:
        text = (f"{limit}; it is still running in an abandoned thread (Python cannot stop a "
                "thread) and counts as running for overlap until it returns; the prefork pool "
                "stops such runs")  # fmt: skip
    return Result(TimeoutError(text), "TimeoutError", text, "", timed_out=True)


SUSPECT_STARTS = 2  # starts without an outcome after which a run runs alone


def is_suspect(claimed: Claimed) -> bool:
    """Started twice before without an outcome: it may be what kills its workers."""
    return claimed.deliveries > SUSPECT_STARTS


def is_poison(claimed: Claimed, max_deliveries: int) -> bool:
    """Started ``max_deliveries`` times without an outcome: it kills or hangs its worker."""
    return claimed.deliveries > max_deliveries


def poison(claimed: Claimed, now: datetime, worker: str) -> Verdict:
    message, starts = claimed.message, claimed.deliveries - 1
    error = f"PoisonRun: delivered {starts} times without an outcome"
    why = f"delivered {starts} times without an outcome: the run kills or hangs its worker"
    letter = DeadLetter(message, to_ms(now), "PoisonRun", why, "", message.attempt,
                        why, deliveries=starts)  # fmt: skip
    note = run_event("dead", message, now, worker, error=error)
    outcome = _outcome(message, "dead", note, dead_letter=letter.dumps())
    text = f"run {message.schedule} {message.run_id} dead-lettered: {why}"
    return Verdict(outcome, logging.ERROR, text, log_fields(message, "dead", None, error))


def expired(message: RunMessage, now: datetime, worker: str) -> Verdict:
    note = run_event("expired", message, now, worker)
    text = f"run {message.schedule} {message.run_id} expired before it started"
    return Verdict(_outcome(message, "expired", note), logging.INFO, text,
                   log_fields(message, "expired"))  # fmt: skip


def deferred(
    message: RunMessage, why: str, now: datetime, delay_s: float, limit_s: float, worker: str
) -> Verdict:  # fmt: skip
    """A run this worker cannot import, left for a worker that can: back on its queue after
    ``delay_s``, the same attempt (it did not start). The first deferral is recorded in
    history and logged as a warning; after ``limit_s`` of deferrals (no worker imported it)
    the run is dead-lettered, so that it neither waits forever nor holds its schedule's
    overlap."""
    now_ms = to_ms(now)
    since_ms = message.deferred_since_ms or now_ms
    error = f"TaskImportError: {why}"[:ERROR_SUMMARY_LIMIT]
    head = f"run {message.schedule} {message.run_id}"
    if now_ms - since_ms >= limit_s * 1000:
        reason = (f"no worker could import its task for {format_duration_s(int(limit_s))} "
                  "(deferred since " + utc_text(from_ms(since_ms)) + ")")  # fmt: skip
        letter = DeadLetter(message, now_ms, "TaskImportError", why, "", message.attempt,
                            reason)  # fmt: skip
        note = run_event("dead", message, now, worker, error=error)
        outcome = _outcome(message, "dead", note, dead_letter=letter.dumps())
        return Verdict(outcome, logging.ERROR, f"{head} dead-lettered: {reason}: {why}",
                       log_fields(message, "dead", None, error))  # fmt: skip
    due = now + timedelta(seconds=delay_s)
    first = message.deferred_since_ms is None
    note = run_event("deferred", message, now, worker, error=error, retry_at=utc_text(due))
    later = replace(message, deferred_since_ms=since_ms)
    outcome = _outcome(message, "defer", note if first else "", new_message=later.dumps(),
                       due_ms=to_ms(due))  # fmt: skip
    text = (
        f"{head}: {why}; left for a worker that can import it (this worker tries again from "
        f"{utc_text(due)}; dead-lettered if no worker can by "
        f"{utc_text(from_ms(since_ms + int(limit_s * 1000)))})"
    )
    return Verdict(outcome, logging.WARNING if first else logging.DEBUG, text,
                   log_fields(message, "deferred", None, error))  # fmt: skip


def handback(message: RunMessage, now: datetime) -> Outcome:
    """Back on its queue, at the end of its priority (a graceful stop)."""
    return _outcome(message, "handback", "", due_ms=message.score(to_ms(now)))
