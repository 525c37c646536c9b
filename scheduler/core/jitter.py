"""Deterministic jitter: every replica computes the same delay for the same fire time."""

from __future__ import annotations

import hashlib


def jitter_ms(name: str, jitter_s: int, fire_ms: int) -> int:
    """A delay in ``[0, jitter_s)`` seconds, in ms, from sha256 of ``NAME@FIRE_MS``."""
    if jitter_s <= 0:
        return 0
    digest = hashlib.sha256(f"{name}@{fire_ms}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (jitter_s * 1000)


def due_ms(name: str, jitter_s: int, next_ms: int | None) -> int | None:
    """When a fire time is due: the fire time plus its jitter (None for never)."""
    return None if next_ms is None else next_ms + jitter_ms(name, jitter_s, next_ms)
