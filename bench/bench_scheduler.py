"""Scheduler benchmarks: sched next to Celery beat and celery-redbeat, on one Redis.

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    SCHED_SERVER_BINARY=/usr/bin/redis-server python bench/bench_scheduler.py all --write
    python bench/bench_scheduler.py latency --write   # one of: latency, sustained,
                                                      #   memory, failover
    python bench/bench_scheduler.py all --quick       # smoke run of everything, ~3 min

Each benchmark runs the same workload on three schedulers, one after the other, against
the same embedded server (``EmbeddedRedis``: the bundled Valkey, or ``SCHED_SERVER_BINARY``),
started once per invocation. The reference run (the first command) uses Debian's
``redis-server`` (jemalloc), the kind of shared Redis that thousands of fires a second would
go to (``docker-compose.yml`` runs ``redis:7-alpine``, also jemalloc), as ``bench_scale.py``'s
does: the bundled Valkey is built with libc's malloc, and ran ``dispatch.lua`` about 1.35x
slower a fire on this machine (profile_scheduler.py tick 2000: 19 µs against 14 µs), which
doubled the p99 at 10,000 fires/s (370 ms against 190 ms in the same hour). Every scheduler
in a run uses the same server; the meta line of each section names it and its allocator.
The schedulers:

* **sched**: the real CLI, ``python -m scheduler scheduler DIR --redis-url URL`` (DIR holds
  YAML files of at most 5,000 schedules each), database 0;
* **beat**: ``celery beat`` with Celery's default ``PersistentScheduler`` (a shelve file),
  broker on database 1;
* **redbeat**: ``celery beat`` with ``redbeat.RedBeatScheduler``, broker on database 1,
  schedule and lock on database 2.

The Celery side runs in its own venv (``bench/.venv-celery``, created on first use from
``bench/requirements-compare.txt``; celery is never a dependency of sched) through
``bench/celery_side.py``, which also documents its small instrumentation.

**How lateness is measured.** A thread of this process pops every message off the
scheduler's queue the moment it is visible (sched: ``BZPOPMIN`` then ``ZPOPMIN`` on
``{sched}:queue:default``; Celery: ``BRPOP`` then ``RPOP`` on kombu's ``celery`` list) and
stamps each with ``time.time()`` on receipt. Lateness = receipt - fire time. sched's fire
time is in the run id (``name@fire_ms``); Celery's is ``last_run_at + run_every`` as beat saw
it when sending, carried in a ``bench_due`` header. Popping stands in for a worker taking
the message; it never changes what a scheduler does. sched's own ``enqueued_at`` is not
used: it is the ``now`` a tick started with, before its Redis round trips.

The workloads, identical in shape on every side (interval schedules, one task name, no
arguments):

* ``latency``: one schedule every 1 s (lateness of each fire, the first two after start-up
  left out), then 1,000 and 10,000 schedules all due at the same instant T0 (each fires once
  in the run; sched: ``every: 1h`` with ``start: T0``; Celery: ``schedule=3600`` with
  ``last_run_at = T0 - 1h``);
* ``sustained``: 2,000 schedules every 1 s, all first due at T0; after a warm-up, a
  measurement window: fires per second, lateness of each fire in the window, CPU of the
  scheduler process and of redis-server;
* ``memory``: 100,000 schedules every 1 h whose due times are spread over the hour starting
  10 minutes out, plus one every 1 s as a canary: start-up (process start until the
  schedule is loaded and synced, and until the canary's first dispatch), then RSS;
* ``failover``: sched with 3 replicas, redbeat with 2, one schedule every 1 s; the leader
  is killed (SIGKILL, then SIGTERM in later trials) and the gap is the time from the kill
  until a fire sent by a new leader is visible. Celery beat's default scheduler has no
  leader election, so it has no row.

Results go to ``bench/results/<benchmark>.json`` and, with ``--write``, into
``bench/RESULTS.md`` (one section per benchmark, plus a summary section rebuilt from
whatever results exist). Nothing here is a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis

from scheduler.store.embedded import BINARY_ENV, EmbeddedRedis, free_port, server_version

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
RAW = BENCH / "results"
CELERY_VENV = BENCH / ".venv-celery"
REQUIREMENTS = BENCH / "requirements-compare.txt"
CELERY_SIDE = BENCH / "celery_side.py"

SIDES = ("sched", "beat", "redbeat")
LABELS = {"sched": "sched", "beat": "Celery beat", "redbeat": "celery-redbeat"}
OUR_QUEUE = "{sched}:queue:default"
OUR_DUE = "{sched}:due"
OUR_RUNS = "{sched}:runs"
CELERY_QUEUE = "celery"
SCHED_DB, BROKER_DB, REDBEAT_DB = 0, 1, 2
# Celery settings, the same for beat and redbeat: beat never sleeps longer than 1 s, and
# redbeat's lock lives 5 s (5 x the loop interval, redbeat's own default ratio), as sched's
# lease does; a redbeat standby retries the lock every loop interval.
CELERY_MAX_INTERVAL_S = 1
REDBEAT_LOCK_TIMEOUT_S = 5
WARMUP_FIRES = 2  # single-schedule latency: fires left out after start-up

GOALS = {
    "single_p99_ms": 1.5,  # and below Celery beat's in the same run
    "burst_all_s": 1.0,  # 10,000 (an earlier issue) and 100,000 due at once: all enqueued
    "rss_100k_mb": 300.0,
    "startup_100k_s": 5.0,
}
SUSTAINED_P99_MS = {2_000: 50.0, 10_000: 250.0}  # the goal per number of schedules every 1 s
BURST_SIZES = (1_000, 10_000, 100_000)
BURST_SIDES = {100_000: ("sched",)}  # the peers' start-up alone (redbeat ~56 s) passes T0
SUSTAINED_SIZES = (2_000, 10_000)


# -- small helpers ----------------------------------------------------------------------


def now() -> float:
    return time.time()


def sleep_until(instant: float) -> None:
    delay = instant - now()
    if delay > 0:
        time.sleep(delay)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; ``inf`` values (fires never seen) sort last."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def lateness_stats(lateness_s: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(lateness_s),
        "p50_ms": percentile(lateness_s, 50) * 1000,
        "p99_ms": percentile(lateness_s, 99) * 1000,
        "max_ms": percentile(lateness_s, 100) * 1000,
    }


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


class ProcError(RuntimeError):
    pass


@dataclass
class Proc:
    """A scheduler process we started, with its CPU time and memory from /proc."""

    name: str
    popen: subprocess.Popen[bytes]
    spawned: float
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def memory(self) -> dict[str, float]:
        return proc_memory_mb(self.pid)

    def last_words(self) -> str:
        """Why it exited, for a table: its log's last line, else its exit status."""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exited with {self.popen.returncode}"

    def check(self) -> None:
        if not self.alive():
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise ProcError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); NaN once it has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return math.nan
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU used by the given processes over a window, and by everything else on the machine
    (other engineers' test runs, say) apart from this benchmark's own process."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.start = now()
        self.machine = machine_busy_s()
        self.ours = [proc_cpu_s(pid) for pid in [*self.pids, os.getpid()]]

    def stop(self) -> dict[str, float]:
        seconds = now() - self.start
        ours = [proc_cpu_s(pid) for pid in [*self.pids, os.getpid()]]
        used = [b - a for a, b in zip(self.ours, ours, strict=True)]
        other = machine_busy_s() - self.machine - sum(used)
        return {
            "seconds": seconds,
            **{
                f"cpu_pct_{pid}": 100 * u / seconds for pid, u in zip(self.pids, used, strict=False)
            },
            "bench_cpu_pct": 100 * used[-1] / seconds,
            "other_cpu_pct": max(0.0, 100 * other / seconds),
        }


NOISY_PCT = 25.0  # other processes' CPU (% of one core) above which a timed run is repeated


def least_noisy(run: Callable[[], dict[str, Any]], attempts: int = 3) -> dict[str, Any]:
    """Run a timed measurement; repeat it (up to ``attempts`` times in all) while other
    processes used more than NOISY_PCT of a core during it, and keep the quietest."""
    best: dict[str, Any] | None = None
    for attempt in range(attempts):
        row = run()
        row["attempts"] = attempt + 1
        if best is None or row["other_cpu_pct"] < best["other_cpu_pct"]:
            best = row
        if row["other_cpu_pct"] <= NOISY_PCT:
            break
        log(f"  noisy run ({row['other_cpu_pct']:.0f} % of a core used elsewhere); repeating")
    assert best is not None
    return best


def wait_quiet(env: Env, limit_pct: float = NOISY_PCT, patience_s: float = 120.0) -> float:
    """Wait (up to ``patience_s``) until the rest of the machine uses under ``limit_pct`` of
    one core; returns what it used in the last second checked."""
    started = now()
    while True:
        window = CpuWindow([env.redis_pid])
        time.sleep(1.0)
        other = window.stop()["other_cpu_pct"]
        waited = now() - started
        if other < limit_pct or waited > patience_s:
            if waited > 1.5:
                verdict = "quiet" if other < limit_pct else "still busy; going on anyway"
                log(f"  waited {waited:.0f} s for a quiet machine: {verdict} ({other:.0f} %)")
            return other
        if waited < 1.5:
            log(f"  waiting for a quiet machine ({other:.0f} % of a core used elsewhere)")


def spawn(name: str, argv: Sequence[str], workdir: Path) -> Proc:
    log_path = workdir / f"{name}.log"
    handle = log_path.open("ab")
    spawned = now()
    popen = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT
    )
    handle.close()
    return Proc(name, popen, spawned, log_path)


# -- the workload, for both sides -------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """``count`` interval schedules named ``prefix000000``...; item i first fires at
    ``first_due + i % spread_s`` (all at ``first_due`` when ``spread_s`` is 0)."""

    prefix: str
    count: int
    every_s: int
    first_due: int  # epoch seconds
    spread_s: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "count": self.count,
            "every_s": self.every_s,
            "first_due": self.first_due,
            "spread_s": self.spread_s,
        }


PER_FILE = 5_000  # sched reads files of at most 1 MiB: split large sets over several


def write_schedules(directory: Path, groups: Sequence[Group]) -> None:
    """The groups as sched schedule files in ``directory`` (created; must not exist)."""
    lines = []
    for g in groups:
        for i in range(g.count):
            offset = i % g.spread_s if g.spread_s else 0
            start = datetime.fromtimestamp(g.first_due + offset, UTC)
            lines.append(
                f'  {g.prefix}{i:06d}: {{task: "scheduler.tasks:heartbeat", '
                f'every: {g.every_s}s, start: "{start:%Y-%m-%dT%H:%M:%SZ}"}}'
            )
    directory.mkdir()
    for number, first in enumerate(range(0, len(lines), PER_FILE)):
        chunk = lines[first : first + PER_FILE]
        text = "\n".join(["defaults:", "  timezone: UTC", "schedules:", *chunk]) + "\n"
        (directory / f"schedules-{number:03d}.yaml").write_text(text)


# -- the environment --------------------------------------------------------------------


@dataclass
class Env:
    redis_server: EmbeddedRedis
    workdir: Path
    celery_python: Path
    sides: tuple[str, ...]
    quick: bool
    procs: list[Proc] = field(default_factory=list)
    runs: int = 0

    @property
    def base_url(self) -> str:
        return self.redis_server.url.rsplit("/", 1)[0]

    def url(self, db: int) -> str:
        return f"{self.base_url}/{db}"

    def client(self, db: int) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))

    @property
    def redis_pid(self) -> int:
        assert self.redis_server.process is not None
        return self.redis_server.process.pid

    def fresh(self) -> Path:
        """Empty every database and hand out a new directory for one run."""
        self.client(0).flushall()
        self.runs += 1
        path = self.workdir / f"run{self.runs:03d}"
        path.mkdir()
        return path

    def start(self, side: str, groups: Sequence[Group], run_dir: Path, replica: int = 0) -> Proc:
        name = f"{side}-{replica}"
        if side == "sched":
            files = run_dir / "schedules"
            if not files.exists():
                write_schedules(files, groups)
            argv = [sys.executable, "-m", "scheduler", "scheduler", str(files)]
            argv += ["--redis-url", self.url(SCHED_DB)]
        else:
            spec = {
                "scheduler": "persistent" if side == "beat" else "redbeat",
                "broker_url": self.url(BROKER_DB),
                "redbeat_url": self.url(REDBEAT_DB),
                "max_interval_s": CELERY_MAX_INTERVAL_S,
                "lock_timeout_s": REDBEAT_LOCK_TIMEOUT_S,
                "schedule_file": str(run_dir / f"celerybeat-schedule-{replica}"),
                "ready_file": str(run_dir / f"ready-{replica}"),
                "groups": [g.to_json() for g in groups],
            }
            spec_path = run_dir / f"spec-{replica}.json"
            spec_path.write_text(json.dumps(spec))
            argv = [str(self.celery_python), str(CELERY_SIDE), "beat", str(spec_path)]
        proc = spawn(name, argv, run_dir)
        self.procs.append(proc)
        return proc

    def wait_ready(
        self, side: str, proc: Proc, run_dir: Path, total: int, deadline: float
    ) -> float | None:
        """When the schedule was loaded: sched has synced all ``total`` schedules to Redis
        (``ZCARD {sched}:due``); beat has started its first tick. None past ``deadline``."""
        client = self.client(SCHED_DB)
        ready_file = run_dir / f"ready-{proc.name.rsplit('-', 1)[1]}"
        while now() < deadline:
            proc.check()
            if side == "sched":
                if int(client.zcard(OUR_DUE)) >= total:
                    return now()
            elif ready_file.exists() and ready_file.read_text():
                return float(ready_file.read_text())
            time.sleep(0.01)
        return None

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs.clear()


@contextmanager
def environment(args: argparse.Namespace) -> Iterator[Env]:
    celery_python = Path(args.celery_python) if args.celery_python else ensure_celery_venv()
    with tempfile.TemporaryDirectory(prefix="sched-bench-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        env = Env(server, workdir, celery_python, tuple(args.sides), args.quick)
        try:
            yield env
        finally:
            env.stop_all()
            server.kill()  # no need to flush the AOF of a benchmark


def ensure_celery_venv() -> Path:
    """bench/.venv-celery/bin/python, created from requirements-compare.txt if missing."""
    python = CELERY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import celery, redbeat"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating {CELERY_VENV.relative_to(ROOT)} (celery, celery-redbeat) ...")
    subprocess.run([sys.executable, "-m", "venv", str(CELERY_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
    subprocess.run(pip, check=True)
    return python


# -- watching the queues ----------------------------------------------------------------


@dataclass(frozen=True)
class Fire:
    """One message seen on a queue: which schedule, when it was due, when it was seen."""

    name: str
    due: float  # epoch seconds
    seen: float
    sender: int  # Celery: the beat process id; sched: 0 (see Observer.epochs)
    key: bytes  # sched: the run id; Celery: the task id


class Observer:
    """Pops every message off a scheduler's queue as soon as it is visible.

    A blocking pop (BZPOPMIN / BRPOP) wakes on the first message; a non-blocking pop of up
    to 10,000 (ZPOPMIN / RPOP count) then drains what else is there. Each message is
    stamped with ``time.time()`` when the reply arrived.
    """

    def __init__(self, env: Env, side: str) -> None:
        self.side = side
        self.url = env.url(SCHED_DB if side == "sched" else BROKER_DB)
        self.client = redis.Redis.from_url(self.url)
        self.raw: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._parsed = 0
        self._fires: list[Fire] = []

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url)
        raw = self.raw
        while not self._stop.is_set():
            if self.side == "sched":
                got: Any = client.bzpopmin(OUR_QUEUE, timeout=0.05)
                if not got:
                    continue
                raw.append((now(), got[1]))
                more: Any = client.zpopmin(OUR_QUEUE, 10_000)
                seen = now()
                raw.extend((seen, member) for member, _ in more)
            else:
                got = client.brpop([CELERY_QUEUE], timeout=0.05)
                if not got:
                    continue
                raw.append((now(), got[1]))
                more = client.rpop(CELERY_QUEUE, 10_000)
                seen = now()
                if more:
                    raw.extend((seen, body) for body in more)

    def fires(self) -> list[Fire]:
        """Everything seen so far, parsed (incrementally: cheap to call in a loop)."""
        count = len(self.raw)
        for seen, item in self.raw[self._parsed : count]:
            if self.side == "sched":
                name, _, fire_ms = item.decode().rpartition("@")
                self._fires.append(Fire(name, int(fire_ms) / 1000, seen, 0, item))
            else:
                headers = json.loads(item)["headers"]
                self._fires.append(
                    Fire(
                        "", headers["bench_due"], seen, headers["bench_pid"], headers["id"].encode()
                    )
                )
        self._parsed = count
        return self._fires

    def epochs(self, fires: Sequence[Fire]) -> list[int]:
        """sched only: the leader epoch in each run's message."""
        out: list[int] = []
        keys = [f.key for f in fires]
        for start in range(0, len(keys), 5000):
            bodies: Any = self.client.hmget(OUR_RUNS, keys[start : start + 5000])
            out += [json.loads(b)["epoch"] if b else -1 for b in bodies]
        return out


def wait_for(
    observer: Observer, count: int, deadline: float, procs: Sequence[Proc] = ()
) -> list[Fire]:
    while True:
        fires = observer.fires()
        if len(fires) >= count or now() >= deadline:
            return fires
        for proc in procs:
            proc.check()
        time.sleep(0.02)


# -- benchmark: dispatch lateness -------------------------------------------------------


def run_single(env: Env, side: str, samples: int) -> dict[str, Any]:
    quiet = wait_quiet(env)
    run_dir = env.fresh()
    t0 = math.ceil(now()) + 3
    groups = [Group("single", 1, 1, t0)]
    with Observer(env, side) as observer:
        proc = env.start(side, groups, run_dir)
        ready = env.wait_ready(side, proc, run_dir, 1, now() + 60)
        window = CpuWindow([proc.pid, env.redis_pid])
        fires = wait_for(observer, samples + WARMUP_FIRES, t0 + 3 * samples + 30, [proc])
        cpu = window.stop()
        proc.stop()
    env.procs.remove(proc)
    fires = sorted(fires, key=lambda f: f.due)[WARMUP_FIRES : WARMUP_FIRES + samples]
    lateness = [f.seen - f.due for f in fires]
    lateness += [math.inf] * (samples - len(fires))
    return {
        "side": side,
        "schedules": 1,
        "ready_s": None if ready is None else ready - proc.spawned,
        "quiet_before_pct": quiet,
        "other_cpu_pct": cpu["other_cpu_pct"],
        **lateness_stats(lateness),
    }


def run_burst(env: Env, side: str, n: int, cap_s: float) -> dict[str, Any]:
    # Start-up before T0, checked below: redbeat loads its entries at ~0.6 ms each.
    margin = 3.0 + n / (2000 if side == "sched" else 1000)
    for _attempt in range(3):
        quiet = wait_quiet(env)
        run_dir = env.fresh()
        t0 = math.ceil(now() + margin)
        groups = [Group("burst", n, 3600, t0)]
        with Observer(env, side) as observer:
            proc = env.start(side, groups, run_dir)
            ready = env.wait_ready(side, proc, run_dir, n, t0 - 0.5)
            if ready is None:
                proc.stop()
                env.procs.remove(proc)
                log(f"  {side}: not ready 0.5 s before T0 with {margin:.0f} s margin; retrying")
                margin *= 3
                continue
            sleep_until(t0 - 0.2)
            window = CpuWindow([proc.pid, env.redis_pid])
            crashed = ""
            try:
                fires = wait_for(observer, n, t0 + cap_s, [proc])
            except ProcError:  # the scheduler died (redbeat: its tick outlived its lock)
                crashed = proc.last_words()
                log(f"  {side} exited during the burst: {crashed}")
                time.sleep(0.2)
                fires = observer.fires()
            cpu = window.stop()
            proc.stop()
        env.procs.remove(proc)
        lateness = [f.seen - f.due for f in fires if abs(f.due - t0) < 1e-3]
        within_1s = sum(1 for x in lateness if x <= 1.0)
        lateness += [math.inf] * (n - len(lateness))
        return {
            "side": side,
            "schedules": n,
            "ready_s": ready - proc.spawned,
            "margin_s": t0 - ready,
            "cap_s": cap_s,
            "within_1s": within_1s,
            "cpu_pct": cpu[f"cpu_pct_{proc.pid}"],
            "redis_cpu_pct": cpu[f"cpu_pct_{env.redis_pid}"],
            "quiet_before_pct": quiet,
            "other_cpu_pct": cpu["other_cpu_pct"],
            "crashed": crashed,
            **lateness_stats(lateness),
        }
    raise ProcError(f"{side} never got ready for a burst of {n}")


def bench_latency(env: Env) -> dict[str, Any]:
    samples = 10 if env.quick else 30
    sizes = [1_000] if env.quick else list(BURST_SIZES)
    cap_s = 20.0 if env.quick else 60.0
    rows = []
    for side in env.sides:
        log(f"latency: {side}, 1 schedule every 1 s, {samples} fires")
        rows.append(least_noisy(partial(run_single, env, side, samples)))
        log(f"  p50 {rows[-1]['p50_ms']:.2f} ms, p99 {rows[-1]['p99_ms']:.2f} ms")
    for n in sizes:
        for side in [s for s in env.sides if s in BURST_SIDES.get(n, SIDES)]:
            log(f"latency: {side}, {n:,} schedules due at one instant")
            rows.append(least_noisy(partial(run_burst, env, side, n, cap_s)))
            log(f"  p50 {rows[-1]['p50_ms']:.0f} ms, max {rows[-1]['max_ms']:.0f} ms")
    return {"samples": samples, "warmup_fires": WARMUP_FIRES, "cap_s": cap_s, "rows": rows}


# -- benchmark: sustained load ----------------------------------------------------------


def run_sustained(env: Env, side: str, n: int, warmup_s: int, window_s: int) -> dict[str, Any]:
    quiet = wait_quiet(env)
    run_dir = env.fresh()
    t0 = math.ceil(now() + 3 + n / (1000 if side == "sched" else 500))  # redbeat: ~0.6 ms each
    groups = [Group("load", n, 1, t0)]
    with Observer(env, side) as observer:
        proc = env.start(side, groups, run_dir)
        ready = env.wait_ready(side, proc, run_dir, n, t0 - 0.2)
        if ready is None:
            raise ProcError(f"{side} was not ready before T0 in the sustained run")
        sleep_until(t0 + warmup_s)
        window = CpuWindow([proc.pid, env.redis_pid])
        crashed = ""
        try:
            proc.check()
            sleep_until(window.start + window_s)
            proc.check()
        except ProcError:  # a result too (redbeat: its tick outlived its lock)
            crashed = proc.last_words()
            log(f"  {side} exited: {crashed}")
        cpu = window.stop()
        memory = proc.memory() if proc.alive() else {}
        proc.stop()
        time.sleep(0.2)
        fires = observer.fires()
    env.procs.remove(proc)
    start, end = window.start, window.start + cpu["seconds"]
    seen = [f for f in fires if start <= f.seen < end]
    return {
        "side": side,
        "schedules": n,
        "window_s": cpu["seconds"],
        "fires": len(seen),
        "fires_per_s": len(seen) / cpu["seconds"],
        "expected_per_s": n,
        "cpu_pct": cpu[f"cpu_pct_{proc.pid}"],
        "redis_cpu_pct": cpu[f"cpu_pct_{env.redis_pid}"],
        "bench_cpu_pct": cpu["bench_cpu_pct"],
        "quiet_before_pct": quiet,
        "other_cpu_pct": cpu["other_cpu_pct"],
        "rss_mb": memory.get("VmRSS"),
        "crashed": crashed,
        **lateness_stats([f.seen - f.due for f in seen]),
    }


def bench_sustained(env: Env) -> dict[str, Any]:
    sizes = SUSTAINED_SIZES[:1] if env.quick else SUSTAINED_SIZES
    warmup_s, window_s = (2, 8) if env.quick else (5, 30)
    rows = []
    for n in sizes:
        for side in env.sides:
            log(f"sustained: {side}, {n:,} schedules every 1 s, {window_s} s window")
            rows.append(least_noisy(partial(run_sustained, env, side, n, warmup_s, window_s)))
            row = rows[-1]
            log(
                f"  {row['fires_per_s']:.0f} fires/s, p99 {row['p99_ms']:.0f} ms, "
                f"CPU {row['cpu_pct']:.0f} %"
            )
    return {"schedules": list(sizes), "warmup_s": warmup_s, "window_s": window_s, "rows": rows}


# -- benchmark: memory and start-up -----------------------------------------------------


def run_memory(env: Env, side: str, n: int, cap_s: float, settle_s: float) -> dict[str, Any]:
    quiet = wait_quiet(env)
    run_dir = env.fresh()
    base = math.ceil(now())
    groups = [Group("canary", 1, 1, base + 1), Group("mem", n - 1, 3600, base + 600, 3600)]
    if side == "sched":  # the YAML files are input, like beat_schedule: not timed
        write_schedules(run_dir / "schedules", groups)
    with Observer(env, side) as observer:
        proc = env.start(side, groups, run_dir)
        window = CpuWindow([proc.pid, env.redis_pid])
        ready = env.wait_ready(side, proc, run_dir, n, proc.spawned + cap_s)
        first = wait_for(observer, 1, proc.spawned + cap_s + 5, [proc])
        sleep_until((ready or now()) + settle_s)
        proc.check()
        memory = proc.memory()
        cpu = window.stop()
        info: Any = env.client(0).info("memory")
        proc.stop()
    env.procs.remove(proc)
    row: dict[str, Any] = {
        "side": side,
        "schedules": n,
        "ready_s": None if ready is None else ready - proc.spawned,
        "first_dispatch_s": first[0].seen - proc.spawned if first else None,
        "rss_mb": memory.get("VmRSS"),
        "peak_rss_mb": memory.get("VmHWM"),
        "redis_used_mb": int(info["used_memory"]) / 2**20,
        "quiet_before_pct": quiet,
        "other_cpu_pct": cpu["other_cpu_pct"],
    }
    if side == "sched":
        row["yaml_load_s"] = our_load_time(proc)
    return row


def our_load_time(proc: Proc) -> float | None:
    """From process start to the CLI's "started with N schedules" log line (files read)."""
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if "started with" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp() - proc.spawned
    return None


def bench_memory(env: Env) -> dict[str, Any]:
    n = 20_000 if env.quick else 100_000
    cap_s = 120.0 if env.quick else 300.0
    settle_s = 3.0 if env.quick else 5.0
    rows = []
    for side in env.sides:
        log(f"memory: {side}, {n:,} schedules")
        rows.append(run_memory(env, side, n, cap_s, settle_s))
        row = rows[-1]
        log(f"  ready {row['ready_s']} s, RSS {row['rss_mb']:.0f} MB")
    return {"schedules": n, "cap_s": cap_s, "settle_s": settle_s, "rows": rows}


# -- benchmark: failover ----------------------------------------------------------------


def our_leader_pid(env: Env) -> tuple[int, int] | None:
    from scheduler.store import Store

    leader = Store(env.client(SCHED_DB)).reads.leader()
    if not leader.identity:
        return None
    return int(leader.identity.rsplit(":", 1)[1]), leader.epoch


def run_failover(env: Env, side: str, trials: Sequence[str]) -> dict[str, Any]:
    wait_quiet(env)
    run_dir = env.fresh()
    replicas = 3 if side == "sched" else 2
    groups = [Group("failover", 1, 1, math.ceil(now()) + 2)]
    rng = random.Random(20261121)
    results: list[dict[str, Any]] = []
    with Observer(env, side) as observer:
        procs = {}
        for i in range(replicas):
            procs[i] = env.start(side, groups, run_dir, replica=i)
        next_replica = replicas
        wait_for(observer, 3, now() + 60, list(procs.values()))
        for kind in trials:
            # Kill at a random point between two fires, a little after a steady fire.
            sleep_until(math.floor(now()) + 1 + rng.uniform(0.2, 0.8))
            fires = observer.fires()
            if side == "sched":
                found = our_leader_pid(env)
                assert found is not None, "no sched leader"
                pid, epoch = found
            else:
                pid, epoch = fires[-1].sender, 0
            victim = next(p for p in procs.values() if p.pid == pid)
            last_due = max(f.due for f in fires)
            before = len(fires)
            sig = signal.SIGKILL if kind == "crash" else signal.SIGTERM
            killed_at = now()
            os.kill(pid, sig)
            new: Fire | None = None
            deadline = killed_at + 30
            while new is None and now() < deadline:
                time.sleep(0.02)
                fresh = observer.fires()[before:]
                if side == "sched":
                    epochs = observer.epochs(fresh)
                    new = next((f for f, e in zip(fresh, epochs, strict=True) if e > epoch), None)
                else:
                    new = next((f for f in fresh if f.sender != pid), None)
            victim.popen.wait(timeout=20)
            env.procs.remove(victim)
            del procs[next(k for k, p in procs.items() if p is victim)]
            after = observer.fires()
            dues = {round(f.due, 3) for f in after}
            skipped = 0
            if new is not None:
                # Fire times between the last one before the kill and the first of the new
                # leader that were never enqueued (coalesced into one catch-up, or lost).
                skipped = sum(1 for k in range(1, int(new.due - last_due))
                              if round(last_due + k, 3) not in dues)  # fmt: skip
            results.append({
                "kind": kind,
                "gap_s": None if new is None else new.seen - killed_at,
                "first_new_late_s": None if new is None else new.seen - new.due,
                "skipped_fires": skipped,
            })  # fmt: skip
            log(f"  {side} {kind}: gap {fmt_s(results[-1]['gap_s'])} s")
            procs[next_replica] = env.start(side, groups, run_dir, replica=next_replica)
            next_replica += 1
            time.sleep(1.5)  # let the new standby start before the next kill
        for proc in list(procs.values()):
            proc.stop()
            env.procs.remove(proc)
    return {"side": side, "replicas": replicas, "trials": results}


def bench_failover(env: Env) -> dict[str, Any]:
    per_kind = 1 if env.quick else 3
    trials = ["crash"] * per_kind + ["graceful"] * per_kind
    rows = []
    for side in env.sides:
        if side == "beat":
            continue  # no leader election: two beats would both send every fire
        log(f"failover: {side}, {per_kind} crash + {per_kind} graceful kills of the leader")
        rows.append(run_failover(env, side, trials))
    return {
        "lease_ttl_s": 5,
        "redbeat_lock_timeout_s": REDBEAT_LOCK_TIMEOUT_S,
        "redbeat_retry_s": CELERY_MAX_INTERVAL_S,
        "rows": rows,
    }


BENCHMARKS: dict[str, Callable[[Env], dict[str, Any]]] = {
    "latency": bench_latency,
    "sustained": bench_sustained,
    "memory": bench_memory,
    "failover": bench_failover,
}


# -- reporting --------------------------------------------------------------------------


def git_describe() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "scheduler")
    return f"{commit}{' + uncommitted changes in scheduler/' if dirty else ''}"


def cpu_model() -> str:
    with suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def calibrate(env: Env) -> dict[str, float]:
    """How fast the machine is right now (it is shared and varies): microseconds for a fixed
    bit of pure Python (JSON and datetime work like a dispatch's), and a Redis round trip."""
    sample = {"run_id": "s000001@1795000000000", "args": [], "kwargs": {}, "epoch": 3}
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for i in range(2000):
            json.dumps({**sample, "fire_at": datetime.fromtimestamp(i, UTC).isoformat()})
        best = min(best, (time.perf_counter() - start) / 2000)
    client = env.client(0)
    trips = []
    for _ in range(500):
        start = time.perf_counter()
        client.ping()
        trips.append(time.perf_counter() - start)
    return {"python_us": best * 1e6, "redis_rtt_us": percentile(trips, 50) * 1e6}


def server_prefix() -> str:
    """``SCHED_SERVER_BINARY=...`` and a space, as a results file records the command that
    chose the server; '' when the bundled one was used."""
    server = os.environ.get(BINARY_ENV)
    return f"{BINARY_ENV}={server} " if server else ""


def metadata(env: Env, command: str, before: dict[str, float], sched: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(env.celery_python), str(CELERY_SIDE), "versions"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info: Any = env.client(0).info("server")
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "command": command,
        "quick": env.quick,
        "python": platform.python_version(),
        "sched": sched,
        "redis_py": version("redis"),
        "redis_server": f"{server_version(info)} "
        f"({env.client(0).info('memory').get('mem_allocator', 'allocator unknown')})",
        "celery_side": json.loads(done.stdout),
        "machine": f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}",
        "calibration": before,
        "calibration_after": calibrate(env),
    }


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "never"
    if value >= 10_000:
        return f"{value / 1000:,.1f} s"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_pct(row: dict[str, Any], key: str = "other_cpu_pct") -> str:
    value = row.get(key)
    return "-" if value is None else f"{value:.0f} %"


def fmt_ms_unit(value: float | None) -> str:
    """``fmt_ms`` with its unit: ms, or none when it already says s (or never)."""
    text = fmt_ms(value)
    return text if text.endswith(" s") or text in ("-", "never") else f"{text} ms"


def fmt_s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None or ours <= 0 or math.isnan(theirs) or math.isnan(ours):
        return "-"
    if math.isinf(theirs):
        return "∞"
    if theirs / ours < 0.1:
        return f"{theirs / ours:.2f}x"
    return f"{theirs / ours:,.1f}x" if theirs / ours < 100 else f"{theirs / ours:,.0f}x"


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


def meta_text(meta: dict[str, Any]) -> str:
    celery = meta["celery_side"]
    before, after = meta["calibration"], meta["calibration_after"]
    quick = " (**--quick**: a smoke run, not the reference numbers)" if meta["quick"] else ""
    return (
        f"`{meta['command']}`, {meta['date']}{quick}. {meta['machine']}; Python "
        f"{meta['python']}, sched {meta['sched']}, redis-py {meta['redis_py']}, "
        f"server {meta['redis_server']}; Celery {celery['celery']}, kombu "
        f"{celery['kombu']}, celery-redbeat {celery['celery-redbeat']} in "
        "`bench/.venv-celery`. Machine speed check before / after (a shared VM whose speed "
        f"varies): {before['python_us']:.1f} / {after['python_us']:.1f} µs per reference "
        f"JSON message, Redis PING round trip {before['redis_rtt_us']:.0f} / "
        f"{after['redis_rtt_us']:.0f} µs."
    )


def by_side(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, dict[str, Any]]:
    return {r["side"]: r for r in rows if all(r.get(k) == v for k, v in match.items())}


def render_latency(data: dict[str, Any]) -> str:
    rows = data["rows"]
    sizes = sorted({r["schedules"] for r in rows})
    table = []
    for n in sizes:
        sides = by_side(rows, schedules=n)
        ours = sides.get("sched", {})
        for side, row in sides.items():
            if n == 1:
                within, all_in = "-", "-"
            else:
                within = f"{row['within_1s']:,}"
                all_in = (
                    "never: it crashed" if row.get("crashed")
                    else f"> {row['cap_s']:.0f} s" if math.isinf(row["max_ms"])
                    else f"{row['max_ms'] / 1000:.2f} s"
                )  # fmt: skip
            table.append([
                f"{n:,}", LABELS[side], f"{row['n']:,}", fmt_ms(row["p50_ms"]),
                fmt_ms(row["p99_ms"]), fmt_ms(row["max_ms"]), within, all_in,
                "-" if side == "sched" else ratio(row["p99_ms"], ours.get("p99_ms")),
                fmt_pct(row),
            ])  # fmt: skip
    header = ["Due at once", "Scheduler", "Fires", "p50 ms", "p99 ms", "max ms",
              "Enqueued within 1 s", "All enqueued after", "p99: them ÷ sched",
              "Other load"]  # fmt: skip
    return (
        f"{meta_text(data['meta'])}\n\n"
        "Lateness = the time a separate client received the message from the queue minus its "
        f"fire time. *1*: one schedule every 1 s, {data['samples']} consecutive fires after the "
        f"first {data['warmup_fires']} (left out: connection set-up); p99 is by nearest rank, "
        f"so with {data['samples']} fires it is the largest. *1,000 / 10,000 / 100,000*: that "
        "many schedules all due at the same instant T0, each firing once (100,000: sched "
        "alone, since redbeat's start-up with 100,000 entries, ~56 s, and beat's dispatch, "
        "which does not finish 10,000 within the cap, leave nothing to compare; the peers "
        "are in the 10,000 rows of the same run); a fire not seen within "
        f"{data['cap_s']:.0f} s of T0 counts as infinitely late (*never*; the run is cut "
        "there), and so does every fire a scheduler had not sent when its process exited "
        "(*never: it crashed*: redbeat exits with `LockNotOwnedError` when its tick sending "
        "the burst outlives its 5 s lock). *p99: them ÷ sched*: above 1, sched is that many "
        "times less late. *Other load*: CPU used by other processes on the machine during "
        "the run (not the scheduler, Redis or this benchmark), in % of one core: a check on "
        "noise.\n\n" + markdown_table(header, table, 2) + "\n"
    )


def render_sustained(data: dict[str, Any]) -> str:
    table = []
    for n in sorted({r["schedules"] for r in data["rows"]}):
        table += sustained_rows(by_side(data["rows"], schedules=n))
    header = ["Every 1 s", "Scheduler", "Fires/s", "Due/s", "p50 ms", "p99 ms", "max ms",
              "Scheduler CPU", "Redis CPU", "RSS MB", "Fires/s: sched ÷ them",
              "p99: them ÷ sched", "Other load"]  # fmt: skip
    sizes = data["schedules"] if isinstance(data["schedules"], list) else [data["schedules"]]
    return (
        f"{meta_text(data['meta'])}\n\n"
        f"{' and '.join(f'{n:,}' for n in sizes)} interval schedules, each every 1 s, all "
        f"first due at the same instant; after {data['warmup_s']} s of warm-up, a "
        f"{data['window_s']} s window: "
        "fires per second seen on the queue, lateness of every fire seen in the window, CPU "
        "time of the scheduler process and of redis-server over the window (100 % = one "
        "core; the machine has 2). Celery's intervals restart from each send "
        "(`last_run_at = now`), so a beat that falls behind fires each entry less often and "
        "its lateness stays bounded by its cycle time: its *Fires/s* is then its maximum "
        "rate. sched's fire times are fixed "
        "(`anchor + k * every`, and `start` takes whole seconds), so its schedules are "
        "all due at the same instant every second: each second is one burst. A fire "
        "sched falls behind on is coalesced (skipped), so for both, *Fires/s* below *Due/s* "
        "means lost fires. *then it crashed*: the process exited during the window (redbeat: "
        "`LockNotOwnedError`, its tick outlived its 5 s lock); its rate counts the whole "
        "window.\n\n" + markdown_table(header, table, 2) + "\n"
    )


def sustained_rows(sides: dict[str, dict[str, Any]]) -> list[list[str]]:
    ours = sides.get("sched", {})
    table = []
    for side, row in sides.items():
        table.append([
            f"{row['schedules']:,}", LABELS[side],
            f"{row['fires_per_s']:,.0f}" + (" (then it crashed)" if row.get("crashed") else ""),
            f"{row['expected_per_s']:,}",
            fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), fmt_ms(row["max_ms"]),
            "-" if math.isnan(row["cpu_pct"]) else f"{row['cpu_pct']:.0f} %",
            f"{row['redis_cpu_pct']:.0f} %", fmt_s(row["rss_mb"], 0),
            "-" if side == "sched" else ratio(ours.get("fires_per_s"), row["fires_per_s"]),
            "-" if side == "sched" else ratio(row["p99_ms"], ours.get("p99_ms")),
            fmt_pct(row),
        ])  # fmt: skip
    return table


def render_memory(data: dict[str, Any]) -> str:
    sides = by_side(data["rows"])
    ours = sides.get("sched", {})
    table = []
    for side, row in sides.items():
        table.append([
            LABELS[side], fmt_s(row["rss_mb"], 0), fmt_s(row["peak_rss_mb"], 0),
            fmt_s(row["redis_used_mb"], 0),
            fmt_s(row["ready_s"], 1) if row["ready_s"] is not None
            else f"> {data['cap_s']:.0f}",
            fmt_s(row["first_dispatch_s"], 1),
            "-" if side == "sched" else ratio(row["rss_mb"], ours.get("rss_mb")),
            "-" if side == "sched" else ratio(row["ready_s"], ours.get("ready_s")),
            fmt_pct(row),
        ])  # fmt: skip
    header = ["Scheduler", "RSS MB", "Peak RSS MB", "Redis used MB", "Start → synced s",
              "Start → first dispatch s", "RSS: them ÷ sched",
              "Start-up: them ÷ sched", "Other load"]  # fmt: skip
    load = ours.get("yaml_load_s")
    load_text = (
        f" Of sched's start-up, {load:.1f} s is reading and checking the YAML file "
        "(to the CLI's `started with N schedules` log line); the rest is electing a leader "
        "and syncing the schedules to Redis (`Scheduler.sync`)."
        if load is not None else ""
    )  # fmt: skip
    return (
        f"{meta_text(data['meta'])}\n\n"
        f"{data['schedules']:,} schedules, a cold start on an empty Redis: "
        f"{data['schedules'] - 1:,} every 1 h with due times spread over the hour starting "
        "10 minutes out (so none fires during the run), and one every 1 s as a canary. "
        "*Start → synced*: process start until the schedule is loaded (sched: all of them in "
        "its due set in Redis; Celery: the first `tick()`). *Start → first dispatch*: until "
        "the canary's first message is seen (sched waits for the next whole second). RSS "
        f"(`VmRSS`) {data['settle_s']:.0f} s after sync; peak is `VmHWM`. *Redis used*: "
        "`used_memory` of the whole server at that moment (sched's keys or the Celery "
        f"broker's and redbeat's).{load_text}\n\n" + markdown_table(header, table, 1) + "\n"
    )


def render_failover(data: dict[str, Any]) -> str:
    table = []
    for row in data["rows"]:
        for kind in ("crash", "graceful"):
            trials = [t for t in row["trials"] if t["kind"] == kind]
            gaps = [t["gap_s"] for t in trials if t["gap_s"] is not None]
            late = [t["first_new_late_s"] for t in trials if t["first_new_late_s"] is not None]
            skipped = (
                ", ".join(str(t["skipped_fires"]) for t in trials)
                if row["side"] == "sched" else "- (intervals restart)"
            )  # fmt: skip
            table.append([
                LABELS[row["side"]], str(row["replicas"]),
                "SIGKILL" if kind == "crash" else "SIGTERM", str(len(trials)),
                ", ".join(f"{g:.2f}" for g in gaps) or "-",
                fmt_s(max(gaps) if gaps else None),
                ", ".join(f"{x:.2f}" for x in late) or "-", skipped,
            ])  # fmt: skip
    table.append(["Celery beat", "-", "-", "-", "no failover", "-", "-", "-"])
    header = ["Scheduler", "Replicas", "Kill", "Trials", "Gap per trial s", "Worst gap s",
              "First new fire late by s", "Fire times never sent"]  # fmt: skip
    replicas = data["rows"][0]["replicas"] if data["rows"] else 3
    return (
        f"{meta_text(data['meta'])}\n\n"
        "One schedule every 1 s; the leader is killed at a random point between two fires. "
        "*Gap*: from the kill until a fire sent by another replica is seen on the queue (it "
        "includes waiting for the next fire time). *First new fire late by*: that fire's "
        f"lateness. sched: {replicas} replicas of the CLI, lease TTL "
        f"{data['lease_ttl_s']} s, standbys retry every 0.5 s; its default `misfire: "
        "coalesce` sends one catch-up run for the fire times that passed without a leader, "
        "and *Fire times never sent* counts the others. redbeat: lock timeout "
        f"{data['redbeat_lock_timeout_s']} s, standbys retry every {data['redbeat_retry_s']} s "
        "(`beat_max_loop_interval`); its intervals restart from the late send, so it never "
        "skips a fire time but every later one moves. After each kill a new replica is "
        "started. Celery beat's default scheduler has no leader election: a second `celery "
        "beat` would send every fire twice, so there is nothing to fail over to.\n\n"
        + markdown_table(header, table, 1)
        + "\n"
    )


def render_summary(results: dict[str, dict[str, Any]]) -> str:
    """The goals from the issue, with the latest result for each."""
    lines = []

    def goal(text: str, met: bool | None, ours: str, beat: str, redbeat: str) -> None:
        verdict = "-" if met is None else ("met" if met else "**missed**")
        lines.append([text, ours, beat, redbeat, verdict])

    if "latency" in results:
        rows = results["latency"]["rows"]
        single = by_side(rows, schedules=1)
        if "sched" in single:
            p99 = single["sched"]["p99_ms"]
            goal("1 schedule: p99 lateness < 1.5 ms and below Celery beat's",
                 p99 < GOALS["single_p99_ms"]
                 and p99 < single.get("beat", {}).get("p99_ms", math.inf),
                 *(fmt_ms_unit(single.get(s, {}).get("p99_ms")) for s in SIDES))  # fmt: skip

        def all_in(row: dict[str, Any] | None) -> str:
            if row is None:
                return "-"
            if row.get("crashed"):
                return f"crashed ({row['within_1s']:,} in 1 s)"
            if math.isinf(row["max_ms"]):
                return f"> {row['cap_s']:.0f} s ({row['within_1s']:,} in 1 s)"
            return f"{row['max_ms'] / 1000:.2f} s"

        for n in BURST_SIZES[1:]:
            burst = by_side(rows, schedules=n)
            if "sched" in burst:
                goal(f"{n:,} at once: all enqueued within 1 s",
                     burst["sched"]["max_ms"] <= GOALS["burst_all_s"] * 1000,
                     *(all_in(burst.get(s)) for s in SIDES))  # fmt: skip
    for n, limit_ms in SUSTAINED_P99_MS.items() if "sustained" in results else ():
        sides = by_side(results["sustained"]["rows"], schedules=n)
        if "sched" in sides:
            ours = sides["sched"]
            goal(f"{n:,} every 1 s: all {n:,} fires/s",
                 ours["fires_per_s"] >= n * 0.99,
                 *(f"{sides[s]['fires_per_s']:,.0f}/s" if s in sides else "-"
                   for s in SIDES))  # fmt: skip
            goal(f"{n:,} every 1 s: p99 lateness < {limit_ms:,.0f} ms",
                 ours["p99_ms"] < limit_ms,
                 *(fmt_ms_unit(sides[s]["p99_ms"]) if s in sides else "-"
                   for s in SIDES))  # fmt: skip
    if "memory" in results:
        sides = by_side(results["memory"]["rows"])
        n = results["memory"]["schedules"]
        if "sched" in sides:
            goal(f"{n:,} schedules: RSS < 300 MB",
                 sides["sched"]["rss_mb"] < GOALS["rss_100k_mb"] if n >= 100_000 else None,
                 *(f"{sides[s]['rss_mb']:.0f} MB" if s in sides else "-"
                   for s in SIDES))  # fmt: skip
            ready = sides["sched"]["ready_s"]
            goal(f"{n:,} schedules: start-up until synced < 5 s",
                 ready is not None and ready < GOALS["startup_100k_s"] if n >= 100_000
                 else None,
                 *(fmt_s(sides[s]["ready_s"], 1) + " s" if s in sides else "-"
                   for s in SIDES))  # fmt: skip
    if "failover" in results:
        sides = by_side(results["failover"]["rows"])
        for kind, label in (("crash", "SIGKILL"), ("graceful", "SIGTERM")):

            def worst(side: str, kind: str = kind) -> str:
                if side == "beat":
                    return "no failover"
                gaps = [t["gap_s"] for t in sides.get(side, {}).get("trials", [])
                        if t["kind"] == kind and t["gap_s"] is not None]  # fmt: skip
                return f"{max(gaps):.2f} s" if gaps else "-"

            goal(f"Failover gap after {label} of the leader (worst)", None,
                 *(worst(s) for s in SIDES))  # fmt: skip
    header = ["Goal (from the issue)", "sched", "Celery beat", "celery-redbeat", "Goal"]
    dates = ", ".join(
        f"{name} {data['meta']['date']}{' (quick)' if data['meta']['quick'] else ''}"
        for name, data in results.items()
    )
    return (
        "The headline numbers of the sections below, against the goals in the issue "
        f"(benchmarks run: {dates}). `python bench/bench_scheduler.py report` "
        "rebuilds this from `bench/results/*.json`; each section below says its exact "
        "command (the reference runs are on Debian's `redis-server`, see the module's "
        "docstring), versions and method.\n\n" + markdown_table(header, lines, 1) + "\n"
    )


HEADINGS = {
    "summary": "## Scheduler vs Celery beat and redbeat: summary",
    "latency": "## Dispatch lateness vs Celery beat and redbeat",
    "sustained": "## Sustained load vs Celery beat and redbeat",
    "memory": "## Memory and start-up vs Celery beat and redbeat",
    "failover": "## Failover vs redbeat",
}
RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "latency": render_latency,
    "sustained": render_sustained,
    "memory": render_memory,
    "failover": render_failover,
}


def write_section(heading: str, body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{heading}\n\n{body.rstrip()}\n"
    if heading in text:
        before, _, rest = text.partition(heading)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following != -1 else ""
        text = before + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)


def write_results(names: Sequence[str]) -> None:
    results = {}
    for name in BENCHMARKS:
        path = RAW / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    write_section(HEADINGS["summary"], render_summary(results))
    for name in names:
        write_section(HEADINGS[name], RENDER[name](results[name]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all", "report"])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter: a smoke run")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument(
        "--sides", nargs="+", choices=SIDES, default=list(SIDES), help="schedulers to run"
    )
    parser.add_argument(
        "--celery-python",
        help="a Python with celery and celery-redbeat (default: bench/.venv-celery)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--write records reference numbers: run it without --quick")
    names = list(BENCHMARKS) if args.benchmark in ("all", "report") else [args.benchmark]
    if args.benchmark == "report":
        write_results(names)
        return 0
    command = (
        server_prefix()
        + "python bench/bench_scheduler.py "
        + " ".join(
            [args.benchmark]
            + (["--quick"] if args.quick else [])
            + (["--write"] if args.write else [])
        )
    )
    started = now()
    RAW.mkdir(exist_ok=True)
    with environment(args) as env:
        for name in names:
            before, sched = calibrate(env), f"{version('sched')} ({git_describe()})"
            data = BENCHMARKS[name](env)
            after = git_describe()
            if after not in sched:
                sched += f", then {after} (scheduler/ changed during the run)"
            data["meta"] = metadata(env, command, before, sched)
            raw = RAW / (f"{name}-quick.json" if args.quick else f"{name}.json")
            raw.write_text(json.dumps(data, indent=1) + "\n")
            if args.write:
                write_results([name])
    log(f"done in {now() - started:.0f} s" + (f"; wrote {RESULTS}" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
