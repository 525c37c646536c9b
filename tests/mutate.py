"""Mutation testing for sched: Python modules and Lua scripts, one single change at a time.

Usage, from the repository root::

    .venv/bin/python tests/mutate.py                        # groups core, config and lua
    .venv/bin/python tests/mutate.py lua --jobs 2           # one group of the TARGETS table
    .venv/bin/python tests/mutate.py scheduler/core/cron.py --list   # show mutants, run nothing
    .venv/bin/python tests/mutate.py scheduler/durations.py --tests tests/test_config.py
    .venv/bin/python tests/mutate.py --sample 40 --seed 1 --json mutants.json

A TARGET is a group name of the TARGETS table below or a file path (glob allowed) relative to
the repository root; ``--tests`` overrides the test files the table maps it to. Each mutant
changes one code token of one file (never a comment, string or docstring). It is run in a
private copy of scheduler/, tests/, schedules/ and pyproject.toml (one per ``--jobs`` worker),
with ``python -m pytest -x`` and cwd = that copy, so the copy is what ``import scheduler`` and
the package's Lua loading see; a canary per target (a module that raises on import, a script
that raises when run) checks that. Outcomes: killed (tests failed), error (pytest could not
run the tests or the mutant does not compile: killed, but trivially), timeout, survived, and
equivalent (a survivor listed in tests/mutants_equivalent.txt, left out of the kill %).
The command reports and always exits 0 unless it fails itself. This file never imports the
``scheduler`` package: it reads the targets as text. See docs/mutation.md.
"""

from __future__ import annotations

import argparse
import io
import json
import keyword
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from importlib.util import find_spec
from pathlib import Path
from queue import Queue
from types import FrameType
from typing import TypeVar

# -- what to mutate, and which tests must kill it (edit freely) ------------------------------

CORE_TESTS = (
    "tests/test_core_*.py",
    "tests/test_config.py",
    "tests/test_leader.py",
    "tests/test_worker.py",
)
LUA_TESTS = (
    "tests/test_scripts_*.py",
    "tests/test_leader.py",
    "tests/test_worker.py",
    "tests/test_ops.py",
    "tests/test_wake.py",
)
WAKE_TESTS = ("tests/test_wake.py", "tests/test_worker.py")
CONFIG_TESTS = ("tests/test_config*.py", "tests/test_cli_schedules.py", "tests/test_core_*.py",
                "tests/test_schedule_errors.py", "tests/test_api_schedules.py")  # fmt: skip
CRON_TESTS = ("tests/test_cron_dst.py", "tests/test_cron_suites.py", "tests/test_core_*.py")

# (group, target file or glob, test files or globs); only test files that exist are run.
TARGETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("core", "scheduler/core/cron.py", CRON_TESTS),
    ("core", "scheduler/core/triggers.py", CRON_TESTS),
    ("core", "scheduler/core/zones.py", CRON_TESTS),
    ("core", "scheduler/core/durations.py", CORE_TESTS),
    ("core", "scheduler/core/misfire.py", CORE_TESTS),
    ("core", "scheduler/core/retries.py", CORE_TESTS),
    ("core", "scheduler/core/jitter.py", CORE_TESTS),
    ("core", "scheduler/core/messages.py", CORE_TESTS),
    ("config", "scheduler/config/*.py", CONFIG_TESTS),
    ("lua", "scheduler/store/lua/*.lua", LUA_TESTS),
    ("worker", "scheduler/worker/wake.py", WAKE_TESTS),
)
DEFAULT_GROUPS = ("core", "config", "lua")

PURE_CORE = (
    "scheduler/core/cron.py",
    "scheduler/core/triggers.py",
    "scheduler/core/zones.py",
    "scheduler/core/durations.py",
    "scheduler/core/misfire.py",
    "scheduler/core/retries.py",
    "scheduler/core/jitter.py",
    "scheduler/config/*.py",
)
# (name, file globs, minimum kill %, per file: True = every file, False = all together)
GOALS: tuple[tuple[str, tuple[str, ...], float, bool], ...] = (
    ("pure core and config, all together", PURE_CORE, 95.0, False),
    ("every Lua script", ("scheduler/store/lua/*.lua",), 90.0, True),
)

# Tests that fail by themselves under the load of parallel mutant runs (real-time deadlines):
# left out of every run, since such a failure would count as a kill.
# None today: the 10,000-dispatch test now holds a lease long enough for a loaded machine.
DESELECT: tuple[str, ...] = ()

EQUIVALENTS = "tests/mutants_equivalent.txt"
COPIED = ("scheduler", "tests", "schedules", "pyproject.toml")  # copied when present
IGNORED = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache", "*.pyc")
TIMEOUT_FACTOR, TIMEOUT_FLOOR_S, BASELINE_TIMEOUT_S = 10.0, 5.0, 900.0
ERROR_CODES = (2, 3, 4)  # pytest: interrupted (collection error), internal error, usage error
LUA_COMPILE_ERROR = "Error compiling script"
CANARY_PY = "\nraise RuntimeError('mutate.py canary: this copy of the module was imported')\n"
CANARY_LUA = "error('mutate.py canary: this copy of the script was run')\n"


# -- mutants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    kind: str  # name | number | string | op | newline
    text: str
    start: int  # offsets into the file text
    end: int


@dataclass(frozen=True)
class Mutant:
    path: str
    operator: str
    start: int
    end: int
    replacement: str
    line: int
    original: str  # the touched line(s), stripped, joined by one space
    mutated: str


def _region(text: str, start: int, end: int) -> tuple[int, int]:
    """The whole lines that the span ``[start, end)`` touches."""
    right = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if right < 0 else right


def _squash(region: str) -> str:
    return " ".join(part.strip() for part in region.split("\n") if part.strip())


def make_mutant(path: str, text: str, op: str, span: tuple[int, int], new: str) -> Mutant:
    start, end = span
    left, right = _region(text, start, end)
    mutated = text[left:start] + new + text[end:right]
    line = text.count("\n", 0, start) + 1
    return Mutant(path, op, start, end, new, line, _squash(text[left:right]), _squash(mutated))


def apply(text: str, mutant: Mutant) -> str:
    return text[: mutant.start] + mutant.replacement + text[mutant.end :]


Edit = tuple[str, tuple[int, int], str]  # operator, span, replacement

# fmt: off
PY_SWAPS: dict[str, tuple[str, ...]] = {
    "<": ("<=", ">"), "<=": ("<", ">"), ">": (">=", "<"), ">=": (">", "<"),
    "==": ("!=",), "!=": ("==",), "+=": ("-=",), "-=": ("+=",),
}
# fmt: on
PY_ARITH = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "*", "%": "*"}
PY_NAMES = {"and": "or", "or": "and", "True": "False", "False": "True", "break": "continue"}
PY_VALUES = frozenset({"True", "False", "None"})
LUA_SWAPS = {"==": "~=", "~=": "==", "<": "<=", "<=": "<", ">": ">=", ">=": ">"}
LUA_ARITH = {"+": "-", "-": "+"}
LUA_NAMES = {"and": "or", "or": "and", "true": "false", "false": "true"}
# fmt: off
LUA_KEYWORDS = frozenset({
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
})
# fmt: on
LUA_VALUES = frozenset({"true", "false", "nil"})


def _operand_end(tok: Tok | None, keywords: Callable[[str], bool], values: Iterable[str]) -> bool:
    """Whether ``tok`` can end an operand, so that an operator after it is a binary one."""
    if tok is None:
        return False
    if tok.kind == "name":
        return not keywords(tok.text) or tok.text in values
    return tok.kind in ("number", "string") or tok.text in (")", "]", "}")


def _int_edits(tok: Tok, text: str, lua: bool) -> Iterator[Edit]:
    try:
        value = int(tok.text, 0) if not lua else int(tok.text)
    except ValueError:
        return
    for new in (value + 1, value - 1):
        after_minus = text[tok.start - 1 : tok.start] == "-"
        spelled = f"({new})" if lua and new < 0 and after_minus else str(new)  # not `--`
        yield "integer", (tok.start, tok.end), spelled


def _drop_not(toks: Sequence[Tok], i: int, text: str) -> Iterator[Edit]:
    """``not x`` -> ``x`` (and Python's ``not in`` -> ``in``): delete up to the next token."""
    if i + 1 < len(toks) and "\n" not in text[toks[i].end : toks[i + 1].start]:
        yield "not", (toks[i].start, toks[i + 1].start), ""


# -- Python ----------------------------------------------------------------------------------


def python_tokens(text: str) -> list[Tok]:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    kinds = {
        tokenize.NAME: "name",
        tokenize.NUMBER: "number",
        tokenize.STRING: "string",
        tokenize.OP: "op",
        tokenize.NEWLINE: "newline",
    }
    out = []
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type in kinds:
            start = starts[t.start[0] - 1] + t.start[1]
            out.append(Tok(kinds[t.type], t.string, start, starts[t.end[0] - 1] + t.end[1]))
    return out


def _for_in(toks: Sequence[Tok]) -> set[int]:
    """Indices of the ``in`` tokens that belong to a ``for`` (statement or comprehension)."""
    found: set[int] = set()
    pending: dict[int, int] = {}
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind == "newline":
            pending, depth = {}, 0
        elif tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.text in (")", "]", "}"):
            depth -= 1
        elif tok.kind == "name" and tok.text == "for":
            pending[depth] = pending.get(depth, 0) + 1
        elif tok.kind == "name" and tok.text == "in" and pending.get(depth, 0) > 0:
            pending[depth] -= 1
            found.add(i)
    return found


def _python_name_edits(toks: Sequence[Tok], i: int, text: str, for_in: set[int]) -> Iterator[Edit]:
    tok, prev = toks[i], toks[i - 1] if i else None
    after = toks[i + 1] if i + 1 < len(toks) else None
    span = (tok.start, tok.end)
    if tok.text in PY_NAMES:
        yield tok.text, span, PY_NAMES[tok.text]
    elif tok.text == "not" and not (prev and prev.text == "is"):
        yield from _drop_not(toks, i, text)
    elif tok.text == "is" and after is not None and after.text == "not":
        yield "is not", (tok.start, after.end), "is"
    elif tok.text == "is":
        yield "is", span, "is not"
    elif tok.text == "in" and i not in for_in and not (prev and prev.text == "not"):
        yield "in", span, "not in"


def python_edits(text: str) -> Iterator[Edit]:
    toks = python_tokens(text)
    for_in = _for_in(toks)
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i else None
        if tok.kind == "name":
            yield from _python_name_edits(toks, i, text, for_in)
        elif tok.kind == "number":
            yield from _int_edits(tok, text, lua=False)
        elif tok.text in PY_SWAPS:
            yield from (("relational", (tok.start, tok.end), new) for new in PY_SWAPS[tok.text])
        elif tok.text in PY_ARITH and _operand_end(prev, keyword.iskeyword, PY_VALUES):
            yield "arithmetic", (tok.start, tok.end), PY_ARITH[tok.text]


# -- Lua -------------------------------------------------------------------------------------

LUA_LONG = re.compile(r"\[(=*)\[")
LUA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LUA_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
LUA_OPS = ("...", "..", "==", "~=", "<=", ">=", "//", "::", "<<", ">>")


def _long_end(text: str, i: int) -> int:
    """End of a long bracket ``[==[ ... ]==]`` opening at ``i``, or -1 if there is none."""
    match = LUA_LONG.match(text, i)
    if match is None:
        return -1
    close = text.find("]" + match.group(1) + "]", match.end())
    return len(text) if close < 0 else close + len(match.group(1)) + 2


def _quoted_end(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and text[j] not in (text[i], "\n"):
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, len(text))


def _lua_token(text: str, i: int) -> tuple[str, int]:
    """Kind and end of the token (or comment: kind ``comment``) starting at ``i``."""
    if text.startswith("--", i):
        end = _long_end(text, i + 2)
        line_end = text.find("\n", i)
        return "comment", end if end >= 0 else (len(text) if line_end < 0 else line_end)
    if text[i] in "'\"":
        return "string", _quoted_end(text, i)
    if text[i] == "[" and _long_end(text, i) >= 0:
        return "string", _long_end(text, i)
    for kind, pattern in (("number", LUA_NUMBER), ("name", LUA_NAME)):
        match = pattern.match(text, i)
        if match:
            return kind, match.end()
    width = next((len(op) for op in LUA_OPS if text.startswith(op, i)), 1)
    return "op", i + width


def lua_tokens(text: str) -> list[Tok]:
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        kind, end = _lua_token(text, i)
        if kind != "comment":
            out.append(Tok(kind, text[i:end], i, end))
        i = end
    return out


def _lua_keyword(word: str) -> bool:
    return word in LUA_KEYWORDS


def _lua_operand_end(tok: Tok | None) -> bool:
    return _operand_end(tok, _lua_keyword, LUA_VALUES)


def _closing(toks: Sequence[Tok], i: int) -> int:
    """Index of the bracket that closes the one at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        depth += toks[j].text in ("(", "[", "{")
        depth -= toks[j].text in (")", "]", "}")
        if depth == 0:
            return j
    return len(toks) - 1


def _redis_call(toks: Sequence[Tok], i: int) -> Iterator[Edit]:
    """Delete a ``redis.call(...)`` statement; replace a call whose value is used by false."""
    if [t.text for t in toks[i : i + 4]] != ["redis", ".", "call", "("]:
        return
    close = _closing(toks, i + 3)
    prev = toks[i - 1] if i else None
    span = (toks[i].start, toks[close].end)
    statement = prev is None or prev.text in ("then", "do", "else", "end", "repeat", ";")
    if statement or _lua_operand_end(prev):
        yield "delete redis.call", span, "local _ = nil"
    else:
        after = toks[close + 1].text if close + 1 < len(toks) else ""
        yield "redis.call value", span, "(false)" if after in (".", "[", ":", "(") else "false"


def _subscript_index(toks: Sequence[Tok], i: int) -> bool:
    """Whether toks[i] is the n of ``KEYS[n]`` or ``ARGV[n]`` (left alone)."""
    return (
        1 < i < len(toks) - 1
        and toks[i - 1].text == "["
        and toks[i + 1].text == "]"
        and toks[i - 2].text in ("KEYS", "ARGV")
    )


def lua_edits(text: str) -> Iterator[Edit]:
    toks = lua_tokens(text)
    for i, tok in enumerate(toks):
        prev, span = (toks[i - 1] if i else None), (tok.start, tok.end)
        if tok.kind == "name" and tok.text in LUA_NAMES:
            yield tok.text, span, LUA_NAMES[tok.text]
        elif tok.kind == "name" and tok.text == "not":
            yield from _drop_not(toks, i, text)
        elif tok.kind == "name":
            yield from _redis_call(toks, i)
        elif tok.kind == "number" and not _subscript_index(toks, i):
            yield from _int_edits(tok, text, lua=True)
        elif tok.kind == "op" and tok.text in LUA_SWAPS:
            yield "relational", span, LUA_SWAPS[tok.text]
        elif tok.kind == "op" and tok.text in LUA_ARITH and _lua_operand_end(prev):
            yield "arithmetic", span, LUA_ARITH[tok.text]


def mutants_of(path: str, text: str) -> list[Mutant]:
    edits = lua_edits(text) if path.endswith(".lua") else python_edits(text)
    seen: set[tuple[int, str]] = set()
    out = []
    for op, span, new in edits:
        mutant = make_mutant(path, text, op, span, new)
        if (mutant.line, mutant.mutated) not in seen:
            seen.add((mutant.line, mutant.mutated))
            out.append(mutant)
    return out


# -- equivalent mutants ------------------------------------------------------------------------

Key = tuple[str, str, str]


def load_equivalents(path: Path) -> dict[Key, str]:
    """``path|original|mutated|why`` lines (``\\|`` for a ``|`` in code); ``#`` comments."""
    found: dict[Key, str] = {}
    if not path.is_file():
        return found
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.replace("\\|", "|").strip() for p in re.split(r"(?<!\\)\|", raw, maxsplit=3)]
        if len(parts) == 4:
            found[(parts[0], parts[1], parts[2])] = parts[3]
        else:
            print(f"warning: {path}: ignored line (want 4 fields): {raw}", file=sys.stderr)
    return found


def equivalent_line(mutant: Mutant) -> str:
    fields = (mutant.path, mutant.original, mutant.mutated, "WHY")
    return "|".join(part.replace("|", "\\|") for part in fields)


# -- running tests in private copies -----------------------------------------------------------


class Stopped(Exception):
    """The run was interrupted: start no more test processes."""


@dataclass
class Run:
    code: int | None  # None: timed out
    seconds: float
    output: str


class Runner:
    """Starts pytest in its own process group, so a timeout or Ctrl-C ends its redis-server."""

    def __init__(self, extra_args: Sequence[str]) -> None:
        self.extra_args = list(extra_args)
        self.live: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.stopped = False

    def pytest(self, cwd: Path, tests: Sequence[str], timeout_s: float) -> Run:
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                   "-p", "no:randomly", f"--basetemp={cwd / '.basetemp'}",
                   *self.extra_args, *tests]  # fmt: skip
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(cwd)}
        began = time.monotonic()
        proc = self._start(command, cwd, env)
        try:
            out, _ = proc.communicate(timeout=timeout_s)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, code = _leftover_output(proc), None
        finally:
            _kill_group(proc)  # anything a test left running
            with self.lock:
                self.live.discard(proc)
        return Run(code, time.monotonic() - began, out.decode(errors="replace"))

    def _start(self, command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.lock:
            if self.stopped:
                raise Stopped
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.live.add(proc)
        return proc

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            procs = list(self.live)
        for proc in procs:
            _kill_group(proc)


def _leftover_output(proc: subprocess.Popen[bytes]) -> bytes:
    try:
        return proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:  # a grandchild in another session holds the pipe
        proc.kill()
        proc.wait(timeout=30)
        return b""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Workspace:
    """A private copy of the repository's files that the tests need."""

    def __init__(self, root: Path, stack: ExitStack) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sched-mutate-"))
        stack.callback(shutil.rmtree, self.dir, True)
        for name in COPIED:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, self.dir / name, ignore=IGNORED)
            elif source.is_file():
                shutil.copy2(source, self.dir / name)

    def write(self, path: str, text: str) -> None:
        (self.dir / path).write_text(text, encoding="utf-8")

    def reset(self) -> None:
        shutil.rmtree(self.dir / ".hypothesis", ignore_errors=True)


class Pool:
    """Workspaces handed to one job at a time."""

    def __init__(self, root: Path, jobs: int, stack: ExitStack) -> None:
        self.free: Queue[Workspace] = Queue()
        for _ in range(jobs):
            self.free.put(Workspace(root, stack))

    @contextmanager
    def workspace(self) -> Iterator[Workspace]:
        space = self.free.get()
        try:
            yield space
        finally:
            space.reset()
            self.free.put(space)


# -- planning ----------------------------------------------------------------------------------


@dataclass
class Result:
    line: int
    operator: str
    original: str
    mutated: str
    outcome: str  # killed | error | timeout | survived | equivalent
    seconds: float
    why_equivalent: str = ""
    failed: str = ""  # the first test pytest reports as failed or in error


@dataclass
class FilePlan:
    path: str
    group: str
    tests: tuple[str, ...]
    status: str = "ok"  # ok | missing | no tests | unsupported | canary survived/timed out
    canary: str = "not run"
    baseline_s: float = 0.0
    timeout_s: float = 0.0
    text: str = field(default="", repr=False)
    mutants: list[Mutant] = field(default_factory=list, repr=False)
    results: list[Result] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        names = ("killed", "error", "timeout", "survived", "equivalent")
        return {name: sum(r.outcome == name for r in self.results) for name in names}

    def kill_percent(self) -> float | None:
        return kill_percent([self])


def kill_percent(plans: Iterable[FilePlan]) -> float | None:
    total = detected = 0
    for plan in plans:
        c = plan.counts()
        total += c["killed"] + c["error"] + c["timeout"] + c["survived"]
        detected += c["killed"] + c["error"] + c["timeout"]
    return 100.0 * detected / total if total else None


def expand(root: Path, patterns: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = None
    return list(found)


def table_entry(path: str) -> tuple[str, tuple[str, ...]] | None:
    for group, pattern, tests in TARGETS:
        if fnmatch(path, pattern):
            return group, tests
    return None


def plan_files(root: Path, selectors: Sequence[str], tests: Sequence[str] | None) -> list[FilePlan]:
    plans: dict[str, FilePlan] = {}
    for selector in selectors:
        rows = [(p, g, t) for g, p, t in TARGETS if g == selector] or [(selector, "", ())]
        for pattern, group, mapped in rows:
            paths = expand(root, [pattern])
            if not paths:
                plans.setdefault(pattern, FilePlan(pattern, group or "-", (), "missing"))
            for path in paths:
                plans.setdefault(path, _plan(root, path, group, mapped, tests))
    return list(plans.values())


def _plan(
    root: Path, path: str, group: str, mapped: tuple[str, ...], tests: Sequence[str] | None
) -> FilePlan:
    entry = table_entry(path)
    if not group and entry:
        group, mapped = entry
    plan = FilePlan(path, group or "other", tuple(expand(root, tests or mapped)))
    if not path.endswith((".py", ".lua")):
        plan.status = "unsupported"
    elif not plan.tests:
        plan.status = "no tests"
    else:
        plan.text = (root / path).read_text(encoding="utf-8")
        plan.mutants = mutants_of(path, plan.text)
    return plan


def sample(plans: Sequence[FilePlan], size: int, seed: int) -> None:
    everything = [(plan, m) for plan in plans for m in plan.mutants]
    chosen = set(random.Random(seed).sample(range(len(everything)), min(size, len(everything))))
    for plan in plans:
        plan.mutants = []
    for index in sorted(chosen):
        plan, mutant = everything[index]
        plan.mutants.append(mutant)


# -- running -----------------------------------------------------------------------------------


class Abort(Exception):
    """The tool cannot measure anything meaningful: say why and exit 2."""


def classify(run: Run) -> str:
    if run.code is None:
        return "timeout"
    if run.code == 0:
        return "survived"
    if run.code in ERROR_CODES or LUA_COMPILE_ERROR in run.output:
        return "error"
    return "killed"


def compiles(path: str, text: str) -> bool:
    if not path.endswith(".py"):
        return True  # no Lua compiler here: Redis reports it, see classify()
    try:
        compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


@contextmanager
def altered(space: Workspace, plan: FilePlan, text: str) -> Iterator[None]:
    space.write(plan.path, text)
    try:
        yield
    finally:
        space.write(plan.path, plan.text)


def tail(output: str, lines: int = 30) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def measure_baselines(
    plans: Sequence[FilePlan], pool: Pool, runner: Runner, forced: float | None
) -> None:
    """Time each distinct set of test files once, unmutated; it must pass."""
    measured: dict[tuple[str, ...], float] = {}
    with pool.workspace() as space:
        for plan in plans:
            if plan.tests not in measured:
                run = runner.pytest(space.dir, plan.tests, BASELINE_TIMEOUT_S)
                if run.code != 0:
                    raise Abort(
                        f"the unmutated tests fail (exit {run.code}), so no mutant can be "
                        f"judged: {' '.join(plan.tests)} (a test that only fails under load "
                        f"belongs in DESELECT in tests/mutate.py)\n{tail(run.output)}"
                    )
                measured[plan.tests] = run.seconds
                print(f"baseline {run.seconds:6.1f}s  {' '.join(plan.tests)}", file=sys.stderr)
            plan.baseline_s = measured[plan.tests]
            plan.timeout_s = forced or max(TIMEOUT_FACTOR * plan.baseline_s, TIMEOUT_FLOOR_S)


T = TypeVar("T")


def parallel(
    runner: Runner, jobs: int, tasks: Sequence[Callable[[], T]], done: Callable[[T], None]
) -> None:
    executor = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures: list[Future[T]] = [executor.submit(task) for task in tasks]
        for future in as_completed(futures):
            done(future.result())
    except BaseException:
        runner.stop()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown()


def run_canary(plan: FilePlan, pool: Pool, runner: Runner) -> tuple[FilePlan, Run]:
    broken = plan.text + CANARY_PY if plan.path.endswith(".py") else CANARY_LUA + plan.text
    with pool.workspace() as space, altered(space, plan, broken):
        timeout_s = max(plan.timeout_s, TIMEOUT_FACTOR * plan.baseline_s, TIMEOUT_FLOOR_S)
        return plan, runner.pytest(space.dir, plan.tests, timeout_s)


def check_canaries(plans: Sequence[FilePlan], pool: Pool, runner: Runner, jobs: int) -> None:
    """A copy that raises on import (or a script that raises) must fail its tests."""
    failed: list[FilePlan] = []

    def done(outcome: tuple[FilePlan, Run]) -> None:
        plan, run = outcome
        plan.canary = {0: "survived", None: "timed out"}.get(run.code, f"killed (exit {run.code})")
        print(f"canary {plan.canary}: {plan.path}", file=sys.stderr)
        if run.code in (0, None):
            plan.status, plan.mutants = f"canary {plan.canary}", []
            failed.append(plan)
            print(
                f"WARNING: {plan.path}: its tests pass with a copy that raises when loaded: "
                "they do not load this copy of the file; its mutants are skipped",
                file=sys.stderr,
            )

    tasks = [lambda plan=plan: run_canary(plan, pool, runner) for plan in plans]
    parallel(runner, jobs, tasks, done)
    if failed and len(failed) == len(plans):
        raise Abort("no canary was noticed: the tests do not load the temp copy of the package")


def first_failure(output: str) -> str:
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return found.group(1) if found else ""


Outcome = tuple[FilePlan, Mutant, str, Run]


def run_mutant(plan: FilePlan, mutant: Mutant, pool: Pool, runner: Runner) -> Outcome:
    text = apply(plan.text, mutant)
    if not compiles(plan.path, text):
        return plan, mutant, "error", Run(1, 0.0, "ERROR (does not compile)")
    with pool.workspace() as space, altered(space, plan, text):
        run = runner.pytest(space.dir, plan.tests, plan.timeout_s)
    return plan, mutant, classify(run), run


class Progress:
    def __init__(self, total: int, verbose: bool) -> None:
        self.total, self.verbose, self.count = total, verbose, 0
        self.began = time.monotonic()

    def __call__(self, mutant: Mutant, outcome: str) -> None:
        self.count += 1
        elapsed = time.monotonic() - self.began
        if self.verbose:
            print(
                f"[{self.count}/{self.total}] {outcome:<8} {mutant.path}:{mutant.line}: "
                f"{mutant.original} -> {mutant.mutated}",
                file=sys.stderr,
            )
        elif self.count % 10 == 0 or self.count == self.total:
            print(f"[{self.count}/{self.total}] {elapsed:.0f}s", file=sys.stderr)


def run_mutants(
    plans: Sequence[FilePlan],
    pool: Pool,
    runner: Runner,
    jobs: int,
    equivalents: dict[Key, str],
    verbose: bool,
) -> None:
    progress = Progress(sum(len(p.mutants) for p in plans), verbose)

    def done(outcome: Outcome) -> None:
        plan, m, verdict, run = outcome
        why = equivalents.get((m.path, m.original, m.mutated), "") if verdict == "survived" else ""
        verdict = "equivalent" if why else verdict
        failed = first_failure(run.output) if verdict in ("killed", "error") else ""
        result = Result(
            m.line, m.operator, m.original, m.mutated, verdict, run.seconds, why, failed
        )
        plan.results.append(result)
        progress(m, verdict)

    tasks = [lambda p=p, m=m: run_mutant(p, m, pool, runner) for p in plans for m in p.mutants]
    parallel(runner, jobs, tasks, done)
    for plan in plans:
        plan.results.sort(key=lambda r: (r.line, r.operator, r.mutated))


def pytest_args(extra: Sequence[str]) -> list[str]:
    """Same examples in every run (hypothesis), no load-sensitive tests, then the user's."""
    seed = ["--hypothesis-seed=0"] if find_spec("hypothesis") else []
    return [*seed, *(f"--deselect={node}" for node in DESELECT), *extra]


def execute(root: Path, plans: Sequence[FilePlan], args: argparse.Namespace) -> None:
    todo = [p for p in plans if p.status == "ok" and p.mutants]
    if not todo:
        return
    runner = Runner(pytest_args(args.pytest_arg))
    jobs = max(1, min(args.jobs, sum(len(p.mutants) for p in todo)))
    with ExitStack() as stack:
        pool = Pool(root, jobs, stack)
        stack.callback(runner.stop)
        measure_baselines(todo, pool, runner, args.timeout_s)
        check_canaries(todo, pool, runner, jobs)
        todo = [p for p in todo if p.status == "ok"]
        run_mutants(todo, pool, runner, jobs, load_equivalents(root / EQUIVALENTS), args.verbose)


# -- reporting ---------------------------------------------------------------------------------


def mean_seconds(plans: Iterable[FilePlan]) -> float | None:
    times = [r.seconds for p in plans for r in p.results if r.seconds > 0]  # 0: not compiled
    return sum(times) / len(times) if times else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _row(name: str, width: int, plans: Sequence[FilePlan]) -> str:
    c = {k: sum(p.counts()[k] for p in plans) for k in plans[0].counts()} if plans else {}
    mutants = sum(len(p.results) for p in plans)
    cells = (
        mutants,
        c.get("killed", 0),
        c.get("error", 0),
        c.get("survived", 0),
        c.get("timeout", 0),
        c.get("equivalent", 0),
    )
    numbers = "".join(f"{n:>9}" for n in cells)
    return f"{name:<{width}}{numbers}{_pct(kill_percent(plans)):>8}{_pct(mean_seconds(plans)):>8}"


def print_table(plans: Sequence[FilePlan]) -> None:
    width = max([len(p.path) for p in plans] + [24]) + 2
    heads = ("mutants", "killed", "errors", "survived", "timeouts", "equiv")
    print(f"{'target':<{width}}" + "".join(f"{h:>9}" for h in heads) + f"{'kill %':>8}{'s/mut':>8}")
    for group in dict.fromkeys(p.group for p in plans):
        members = [p for p in plans if p.group == group]
        for plan in members:
            if plan.status == "ok":
                print(_row(plan.path, width, [plan]))
            else:
                print(f"{plan.path:<{width}}  {plan.status}")
        print(_row(f"= group {group}", width, [p for p in members if p.status == "ok"]))


def evaluate_goals(plans: Sequence[FilePlan]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, patterns, minimum, per_file in GOALS:
        chosen = [
            p
            for p in plans
            if p.status != "missing" and any(fnmatch(p.path, pattern) for pattern in patterns)
        ]
        verdict = {"goal": name, "minimum_percent": minimum}
        if not chosen:
            out.append({**verdict, "status": "not evaluated", "detail": "none of its files ran"})
            continue
        groups = [[p] for p in chosen] if per_file else [chosen]
        low = [
            (g, kill_percent(g))
            for g in groups
            if g[0].status != "ok" or (kill_percent(g) or 0.0) < minimum
        ]
        detail = ", ".join(f"{g[0].path if per_file else 'all'} {_pct(pct)}%" for g, pct in low)
        overall = f"overall {_pct(kill_percent(chosen))}% over {len(chosen)} file(s)"
        status = "NOT MET" if low else "met"
        out.append({**verdict, "status": status, "detail": detail or overall})
    return out


def print_report(plans: Sequence[FilePlan], goals: Sequence[dict[str, object]]) -> None:
    print_table(plans)
    print("\nkill % = (killed + errors + timeouts) / (mutants - equivalent)")
    print(f"deselected in every run (load-sensitive): {', '.join(DESELECT) or 'none'}")
    for goal in goals:
        print(
            f"goal {goal['goal']} >= {goal['minimum_percent']}%: {goal['status']} "
            f"({goal['detail']})"
        )
    survivors = [(p, r) for p in plans for r in p.results if r.outcome == "survived"]
    print(f"\nsurvivors ({len(survivors)}):")
    for plan, r in survivors:
        print(f"{plan.path}:{r.line}: {r.original} -> {r.mutated}")


def print_list(plans: Sequence[FilePlan]) -> None:
    for plan in plans:
        if plan.status != "ok":
            print(f"{plan.path}: {plan.status}")
        for m in plan.mutants:
            print(f"{m.path}:{m.line}: [{m.operator}] {m.original} -> {m.mutated}")
    print(f"{sum(len(p.mutants) for p in plans)} mutants", file=sys.stderr)


def write_json(
    path: Path, plans: Sequence[FilePlan], goals: Sequence[dict[str, object]], seconds: float
) -> None:
    files = [
        {
            "path": p.path,
            "group": p.group,
            "tests": list(p.tests),
            "status": p.status,
            "canary": p.canary,
            "baseline_s": p.baseline_s,
            "timeout_s": p.timeout_s,
            "counts": p.counts(),
            "kill_percent": p.kill_percent(),
            "mean_s_per_mutant": mean_seconds([p]),
            "results": [asdict(r) for r in p.results],
        }
        for p in plans
    ]
    survivors = [
        {
            "path": p.path,
            **asdict(r),
            "equivalent_line": equivalent_line(
                Mutant(p.path, r.operator, 0, 0, "", r.line, r.original, r.mutated)
            ),
        }
        for p in plans
        for r in p.results
        if r.outcome == "survived"
    ]
    groups = {
        g: {
            "kill_percent": kill_percent([p for p in plans if p.group == g]),
            "mean_s_per_mutant": mean_seconds([p for p in plans if p.group == g]),
        }
        for g in dict.fromkeys(p.group for p in plans)
    }
    document = {
        "seconds": seconds,
        "files": files,
        "groups": groups,
        "goals": list(goals),
        "survivors": survivors,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help=f"group name or file/glob (default: {' '.join(DEFAULT_GROUPS)})",
    )
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--jobs", type=int, default=2, help="parallel test runs (default 2)")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help=f"per mutant (default {TIMEOUT_FACTOR:g}x the unmutated run)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    parser.add_argument("--tests", nargs="+", metavar="FILE", help="test files to run instead")
    parser.add_argument("--sample", type=int, metavar="N", help="only N random mutants")
    parser.add_argument("--seed", type=int, default=0, help="for --sample (default 0)")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="repository to mutate (default: the one holding this file)",
    )
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra pytest argument, repeatable (e.g. --pytest-arg=--deselect=NODE)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root: Path = args.root.resolve()
    plans = plan_files(root, args.targets or DEFAULT_GROUPS, args.tests)
    if args.sample is not None:
        sample(plans, args.sample, args.seed)
    if args.list:
        print_list(plans)
        return 0
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: `cmd &` starts it ignored
        signal.signal(signum, _interrupt)
    began = time.monotonic()
    try:
        execute(root, plans, args)
    except Abort as exc:
        print(f"mutate.py: aborted: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mutate.py: interrupted; test processes ended, temp copies removed", file=sys.stderr)
        return 130
    goals = evaluate_goals(plans)
    print_report(plans, goals)
    if args.json:
        write_json(args.json, plans, goals, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
