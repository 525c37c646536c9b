"""sched's benchmark tasks, imported by ``python -m scheduler worker`` (``PYTHONPATH=bench``).

Identical in body to the competitors' in ``worker_others.py``: they only call
``PROBE.hit`` (``worker_probe.py``). ``stamp`` reports its lateness against the run's fire
time as the worker hands it over (``current_run().fire_at``, whole milliseconds). ``spin``
and ``hang`` are ``bench_prefork.py``'s CPU-bound and never-returning tasks (both in
``worker_probe.py``, shared with the competitors).
"""

from __future__ import annotations

from worker_probe import PROBE, hang, spin

from scheduler import current_run


def noop() -> None:
    PROBE.hit()


def stamp() -> None:
    PROBE.hit(current_run().fire_at.timestamp())


__all__ = ["hang", "noop", "spin", "stamp"]
