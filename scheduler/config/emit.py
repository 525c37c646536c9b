"""Writing a schedule file: the readable, deterministic YAML that ``sched import`` prints.

Keys in the order given, one schedule per block, ``args`` and ``kwargs`` in flow style on
one line. Every scalar goes through PyYAML's own emitter, so a string that YAML 1.1 would
read as something else (``on``, ``12:30``, ``*/5 * * * *``) comes out quoted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from scheduler.config.files import read_document
from scheduler.config.nodes import Invalid, SourceFile
from scheduler.core.model import JSONValue
from scheduler.errors import Problem


@dataclass(frozen=True)
class Block:
    """One schedule to write: its name, comment lines above it, and its fields."""

    name: str
    comments: Sequence[str]
    fields: Mapping[str, JSONValue]


def schedule_file(header: Sequence[str], blocks: Sequence[Block]) -> str:
    lines = [f"# {line}".rstrip() for line in header]
    lines.append("schedules:" if blocks else "schedules: {}")
    for block in blocks:
        lines.extend(f"  # {comment}".rstrip() for comment in block.comments)
        lines.append(f"  {_flow(block.name)}:")
        lines.extend(f"    {key}: {_flow(value)}" for key, value in block.fields.items())
    return "\n".join(lines) + "\n"


def _flow(value: JSONValue) -> str:
    if isinstance(value, str) and (" " in value or "*" in value):
        # Cron expressions and sentences, double-quoted as people write them; a JSON
        # string is a valid YAML double-quoted scalar.
        return json.dumps(value, ensure_ascii=False)
    text: str = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=float("inf"), sort_keys=False
    )
    return text.removesuffix("\n").removesuffix("\n...")


def problems_of(text: str, path: str = "<imported>") -> list[Problem]:
    """What `sched validate` would report for this text as a file (empty when it is valid)."""
    f = SourceFile(path)
    try:
        read_document(text, f)
    except Invalid as exc:
        f.problem(exc.node, "(file)", str(exc))
    return sorted(f.problems)
