"""What the probes answer.

- ``/livez``: the process's loops tick. No Redis check: an outage must not make an
  orchestrator restart every replica at once (they recover on their own when Redis returns).
- ``/readyz``: Redis answers and the loops tick. A standby scheduler is ready: readiness
  must not require leadership, or a rolling update would wait for a lease forever.
- ``/healthz``: the facts behind both, as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scheduler.errors import StoreError
from scheduler.store import Store


@dataclass(frozen=True)
class Loop:
    """One loop of the process (the scheduler's, the worker's): is it making progress?"""

    name: str
    alive: Callable[[], bool]
    tick_age_s: Callable[[], float]


@dataclass
class Health:
    store: Store  # its own connection, with short timeouts: a probe answers in bounded time
    loops: list[Loop]
    role: Callable[[], str]  # leader | standby | worker | "leader,worker" ...
    epoch: Callable[[], int] = lambda: 0
    lease_left_s: Callable[[], float | None] = lambda: None
    reload_error: Callable[[], str] = lambda: ""
    extra: dict[str, Any] = field(default_factory=dict)

    def live(self) -> tuple[bool, dict[str, Any]]:
        stuck = [loop.name for loop in self.loops if not loop.alive()]
        return not stuck, {"live": not stuck, "stuck": stuck}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        live, body = self.live()
        _, error = self._round_trip()
        ok = live and error == ""
        return ok, {"ready": ok, "stuck": body["stuck"], "redis": error or "ok"}

    def details(self) -> tuple[bool, dict[str, Any]]:
        live, _ = self.live()
        rtt_ms, error = self._round_trip()
        ok = live and error == ""
        left = self.lease_left_s()
        return ok, {
            "ok": ok,
            "role": self.role(),
            "epoch": self.epoch(),
            "lease_left_s": None if left is None else round(left, 3),
            "loops": {loop.name: {"alive": loop.alive(), "last_tick_age_s":
                                  round(loop.tick_age_s(), 3)} for loop in self.loops},
            "redis_round_trip_ms": None if error else round(rtt_ms, 3),
            "redis_error": error or None,
            "last_reload_error": self.reload_error() or None,
            **self.extra,
        }  # fmt: skip

    def _round_trip(self) -> tuple[float, str]:
        began = time.perf_counter()
        try:
            self.store.reads.ping()
        except StoreError as exc:
            return 0.0, str(exc)
        return (time.perf_counter() - began) * 1000, ""
