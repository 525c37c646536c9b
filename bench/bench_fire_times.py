"""Microseconds per next-fire computation: our triggers next to croniter.

Run from the repository root:

    python bench/bench_fire_times.py            # full run, prints the tables
    python bench/bench_fire_times.py --quick    # smoke run (fewer repeats, shorter chains)
    python bench/bench_fire_times.py --write    # full run, and update bench/RESULTS.md

Each case chains N successive computations (each result is the next ``after``) from a few
start instants, some just before a DST transition, and reports the median over repeats
of the time per call. The columns, for cron cases:

* ours: ``CronTrigger.next_fire(after)`` (UTC in, UTC out, DST rules applied);
* croniter aware: one ``croniter(expr, start_in_zone)`` object, ``get_next(datetime)``
  called N times; croniter's own DST handling, no parsing in the timed loop;
* croniter aware, per call: ``croniter(expr, after).get_next(datetime)``, a new object per
  call, the stateless equivalent of ours but paying croniter's parse each time;
* croniter naive: as "croniter aware" from a naive wall time: no DST handling at all, the
  lower bound.

Interval cases compare ``IntervalTrigger.next_fire`` with plain ``anchor + k * every``
datetime arithmetic.

Our triggers cache each zone's transitions per year; every timed chain is run once untimed
first, so the table is warm-cache. The one-off cold-cache cost is reported separately.

While timing, the script also checks correctness: ours and croniter must produce the same
fire instants (a few hundred consecutive fires per start). Disagreements within a day of a
DST transition are expected (the DST rules differ) and are listed; any other disagreement
is listed too and makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

from scheduler.core.triggers import INTERVAL_ANCHOR, CronTrigger, IntervalTrigger, Trigger
from scheduler.core.zones import transitions_in_year

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Fire-time computation"
COMMAND = "python bench/bench_fire_times.py --write"

_ONE_S = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
# Start this long before a transition, so the chain crosses it (and, at a fall-back, the
# whole repeated hour) early on.
_LEAD = timedelta(minutes=61)

# 2025 transitions, as UTC instants: (spring-forward, fall-back). Checked at start-up.
TRANSITIONS: dict[str, tuple[datetime, datetime]] = {
    "Europe/Berlin": (datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)),
    "America/New_York": (datetime(2025, 3, 9, 7, tzinfo=UTC), datetime(2025, 11, 2, 6, tzinfo=UTC)),
    "Australia/Sydney": (
        datetime(2025, 10, 4, 16, tzinfo=UTC),
        datetime(2025, 4, 5, 16, tzinfo=UTC),
    ),
}


@dataclass(frozen=True)
class Start:
    label: str
    instant: datetime  # aware, UTC


def _utc_label(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M:%S}Z"


def _start(instant: datetime) -> Start:
    return Start(_utc_label(instant), instant)


PLAIN = _start(datetime(2025, 1, 15, 10, 7, 13, tzinfo=UTC))
YEAR_END = _start(datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC))


def starts_for(zone: str) -> tuple[Start, ...]:
    if zone not in TRANSITIONS:
        return (PLAIN, YEAR_END)
    spring, fall = TRANSITIONS[zone]
    return (
        PLAIN,
        Start(f"{_utc_label(spring - _LEAD)} (61 min before spring-forward)", spring - _LEAD),
        Start(f"{_utc_label(fall - _LEAD)} (61 min before fall-back)", fall - _LEAD),
    )


@dataclass(frozen=True)
class CronCase:
    expression: str
    zone: str
    n: int  # successive computations per timed chain
    check_fires: int  # consecutive fires compared with croniter, per start

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def with_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    def croniter_at(self, start: datetime) -> croniter:
        return croniter(self.expression, start, second_at_beginning=self.with_seconds)


@dataclass(frozen=True)
class IntervalCase:
    every_s: int
    n: int
    check_fires: int
    starts: tuple[Start, ...]


CRON_CASES = (
    CronCase("* * * * *", "UTC", n=300, check_fires=300),
    CronCase("*/15 * * * *", "Europe/Berlin", n=200, check_fires=300),
    CronCase("30 2 * * *", "Europe/Berlin", n=200, check_fires=300),
    CronCase("0 9 * * mon-fri", "America/New_York", n=200, check_fires=300),
    CronCase("0 0 1 * *", "Australia/Sydney", n=200, check_fires=300),
    # Sparse: 25 fires span a century; 100 fires are one full 400-year Gregorian cycle.
    CronCase("0 0 29 2 *", "UTC", n=25, check_fires=100),
    CronCase("*/10 * * * * *", "Europe/Berlin", n=600, check_fires=600),
)
INTERVAL_CASES = (
    IntervalCase(
        90,
        n=300,
        check_fires=300,
        starts=(PLAIN, starts_for("Europe/Berlin")[1], YEAR_END),
    ),
)


# --- timed chains: each returns the elapsed nanoseconds for n computations ---------------


def time_ours(trigger: Trigger, start: datetime, n: int) -> int:
    after = start
    next_fire = trigger.next_fire
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fire = next_fire(after)
        if fire is None:
            break
        after = fire
    return time.perf_counter_ns() - t0


def time_croniter_iter(case: CronCase, start: datetime, n: int) -> int:
    """One croniter object from ``start`` (aware or naive), ``get_next`` n times."""
    get_next = case.croniter_at(start).get_next
    t0 = time.perf_counter_ns()
    for _ in range(n):
        get_next(datetime)
    return time.perf_counter_ns() - t0


def time_croniter_per_call(case: CronCase, start: datetime, n: int) -> int:
    """A new croniter object per call, from the previous result."""
    expression, with_seconds = case.expression, case.with_seconds
    after = start
    t0 = time.perf_counter_ns()
    for _ in range(n):
        after = croniter(expression, after, second_at_beginning=with_seconds).get_next(datetime)
    return time.perf_counter_ns() - t0


def time_arithmetic(anchor: datetime, every: timedelta, start: datetime, n: int) -> int:
    after = start
    t0 = time.perf_counter_ns()
    for _ in range(n):
        after = anchor + ((after - anchor) // every + 1) * every
    return time.perf_counter_ns() - t0


Chain = Callable[[], int]


@dataclass(frozen=True)
class Row:
    cells: list[str]  # the table cells before the timings
    chains: dict[str, Chain]
    n: int


def measure(rows: Sequence[Row], repeats: int) -> list[dict[str, float]]:
    """Median microseconds per call of each chain of each row.

    A repeat is one round over all rows, and within a row the chains alternate, so a noisy
    stretch of the run (frequency scaling, a busy neighbour on a shared machine) costs a row
    a sample or two, which the median drops, and hits its chains alike. GC is off while
    timing, as in ``timeit``.
    """
    for row in rows:  # warm-up: fills our transition cache and croniter's caches
        for chain in row.chains.values():
            chain()
    samples: list[dict[str, list[float]]] = [{name: [] for name in r.chains} for r in rows]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for row, row_samples in zip(rows, samples, strict=True):
                for name, chain in row.chains.items():
                    row_samples[name].append(chain() / row.n / 1000)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [{name: statistics.median(v) for name, v in r.items()} for r in samples]


# --- correctness ---------------------------------------------------------------------


@dataclass
class Disagreement:
    case: str
    start: str
    only_ours: list[datetime] = field(default_factory=list)
    only_croniter: list[datetime] = field(default_factory=list)

    def describe(self, tz: ZoneInfo) -> str:
        def show(instants: list[datetime]) -> str:
            if not instants:
                return "-"
            return ", ".join(
                f"{i:%Y-%m-%d %H:%M:%S}Z ({i.astimezone(tz):%H:%M:%S%z} local)" for i in instants
            )

        return (
            f"{self.case} from {self.start}: only ours: {show(self.only_ours)}; "
            f"only croniter: {show(self.only_croniter)}"
        )


def near_transition(tz: ZoneInfo, instant: datetime) -> bool:
    """Whether the zone's UTC offset changes within a day of ``instant`` (zoneinfo only)."""
    before = (instant - _ONE_DAY).astimezone(tz).utcoffset()
    return before != (instant + _ONE_DAY).astimezone(tz).utcoffset()


def ours_fires(trigger: Trigger, start: datetime, count: int) -> list[datetime]:
    fires: list[datetime] = []
    after = start
    for _ in range(count):
        fire = trigger.next_fire(after)
        if fire is None:
            break
        assert fire > after, f"next_fire({after}) returned {fire}, not strictly after"
        fires.append(fire)
        after = fire
    return fires


def croniter_fires(case: CronCase, start: datetime, count: int, per_call: bool) -> list[datetime]:
    local = start.astimezone(case.tz)
    fires: list[datetime] = []
    iterator = case.croniter_at(local)
    for _ in range(count):
        if per_call:
            local = case.croniter_at(local).get_next(datetime)
        else:
            local = iterator.get_next(datetime)
        fires.append(local.astimezone(UTC))
    return fires


def compare(
    label: str, start: Start, ours: Sequence[datetime], theirs: Sequence[datetime]
) -> Disagreement | None:
    """Compare as sets over the span both cover: a skipped or doubled fire is one
    difference, not a shift of everything after it."""
    horizon = min(ours[-1], theirs[-1])
    a = {f for f in ours if f <= horizon}
    b = {f for f in theirs if f <= horizon}
    if a == b:
        return None
    return Disagreement(label, start.label, sorted(a - b), sorted(b - a))


@dataclass
class CheckReport:
    compared: int = 0
    dst: list[tuple[ZoneInfo, Disagreement]] = field(default_factory=list)
    unexpected: list[tuple[ZoneInfo, Disagreement]] = field(default_factory=list)
    croniter_self: list[tuple[ZoneInfo, Disagreement]] = field(default_factory=list)

    def add(self, tz: ZoneInfo, found: Disagreement | None, bucket: str = "") -> None:
        if found is None:
            return
        if bucket == "croniter_self":
            self.croniter_self.append((tz, found))
        elif all(near_transition(tz, i) for i in found.only_ours + found.only_croniter):
            self.dst.append((tz, found))
        else:
            self.unexpected.append((tz, found))


def check_cron(case: CronCase, start: Start, count: int, report: CheckReport) -> None:
    label = f"`{case.expression}` ({case.zone})"
    ours = ours_fires(CronTrigger(case.expression, case.tz), start.instant, count)
    iterated = croniter_fires(case, start.instant, count, per_call=False)
    per_call = croniter_fires(case, start.instant, count, per_call=True)
    report.compared += len(ours)
    report.add(case.tz, compare(label, start, ours, iterated))
    # The per-call column times different work if croniter's two usages disagree.
    report.add(case.tz, compare(label, start, iterated, per_call), bucket="croniter_self")


def check_interval(case: IntervalCase, start: Start, count: int, report: CheckReport) -> None:
    every = timedelta(seconds=case.every_s)
    ours = ours_fires(IntervalTrigger(case.every_s), start.instant, count)
    expected: list[datetime] = []
    after = start.instant
    for _ in range(count):
        after = INTERVAL_ANCHOR + ((after - INTERVAL_ANCHOR) // every + 1) * every
        expected.append(after)
    report.compared += len(ours)
    report.add(ZoneInfo("UTC"), compare(f"every {case.every_s} s", start, ours, expected))


# --- report ----------------------------------------------------------------------------


def fmt_us(value: float) -> str:
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int) -> str:
    """Columns from index ``right`` on are right-aligned (numbers)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i >= right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if i >= right else "-" * w for i, w in enumerate(widths)]
    return "\n".join([line(header), "| " + " | ".join(rule) + " |", *(line(r) for r in rows)])


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"croniter {version('croniter')}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores ({cpu_model()})"
    )


def write_results(section: str) -> None:
    if RESULTS.exists():
        text = RESULTS.read_text()
    else:
        text = (
            "# Benchmark results\n\n"
            f"Machine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} "
            f"{platform.machine()}. Numbers are wall-clock medians on that machine; compare "
            "ratios, not absolute microseconds, across machines.\n\n"
            "Reproduce from the repository root, with the package installed "
            "(`pip install -e '.[dev]'`):\n\n"
            f"    {COMMAND}\n\n"
            "Each section is rewritten by its script's `--write`; "
            "`bench/README.md` says what each benchmark measures.\n"
        )
    block = f"{HEADING}\n\n{section.rstrip()}\n"
    if HEADING in text:
        before, _, rest = text.partition(HEADING)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following != -1 else ""
        text = before + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)


def check_transitions() -> None:
    for name, instants in TRANSITIONS.items():
        tz = ZoneInfo(name)
        for instant in instants:
            before = (instant - _ONE_S).astimezone(tz).utcoffset()
            assert before != instant.astimezone(tz).utcoffset(), f"no transition: {name} {instant}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 repeats, chains 1/4 as long")
    parser.add_argument("--write", action="store_true", help=f"update {HEADING!r} in RESULTS.md")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 9
    scale = 4 if args.quick else 1

    check_transitions()
    began = time.perf_counter()
    print(environment())
    print(f"mode: {'quick' if args.quick else 'full'}, {repeats} repeats, median µs per call\n")

    report = CheckReport()
    cron: list[Row] = []
    for case in CRON_CASES:
        tz, n = case.tz, max(case.n // scale, 5)
        trigger = CronTrigger(case.expression, tz)
        for start in starts_for(case.zone):
            check_cron(case, start, max(case.check_fires // scale, 20), report)
            local = start.instant.astimezone(tz)
            naive = local.replace(tzinfo=None)
            chains: dict[str, Chain] = {
                "ours": partial(time_ours, trigger, start.instant, n),
                "aware": partial(time_croniter_iter, case, local, n),
                "per_call": partial(time_croniter_per_call, case, local, n),
                "naive": partial(time_croniter_iter, case, naive, n),
            }
            cron.append(Row([f"`{case.expression}`", case.zone, start.label, str(n)], chains, n))

    interval: list[Row] = []
    for icase in INTERVAL_CASES:
        n = max(icase.n // scale, 5)
        itrigger = IntervalTrigger(icase.every_s)
        every = timedelta(seconds=icase.every_s)
        for start in icase.starts:
            check_interval(icase, start, max(icase.check_fires // scale, 20), report)
            ichains: dict[str, Chain] = {
                "ours": partial(time_ours, itrigger, start.instant, n),
                "arith": partial(time_arithmetic, INTERVAL_ANCHOR, every, start.instant, n),
            }
            interval.append(Row([f"every {icase.every_s} s", start.label, str(n)], ichains, n))

    medians = measure([*cron, *interval], repeats)
    cron_rows = [
        [
            *row.cells,
            fmt_us(us["ours"]),
            fmt_us(us["aware"]),
            fmt_us(us["per_call"]),
            fmt_us(us["naive"]),
            f"{us['ours'] / us['aware']:.2f}",
            f"{us['ours'] / us['naive']:.2f}",
        ]
        for row, us in zip(cron, medians, strict=False)
    ]
    interval_rows = [
        [*row.cells, fmt_us(us["ours"]), fmt_us(us["arith"]), f"{us['ours'] / us['arith']:.2f}"]
        for row, us in zip(interval, medians[len(cron) :], strict=True)
    ]

    # Cold cache last: it empties the transition cache the warm runs relied on.
    cold_rows: list[list[str]] = []
    for case in CRON_CASES:
        trigger = CronTrigger(case.expression, case.tz)
        samples: list[float] = []
        for _ in range(repeats):
            transitions_in_year.cache_clear()
            t0 = time.perf_counter_ns()
            trigger.next_fire(PLAIN.instant)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        cold_rows.append([f"`{case.expression}`", case.zone, fmt_us(statistics.median(samples))])

    cron_table = markdown_table(
        [
            "Expression",
            "Zone",
            "Chain starts at",
            "N",
            "ours µs",
            "croniter aware µs",
            "croniter aware, per call µs",
            "croniter naive µs",
            "ours / aware",
            "ours / naive",
        ],
        cron_rows,
        right=3,
    )
    interval_table = markdown_table(
        ["Trigger", "Chain starts at", "N", "ours µs", "anchor + k*every µs", "ours / arithmetic"],
        interval_rows,
        right=2,
    )
    cold_table = markdown_table(
        ["Expression", "Zone", "first next_fire, empty transition cache, µs"], cold_rows, right=2
    )
    correctness = correctness_text(report)
    elapsed = time.perf_counter() - began

    command = COMMAND.replace(" --write", " --quick --write") if args.quick else COMMAND
    section = "\n".join(
        [
            f"`{command}`, {datetime.now(UTC):%Y-%m-%d}. {environment()}.",
            "",
            f"Median over {repeats} repeats of microseconds per call. Each repeat chains N "
            "successive next-fire computations (each result is the next `after`); a repeat is "
            "one round over all rows, so a noisy moment costs a row one sample. Warm cache: "
            "every chain ran once untimed first.",
            "",
            "- *ours*: `CronTrigger.next_fire(after)`, UTC in and out, our DST rules.",
            "- *croniter aware*: one `croniter(expr, start_in_zone)` object, "
            "`get_next(datetime)` N times; croniter's own DST handling.",
            "- *croniter aware, per call*: a new `croniter(expr, after)` per call, the "
            "stateless equivalent of ours, paying croniter's parse every call.",
            "- *croniter naive*: as *aware*, from a naive wall time: no DST handling at all, "
            "the lower bound.",
            "- Ratios below 1 mean ours is faster.",
            "",
            cron_table,
            "",
            interval_table,
            "",
            "One-off cost of our DST layer: the first call for a zone and year finds that "
            "year's transitions (and its neighbours') by sampling and bisection, then caches "
            f"them. Start {PLAIN.label}; median of {repeats}, cache emptied before each.",
            "",
            cold_table,
            "",
            correctness,
            "",
            f"Whole run: {elapsed:.0f} s.",
        ]
    )
    print(section)
    if args.write:
        write_results(section)
        print(f"\nwrote {RESULTS}")
    return 1 if report.unexpected else 0


def correctness_text(report: CheckReport) -> str:
    lines = [
        f"Correctness, checked on this run: {report.compared} fire times compared, ours against "
        "croniter aware (intervals: against the arithmetic)."
    ]
    if report.unexpected:
        lines.append("")
        lines.append("**Disagreements away from DST transitions (unexpected):**")
        lines += [f"- {d.describe(tz)}" for tz, d in report.unexpected]
    else:
        lines.append("No disagreement away from DST transitions.")
    if report.dst:
        lines.append("")
        lines.append(
            "Disagreements within a day of a DST transition (expected: croniter's DST handling "
            "is not our rules; see `scheduler/triggers.py`):"
        )
        lines += [f"- {d.describe(tz)}" for tz, d in report.dst]
    if report.croniter_self:
        lines.append("")
        lines.append("croniter's iterator and a new object per call disagree (croniter only):")
        lines += [f"- {d.describe(tz)}" for tz, d in report.croniter_self]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
