"""Loaded by a `sched scheduler` that a test starts with this folder on PYTHONPATH: the relay
dies (os._exit) after its broker confirmed a batch and before the outbox forgets it, the
worst moment for a relay to crash."""

from __future__ import annotations

import os
from collections.abc import Sequence

from scheduler.store import celery

_relayed = celery.CeleryStore.relayed


def _crash_after_publishing(self: celery.CeleryStore, confirmed: Sequence[tuple[str, str]]) -> int:
    if confirmed:
        os._exit(9)
    return _relayed(self, confirmed)


celery.CeleryStore.relayed = _crash_after_publishing  # type: ignore[method-assign]
