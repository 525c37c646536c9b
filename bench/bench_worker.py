"""Worker benchmarks: sched's worker next to Celery (solo, threads), Huey and Dramatiq.

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    python bench/bench_worker.py all                # everything once, ~8 min, prints only
    python bench/bench_worker.py all --quick        # smoke run, ~2 min
    python bench/bench_worker.py all --repeat 3 --runs 20000 --seconds 15 --write
                                                    # ~20 min: medians of 3 rounds, as in
                                                    # bench/WORKERS.md, which it updates
    python bench/bench_worker.py throughput         # one of: throughput, latency, memory
    python bench/bench_worker.py profile [--wall]   # py-spy profile of sched's worker

One embedded server (``scheduler.store.embedded.EmbeddedRedis``: the bundled Valkey, or
``SCHED_SERVER_BINARY``, on loopback TCP, AOF ``everysec`` as ``sched run`` uses it) serves
every side, emptied (``FLUSHALL``) before each measurement. sched uses database 0, the
competitors' broker database 1, the probe counters database 15.

* **sched**: the real CLI, ``python -m scheduler worker --redis-url URL --concurrency N``, task
  module ``bench/bench_tasks.py``; runs enqueued by ``bench/worker_sched.py`` exactly as
  ``Store.enqueue`` does (one ``enqueue.lua`` per run, pipelined). Also "quiet": the same
  CLI with the ``sched.worker`` logger at WARNING, to show what the per-run INFO line costs.
* **Celery** ``--pool solo`` and ``--pool threads --concurrency 2``, **Huey**
  ``huey_consumer -k thread -w 1``, **Dramatiq** ``dramatiq --processes 1 --threads 8``: each
  with its own CLI and default settings, concurrency included (Celery's is the number of
  CPUs, 2 here; the flags only make the defaults visible), one process each (Dramatiq's
  ``--processes 1`` is a supervisor plus one worker process); from ``bench/.venv-workers``
  (created on first use with ``pip install celery[redis] huey dramatiq[redis] redis``; never
  dependencies of sched), tasks and producers in ``bench/worker_others.py``.

Every task body is the same: ``worker_probe.PROBE.hit()``, an in-memory count flushed to
Redis every 20 ms by a thread (``bench/worker_probe.py``).

Benchmarks:

* ``throughput``: pre-fill N no-op runs (not timed), start the worker process(es), time from
  the first start to the last completion. sched's completion is its acknowledgement (the
  run leaves ``{sched}:runs``: ``HLEN`` reaches 0); the competitors' is the probe count
  reaching N (at most 20 ms late). Reported: N / that time ("wall"), and the steady rate
  between 10 % and 100 % done (start-up excluded); one and two worker processes (two
  separate worker commands); CPU seconds of the worker(s) and of redis-server.
* ``latency``: one worker process; a producer process offers ``--rate`` runs per second for
  ``--seconds`` (fire time = the moment of enqueueing, in whole ms on every side); the task
  records ``time.time()`` minus its fire time. p50 / p90 / p99 / max.
* ``memory``: one worker process runs 100,000 prefilled runs; RSS (the worker's process tree)
  when 1k, 10k, 50k and 100k are done.

Each measurement first waits for the machine to be idle (other programs below 0.1 core) and
is repeated once if other programs used more than that meanwhile; ``--repeat`` runs every
configuration in several rounds and reports the median.

Raw results go to ``--json`` (default: a temporary file, printed). With ``--write`` the
generated part of ``bench/WORKERS.md`` (between the ``results`` markers) is replaced; the
hand-written analysis around it is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis
from bench_scheduler import server_prefix  # bench/ is on sys.path when run as a script

from scheduler.store import Keys
from scheduler.store.embedded import EmbeddedRedis, free_port, server_version

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV = BENCH / ".venv-workers"
PACKAGES = ("celery[redis]", "huey", "dramatiq[redis]", "redis")
WORKERS_MD = BENCH / "WORKERS.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
POLL_S = 0.005
DEFAULT_CONCURRENCY = 4  # sched's default
SCHED_DB, BROKER_DB, PROBE_DB = 0, 1, 15
QUIET = (
    "import logging, sys; logging.getLogger('sched.worker').setLevel(logging.WARNING); "
    "from scheduler.cli import main; main(sys.argv[1:])"
)
TICK = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.1  # a measurement starts once others use less than this
NOISY_CORES = 0.1  # and is repeated once if others used more than this meanwhile
QUIET_LIMIT_S = 180.0  # the longest a measurement waits for quiet (bench_prefork.py lowers it)
BENCH_COMMANDS = ("get", "hlen", "config", "info", "incrby", "rpush", "ping")


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants still alive."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        with suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(x) for x in (task / "children").read_text().split()]
    return out


def cpu_split_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_s(pid: int) -> float:
    return sum(cpu_split_s(pid))


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def children_cpu_s() -> float:
    """CPU seconds of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_s(pid: int) -> float:
    return sum(cpu_s(p) for p in tree(pid))


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(p) for p in tree(pid))


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot, summed over cores."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK  # all but idle and iowait


def busy_cores(seconds: float) -> float:
    """How many cores the whole machine kept busy over the next ``seconds``."""
    before, started = machine_busy_s(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy_s() - before) / (time.monotonic() - started)


def wait_for_quiet(limit_s: float | None = None) -> float:
    """Wait (up to ``limit_s``, default ``QUIET_LIMIT_S``) until other programs leave the
    machine idle; the load seen.

    Another benchmark on this 2-core machine would skew every number here, so each
    measurement starts only once less than a tenth of a core is busy.
    """
    limit_s = QUIET_LIMIT_S if limit_s is None else limit_s
    deadline = time.monotonic() + limit_s
    load = busy_cores(0.5)
    warned = False
    while load > QUIET_CORES and time.monotonic() < deadline:
        if not warned:
            log(f"  machine busy ({load:.2f} cores in use by others); waiting for it to calm")
            warned = True
        load = busy_cores(1.0)
    if load > QUIET_CORES:
        log(f"  still busy ({load:.2f} cores) after {limit_s:.0f}s; measuring anyway")
    return round(load, 2)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- sides --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    key: str  # unique in results, e.g. "sched-c4", "sched-c4-quiet", "celery-solo"
    label: str
    kind: str  # sched | celery | huey | dramatiq
    concurrency: int = DEFAULT_CONCURRENCY
    quiet: bool = False

    @property
    def is_sched(self) -> bool:
        return self.kind == "sched"


def sched_side(concurrency: int, quiet: bool = False) -> Side:
    suffix = "-quiet" if quiet else ""
    label = f"sched, --concurrency {concurrency}" + (", logging at WARNING" if quiet else "")
    return Side(f"sched-c{concurrency}{suffix}", label, "sched", concurrency, quiet)


COMPETITORS = {
    "celery-solo": Side("celery-solo", "Celery, --pool solo", "celery", 1),
    "celery-threads": Side("celery-threads", "Celery, --pool threads -c 2", "celery", 2),
    "huey": Side("huey", "Huey, -k thread -w 1", "huey", 1),
    "dramatiq": Side("dramatiq", "Dramatiq, --processes 1 --threads 8", "dramatiq", 8),
}


# -- the bench: one Redis, workers, producers ---------------------------------------------


@dataclass
class Bench:
    redis_server: EmbeddedRedis
    workdir: Path
    other_python: Path | None
    runs: int = 0
    log_files: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.redis_server.url.rsplit("/", 1)[0]

    def url(self, db: int) -> str:
        return f"{self.base_url}/{db}"

    @cached_property
    def sched_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(SCHED_DB))

    @cached_property
    def probe(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(PROBE_DB))

    def redis_cpu_s(self) -> float:
        assert self.redis_server.process is not None
        return cpu_s(self.redis_server.process.pid)

    def env(self, side: Side) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(BENCH),
            BENCH_PROBE_URL=self.url(PROBE_DB),
            BENCH_SIDE=side.kind,
            BENCH_BROKER_URL=self.url(BROKER_DB),
            PYTHONUNBUFFERED="1",
        )
        return env

    def worker_argv(self, side: Side) -> list[str]:
        if side.is_sched:
            tail = ["worker", "--redis-url", self.url(SCHED_DB), "--queues", "default"]
            tail += ["--concurrency", str(side.concurrency)]
            if side.quiet:
                return [sys.executable, "-c", QUIET, *tail]
            return [sys.executable, "-m", "scheduler", *tail]
        assert self.other_python is not None, "no comparison venv"
        bin_dir = self.other_python.parent
        if side.kind == "celery":
            pool = ["--pool", "solo"] if side.key == "celery-solo" else ["--pool", "threads"]
            pool += ["--concurrency", str(side.concurrency)]
            return [str(bin_dir / "celery"), "-A", "worker_others", "worker", *pool,
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        if side.kind == "huey":
            return [str(bin_dir / "huey_consumer"), "worker_others.huey", "-k", "thread",
                    "-w", str(side.concurrency)]  # fmt: skip
        return [str(bin_dir / "dramatiq"), "worker_others", "--processes", "1",
                "--threads", str(side.concurrency)]  # fmt: skip

    def side_argv(self, side: Side, *command: str) -> list[str]:
        """The fill / produce helper of a side, as a command line."""
        if side.is_sched:
            url = self.url(SCHED_DB)
            return [sys.executable, str(BENCH / "worker_sched.py"), command[0], url, *command[1:]]
        assert self.other_python is not None
        return [str(self.other_python), str(BENCH / "worker_others.py"), *command]

    def reset(self) -> None:
        self.sched_client.flushall()  # every database

    def fill(self, side: Side, count: int) -> float:
        out = subprocess.run(
            self.side_argv(side, "fill", str(count)),
            env=self.env(side), cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"fill for {side.key} failed:\n{out.stderr[-3000:]}")
        return float(json.loads(out.stdout)["seconds"])

    @contextmanager
    def workers(self, side: Side, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
        procs: list[subprocess.Popen[bytes]] = []
        self.runs += 1
        try:
            for i in range(count):
                path = self.workdir / f"{self.runs:03d}-{side.key}-{i}.log"
                self.log_files.append(path)
                with path.open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            self.worker_argv(side),
                            env=self.env(side),
                            cwd=ROOT,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    for pid in reversed(tree(proc.pid)):
                        with suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                    proc.wait()

    def check_alive(self, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        for proc in procs:
            if proc.poll() is not None:
                tail = self.log_files[-len(procs) :]
                text = "\n".join(p.read_text(errors="replace")[-2000:] for p in tail)
                raise RuntimeError(f"a worker exited with {proc.returncode}:\n{text}")

    def done(self, side: Side, total: int) -> int:
        """Runs completed so far: acknowledged (sched) or counted by the probe (others)."""
        if side.is_sched:
            return total - int(self.sched_client.hlen(Keys().runs))
        return int(self.probe.get("bench:done") or 0)

    def command_stats(self) -> dict[str, tuple[int, int]]:
        """Per command since the last CONFIG RESETSTAT: (calls, server microseconds)."""
        raw = self.sched_client.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in raw.items()
            if name.removeprefix("cmdstat_") not in BENCH_COMMANDS
        }

    def executed(self) -> int:
        return int(self.probe.get("bench:done") or 0)

    def dead_letters(self) -> int:
        return int(self.sched_client.zcard(Keys().dead_index))


# -- the benchmarks -----------------------------------------------------------------------


def _run_batch(
    bench: Bench, side: Side, count: int, processes: int, rss_at: Sequence[int] = ()
) -> dict[str, Any]:
    """Pre-fill ``count`` no-op runs, then time ``processes`` workers through them."""
    bench.reset()
    fill_s = bench.fill(side, count)
    load_before = wait_for_quiet()
    bench.sched_client.config_resetstat()
    machine0, self0 = machine_busy_s(), cpu_s(os.getpid())
    redis_cpu0 = bench.redis_cpu_s()
    timeout_s = 60 + count / 200
    rss: list[dict[str, float]] = []
    pending_rss = sorted(rss_at)
    with bench.workers(side, processes) as procs:
        started = time.perf_counter()
        tenth_t = tenth_n = None
        first_t = None
        while True:
            time.sleep(POLL_S)
            done = bench.done(side, count)
            now = time.perf_counter()
            if first_t is None and done > 0:
                first_t = now
            if tenth_t is None and done >= count / 10:
                tenth_t, tenth_n = now, done
            while pending_rss and done >= pending_rss[0]:
                mb = sum(tree_rss_mb(p.pid) for p in procs)
                rss.append({"target": pending_rss.pop(0), "done": done, "rss_mb": round(mb, 1)})
            if done >= count:
                break
            if now - started > timeout_s:
                raise RuntimeError(f"{side.key}: {done}/{count} done after {timeout_s:.0f}s")
            bench.check_alive(procs)
        finished = time.perf_counter()
        worker_cpu = sum(tree_cpu_s(p.pid) for p in procs)
        worker_sys = sum(cpu_split_s(pid)[1] for p in procs for pid in tree(p.pid))
        redis_cpu = bench.redis_cpu_s() - redis_cpu0
        own_cpu = cpu_s(os.getpid()) - self0
        foreign_cpu = machine_busy_s() - machine0 - worker_cpu - redis_cpu - own_cpu
        end_rss = sum(tree_rss_mb(p.pid) for p in procs)
        commands = bench.command_stats()
        time.sleep(0.1)  # let the probes' last flush land
    wall = finished - started
    assert first_t is not None and tenth_t is not None and tenth_n is not None
    result: dict[str, Any] = {
        "side": side.key,
        "label": side.label,
        "processes": processes,
        "concurrency": side.concurrency,
        "runs": count,
        "fill_s": round(fill_s, 2),
        "wall_s": round(wall, 3),
        "first_done_s": round(first_t - started, 3),
        "rate_wall": round(count / wall, 1),
        "rate_steady": round((count - tenth_n) / max(finished - tenth_t, 1e-9), 1),
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_sys_s": round(worker_sys, 2),  # of which in the kernel
        "redis_cpu_s": round(redis_cpu, 2),
        "bench_cpu_s": round(own_cpu, 2),  # this script's polling
        "other_cpu_s": round(foreign_cpu, 2),  # everything else on the machine (noise)
        "noise_cores": round(max(foreign_cpu, 0) / wall, 3),
        "load_before": load_before,
        "rss_end_mb": round(end_rss, 1),
        "rss": rss,
        "executed": bench.executed(),
        # Per Redis command: calls per run and the server's microseconds per run (a script's
        # time includes the commands it calls, which are listed too); the bench's own
        # polling and the probes' counting are left out.
        "commands_per_run": {
            name: [round(calls / count, 3), round(us / count, 2)]
            for name, (calls, us) in sorted(commands.items())
        },
    }
    if side.is_sched:
        result["dead_letters"] = bench.dead_letters()
    log(
        f"  {side.key} x{processes}: {result['rate_wall']:.0f}/s wall, "
        f"{result['rate_steady']:.0f}/s steady, worker cpu {worker_cpu:.1f}s, "
        f"redis cpu {redis_cpu:.1f}s, others {foreign_cpu:.1f}s, executed {result['executed']}"
    )
    return result


def steady(measure: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    """``measure()``, once more if other programs used the machine meanwhile; the quieter."""
    first = measure()
    if first["noise_cores"] <= NOISY_CORES:
        return first
    log(f"  {what}: others used {first['noise_cores']:.2f} cores meanwhile; measuring again")
    second = measure()
    return min(first, second, key=lambda r: float(r["noise_cores"]))


def run_batch(
    bench: Bench, side: Side, count: int, processes: int, rss_at: Sequence[int] = ()
) -> dict[str, Any]:
    return steady(
        lambda: _run_batch(bench, side, count, processes, rss_at), f"{side.key} x{processes}"
    )


def run_latency(bench: Bench, side: Side, rate: float, seconds: float) -> dict[str, Any]:
    return steady(lambda: _run_latency(bench, side, rate, seconds), side.key)


def throughput(
    bench: Bench, sides: Sequence[str], count: int, sweep: Sequence[int], repeat: int
) -> list[dict[str, Any]]:
    """Every configuration once per round, rounds one after the other (so a slow spell of
    the machine hits every configuration alike rather than one)."""
    results: list[dict[str, Any]] = []
    best: Side | None = None
    for round_no in range(1, repeat + 1):
        done: list[dict[str, Any]] = []
        if "sched" in sides:
            log(
                f"throughput, round {round_no}/{repeat}: sched, {count} runs, "
                f"--concurrency {list(sweep)}"
            )
            ones = [run_batch(bench, sched_side(c), count, 1) for c in sweep]
            done += ones
            if best is None:  # chosen in the first round, kept after
                best = sched_side(max(ones, key=lambda r: r["rate_steady"])["concurrency"])
            default = sched_side(DEFAULT_CONCURRENCY)
            for side in [default] + ([best] if best != default else []):
                done.append(run_batch(bench, side, count, 2))
            quiet = sched_side(DEFAULT_CONCURRENCY, quiet=True)
            done.append(run_batch(bench, quiet, count, 1))
            done.append(run_batch(bench, quiet, count, 2))
        for key in sides:
            if key in COMPETITORS:
                log(f"throughput, round {round_no}/{repeat}: {key}, {count} runs")
                done.append(run_batch(bench, COMPETITORS[key], count, 1))
                done.append(run_batch(bench, COMPETITORS[key], count, 2))
        results += [{**r, "round": round_no} for r in done]
    return results


def summarize_batches(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (worker, processes): the run with the median steady rate, and the range seen."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["side"], row["processes"]), []).append(row)
    out = []
    for group in groups.values():
        ordered = sorted(group, key=lambda r: float(r["rate_steady"]))
        median = ordered[(len(ordered) - 1) // 2]
        out.append(
            {
                **median,
                "repeats": len(group),
                "steady_min": ordered[0]["rate_steady"],
                "steady_max": ordered[-1]["rate_steady"],
            }
        )
    return out


def _run_latency(bench: Bench, side: Side, rate: float, seconds: float) -> dict[str, Any]:
    """One worker process, a producer offering ``rate`` runs/s; percentiles of lateness."""
    bench.reset()
    env = bench.env(side)
    with bench.workers(side, 1) as procs:
        # Warm up (and wait for the worker to be up): a short burst, all of it done.
        warm = subprocess.run(
            bench.side_argv(side, "produce", "200", "0.5"),
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        expected = int(json.loads(warm.stdout)["sent"])
        deadline = time.monotonic() + 60
        while bench.executed() < expected:
            bench.check_alive(procs)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side.key}: warm-up not done")
            time.sleep(0.05)
        time.sleep(0.2)
        bench.probe.delete("bench:lat", "bench:done")
        load_before = wait_for_quiet()
        cpu0, redis0 = tree_cpu_s(procs[0].pid), bench.redis_cpu_s()
        machine0, self0, children0 = machine_busy_s(), cpu_s(os.getpid()), children_cpu_s()
        out = subprocess.run(
            bench.side_argv(side, "produce", str(rate), str(seconds)),
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        sent = int(json.loads(out.stdout)["sent"])
        deadline = time.monotonic() + 30
        while bench.executed() < sent and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        worker_cpu = tree_cpu_s(procs[0].pid) - cpu0
        redis_cpu = bench.redis_cpu_s() - redis0
        producer_cpu = children_cpu_s() - children0
        own_cpu = cpu_s(os.getpid()) - self0
        busy = machine_busy_s() - machine0
        foreign_cpu = busy - worker_cpu - redis_cpu - producer_cpu - own_cpu
    values = [float(x) * 1000 for x in bench.probe.lrange("bench:lat", 0, -1)]
    result = {
        "side": side.key,
        "label": side.label,
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "received": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values, default=float("nan")), 2),
        "worker_cpu_pct": round(100 * worker_cpu / seconds, 1),
        "redis_cpu_pct": round(100 * redis_cpu / seconds, 1),
        "producer_cpu_pct": round(100 * producer_cpu / seconds, 1),
        "other_cpu_s": round(foreign_cpu, 2),
        "noise_cores": round(max(foreign_cpu, 0) / seconds, 3),
        "load_before": load_before,
    }
    log(
        f"  {side.key}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"{len(values)}/{sent} received, others {foreign_cpu:.1f}s cpu"
    )
    return {**result, "values_ms": values}


def latency(
    bench: Bench, sides: Sequence[str], rate: float, seconds: float, repeat: int
) -> list[dict[str, Any]]:
    """Per worker: every round's figures, and percentiles over all rounds' runs pooled."""
    chosen = [sched_side(DEFAULT_CONCURRENCY)] if "sched" in sides else []
    chosen += [COMPETITORS[k] for k in sides if k in COMPETITORS]
    rounds: dict[str, list[dict[str, Any]]] = {side.key: [] for side in chosen}
    for round_no in range(1, repeat + 1):
        for side in chosen:
            log(f"latency, round {round_no}/{repeat}: {side.key}, {rate:.0f}/s for {seconds:.0f}s")
            rounds[side.key].append(run_latency(bench, side, rate, seconds))
    results = []
    for side in chosen:
        runs = rounds[side.key]
        pooled = [v for run in runs for v in run["values_ms"]]
        results.append(
            {
                **{k: v for k, v in runs[0].items() if k != "values_ms"},
                "sent": sum(run["sent"] for run in runs),
                "received": len(pooled),
                "p50_ms": round(percentile(pooled, 50), 2),
                "p90_ms": round(percentile(pooled, 90), 2),
                "p99_ms": round(percentile(pooled, 99), 2),
                "max_ms": round(max(pooled, default=float("nan")), 2),
                "p99_per_round_ms": [run["p99_ms"] for run in runs],
                "worker_cpu_pct": round(sum(r["worker_cpu_pct"] for r in runs) / len(runs), 1),
                "redis_cpu_pct": round(sum(r["redis_cpu_pct"] for r in runs) / len(runs), 1),
                "noise_cores": max(r["noise_cores"] for r in runs),
                "repeats": len(runs),
                "rounds": [{k: v for k, v in r.items() if k != "values_ms"} for r in runs],
            }
        )
    return results


def memory(bench: Bench, sides: Sequence[str], count: int) -> list[dict[str, Any]]:
    chosen = [sched_side(DEFAULT_CONCURRENCY)] if "sched" in sides else []
    chosen += [COMPETITORS[k] for k in sides if k in COMPETITORS]
    marks = sorted({min(count, m) for m in (1_000, count // 10, count // 2, count)})
    results = []
    for side in chosen:
        log(f"memory: {side.key}, {count} runs, RSS at {marks}")
        result = run_batch(bench, side, count, 1, rss_at=marks)
        log(f"  RSS: {[(r['target'], r['rss_mb']) for r in result['rss']]}")
        results.append(result)
    return results


# -- profile ------------------------------------------------------------------------------


def profile(bench: Bench, count: int, concurrency: int, quiet: bool, wall: bool) -> dict[str, Any]:
    """Sample sched's worker with py-spy (installed into the comparison venv) during a batch.

    By default ``--gil``: only samples of the thread holding the GIL, so the shares are of
    the time the process runs Python, whichever thread. With ``wall``: ``--idle``, and only
    the thread running ``Worker.run`` is kept, so the shares are of its wall-clock time,
    waiting (on Redis, on the pool) included.
    """
    assert bench.other_python is not None
    spy = bench.other_python.parent / "py-spy"
    if not spy.exists():
        log("installing py-spy into the comparison venv")
        pip = [str(bench.other_python), "-m", "pip", "install", "-q", "py-spy"]
        subprocess.run(pip, check=True)
    side = sched_side(concurrency, quiet)
    bench.reset()
    bench.fill(side, count)
    mode = "wall" if wall else "gil"
    raw = Path(tempfile.gettempdir()) / f"bench-worker-profile-{side.key}-{mode}.txt"
    with bench.workers(side, 1) as procs:
        pid = procs[0].pid
        spy_argv = [str(spy), "record", "--rate", "500", "--format", "raw",
                    "--output", str(raw), "--pid", str(pid), "--nonblocking"]  # fmt: skip
        spy_argv += ["--idle", "--threads"] if wall else ["--gil"]
        recorder = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.perf_counter()
        while bench.done(side, count) < count:
            bench.check_alive(procs)
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
    info = {"side": side.key, "runs": count, "wall_s": round(elapsed, 2), "raw": str(raw)}
    return summarize_profile(raw, info, "Worker.run" if wall else "", mode)


def summarize_profile(raw: Path, info: dict[str, Any], only: str, mode: str) -> dict[str, Any]:
    """Inclusive and self shares per function, from py-spy's collapsed stacks.

    With ``only``, just the stacks that pass through a function of that name.
    """
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    kinds: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not stack:
            continue
        n = int(n_text)
        frames = [_frame(f) for f in stack.split(";")]
        if only and not any(f.startswith(only + " ") for f in frames):
            continue
        total += n
        kind = _category(frames)
        kinds[kind] = kinds.get(kind, 0) + n
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n

    def top(table: dict[str, int], k: int) -> list[tuple[str, float]]:
        ranked = sorted(table.items(), key=lambda kv: -kv[1])[:k]
        return [(name, round(100 * v / max(total, 1), 1)) for name, v in ranked]

    return {
        **info, "mode": mode, "samples": total, "categories": top(kinds, 20),
        "inclusive": top(inclusive, 45), "self": top(own, 30),
    }  # fmt: skip


# Where a sample's time goes, by the first rule (top to bottom) that matches its stack.
CATEGORIES = (
    ("start-up (imports)", ("<frozen importlib",)),
    ("logging (the per-run line)", ("(logging/",)),
    ("probe (the bench's own counter)", ("(bench/worker_probe.py)",)),
    ("redis-py: Pipeline.load_scripts (SCRIPT EXISTS)", ("Pipeline.load_scripts ",)),
    ("redis-py: claim (EVALSHA claim.lua)", ("WorkerStore.claim (",)),
    ("redis-py: finish pipeline (start.lua + finish.lua)", ("WorkerStore.finish (",)),
    ("redis-py: heartbeat, promote, reap", ("Worker.upkeep (",)),
    ("json (encode events, decode messages)", ("(json/",)),
    ("running the task (execute: context, call, result)", ("execute (scheduler/worker.py)",)),
    ("pool threads: queue hand-off", ("ThreadPool._serve (",)),
    ("waiting for a finished run (Worker.wait)", ("Worker.wait (",)),
)


def _category(frames: Sequence[str]) -> str:
    for name, needles in CATEGORIES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    for frame in reversed(frames):  # the innermost of sched's own functions
        if "(scheduler/" in frame:
            return "sched's own code: " + frame.split(" (")[0]
    return "other: " + frames[-1]


def render_profile(found: dict[str, Any]) -> str:
    lines = [
        f"py-spy ({found['mode']}), {found['side']}, {found['runs']:,} runs in "
        f"{found['wall_s']} s, {found['samples']:,} samples (raw collapsed stacks: {found['raw']})",
        "",
        "by category (first matching rule):",
    ]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in found["categories"]]
    lines += ["", "inclusive % (time in the function and what it calls):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in found["inclusive"]]
    lines += ["", "self % (time in the function's own code):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in found["self"]]
    return "\n".join(lines)


def _frame(text: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line number.
    found = re.match(r"(.*) \((.*?)(?::\d+)?\)$", text)
    if not found:
        return text
    path = found.group(2)
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{found.group(1)} ({path})"


# -- setup, metadata, report --------------------------------------------------------------


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV.relative_to(ROOT)} with {' '.join(PACKAGES)}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def machine() -> dict[str, Any]:
    cpu = ""
    with suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1) if found else ""
    mem_kb = 0
    with suppress(OSError):
        found = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)
        mem_kb = int(found.group(1)) if found else 0
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(bench: Bench) -> dict[str, str]:
    info = bench.sched_client.info("server")
    found = {"sched": version("sched"), "redis-py (sched)": version("redis")}
    found["server"] = server_version(info)
    if bench.other_python is not None:
        out = subprocess.run(
            [str(bench.other_python), str(BENCH / "worker_others.py"), "versions"],
            env={**os.environ, "PYTHONPATH": str(BENCH)}, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        for name, value in json.loads(out.stdout).items():
            found["redis-py (others)" if name == "redis" else name] = value
    return found


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _find(rows: Sequence[dict[str, Any]], side: str, processes: int) -> dict[str, Any] | None:
    for row in rows:
        if row["side"] == side and row["processes"] == processes:
            return row
    return None


def render(data: dict[str, Any]) -> str:
    lines = [
        f"Run {data['date']} · {data['machine']['cores']} cores ({data['machine']['cpu']}), "
        f"{data['machine']['memory_gib']} GiB, Linux {data['machine']['kernel']}, "
        f"Python {data['machine']['python']}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".",
        "",
        f"Command: `{data['command']}`",
        "",
    ]
    rows = summarize_batches(data.get("throughput", []))
    if rows:
        repeats = max(r["repeats"] for r in rows)
        base = {p: _find(rows, f"sched-c{DEFAULT_CONCURRENCY}", p) for p in (1, 2)}
        lines += [
            f"### Throughput: {rows[0]['runs']:,} pre-filled no-op runs",
            "",
            *(
                [
                    f"Each configuration ran {repeats} times, in {repeats} rounds; each row is "
                    "the run with the median steady rate, *range* the lowest and highest "
                    "steady rate of the rounds.",
                    "",
                ]
                if repeats > 1
                else []
            ),
            "Runs/s from the first worker start to the last completion (*wall*), and between "
            "10 % and 100 % done (*steady*, start-up excluded). *x sched* = this row's steady "
            f"rate ÷ sched --concurrency {DEFAULT_CONCURRENCY}'s, same process count (above 1: "
            "faster than sched). CPU: seconds used during the run by the worker process(es) "
            "and by redis-server. *Noise*: cores used meanwhile by other programs on the "
            "machine (a batch is measured again once if above 0.1).",
            "",
            "| worker | procs | wall runs/s | steady runs/s | range | x sched | worker CPU s | "
            "redis CPU s | RSS at end MB | noise |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in sorted(rows, key=lambda r: (r["processes"], _order(r["side"]))):
            ref = base.get(row["processes"])
            ratio = f"{row['rate_steady'] / ref['rate_steady']:.2f}" if ref else "-"
            lines.append(
                f"| {row['label']} | {row['processes']} | {_rate(row['rate_wall'])} | "
                f"{_rate(row['rate_steady'])} | "
                f"{_rate(row['steady_min'])}-{_rate(row['steady_max'])} | "
                f"{ratio} | {row['worker_cpu_s']:.1f} | "
                f"{row['redis_cpu_s']:.1f} | {row['rss_end_mb']:.0f} | "
                f"{row['noise_cores']:.2f} |"
            )
        lines.append("")
    rows = data.get("latency", [])
    if rows:
        first = rows[0]
        lines += [
            f"### Latency: fire time to task start, {first['rate']:.0f} runs/s offered for "
            f"{first['seconds']:.0f} s, one worker process",
            "",
            *(
                [
                    f"{first['repeats']} rounds per worker; percentiles over all rounds' runs "
                    "pooled, *p99 by round* each round's own.",
                    "",
                ]
                if first["repeats"] > 1
                else []
            ),
            "| worker | received | p50 ms | p90 ms | p99 ms | p99 by round | max ms | "
            "worker CPU % | redis CPU % | noise |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows:
            lines.append(
                f"| {row['label']} | {row['received']}/{row['sent']} | {row['p50_ms']:.1f} | "
                f"{row['p90_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{', '.join(f'{x:.1f}' for x in row['p99_per_round_ms'])} | {row['max_ms']:.1f} | "
                f"{row['worker_cpu_pct']:.0f} | {row['redis_cpu_pct']:.0f} | "
                f"{row['noise_cores']:.2f} |"
            )
        lines.append("")
    rows = data.get("memory", [])
    if rows:
        marks = [m["target"] for m in rows[0]["rss"]]
        lines += [
            f"### Memory: RSS of one worker process (its process tree) over {rows[0]['runs']:,}"
            " runs",
            "",
            "| worker | " + " | ".join(f"after {m:,} MB" for m in marks) + " | runs/s |",
            "| --- | " + " | ".join("---:" for _ in marks) + " | ---: |",
        ]
        for row in rows:
            cells = " | ".join(f"{m['rss_mb']:.1f}" for m in row["rss"])
            lines.append(f"| {row['label']} | {cells} | {_rate(row['rate_steady'])} |")
        lines.append("")
    return "\n".join(lines)


def _order(side: str) -> tuple[int, int]:
    if side in COMPETITORS:
        return (2, list(COMPETITORS).index(side))
    digits = re.match(r"sched-c(\d+)", side)
    return (1 if side.endswith("-quiet") else 0, int(digits.group(1)) if digits else 0)


def recorded_command(script: str, argv: Sequence[str]) -> str:
    """The command line a results file shows: the server chosen (``server_prefix``), and
    not where this run wrote its raw results (``--json PATH``: a path of this machine)."""
    kept: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--json":
            next(args, None)  # and its path
        elif not arg.startswith("--json="):
            kept.append(arg)
    return f"{server_prefix()}python bench/{script} " + " ".join(kept)


def write_markdown(section: str) -> None:
    text = (
        WORKERS_MD.read_text()
        if WORKERS_MD.exists()
        else f"# Worker benchmarks\n\n{BEGIN}\n{END}\n"
    )
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    WORKERS_MD.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


# -- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("what", choices=["all", "throughput", "latency", "memory", "profile"])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--runs", type=int, help="runs per throughput batch (default 30,000)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="sched's sweep (1 4 8 16)")
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="rounds of the throughput and latency benchmarks; medians are reported",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=300.0, help="latency: runs/s offered")
    parser.add_argument("--seconds", type=float, help="latency: seconds offered (20)")
    parser.add_argument("--memory-runs", type=int, help="memory: runs (100,000)")
    parser.add_argument(
        "--sides", nargs="+", default=["sched", *COMPETITORS],
        choices=["sched", *COMPETITORS], help="which workers (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-sides", nargs="+", default=["sched"], choices=["sched", *COMPETITORS],
        help="workers for the 100k-run memory benchmark (default: sched)",
    )  # fmt: skip
    parser.add_argument("--quiet-logs", action="store_true", help="profile: WARNING logging")
    parser.add_argument("--wall", action="store_true", help="profile: the loop's wall clock")
    parser.add_argument(
        "--profile-concurrency", type=int, default=DEFAULT_CONCURRENCY, help="profile: slots"
    )
    parser.add_argument("--json", type=Path, help="where to write the raw results")
    parser.add_argument("--write", action="store_true", help="update bench/WORKERS.md")
    args = parser.parse_args(argv)
    count = args.runs or (5_000 if args.quick else 30_000)
    sweep = args.concurrency or ([1, 4, 16] if args.quick else [1, 4, 8, 16])
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    memory_runs = args.memory_runs or (20_000 if args.quick else 100_000)
    needs_others = args.what == "profile" or any(s in COMPETITORS for s in args.sides)
    other_python = ensure_venv() if needs_others else None

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        try:
            bench = Bench(server, workdir, other_python)
            data: dict[str, Any] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": machine(),
                "versions": versions(bench),
                "command": recorded_command("bench_worker.py", sys.argv[1:]),
            }
            if args.what == "profile":
                found = profile(bench, count, args.profile_concurrency, args.quiet_logs, args.wall)
                print(render_profile(found))
                return
            if args.what in ("all", "throughput"):
                data["throughput"] = throughput(bench, args.sides, count, sweep, args.repeat)
            if args.what in ("all", "latency"):
                data["latency"] = latency(bench, args.sides, args.rate, seconds, args.repeat)
            if args.what in ("all", "memory"):
                data["memory"] = memory(bench, args.memory_sides, memory_runs)
        finally:
            server.stop()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    out = args.json or Path(tempfile.gettempdir()) / "bench-worker-results.json"
    out.write_text(json.dumps(data, indent=1))
    section = render(data)
    print(section)
    log(f"done in {data['elapsed_s']:.0f}s; raw results in {out}")
    if args.write:
        write_markdown(section)
        log(f"updated {WORKERS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
