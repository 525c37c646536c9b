"""sched's prefork pool next to Celery's prefork pool (and sched's thread pool, for reference).

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    python bench/bench_prefork.py --write     # ~10 min: 3 rounds, N = 2 and 4; rewrites the
                                              # prefork section of bench/WORKERS.md
    python bench/bench_prefork.py --quick     # smoke run, ~2 min, N = 2, one round

Same machinery as ``bench_worker.py`` (its ``Bench``: one embedded Redis the script starts,
``FLUSHALL`` before every batch, workers as shipped from their own CLI, the shared probe of
``worker_probe.py``), at the same number of processes N on every side:

* sched: ``python -m scheduler worker --pool prefork --concurrency N`` (N forkserver children);
* sched: ``python -m scheduler worker --pool thread --concurrency N`` (reference);
* Celery: ``celery -A worker_others worker --pool prefork --concurrency N --without-gossip
  --without-mingle --without-heartbeat`` (N forked children), from ``bench/.venv-celery``,
  the pinned ``bench/requirements-compare.txt`` (created on first use, as
  ``bench_scheduler.py`` does). Celery's defaults otherwise: prefetch multiplier 4, early
  acknowledgement, log level WARNING. sched logs its per-run INFO line, its default.

Workloads, each a batch of runs pre-filled before the workers start (not timed):

* ``noop``: runs/s of a task that only counts itself;
* ``cpu``: ``spin(loops)``, pure-Python arithmetic calibrated at start to about 20 ms
  alone (the same ``loops`` on every side; the calibration is noisy on a busy machine), so
  threads share one GIL and processes do not;
* ``kill``: ``hang()``, which records its start time (synchronously, in Redis) and sleeps
  for an hour, with a timeout of 1 s (sched: the schedule's ``timeout``, whole seconds, in
  the run message; Celery: ``apply_async(time_limit=1)``, its hard limit, which kills the
  prefork child). 10 x N runs. Each worker logs every kill (its time, to the ms); every slot
  goes through cycles of timeout + kill + replacement + next start, so the cycle is
  ``N x (last kill - first kill) / (runs - N)`` and the *kill cost* is the cycle minus the
  1 s timeout. When every run's task did start, kills and starts paired in order also give
  how long a task had run when killed and how long after a kill the next run started. The
  thread pool cannot kill and is left out.
* ``rss``: N = 4, 100 no-op runs, then 2 s idle: RSS and PSS (``/proc/PID/smaps_rollup``)
  summed over the worker's process tree (sched: the worker, its forkserver and children;
  Celery: the parent and its children). RSS counts shared pages once per process, PSS
  splits them, so PSS is the honest total.

The machine is a shared 2-core VM: each batch waits up to ``--quiet-wait`` seconds for
other programs to go below 0.1 core, and records the cores they used meanwhile (*noise*).
Every configuration runs once per round, all sides back to back, so a busy spell hits
each side alike; tables show the median of the rounds with the range, and ratios to Celery
prefork at the same N.

Raw results: ``bench/results/prefork.json`` (``prefork-quick.json`` with ``--quick``, which
refuses ``--write``). ``--write`` replaces the block between the ``prefork`` markers of
``bench/WORKERS.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_worker as bw
from bench_worker import Bench, Side, log
from worker_probe import work

from scheduler.store.embedded import EmbeddedRedis, free_port

ROOT = bw.ROOT
BENCH = bw.BENCH
CELERY_VENV = BENCH / ".venv-celery"
REQUIREMENTS = BENCH / "requirements-compare.txt"
RESULTS = BENCH / "results"
TIMEOUT_S = 1  # sched's timeout is whole seconds: the smallest it takes (--kill-timeout)
# sched as shipped, but its forkserver preloads the pool's module and the task module, so a
# replacement child forks from a warm process (as Celery's children fork from the worker):
# what a fix in PreforkPool could look like, measured without touching scheduler/.
PRELOAD = (
    "import multiprocessing, sys; multiprocessing.get_context('forkserver')"
    ".set_forkserver_preload(['scheduler.worker.pools', 'bench_tasks']); "
    "from scheduler.cli import main; main(sys.argv[1:])"
)
TARGET_WORK_MS = 20.0


@dataclass(frozen=True)
class PoolSide(Side):
    pool: str = "prefork"
    preload: bool = False  # sched only: PRELOAD


def sides(n: int) -> list[PoolSide]:
    return [
        PoolSide(f"sched-prefork-c{n}", f"sched --pool prefork -c {n}", "sched", n, pool="prefork"),
        PoolSide(f"celery-prefork-c{n}", f"Celery --pool prefork -c {n}", "celery", n),
        PoolSide(f"sched-thread-c{n}", f"sched --pool thread -c {n}", "sched", n, pool="thread"),
    ]


def preload_side(n: int) -> PoolSide:
    label = f"sched --pool prefork -c {n}, forkserver preload (bench only)"
    return PoolSide(f"sched-preload-c{n}", label, "sched", n, preload=True)


@dataclass(frozen=True)
class Workload:
    task: str  # noop | spin | hang
    arg: int | None = None
    timeout_s: int | None = None


class PreforkBench(Bench):
    workload: Workload = Workload("noop")

    def worker_argv(self, side: Side) -> list[str]:
        assert isinstance(side, PoolSide)
        n = str(side.concurrency)
        if side.is_sched:
            start = ["-c", PRELOAD] if side.preload else ["-m", "scheduler"]
            return [sys.executable, *start, "worker", "--redis-url",
                    self.url(bw.SCHED_DB), "--queues", "default", "--concurrency", n,
                    "--pool", side.pool]  # fmt: skip
        assert self.other_python is not None
        return [str(self.other_python.parent / "celery"), "-A", "worker_others", "worker",
                "--pool", "prefork", "--concurrency", n,
                "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip

    def fill(self, side: Side, count: int) -> float:
        w = self.workload
        extra = [w.task, "" if w.arg is None else str(w.arg)]
        extra += [] if w.timeout_s is None else [str(w.timeout_s)]
        out = subprocess.run(
            self.side_argv(side, "fill", str(count), *extra),
            env=self.env(side), cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"fill for {side.key} failed:\n{out.stderr[-3000:]}")
        return float(json.loads(out.stdout)["seconds"])

    def done(self, side: Side, total: int) -> int:
        if self.workload.task == "hang":  # a hanging run never completes: count its kills
            return len(kills(self.log_files[-1]))
        return super().done(side, total)

    def starts(self) -> list[float]:
        return sorted(float(x) for x in self.probe.lrange("bench:lat", 0, -1))


# -- measurements -------------------------------------------------------------------------


def calibrate(target_ms: float) -> tuple[int, float]:
    """Loops of ``work`` that take about ``target_ms`` here; (loops, measured ms).

    The fastest of several tries: the machine is shared, and the least disturbed try is
    the closest to the work's own cost.
    """
    probe_loops = 200_000
    best = min(_timed(probe_loops) for _ in range(5))
    loops = int(probe_loops * target_ms / 1000 / best)
    return loops, round(1000 * min(_timed(loops) for _ in range(5)), 1)


def _timed(loops: int) -> float:
    started = time.perf_counter()
    work(loops)
    return time.perf_counter() - started


def batch(bench: PreforkBench, side: PoolSide, workload: Workload, count: int) -> dict[str, Any]:
    """One pre-filled batch through one worker (``bench_worker._run_batch``), plus the
    kill figures for hanging runs."""
    bench.workload = workload
    result = bw._run_batch(bench, side, count, 1)
    result["pool"] = side.pool
    result["kind"] = side.kind
    if workload.task == "hang":
        found = kill_figures(side, bench.starts(), kills(bench.log_files[-1]), workload.timeout_s)
        result.update(found)
    return result


def kill_figures(
    side: PoolSide, starts: list[float], killed: list[float], timeout_s: int | None
) -> dict[str, Any]:
    """The cycle per slot from the kills (as each worker logs them); when every run started,
    paired in order (in a steady stream the i-th kill frees the slot of the (i + N)-th
    start), how long after its start a run was killed and how long after a kill the next
    run started."""
    n = side.concurrency
    cycle = n * (killed[-1] - killed[0]) / max(len(killed) - n, 1)
    found: dict[str, Any] = {
        "cycle_s": round(cycle, 4),
        "timeout_s": timeout_s,
        "kill_cost_ms": round(1000 * (cycle - (timeout_s or 0)), 1),
        "kills_per_s": round(n / cycle, 3),
        "kills_logged": len(killed),
        "started": len(starts),  # the others were killed before their task began
        "kill_to_next_start_ms": None,
        "kill_after_start_ms": None,
    }
    if len(starts) == len(killed):
        to_next = [s - k for s, k in zip(starts[n:], killed, strict=False)]
        after_start = [k - s for k, s in zip(killed, starts, strict=True)]
        found["kill_to_next_start_ms"] = round(1000 * statistics.median(to_next), 1)
        found["kill_after_start_ms"] = round(1000 * statistics.median(after_start), 1)
    log(
        f"    cycle {cycle:.3f}s, {len(starts)}/{len(killed)} started, kill -> next start "
        f"{found['kill_to_next_start_ms']} ms, kill at start + {found['kill_after_start_ms']} ms"
    )
    return found


# Each worker's own log line for a run killed at its time limit, with its time (local, ms).
KILL_LINES = (
    re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ERROR sched\.worker: run .* timed out"),
    re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): ERROR/MainProcess\] "
               r".*Hard time limit"),
)  # fmt: skip


def kills(log_file: Path) -> list[float]:
    found = []
    for line in log_file.read_text(errors="replace").splitlines():
        for pattern in KILL_LINES:
            match = pattern.match(line)
            if match:
                when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                found.append(when.timestamp())
    return sorted(found)


def pss_mb(pid: int) -> float:
    with suppress(OSError):
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        found = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
        if found:
            return int(found.group(1)) / 1024
    return 0.0


def idle_memory(bench: PreforkBench, side: PoolSide) -> dict[str, Any]:
    """The worker's process tree, idle after 100 no-op runs: RSS and PSS."""
    bench.reset()
    bench.workload = Workload("noop")
    bench.fill(side, 100)
    with bench.workers(side, 1) as procs:
        deadline = time.monotonic() + 60
        while bench.done(side, 100) < 100:
            bench.check_alive(procs)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side.key}: warm-up runs not done")
            time.sleep(0.05)
        time.sleep(2.0)
        pids = bw.tree(procs[0].pid)
        rss = [bw.rss_mb(p) for p in pids]
        pss = [pss_mb(p) for p in pids]
    result = {
        "side": side.key, "label": side.label, "concurrency": side.concurrency,
        "processes": len(pids), "rss_mb": round(sum(rss), 1), "pss_mb": round(sum(pss), 1),
        "rss_each_mb": [round(x, 1) for x in rss], "pss_each_mb": [round(x, 1) for x in pss],
    }  # fmt: skip
    log(f"  {side.key}: {len(pids)} processes, RSS {sum(rss):.0f} MB, PSS {sum(pss):.0f} MB")
    return result


def run_all(
    bench: PreforkBench,
    ns: Sequence[int],
    rounds: int,
    counts: dict[str, int],
    loops: int,
    timeout_s: int,
    only: Sequence[str],
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"noop": [], "cpu": [], "kill": []}
    workloads = {
        "noop": Workload("noop"),
        "cpu": Workload("spin", loops),
        "kill": Workload("hang", None, timeout_s),
    }
    for round_no in range(1, rounds + 1):
        for name, workload in workloads.items():
            if name not in only:
                continue
            for n in ns:
                count = counts[name] * (n if name == "kill" else 1)
                chosen = sides(n) + ([preload_side(n)] if name == "kill" else [])
                for side in chosen:
                    if name == "kill" and side.pool == "thread":
                        continue  # a thread cannot be killed: nothing to measure
                    log(f"round {round_no}/{rounds}: {name}, {side.key}, {count} runs")
                    row = batch(bench, side, workload, count)
                    found[name].append({**row, "round": round_no})
    return found


# -- report -------------------------------------------------------------------------------


def median_rows(rows: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per side: the round with the median ``key``, with the range of the rounds."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["side"], []).append(row)
    out = []
    for group in groups.values():
        ordered = sorted(group, key=lambda r: float(r[key]))
        mid = ordered[(len(ordered) - 1) // 2]
        values = [float(r[key]) for r in ordered]
        out.append({**mid, "low": values[0], "high": values[-1], "rounds": len(group),
                    "median": statistics.median(values)})  # fmt: skip
    return out


def _celery_of(rows: Sequence[dict[str, Any]], n: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["side"] == f"celery-prefork-c{n}"), None)


def render_rates(rows: Sequence[dict[str, Any]], work_ms: float | None) -> list[str]:
    table = median_rows(rows, "rate_steady")
    head = "| worker | N | steady runs/s | range | x Celery prefork | wall runs/s | "
    head += "worker CPU ms/run | redis CPU ms/run | "
    head += "cores of task work | " if work_ms else ""
    head += "noise |"
    lines = [head, "|" + " --- |" + " ---: |" * (head.count("|") - 2)]
    for row in sorted(table, key=lambda r: (r["concurrency"], _order(r["side"]))):
        celery = _celery_of(table, row["concurrency"])
        ratio = row["median"] / celery["median"] if celery else float("nan")
        line = (
            f"| {row['label']} | {row['concurrency']} | {row['median']:,.0f} | "
            f"{row['low']:,.0f}-{row['high']:,.0f} | {ratio:.2f} | {row['rate_wall']:,.0f} | "
            f"{1000 * row['worker_cpu_s'] / row['runs']:.2f} | "
            f"{1000 * row['redis_cpu_s'] / row['runs']:.2f} | "
        )
        if work_ms:
            line += f"{row['median'] * work_ms / 1000:.2f} | "
        lines.append(line + f"{row['noise_cores']:.2f} |")
    return lines


def render_kills(rows: Sequence[dict[str, Any]]) -> list[str]:
    table = median_rows(rows, "kill_cost_ms")
    lines = [
        "| worker | N | runs | started | cycle s | kill cost ms | range ms | x Celery prefork | "
        "kills/s | killed at start + ms | kill to next start ms | noise |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in sorted(table, key=lambda r: (r["concurrency"], _order(r["side"]))):
        celery = _celery_of(table, row["concurrency"])
        ratio = row["median"] / celery["median"] if celery and celery["median"] else float("nan")
        lines.append(
            f"| {row['label']} | {row['concurrency']} | {row['runs']} | {row['started']} | "
            f"{row['cycle_s']:.3f} | {row['median']:.0f} | {row['low']:.0f}-{row['high']:.0f} | "
            f"{ratio:.2f} | {row['kills_per_s']:.2f} | {_ms(row['kill_after_start_ms'])} | "
            f"{_ms(row['kill_to_next_start_ms'])} | {row['noise_cores']:.2f} |"
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _order(side: str) -> int:
    return 0 if side.startswith("sched-prefork") else 1 if side.startswith("celery") else 2


def render(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"Run {data['date']} · {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".",
        "",
        f"Command: `{data['command']}`; {data['rounds']} round(s), each row the median round "
        "(*range*: lowest-highest of the rounds). *x Celery prefork*: this row's median ÷ "
        "Celery prefork's at the same N. *noise*: cores other programs used during the batch "
        "(the median round's).",
        "",
    ]
    timeout_s = data.get("kill_timeout_s", TIMEOUT_S)
    if data.get("noop"):
        lines += [
            f"### No-op runs per second ({data['counts']['noop']:,} pre-filled runs, one worker)",
            "",
            *render_rates(data["noop"], None),
            "",
        ]
    if data.get("cpu"):
        lines += [
            f"### CPU-bound runs per second ({data['counts']['cpu']:,} runs of `spin("
            f"{data['loops']:,})`, {data['work_ms']} ms of pure Python each when alone)",
            "",
            "*cores of task work*: runs/s x the task's own time alone; at most 2 on this machine.",
            "",
            *render_rates(data["cpu"], data["work_ms"]),
            "",
        ]
    if data.get("kill"):
        lines += [
            f"### Timeout kills: runs that hang, timeout {timeout_s} s, "
            f"{data['counts']['kill']} x N runs",
            "",
            "*started*: runs whose task began before the kill (the round with the median kill "
            "cost). *cycle*: N x (last kill - first kill) ÷ (runs - N), the kill times being "
            "each worker's own log line; one slot's timeout + kill + replacement + next start. "
            "*kill cost*: cycle - timeout. *kills/s*: N ÷ cycle "
            f"(at best N ÷ {timeout_s} s). When every run started (else -), pairing kills and "
            "starts in order: *killed at start +* how long a run's task had run when it was "
            f"killed (the timeout is {1000 * timeout_s:,} ms), *kill to next start* how long "
            "after a kill the replacement child began the next run (medians).",
            "",
            *render_kills(data["kill"]),
            "",
        ]
    if data.get("memory"):
        lines += [
            "### Idle memory at N = 4 (after 100 no-op runs, 2 s idle; whole process tree)",
            "",
            "| worker | processes | RSS MB (sum) | PSS MB (sum) | RSS per process MB |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for row in data["memory"]:
            each = ", ".join(f"{x:.0f}" for x in row["rss_each_mb"])
            lines.append(
                f"| {row['label']} | {row['processes']} | {row['rss_mb']:.0f} | "
                f"{row['pss_mb']:.0f} | {each} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_markdown(section: str, name: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = bw.WORKERS_MD.read_text()
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    bw.WORKERS_MD.write_text(f"{head}{begin}\n{section}\n{end}{tail}")


# -- setup and main -----------------------------------------------------------------------


def ensure_celery_venv() -> Path:
    """bench/.venv-celery/bin/python, created from requirements-compare.txt if missing."""
    python = CELERY_VENV / "bin" / "python"
    check = [str(python), "-c", "import celery"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    log(f"creating {CELERY_VENV.relative_to(ROOT)} from {REQUIREMENTS.name}")
    subprocess.run([sys.executable, "-m", "venv", str(CELERY_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
                   check=True)  # fmt: skip
    return python


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a smoke run; refuses --write")
    parser.add_argument("--rounds", type=int, help="rounds (3; --quick: 1)")
    parser.add_argument("--n", type=int, nargs="+", help="process counts (2 4; --quick: 2)")
    parser.add_argument("--noop-runs", type=int, help="no-op runs per batch (6,000)")
    parser.add_argument("--cpu-runs", type=int, help="CPU-bound runs per batch (300)")
    parser.add_argument("--kill-runs", type=int, help="hanging runs per slot (10)")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds a batch waits for the machine to go quiet")  # fmt: skip
    parser.add_argument("--kill-timeout", type=int, default=TIMEOUT_S,
                        help="the hanging runs' timeout, whole seconds (1)")  # fmt: skip
    parser.add_argument("--only", choices=["noop", "cpu", "kill"], nargs="+",
                        help="just these workloads (and no memory)")  # fmt: skip
    parser.add_argument("--write", action="store_true", help="update bench/WORKERS.md")
    parser.add_argument("--section", default="prefork",
                        help="--write: the block <!-- SECTION:begin/end --> (prefork)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--quick is a smoke run: its numbers do not go into WORKERS.md")
    bw.QUIET_LIMIT_S = args.quiet_wait
    ns = args.n or ([2] if args.quick else [2, 4])
    rounds = args.rounds or (1 if args.quick else 3)
    counts = {
        "noop": args.noop_runs or (1_000 if args.quick else 6_000),
        "cpu": args.cpu_runs or (40 if args.quick else 300),
        "kill": args.kill_runs or (4 if args.quick else 10),
    }
    other_python = ensure_celery_venv()
    loops, work_ms = calibrate(TARGET_WORK_MS)
    log(f"spin({loops:,}) takes {work_ms} ms here")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-prefork-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        try:
            bench = PreforkBench(server, workdir, other_python)
            data: dict[str, Any] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": bw.machine(),
                "versions": bw.versions(bench),
                "command": bw.recorded_command("bench_prefork.py", sys.argv[1:]),
                "rounds": rounds, "counts": counts, "loops": loops, "work_ms": work_ms,
            }  # fmt: skip
            only = args.only or ["noop", "cpu", "kill"]
            data["kill_timeout_s"] = args.kill_timeout
            data.update(run_all(bench, ns, rounds, counts, loops, args.kill_timeout, only))
            if not args.only:
                data["memory"] = [idle_memory(bench, side) for side in sides(4)]
        finally:
            server.stop()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    name = args.section if not args.quick else f"{args.section}-quick"
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(data, indent=1))
    section = render(data)
    print(section)
    log(f"done in {data['elapsed_s']:.0f}s; raw results in {out.relative_to(ROOT)}")
    if args.write:
        write_markdown(section, args.section)
        log(f"updated {bw.WORKERS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
