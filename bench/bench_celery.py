"""Celery hand-off benchmarks: sched handing runs to Celery next to Celery beat and redbeat.

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    python bench/bench_celery.py --write    # both parts, update RESULTS.md (~8 min)
    python bench/bench_celery.py --quick    # smoke run, under a minute; refuses --write
    python bench/bench_celery.py --report   # re-render RESULTS.md from results/celery.json

One embedded Redis (``EmbeddedRedis``) per invocation, emptied before every run. Four
contenders, each a real process started one after the other:

* **sched atomic**: ``python -m scheduler scheduler DIR --redis-url URL/0``: the Celery broker
  is sched's own Redis, so the dispatch script pushes the Celery message onto kombu's list
  in database 0 in the same step as its compare-and-set;
* **sched relay**: the same with ``--celery-broker-url URL/1``: another database of the same
  server, so the dispatch script writes an outbox that the leader's relay thread publishes;
* **beat**: ``celery beat`` with Celery's default ``PersistentScheduler``, broker database 1;
* **redbeat**: ``celery beat`` with ``redbeat.RedBeatScheduler``, broker database 1,
  schedule and lock in database 2.

Celery beat, redbeat and the worker come from ``bench/.venv-celery`` through
``bench/celery_side.py`` (settings as in ``bench_scheduler.py``: ``beat_max_loop_interval``
1 s, redbeat lock 5 s). Every schedule names the task ``bench.noop`` on Celery's default
queue ``celery``.

* **Burst** (no worker): N schedules all due at the same instant T0 (sched: ``every: 1h``
  with ``start: T0``; Celery: ``schedule(3600)`` with ``last_run_at = T0 - 1h``, as
  ``bench_scheduler.py latency`` does). A thread of this process polls ``LLEN`` of kombu's
  lists for the queue (all four priority steps) every 2 ms from T0 until all N messages
  are there, or until a cap. Hand-offs/s = N / (time from T0 until all N are on the broker).
  For sched it also polls how many schedules the dispatch script has moved past T0 (the
  compare-and-set done), which shows the relay's share of the time.
* **Latency**: one schedule every 1 s and an idle ``celery worker --pool solo`` on the
  broker's database, started before the scheduler. The task records ``time.time()`` as its
  first statement and the instant its message says it was due: sched's ``sched_fire_at``
  header; for beat and redbeat, a ``bench_due`` header that ``celery_side.py`` adds (the due
  instant Celery itself computed). Celery's entries use ``schedule(1.0, relative=True)``:
  a plain ``schedule(1.0)`` restarts each interval at the send, so its fire k is due at
  T0 + k plus all earlier lateness and has no fixed instant to be late for; ``relative=True``
  (a documented Celery option) rounds each due time down to the whole second, so beat aims
  at the same whole-second boundaries as sched. ``crontab()`` cannot fire every second.
  Rounds of F fires per contender, the contenders taking turns; in each round fires
  T0 + 2 ... T0 + 1 + F are measured (the first two, after start-up, left out); a fire that
  never ran counts as infinitely late. The fires of all rounds are pooled.

Raw results go to ``bench/results/celery.json`` (``celery-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench_scheduler import (
    BROKER_DB,
    CELERY_MAX_INTERVAL_S,
    CELERY_SIDE,
    OUR_DUE,
    PER_FILE,
    RAW,
    REDBEAT_DB,
    REDBEAT_LOCK_TIMEOUT_S,
    SCHED_DB,
    CpuWindow,
    Env,
    Group,
    Proc,
    ProcError,
    calibrate,
    ensure_celery_venv,
    fmt_ms,
    git_describe,
    log,
    markdown_table,
    metadata,
    now,
    percentile,
    sleep_until,
    spawn,
    wait_quiet,
    write_section,
)

from scheduler.core.celery import KOMBU_PRIORITY_STEPS, redis_list
from scheduler.store.embedded import EmbeddedRedis, free_port

HEADING = "## Celery hand-off: sched next to Celery beat and redbeat"
SIDES = ("atomic", "relay", "beat", "redbeat")
LABELS = {
    "atomic": "sched, atomic (broker = sched's Redis)",
    "relay": "sched, relay (broker = db 1)",
    "beat": "Celery beat",
    "redbeat": "celery-redbeat",
}
TASK = "bench.noop"
QUEUE = "celery"
# kombu's Redis lists for the queue, one per priority step (sched's priorities 9, 4, 2, 0)
KOMBU_LISTS = [redis_list(QUEUE, p) for p in (9, 4, 2, 0)]
assert len(set(KOMBU_LISTS)) == len(KOMBU_PRIORITY_STEPS)
WARMUP_FIRES = 2
POLL_S = 0.002


def is_sched(side: str) -> bool:
    return side in ("atomic", "relay")


def broker_db(side: str) -> int:
    return SCHED_DB if side == "atomic" else BROKER_DB


# -- starting the contenders ------------------------------------------------------------


def write_celery_schedules(directory: Path, groups: Sequence[Group]) -> None:
    """The groups as sched schedule files of ``celery_task`` schedules (queue ``celery``)."""
    lines = []
    for g in groups:
        for i in range(g.count):
            start = datetime.fromtimestamp(g.first_due, UTC)
            lines.append(
                f"  {g.prefix}{i:06d}: {{celery_task: {TASK}, every: {g.every_s}s, "
                f'start: "{start:%Y-%m-%dT%H:%M:%SZ}"}}'
            )
    directory.mkdir()
    for number, first in enumerate(range(0, len(lines), PER_FILE)):
        chunk = lines[first : first + PER_FILE]
        text = "\n".join(["defaults:", "  timezone: UTC", "schedules:", *chunk]) + "\n"
        (directory / f"schedules-{number:03d}.yaml").write_text(text)


def start_scheduler(
    env: Env, side: str, groups: Sequence[Group], run_dir: Path, relative: bool = False
) -> Proc:
    """One contender's scheduler process, named ``KIND-0`` (what ``Env.wait_ready`` reads)."""
    if is_sched(side):
        files = run_dir / "schedules"
        write_celery_schedules(files, groups)
        argv = [sys.executable, "-m", "scheduler", "scheduler", str(files)]
        argv += ["--redis-url", env.url(SCHED_DB)]
        if side == "relay":
            argv += ["--celery-broker-url", env.url(BROKER_DB)]
        name = "sched-0"
    else:
        spec = {
            "scheduler": "persistent" if side == "beat" else "redbeat",
            "broker_url": env.url(BROKER_DB),
            "redbeat_url": env.url(REDBEAT_DB),
            "max_interval_s": CELERY_MAX_INTERVAL_S,
            "lock_timeout_s": REDBEAT_LOCK_TIMEOUT_S,
            "schedule_file": str(run_dir / "celerybeat-schedule-0"),
            "ready_file": str(run_dir / "ready-0"),
            "groups": [{**g.to_json(), "relative": relative} for g in groups],
        }
        spec_path = run_dir / "spec-0.json"
        spec_path.write_text(json.dumps(spec))
        argv = [str(env.celery_python), str(CELERY_SIDE), "beat", str(spec_path)]
        name = f"{side}-0"
    proc = spawn(name, argv, run_dir)
    env.procs.append(proc)
    return proc


def start_worker(env: Env, side: str, run_dir: Path, record: Path) -> Proc:
    """An idle ``celery worker --pool solo`` on the side's broker, once it consumes."""
    url = env.url(broker_db(side))
    spec_path = run_dir / "worker.json"
    spec_path.write_text(json.dumps({"broker_url": url, "record_file": str(record)}))
    argv = [str(env.celery_python), str(CELERY_SIDE), "worker", str(spec_path)]
    proc = spawn("worker", argv, run_dir)
    env.procs.append(proc)
    broker = env.client(broker_db(side))
    deadline = now() + 60
    while not broker.exists(f"_kombu.binding.{QUEUE}"):
        proc.check()
        if now() > deadline:
            raise ProcError("the Celery worker did not start within 60 s")
        time.sleep(0.02)
    time.sleep(0.5)  # the binding is declared just before the consumer's first BRPOP
    return proc


def quiet(env: Env, patience_s: float) -> float | None:
    """Wait (up to ``patience_s``; not at all when 0) for the rest of the machine to go quiet;
    what it used in the last second checked."""
    return wait_quiet(env, patience_s=patience_s) if patience_s > 0 else None


def stop(env: Env, *procs: Proc) -> None:
    for proc in procs:
        proc.stop()
        env.procs.remove(proc)


# -- part 1: a burst handed to the broker -----------------------------------------------


@dataclass
class ListWatcher:
    """Polls, every ``POLL_S``, how many messages kombu's lists hold and (sched) how many
    schedules the dispatch script has moved past T0; records when each first changed and
    when the lists held ``n``."""

    env: Env
    side: str
    n: int
    t0: float
    first: float | None = None
    all_in: float | None = None
    dispatched_all: float | None = None
    count: int = 0
    dispatched: int = 0
    early: int = 0  # messages seen before T0: never expected
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, until: float) -> None:
        broker = self.env.client(broker_db(self.side))
        ours = self.env.client(SCHED_DB)
        past_t0 = f"({int(self.t0 * 1000)}"
        while not self._stop.is_set():
            pipe = broker.pipeline(transaction=False)
            for name in KOMBU_LISTS:
                pipe.llen(name)
            self.count = sum(int(x) for x in pipe.execute())
            seen = now()
            if is_sched(self.side) and self.dispatched_all is None:
                self.dispatched = int(ours.zcount(OUR_DUE, past_t0, "+inf"))
                if self.dispatched >= self.n:
                    self.dispatched_all = now()
            if self.count and self.first is None:
                self.first = seen
                if seen < self.t0:
                    self.early = self.count
            if self.count >= self.n:
                self.all_in = seen
                return
            if seen >= until:
                return
            time.sleep(POLL_S)


def run_burst(env: Env, side: str, n: int, cap_s: float, quiet_wait_s: float) -> dict[str, Any]:
    kind = "sched" if is_sched(side) else side
    # start-up before T0, checked below; redbeat writes every entry to Redis first
    margin = (2.0 if env.quick else 3.0) + n / (700 if side == "redbeat" else 2000)
    for _attempt in range(3):
        quiet_pct = quiet(env, quiet_wait_s)
        run_dir = env.fresh()
        t0 = math.ceil(now() + margin)
        proc = start_scheduler(env, side, [Group("burst", n, 3600, t0)], run_dir)
        ready = env.wait_ready(kind, proc, run_dir, n, t0 - 1.0)
        if ready is None:
            stop(env, proc)
            log(f"  {side}: not ready 1 s before T0 with {margin:.0f} s margin; retrying")
            margin *= 3
            continue
        watcher = ListWatcher(env, side, n, t0)
        sleep_until(t0 - 0.3)
        window = CpuWindow([proc.pid, env.redis_pid])
        watcher.run(t0 + cap_s)
        cpu = window.stop()
        proc.check()
        stop(env, proc)
        all_s = None if watcher.all_in is None else watcher.all_in - t0
        return {
            "side": side,
            "schedules": n,
            "margin_s": t0 - ready,
            "cap_s": cap_s,
            "first_s": None if watcher.first is None else watcher.first - t0,
            "all_s": all_s,
            "dispatched_s": None if watcher.dispatched_all is None else watcher.dispatched_all - t0,
            "on_broker": watcher.count,
            "early": watcher.early,
            "per_s": n / all_s if all_s else watcher.count / cap_s,
            "cpu_pct": cpu[f"cpu_pct_{proc.pid}"],
            "redis_cpu_pct": cpu[f"cpu_pct_{env.redis_pid}"],
            "quiet_before_pct": quiet_pct,
            "other_cpu_pct": cpu["other_cpu_pct"],
        }
    raise ProcError(f"{side} never got ready for a burst of {n}")


def bench_burst(
    env: Env, sides: Sequence[str], sizes: Sequence[int], cap_s: float, quiet_wait_s: float
) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for side in sides:
            log(f"burst: {side}, {n:,} schedules due at one instant")
            row = run_burst(env, side, n, cap_s, quiet_wait_s)
            rows.append(row)
            done = (
                f"all on the broker after {row['all_s']:.2f} s"
                if row["all_s"] is not None
                else f"{row['on_broker']:,} on the broker after {cap_s:.0f} s"
            )
            log(f"  {done}: {row['per_s']:,.0f} messages/s")
    return rows


# -- part 2: fire to task start on an idle worker ---------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def due_of(record: dict[str, Any]) -> float:
    if record["sched_fire_at"] is not None:
        return datetime.fromisoformat(record["sched_fire_at"]).timestamp()
    return float(record["bench_due"])


def run_latency(env: Env, side: str, fires: int, quiet_wait_s: float) -> dict[str, Any]:
    """One round: a fresh worker and scheduler, ``fires`` measured fires."""
    quiet_pct = quiet(env, quiet_wait_s)
    run_dir = env.fresh()
    record = run_dir / "record.jsonl"
    worker = start_worker(env, side, run_dir, record)
    t0 = math.ceil(now() + (1 if env.quick else 2))  # the fires before T0 + 2 are left out
    total = WARMUP_FIRES + fires
    proc = start_scheduler(env, side, [Group("tick", 1, 1, t0)], run_dir, relative=True)
    window = CpuWindow([proc.pid, worker.pid, env.redis_pid])
    deadline = t0 + total + 20
    while len(read_records(record)) < total and now() < deadline:
        proc.check()
        worker.check()
        time.sleep(0.1)
    cpu = window.stop()
    stop(env, proc)
    time.sleep(0.3)  # a message still on its way to the worker
    stop(env, worker)
    by_due: dict[int, list[float]] = {}
    for r in read_records(record):
        by_due.setdefault(round(due_of(r) * 1000), []).append(r["at"])
    wanted = [(t0 + k) * 1000 for k in range(WARMUP_FIRES, total)]
    lateness = [min(by_due[ms]) - ms / 1000 if ms in by_due else math.inf for ms in wanted]
    return {
        "lateness_ms": [x * 1000 for x in lateness],
        "ran": sum(1 for ms in wanted if ms in by_due),
        "duplicates": sum(len(v) - 1 for v in by_due.values()),
        "off_grid": sum(1 for ms in by_due if ms % 1000),
        "seconds": cpu["seconds"],
        "scheduler_cpu_s": cpu[f"cpu_pct_{proc.pid}"] * cpu["seconds"] / 100,
        "other_cpu_s": cpu["other_cpu_pct"] * cpu["seconds"] / 100,
        "quiet_before_pct": quiet_pct,
    }


def pooled(side: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one row: every fire pooled, and each round's p50 and max."""
    lateness = [x for r in rounds for x in r["lateness_ms"]]
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "side": side,
        "fires": len(lateness),
        "ran": sum(r["ran"] for r in rounds),
        "duplicates": sum(r["duplicates"] for r in rounds),
        "off_grid": sum(r["off_grid"] for r in rounds),
        "p50_ms": percentile(lateness, 50),
        "p95_ms": percentile(lateness, 95),
        "p99_ms": percentile(lateness, 99),
        "max_ms": percentile(lateness, 100),
        "round_p50_ms": [percentile(r["lateness_ms"], 50) for r in rounds],
        "round_max_ms": [percentile(r["lateness_ms"], 100) for r in rounds],
        "scheduler_cpu_pct": 100 * sum(r["scheduler_cpu_s"] for r in rounds) / seconds,
        "other_cpu_pct": 100 * sum(r["other_cpu_s"] for r in rounds) / seconds,
        "rounds": rounds,
    }


def bench_latency(
    env: Env, sides: Sequence[str], fires: int, rounds: int, quiet_wait_s: float
) -> list[dict[str, Any]]:
    """``rounds`` rounds of ``fires`` fires per side, the sides taking turns (each round
    starting with the next side), so a noisy minute lands on every side alike."""
    done: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for k in range(rounds):
        order = [*sides[k % len(sides) :], *sides[: k % len(sides)]]
        for side in order:
            log(f"latency round {k + 1}/{rounds}: {side}, 1 schedule every 1 s, {fires} fires")
            row = run_latency(env, side, fires, quiet_wait_s)
            done[side].append(row)
            late = row["lateness_ms"]
            log(
                f"  {row['ran']}/{fires} ran; p50 {percentile(late, 50):.1f} ms, "
                f"max {percentile(late, 100):.1f} ms"
            )
    return [pooled(side, done[side]) for side in sides]


# -- environment and reporting ----------------------------------------------------------


@contextmanager
def environment(celery_python: Path, quick: bool) -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="sched-bench-celery-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        env = Env(server, workdir, celery_python, SIDES, quick)
        try:
            yield env
        finally:
            env.stop_all()
            server.kill()


def times(ours: float | None, beat: float | None) -> str:
    """``ours`` as a multiple of Celery beat's."""
    if ours is None or beat is None or beat <= 0 or math.isnan(ours) or math.isnan(beat):
        return "-"
    if math.isinf(ours):
        return "∞"
    value = ours / beat
    if value < 0.1:
        return f"{value:.3f}x"
    return f"{value:,.2f}x" if value < 10 else f"{value:,.0f}x"


def ordinal(k: int) -> str:
    """``3rd `` for 3, nothing for 1 (``the largest``)."""
    return {1: "", 2: "2nd ", 3: "3rd "}.get(k, f"{k}th ")


def render_burst(data: dict[str, Any]) -> str:
    table = []
    for n in data["sizes"]:
        rows = {r["side"]: r for r in data["burst"] if r["schedules"] == n}
        beat = rows.get("beat")
        for side, row in rows.items():
            capped = row["all_s"] is None
            all_on = f"> {row['cap_s']:.0f} s" if capped else f"{row['all_s']:.2f} s"
            rate = f"{row['per_s']:,.0f}" + (" *" if capped else "")
            cas = "-" if row.get("dispatched_s") is None else f"{row['dispatched_s']:.2f} s"
            table.append([
                f"{n:,}", LABELS[side], f"{row['on_broker']:,}",
                "-" if row["first_s"] is None else f"{row['first_s'] * 1000:,.0f} ms",
                cas, all_on, rate,
                "-" if side == "beat" or beat is None
                else ("≥ " if beat["all_s"] is None else "") + times(row["per_s"], beat["per_s"]),
                f"{row['cpu_pct']:.0f} %", f"{row['redis_cpu_pct']:.0f} %",
                f"{row['other_cpu_pct']:.0f} %",
            ])  # fmt: skip
    header = ["Due at once", "Scheduler", "On broker", "First on broker",
              "sched: all compared-and-set", "All on broker", "Hand-offs/s",
              "Hand-offs/s ÷ Celery beat's", "Scheduler CPU", "Redis CPU",
              "Other load"]  # fmt: skip
    return markdown_table(header, table, 2)


def render_latency(data: dict[str, Any]) -> str:
    rows = {r["side"]: r for r in data["latency"]}
    beat = rows.get("beat", {})
    table = []
    for side, row in rows.items():
        table.append([
            LABELS[side], f"{row['ran']} / {row['fires']}", str(row["duplicates"]),
            fmt_ms(row["p50_ms"]), fmt_ms(row["p95_ms"]), fmt_ms(row["p99_ms"]),
            fmt_ms(row["max_ms"]), " / ".join(fmt_ms(x) for x in row["round_p50_ms"]),
            "-" if side == "beat" else times(row["p50_ms"], beat.get("p50_ms")),
            "-" if side == "beat" else times(row["p95_ms"], beat.get("p95_ms")),
            "-" if side == "beat" else times(row["p99_ms"], beat.get("p99_ms")),
            f"{row['scheduler_cpu_pct']:.1f} %", f"{row['other_cpu_pct']:.0f} %",
        ])  # fmt: skip
    header = ["Scheduler", "Ran", "Twice", "p50 ms", "p95 ms", "p99 ms", "max ms",
              "p50 per round ms", "p50 ÷ Celery beat's", "p95 ÷ Celery beat's",
              "p99 ÷ Celery beat's", "Scheduler CPU", "Other load"]  # fmt: skip
    return markdown_table(header, table, 1)


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    celery = meta["celery_side"]
    before, after = meta["calibration"], meta["calibration_after"]
    quick = " (**--quick**: a smoke run, not the reference numbers)" if meta["quick"] else ""
    parts = [
        f"`{meta['command']}`, {meta['date']}{quick}. {meta['machine']}, a shared VM: the "
        "numbers are relative, read them side by side. Python "
        f"{meta['python']}, sched {meta['sched']}, redis-py {meta['redis_py']}, "
        f"server {meta['redis_server']}; Celery {celery['celery']}, kombu {celery['kombu']}, "
        f"celery-redbeat {celery['celery-redbeat']} in `bench/.venv-celery`. Machine speed "
        f"check before / after: {before['python_us']:.1f} / {after['python_us']:.1f} µs per "
        f"reference JSON message, Redis PING {before['redis_rtt_us']:.0f} / "
        f"{after['redis_rtt_us']:.0f} µs.",
        "Every contender is a real process, one after the other, against one Redis server, "
        "emptied before each run: *sched, atomic* is `sched scheduler` with no "
        "`--celery-broker-url` (the broker is sched's own Redis, database 0: the dispatch "
        "script pushes Celery's message in the same step as its compare-and-set); *sched, "
        "relay* has `--celery-broker-url` naming database 1 of the same server (the dispatch "
        "script writes the outbox, the leader's relay thread publishes it); *Celery beat* is "
        "the default `PersistentScheduler` and *celery-redbeat* `RedBeatScheduler`, both "
        "with the broker on database 1 and `beat_max_loop_interval = 1` s. All send the task "
        "`bench.noop` to Celery's default queue.",
    ]
    if data.get("burst"):
        parts += [
            "**Hand-offs to the broker.** That many schedules all due at the same instant T0 "
            "(sched: `every: 1h` with `start: T0`; Celery: `schedule(3600)` with `last_run_at "
            "= T0 - 1h` in `beat_schedule`), no worker: this benchmark polls `LLEN` of kombu's "
            "lists for the queue every 2 ms. *All on broker*: from T0 until all of them were "
            "there; *Hand-offs/s* = schedules ÷ that time (the rate a user sees, start-up of "
            "the burst included). A run is cut at "
            f"{data['cap_s']:.0f} s; then (*) the rate is what was on the broker by the cut ÷ "
            "the cut, an upper bound, and the ratio to it a lower bound (≥). *sched: all "
            "compared-and-set*: until the dispatch script had moved every schedule past T0 "
            "(its fire time's compare-and-set done); for the relay, the rest of *All on "
            "broker* is the relay's. CPU over the run in % of one core; *Other load*: what "
            "other processes used meanwhile.",
            render_burst(data),
        ]
    if data.get("latency"):
        fires = data["latency"][0]["fires"]
        rounds = len(data["latency"][0]["rounds"])
        parts += [
            "**Fire to task start on an idle worker.** One schedule every 1 s and one idle "
            "`celery worker --pool solo` (prefetch 1, no heartbeat, gossip or mingle), started "
            "on the contender's broker database before the scheduler, the same for all four. "
            "The task records `time.time()` as its first statement; lateness = that minus the "
            f"instant the run was due. {rounds} rounds of {fires // rounds} consecutive fires "
            "per contender, the contenders taking turns (each round a fresh worker and "
            "scheduler, starting with the next contender), so a noisy minute on the shared "
            f"machine lands on all alike; in each round the first {WARMUP_FIRES} fires after "
            "start-up are left out, and a fire that never ran is infinitely late. "
            "sched's due instant is its `sched_fire_at` header. Celery's entries use "
            "`schedule(1.0, relative=True)`, whose due time Celery rounds down to the whole "
            "second, so every fire aims at a whole-second boundary as sched's do; the due "
            "instant is the one beat computed, carried in a `bench_due` header. (A plain "
            "`schedule(1.0)` restarts each interval at the send, so fire k drifts by all "
            "earlier lateness and has no fixed instant to be late for; `crontab()` cannot "
            f"fire every second.) Nearest-rank percentiles over all {fires} fires: p95 is the "
            f"{ordinal(fires - math.ceil(0.95 * fires) + 1)}largest and p99 the "
            f"{ordinal(fires - math.ceil(0.99 * fires) + 1)}largest. *Twice*: fire instants "
            "the task ran for more than once. Ratios "
            "below 1: less late than Celery beat.",
            render_latency(data),
        ]
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller and shorter: a smoke run")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--report", action="store_true", help="re-render from the JSON")
    parser.add_argument("--only", choices=["burst", "latency"], help="run one part")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="longest wait for a quiet machine before each run, s")  # fmt: skip
    parser.add_argument("--celery-python", help="a Python with celery and celery-redbeat")
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--write records reference numbers: run it without --quick")
    raw = RAW / ("celery-quick.json" if args.quick else "celery.json")
    if args.report:
        write_section(HEADING, render(json.loads(raw.read_text())))
        return 0
    sizes = [1_000] if args.quick else [1_000, 10_000]
    cap_s = 10.0 if args.quick else 30.0
    fires, rounds = (3, 1) if args.quick else (20, 3)
    quiet_wait_s = 0.0 if args.quick else args.quiet_wait
    command = (
        "python bench/bench_celery.py"
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else "")
        + (" --write" if args.write else "")
    )
    celery_python = Path(args.celery_python) if args.celery_python else ensure_celery_venv()
    started = now()
    RAW.mkdir(exist_ok=True)
    data: dict[str, Any] = {"sizes": sizes, "cap_s": cap_s}
    if args.only and raw.exists():  # keep the other part's last numbers
        data = {**json.loads(raw.read_text()), "sizes": sizes, "cap_s": cap_s}
    with environment(celery_python, args.quick) as env:
        before, sched = calibrate(env), f"{version('sched')} ({git_describe()})"
        if args.only in (None, "burst"):
            data["burst"] = bench_burst(env, args.sides, sizes, cap_s, quiet_wait_s)
        if args.only in (None, "latency"):
            data["latency"] = bench_latency(env, args.sides, fires, rounds, quiet_wait_s)
        data["meta"] = metadata(env, command, before, sched)
    raw.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))
    if args.write:
        write_section(HEADING, render(data))
    log(f"done in {now() - started:.0f} s" + (f"; wrote {raw.parent.parent / 'RESULTS.md'}"
                                               if args.write else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
