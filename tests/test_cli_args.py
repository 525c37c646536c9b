"""No command hangs or exits 70 on any argument: each value out of range is a clear usage
error with exit code 2 (never a silent fallback, such as Redis database 0)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scheduler.cli import app, main

EXIT_USAGE = 2


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["upcoming", "schedules", "--count", "100000000"], "less than or equal to 10000"),
        (["upcoming", "schedules", "--from", "0001-01-01"], "dates must be between 1970-01-02"),
        (["upcoming", "schedules", "--until", "9999-12-31"], "dates must be between 1970-01-02"),
        (["worker", "--worker-timeout", "inf", "--redis-url", "redis://127.0.0.1:1"], "86400"),
        (["worker", "--grace", "inf", "--redis-url", "redis://127.0.0.1:1"], "86400"),
        (["status", "--redis-url", "redis://localhost:abc/0"], "the port is not a number"),
        (["status", "--redis-url", "redis://localhost:6379/x"], "database 'x' is not a number"),
        (["status", "--redis-url", "redis://h:6379/0?db=y"], "database 'y' is not a number"),
        (["status", "--redis-url", "http://h:6379/0"], "unsupported Redis URL"),
        (
            ["scheduler", "schedules", "--celery-broker-url", "sqs://u:secret@q"],
            "--celery-broker-url: 'sqs://u:***@q' is not a broker URL sched can publish to",
        ),
        (
            ["run", "schedules", "--celery-broker-url", "localhost:6379"],
            "'localhost:6379' is not a broker URL",
        ),
    ],
)
def test_an_argument_out_of_range_is_a_usage_error(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(args, capsys)
    assert code == EXIT_USAGE
    assert says in " ".join(output.split()).replace("│", "")


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """`sched run` installs its signal handling in this process: put pytest's back."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    signal.set_wakeup_fd(-1)
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_an_unusable_data_dir_is_a_usage_error(tmp_path: Path, signals_restored: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "schedules", "--data-dir", str(blocker / "data")])
    assert result.exit_code == EXIT_USAGE
    assert "--data-dir: cannot use" in result.stderr


def _option_helps() -> Iterator[tuple[str, str]]:
    import typer.main

    stack: list[tuple[str, Any]] = [("sched", typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            stack.append((f"{path} {name}", sub))
        for param in command.params:
            yield f"{path} {param.name}", getattr(param, "help", None) or ""


def test_no_option_help_holds_square_brackets_that_rich_would_swallow() -> None:
    """Rich reads "[default: ...]" in a help text as markup and drops it silently."""
    swallowed = [where for where, text in _option_helps() if "[" in text]
    assert swallowed == []


def test_sched_run_help_says_which_queues_and_address_it_uses_by_default() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "250"})
    assert "(default: every queue the schedules name, and default)" in result.stdout
    assert "(default: 127.0.0.1:8642; if it is taken, go on without)" in result.stdout
