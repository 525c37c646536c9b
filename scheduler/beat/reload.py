"""Reloading schedule files while the scheduler runs: atomic and stable.

A file set is applied only when it validates and reads the same twice: its files' sizes and
modification times must stay unchanged for ``SETTLE_S``, and its bytes must be identical
before and after it was parsed. An editor or a config tool that writes in place is
therefore not read half-way (unless it pauses longer than ``SETTLE_S`` mid-write: write
atomically, by renaming a finished file into place). An invalid set is logged and the last
good schedules keep running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from scheduler.config import load, schedule_files
from scheduler.core.model import Schedule
from scheduler.core.observe import SILENT, Observer
from scheduler.errors import ConfigError, PathError

log = logging.getLogger("sched.reload")

SETTLE_S = 1.0  # files must be unchanged this long before they are read and applied
NAMES_SHOWN = 20

_Stamp = tuple[tuple[str, int, int], ...]


class _Rejected(Exception):
    """A file set that validates but cannot be applied (a name the API owns)."""


class Reloader:
    def __init__(
        self,
        paths: Sequence[Path],
        current: Callable[[], Mapping[str, Schedule]],
        apply: Callable[[Mapping[str, Schedule]], None],
        monotonic: Callable[[], float] = time.monotonic,
        observer: Observer = SILENT,
        conflicts: Callable[[Mapping[str, Schedule]], list[str]] = lambda _: [],
    ) -> None:
        self.paths = list(paths)
        self.conflicts = conflicts  # names the API owns: the files may not declare them
        self.observer = observer
        self.last_error = ""  # why the latest reload was rejected; '' once one is applied
        self.current = current
        self.apply = apply
        self.monotonic = monotonic
        self.requested = threading.Event()  # SIGHUP (set from the signal thread)
        self.stamp = self._stamp()
        self.changed_at: float | None = None  # when a change was last seen, until applied

    def request(self) -> None:
        self.requested.set()

    def poll(self) -> None:
        """Called between ticks: notice a change, wait for it to settle, then apply it."""
        now, stamp = self.monotonic(), self._stamp()
        if stamp != self.stamp or self.requested.is_set():
            self.requested.clear()
            self.stamp, self.changed_at = stamp, now
            return
        if self.changed_at is None or now - self.changed_at < SETTLE_S:
            return
        self.changed_at = None
        before = self._contents()
        try:
            loaded = load(self.paths)
            clashes = self.conflicts(loaded.schedules)
            if clashes:
                raise _Rejected("\n".join(clashes))
        except (ConfigError, PathError, _Rejected) as exc:
            for line in str(exc).splitlines():
                log.error("%s", line)
            log.error("reload rejected; the last good schedules keep running")
            self.last_error = str(exc)
            self.observer.reloaded(False)
            return
        if self._contents() != before or self._stamp() != stamp:
            self.changed_at = now  # written to while we read it: wait for it to settle
            return
        self._warn_about_removals(loaded.schedules)
        self.apply(loaded.schedules)
        self.last_error = ""
        self.observer.reloaded(True)
        log.info("reloaded %d schedules", len(loaded.schedules))

    def _warn_about_removals(self, schedules: Mapping[str, Schedule]) -> None:
        current = self.current()
        removed = sorted(set(current) - set(schedules))
        if current and len(removed) * 2 > len(current):
            shown = ", ".join(removed[:NAMES_SHOWN])
            more = f" and {len(removed) - NAMES_SHOWN} more" if len(removed) > NAMES_SHOWN else ""
            log.warning("this reload removes %d of %d schedules: %s%s", len(removed),
                        len(current), shown, more)  # fmt: skip

    def _stamp(self) -> _Stamp:
        try:
            files = schedule_files(self.paths)
            return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except (PathError, OSError):
            return ()

    def _contents(self) -> tuple[tuple[str, bytes], ...]:
        try:
            return tuple((str(f), f.read_bytes()) for f in schedule_files(self.paths))
        except (PathError, OSError):
            return ()
