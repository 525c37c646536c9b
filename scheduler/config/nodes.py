"""YAML nodes to plain values: every scalar, list and mapping a schedule file may hold,
with the line and column of each problem. No tag ever constructs a Python object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scheduler.core.durations import parse_duration_s
from scheduler.core.model import (
    JSONValue,
)
from scheduler.core.names import did_you_mean
from scheduler.errors import DurationError, Problem

MAX_JSON_DEPTH = 100  # lists and mappings in args and kwargs, one inside another
MAX_NODES = 100_000  # after alias expansion: stops "billion laughs" files

TAG = "tag:yaml.org,2002:"
STR_TAG = TAG + "str"
SCALAR_TAGS = {TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
ALLOWED_TAGS = SCALAR_TAGS | {TAG + "seq", TAG + "map", TAG + "merge"}


class Invalid(Exception):
    """Raised inside a field parser; the caller records it as a Problem."""

    def __init__(self, message: str, node: Node | None = None) -> None:
        super().__init__(message)
        self.node = node


def fail(message: str, node: Node | None = None) -> NoReturn:
    raise Invalid(message, node)


@dataclass
class SourceFile:
    """One file being read: where problems go, and how many nodes it may expand to."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    nodes_left: int = MAX_NODES
    spot: str = ""  # the field being read, for problems found deep inside its value
    # One per file: a constructor remembers every node it built (a module-wide one leaked
    # every file ever loaded, on each reload of a long-running scheduler).
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def problem(self, node: Node | None, where: str, message: str) -> None:
        line, column = line_of(node), column_of(node)
        self.problems.append(Problem(self.path, line, column, where, message))

    def visit(self, node: Node) -> None:
        if node.tag not in ALLOWED_TAGS:
            fail(
                f"YAML tag {node.tag!r} is not allowed; schedule files hold plain values only", node
            )
        self.nodes_left -= 1
        if self.nodes_left < 0:
            fail(
                f"the file expands to more than {MAX_NODES} YAML nodes "
                "(anchors and aliases count each time they are used); split or simplify it",
                node,
            )


def line_of(node: Node | None) -> int:
    """A node's line, 1-based; 1 for a node built from Python values (it has no mark)."""
    mark = node.start_mark if node is not None else None
    return mark.line + 1 if mark is not None else 1


def column_of(node: Node | None) -> int:
    mark = node.start_mark if node is not None else None
    return mark.column + 1 if mark is not None else 1


# -- scalars -------------------------------------------------------------------------


def scalar(node: Node, f: SourceFile) -> object:
    f.visit(node)
    if not isinstance(node, ScalarNode):
        fail(f"expected a single value, got a {kind_of(node)}", node)
    if node.tag == STR_TAG:
        return node.value  # what the constructor returns for a string, without its bookkeeping
    try:
        return f.constructor.construct_object(node)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        kind = node.tag.removeprefix(TAG)
        fail(f"{node.value!r} looks like a {kind} but is not a valid one: {exc}", node)


def kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "value"


def yaml11_hint(node: ScalarNode, value: object) -> str:
    if not node.style and node.tag != TAG + "str":  # plain: None (Python) or "" (libyaml)
        shown = "null" if value is None else json.dumps(value, default=str)
        return (
            f"; YAML reads the unquoted {node.value!r} as {type(value).__name__} {shown}, "
            f'put it in quotes: "{node.value}"'
        )
    return ""


def string(node: Node, f: SourceFile, *, allow_empty: bool = False) -> str:
    value = scalar(node, f)
    if not isinstance(value, str):
        assert isinstance(node, ScalarNode)
        fail(f"expected a string{yaml11_hint(node, value)}", node)
    if not allow_empty and not value.strip():
        fail("must not be empty", node)
    return value


def boolean(node: Node, f: SourceFile) -> bool:
    value = scalar(node, f)
    if not isinstance(value, bool):
        fail(f"expected true or false, got {show(node)}", node)
    return value


def integer(node: Node, f: SourceFile, low: int, high: int) -> int:
    value = scalar(node, f)
    if isinstance(value, bool) or not isinstance(value, int):
        fail(f"expected a whole number from {low} to {high}, got {show(node)}", node)
    if not low <= value <= high:
        fail(f"{value} is out of range; allowed: {low} to {high}", node)
    return value


def duration(node: Node, f: SourceFile, minimum_s: int = 0) -> int:
    value = scalar(node, f)
    try:
        seconds = parse_duration_s(value)
    except DurationError as exc:
        fail(str(exc), node)
    if seconds < minimum_s:
        fail(f"must be at least {minimum_s}s, got {show(node)}", node)
    return seconds


def choice(node: Node, f: SourceFile, choices: Sequence[str]) -> str:
    value = string(node, f)
    if value not in choices:
        fail(f"{value!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}", node)
    return value


def show(node: Node) -> str:
    return repr(node.value) if isinstance(node, ScalarNode) else f"a {kind_of(node)}"


# -- JSON arguments ------------------------------------------------------------------


def json_value(node: Node, f: SourceFile, where: str, depth: int = 0) -> JSONValue:
    # Each node is counted once: here for a list, by mapping() and scalar() for the rest.
    if isinstance(node, SequenceNode | MappingNode) and depth >= MAX_JSON_DEPTH:
        # only an alias used inside its own anchor gets here: a file's own nesting is
        # refused by the YAML reader first; a Python value of the API, one that holds itself
        fail(f"nested more than {MAX_JSON_DEPTH} levels deep (a value that holds itself, "
             "such as an alias inside its own anchor, nests forever)", node)  # fmt: skip
    if isinstance(node, SequenceNode):
        f.visit(node)
        return [json_value(item, f, f"{where}[{i}]", depth + 1)
                for i, item in enumerate(node.value)]  # fmt: skip
    if isinstance(node, MappingNode):
        return {key: json_value(value, f, f"{where}.{key}", depth + 1)
                for key, _, value in mapping(node, f, where)}  # fmt: skip
    value = scalar(node, f)
    if isinstance(node, ScalarNode) and not node.style:
        yaml11_surprise(node, value)
    if isinstance(value, float) and not math.isfinite(value):
        fail(f"{node.value!r} is not a JSON number; only finite numbers are allowed", node)
    if isinstance(value, (date, datetime)):
        fail(
            f"YAML reads the unquoted {node.value!r} as a date, which is not JSON; "
            f'put it in quotes: "{node.value}"',
            node,
        )
    return value


YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def yaml11_surprise(node: ScalarNode, value: object) -> None:
    """Unquoted YAML 1.1 forms that silently become something else in arguments."""
    text = str(node.value)
    if isinstance(value, bool) and text.lower() in YAML11_BOOLEANS:
        fail(
            f"YAML reads the unquoted {text!r} as {str(value).lower()}; write true or false, "
            f'or put it in quotes: "{text}"',
            node,
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool) and ":" in text:
        fail(
            f"YAML reads the unquoted {text!r} as the number {value} (base 60); "
            f'put it in quotes: "{text}"',
            node,
        )


def mapping(node: Node, f: SourceFile, where: str) -> list[tuple[str, Node, Node]]:
    """The string-keyed pairs of a mapping.

    A duplicate key, a merge key or a key that is not a string is recorded as a problem
    and left out, so the rest of the mapping is still checked.
    """
    f.visit(node)
    if not isinstance(node, MappingNode):
        fail(f"expected a mapping of key: value, got {show(node)}", node)
    seen: dict[str, Node] = {}
    out = []
    for key_node, value_node in node.value:
        if key_node.tag == TAG + "merge":
            f.problem(key_node, where, "merge keys (<<) are not supported; use a defaults: block")
            continue
        try:
            key = scalar(key_node, f)
            if not isinstance(key, str):
                assert isinstance(key_node, ScalarNode)
                fail(f"keys must be strings{yaml11_hint(key_node, key)}", key_node)
        except Invalid as exc:
            f.problem(exc.node, f.spot or where, str(exc))
            continue
        if key in seen:
            first = line_of(seen[key])
            message = f"duplicate key {key!r} (first defined on line {first})"
            f.problem(key_node, f"{f.spot or where}.{key}", message)
            continue
        seen[key] = key_node
        out.append((key, key_node, value_node))
    return out
