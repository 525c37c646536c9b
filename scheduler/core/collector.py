"""Python's cycle collector, paused around work that builds many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block, on again after it if it was on.

    Loading or writing 100,000 schedules makes a few containers each (YAML nodes, fields,
    definitions) and keeps them all until it is done, so each of the collector's full
    passes walks every one made so far, again and again: more than half of reading 100,000
    schedules from YAML, 40% of an add_many of 100,000. None of that work makes cycles;
    what other threads make meanwhile is collected after the block.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
