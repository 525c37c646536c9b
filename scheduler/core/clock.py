"""The one place sched reads the wall clock. Everything else takes ``now`` as a parameter.

The long-running loops read it through a ``RedisClock``: the host clock corrected by the
offset measured to Redis' clock (``TIME``, sampled on each lease renewal and worker
heartbeat), so replicas and workers agree on "now" whatever their hosts' clocks say: a
leader whose clock is behind does not dispatch late, one ahead not early. Liveness
(heartbeats, reaping) is judged by Redis' clock inside the scripts themselves.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime, timedelta

log = logging.getLogger("sched.clock")

MAX_RTT_MS = 250.0  # a sample whose round trip took longer says too little
WINDOW = 8  # recent samples kept; the one with the shortest round trip sets the offset
LOG_SKEW_MS = 1000.0  # a measured skew beyond this is logged (and again when it moves)


def utc_now() -> datetime:
    """This host's clock."""
    return datetime.now(UTC)


class RedisClock:
    """This host's clock, corrected by its last measured offset to Redis' clock."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.offset_ms = 0.0
        self.logged_ms: float | None = None
        self._samples: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (rtt, offset)

    def now(self) -> datetime:
        return utc_now() + timedelta(milliseconds=self.offset_ms)

    def sample(self, reference_ms: float, sent: datetime, received: datetime) -> None:
        """``reference_ms`` was read between ``sent`` and ``received`` (by ``utc_now``)."""
        rtt_ms = (received - sent).total_seconds() * 1000
        if rtt_ms < 0 or rtt_ms > MAX_RTT_MS:
            return
        # The midpoint is "now" only if both halves of the round trip took as long: its error
        # is up to half the round trip, and a busy process stretches one half (the
        # benchmark saw +14 ms, a leader dispatching that early). The shortest round trip of
        # the last few is the most accurate; a real jump of the clock wins within WINDOW.
        midpoint = sent + (received - sent) / 2
        self._samples.append((rtt_ms, reference_ms - midpoint.timestamp() * 1000))
        self.offset_ms = min(self._samples)[1]
        self._log()

    def _log(self) -> None:
        offset = self.offset_ms
        first = self.logged_ms is None
        moved = self.logged_ms is not None and abs(offset - self.logged_ms) > LOG_SKEW_MS / 2
        if first or (abs(offset) > LOG_SKEW_MS and moved):
            level = logging.WARNING if abs(offset) > LOG_SKEW_MS else logging.INFO
            side = "behind" if offset > 0 else "ahead of"
            log.log(level, "%s: this host's clock is %.3f s %s Redis' clock; using Redis' time",
                    self.who, abs(offset) / 1000, side)  # fmt: skip
            self.logged_ms = offset
