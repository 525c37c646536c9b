"""The package's layers can be drawn: lower modules never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scheduler"
# Each module may import only modules of a lower (or equal, listed earlier) layer.
LAYERS = [
    {"errors", "clock", "durations", "tasks", "context", "logs"},
    {"zones", "cron"},
    {"triggers"},
    {"model"},
    {"retries"},
    {"config"},
    {"store"},
    {"dispatch", "leader", "ops", "worker", "runner", "embedded"},
    {"cli", "__main__"},
]


def layer_of(module: str) -> int:
    for index, names in enumerate(LAYERS):
        if module in names:
            return index
    raise AssertionError(f"scheduler.{module} is in no layer; add it to LAYERS")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scheduler"):
            found.add(node.module.removeprefix("scheduler").lstrip(".") or "__init__")
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("scheduler.") for a in node.names
                      if a.name.startswith("scheduler.")}  # fmt: skip
    return found - {"__init__"}


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem == "__init__":
            continue
        for imported in imports_of(path):
            if layer_of(imported) > layer_of(path.stem):
                wrong.append(f"{path.stem} imports {imported}")
    assert wrong == []


def test_nothing_imports_the_cli() -> None:
    users = [p.stem for p in PACKAGE.glob("*.py") if "cli" in imports_of(p) and p.stem != "__main__"]  # noqa: E501
    assert users == []
