"""The retry policy as a small function of an outcome: the worker loop stays free of it.

Pure: randomness and the attempt number are parameters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from scheduler.core.context import Retry
from scheduler.core.model import Backoff, RetryPolicy


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay_s: float
    why: str


def matches(exc: BaseException, names: tuple[str, ...]) -> bool:
    """True when the exception's class, or a base class, is named (short or dotted name)."""
    for cls in type(exc).__mro__:
        if cls.__name__ in names or f"{cls.__module__}.{cls.__qualname__}" in names:
            return True
    return False


def backoff_s(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """The wait before attempt ``attempt + 1``: fixed or doubling, capped, with full jitter."""
    if policy.backoff is Backoff.FIXED:
        delay = float(policy.initial_s)
    else:
        delay = float(min(policy.max_s, policy.initial_s * 2 ** (attempt - 1)))
    delay = min(delay, float(policy.max_s))
    return rng.uniform(0, delay) if policy.jitter else delay


def decide(
    policy: RetryPolicy, attempt: int, exc: BaseException, rng: random.Random | None = None
) -> Decision:
    """Whether a failed attempt is tried again, and after how long."""
    rng = rng or random.Random()
    if attempt >= policy.max_attempts:
        return Decision(False, 0.0, f"attempt {attempt} of {policy.max_attempts}: no retries left")
    if isinstance(exc, Retry):
        delay = exc.delay if exc.delay is not None else backoff_s(policy, attempt, rng)
        return Decision(True, max(0.0, delay), "the task asked for a retry")
    if policy.retry_on and not matches(exc, policy.retry_on):
        return Decision(False, 0.0, f"{type(exc).__name__} is not in retry_on")
    return Decision(True, backoff_s(policy, attempt, rng), "retrying")
