"""Suggestions for a mistyped name: one "did you mean" for every message in sched."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` or an empty string."""
    found = closest(word, choices)
    return f" (did you mean {found!r}?)" if found else ""


def near_duplicates(names: Iterable[str], cutoff: float = 0.8) -> list[tuple[str, str]]:
    """Pairs of distinct names that differ by a letter or two (``report``, ``reports``)."""
    unique = sorted(set(names))
    return [
        (a, b)
        for i, a in enumerate(unique)
        for b in unique[i + 1 :]
        if difflib.SequenceMatcher(None, a, b).ratio() >= cutoff
    ]
