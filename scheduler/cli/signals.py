"""Signals into events, without ever taking a lock inside a signal handler.

A Python signal handler runs in the main thread between two bytecodes: if that thread is
inside ``threading.Event.wait()`` at that moment, calling ``Event.set()`` from the handler
deadlocks on the event's lock (python/cpython#126434), and a scheduler hangs for good
while its lease thread keeps renewing. So the handlers here do nothing; the interpreter's
C-level handler writes the signal number to a pipe (``signal.set_wakeup_fd``), and a
helper thread reads it and sets the events from its own thread.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wake-up pipe does the work."""


class Signals:
    """SIGTERM and SIGINT set ``stop``, a second one also ``force`` (stop waiting for
    running runs); SIGHUP calls ``on_hup`` once it is set."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.force = threading.Event()
        self.on_hup: Callable[[], None] | None = None
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in (*STOP_SIGNALS, signal.SIGHUP):
            signal.signal(signum, _ignore)
        threading.Thread(target=self._watch, daemon=True, name="sched-signals").start()

    def _watch(self) -> None:
        while True:
            try:
                received = os.read(self._read_fd, 64)
            except OSError:
                return
            if not received:
                return
            for signum in received:
                self._handle(signum)

    def _handle(self, signum: int) -> None:
        if signum in STOP_SIGNALS:
            if self.stop.is_set():
                self.force.set()
            self.stop.set()
        elif signum == signal.SIGHUP and self.on_hup is not None:
            self.on_hup()
