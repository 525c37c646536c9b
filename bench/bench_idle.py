"""Idle cost: what a scheduler and a worker with nothing to do send to Redis.

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    python bench/bench_idle.py --write     # ~3 min; updates bench/RESULTS.md
    python bench/bench_idle.py --quick     # 10 s windows, prints only

One embedded server (``EmbeddedRedis``: the bundled Valkey, or ``SCHED_SERVER_BINARY``) with
the append-only file on (``appendfsync everysec``, as ``sched run`` starts its own), emptied
before each contender. The contenders, each one schedule that fires once a year (nothing is
due in the window) and a worker waiting for work:

* **sched**: ``python -m scheduler run FILE --redis-url URL/0``: the scheduler (leader) and a
  worker (prefork, 4 children) in one process, as in production;
* **Celery beat + worker**: ``celery beat`` (``PersistentScheduler``) and ``celery worker
  --pool solo`` with Celery's defaults (heartbeats, gossip and mingle on, as users run it),
  broker on database 1;
* **redbeat + worker**: the same with ``redbeat.RedBeatScheduler`` (schedule and lock on
  database 2).

After a warm-up (WARMUP_S), a window of WINDOW_S seconds: Redis' ``INFO commandstats``
before and after (every command counts, those a script runs included; the benchmark's own
``INFO`` calls are left out), ``rdb_changes_since_last_save`` (writes: keys changed) and
``aof_current_size`` (the append-only file's growth, as MB per hour). Celery's processes come
from ``bench/.venv-celery`` (see ``bench_scheduler.py``).

Raw results go to ``bench/results/idle.json`` (``idle-quick.json`` with ``--quick``, which
refuses ``--write``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from bench_scheduler import (
    BROKER_DB,
    CELERY_MAX_INTERVAL_S,
    CELERY_SIDE,
    RAW,
    REDBEAT_DB,
    REDBEAT_LOCK_TIMEOUT_S,
    SCHED_DB,
    Group,
    Proc,
    ensure_celery_venv,
    git_describe,
    log,
    server_prefix,
    spawn,
    write_section,
)

from scheduler.store.embedded import EmbeddedRedis, free_port, server_version

HEADING = "## Idle: a scheduler and a worker with nothing to do"
SIDES = ("sched", "beat", "redbeat")
LABELS = {"sched": "sched run (leader + worker)", "beat": "Celery beat + worker",
          "redbeat": "celery-redbeat + worker"}  # fmt: skip
YEAR_S = 365 * 86_400
WARMUP_S = 10.0
WINDOW_S = 60.0
GOALS = {"commands_per_s": 20.0, "aof_mb_per_hour": 2.0}


def counters(client: redis.Redis) -> dict[str, int]:
    stats: Any = client.info("commandstats")
    persistence: Any = client.info("persistence")
    out = {name: int(value["calls"]) for name, value in stats.items()}
    out["~writes"] = int(persistence["rdb_changes_since_last_save"])
    out["~aof"] = int(persistence.get("aof_current_size", 0))
    return out


def start(side: str, server: EmbeddedRedis, run_dir: Path, celery_python: Path) -> list[Proc]:
    base = server.url.rsplit("/", 1)[0]
    if side == "sched":
        files = run_dir / "yearly.yaml"
        files.write_text('schedules:\n  yearly: {task: "scheduler.tasks:heartbeat", '
                         'cron: "0 0 1 1 *", timezone: UTC}\n')  # fmt: skip
        argv = [sys.executable, "-m", "scheduler", "run", str(files), "--redis-url",
                f"{base}/{SCHED_DB}"]  # fmt: skip
        return [spawn("sched", argv, run_dir)]
    first_due = int(time.time()) + YEAR_S // 2
    spec = {
        "scheduler": "persistent" if side == "beat" else "redbeat",
        "broker_url": f"{base}/{BROKER_DB}",
        "redbeat_url": f"{base}/{REDBEAT_DB}",
        "max_interval_s": CELERY_MAX_INTERVAL_S,
        "lock_timeout_s": REDBEAT_LOCK_TIMEOUT_S,
        "schedule_file": str(run_dir / "celerybeat-schedule"),
        "ready_file": str(run_dir / "ready"),
        "groups": [Group("yearly", 1, YEAR_S, first_due).to_json()],
    }
    (run_dir / "beat.json").write_text(json.dumps(spec))
    worker = {"broker_url": f"{base}/{BROKER_DB}", "record_file": str(run_dir / "runs.jsonl"),
              "defaults": True}  # fmt: skip
    (run_dir / "worker.json").write_text(json.dumps(worker))
    python = str(celery_python)
    return [spawn(f"{side}-beat", [python, str(CELERY_SIDE), "beat", str(run_dir / "beat.json")],
                  run_dir),
            spawn(f"{side}-worker", [python, str(CELERY_SIDE), "worker",
                                     str(run_dir / "worker.json")], run_dir)]  # fmt: skip


def measure(side: str, server: EmbeddedRedis, workdir: Path, celery_python: Path,
            warmup_s: float, window_s: float) -> dict[str, Any]:  # fmt: skip
    client = redis.Redis.from_url(server.url)
    client.flushall()
    client.config_resetstat()
    run_dir = workdir / side
    run_dir.mkdir()
    procs = start(side, server, run_dir, celery_python)
    try:
        time.sleep(warmup_s)
        for proc in procs:
            proc.check()
        before, began = counters(client), time.monotonic()
        time.sleep(window_s)
        after, seconds = counters(client), time.monotonic() - began
        for proc in procs:
            proc.check()
    finally:
        for proc in procs:
            proc.stop()
    calls = {name: after[name] - before.get(name, 0) for name in after
             if not name.startswith("~") and after[name] != before.get(name, 0)}  # fmt: skip
    calls["cmdstat_info"] = calls.get("cmdstat_info", 0) - 2  # ours: one in each reading
    total = sum(calls.values())
    row = {
        "side": side,
        "seconds": seconds,
        "commands_per_s": total / seconds,
        "writes_per_s": (after["~writes"] - before["~writes"]) / seconds,
        "aof_mb_per_hour": (after["~aof"] - before["~aof"]) / seconds * 3600 / 1e6,
        "by_command_per_s": {name.removeprefix("cmdstat_"): n / seconds
                             for name, n in sorted(calls.items(), key=lambda x: -x[1]) if n},
    }  # fmt: skip
    log(
        f"  {LABELS[side]}: {row['commands_per_s']:.1f} commands/s, "
        f"{row['writes_per_s']:.1f} writes/s, AOF {row['aof_mb_per_hour']:.2f} MB/hour"
    )
    return row


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    rows = {row["side"]: row for row in data["rows"]}
    ours = rows.get("sched")
    lines = [
        f"`{meta.get('command', 'python bench/bench_idle.py --write')}`, {meta['date']}. "
        f"Python {meta['python']}, sched "
        f"{meta['sched']}, server {meta['redis_server']}, {meta['celery']}. Method: the "
        "docstring of `bench/bench_idle.py`.",
        "",
        f"One schedule firing once a year and a worker, {meta['window_s']:.0f} s after "
        f"{meta['warmup_s']:.0f} s of warm-up, on one Redis with the append-only file on. "
        "Commands count those that scripts run; writes are keys changed.",
        "",
        "| Idle | Redis commands/s | writes/s | AOF growth, MB/hour | commands ÷ sched's "
        "| top commands/s |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for side in SIDES:
        row = rows.get(side)
        if row is None:
            continue
        times = "-" if ours is None or side == "sched" else \
            f"{row['commands_per_s'] / ours['commands_per_s']:.1f}x"  # fmt: skip
        top = ", ".join(f"{name} {n:.1f}" for name, n in list(row["by_command_per_s"].items())[:4])
        lines.append(f"| {LABELS[side]} | {row['commands_per_s']:.1f} | {row['writes_per_s']:.1f} "
                     f"| {row['aof_mb_per_hour']:.2f} | {times} | {top} |")  # fmt: skip
    if ours is not None:
        met = [ours["commands_per_s"] <= GOALS["commands_per_s"],
               ours["aof_mb_per_hour"] < GOALS["aof_mb_per_hour"]]  # fmt: skip
        verdict = ["met" if ok else "not met" for ok in met]
        lines += [
            "",
            "What sched sends while idle is the upkeep of its guarantees, each once a "
            "second: the leader renews its lease (one script), the worker heartbeats, "
            "brings due retries back and delivers again the runs of dead workers (three "
            "scripts, which is where the TIME and sorted-set reads come from) and claims "
            "once in case an announcement was lost; the leader reads the next due "
            "instant twice a second (a schedule added through the API is seen within "
            "half a second) and its relay looks at the outbox. Celery beat's default "
            "scheduler keeps its state in a file and has no lease; its worker blocks in "
            "BRPOP and publishes its event heartbeats. redbeat's lock renewal and "
            "schedule reads run in MULTI/EXEC blocks.",
        ]
        lines += ["", f"Goals: at most {GOALS['commands_per_s']:.0f} commands/s ({verdict[0]}), "
                  f"append-only file under {GOALS['aof_mb_per_hour']:.0f} MB/hour "
                  f"({verdict[1]})."]  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 s windows; prints only")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--report", action="store_true", help="rewrite RESULTS.md from JSON")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--celery-python", help="a Python with celery and celery-redbeat")
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--quick results are not written to RESULTS.md")
    if args.report:
        write_section(HEADING, render(json.loads((RAW / "idle.json").read_text())))
        return 0
    celery_python = Path(args.celery_python) if args.celery_python else ensure_celery_venv()
    warmup_s, window_s = (5.0, 10.0) if args.quick else (WARMUP_S, WINDOW_S)
    with tempfile.TemporaryDirectory(prefix="sched-idle-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        try:
            info: Any = redis.Redis.from_url(server.url).info("server")
            done = subprocess.run([str(celery_python), str(CELERY_SIDE), "versions"],
                                  capture_output=True, text=True, check=True)  # fmt: skip
            celery = json.loads(done.stdout)
            rows = [measure(side, server, workdir, celery_python, warmup_s, window_s)
                    for side in args.sides]  # fmt: skip
        finally:
            server.kill()
    meta = {"date": f"{datetime.now(UTC):%Y-%m-%d}", "python": sys.version.split()[0],
            "command": f"{server_prefix()}python bench/bench_idle.py --write",
            "sched": git_describe(), "redis_server": server_version(info),
            "celery": ", ".join(f"{k} {v}" for k, v in celery.items()),
            "warmup_s": warmup_s, "window_s": window_s, "quick": args.quick}  # fmt: skip
    data = {"meta": meta, "rows": rows}
    RAW.mkdir(exist_ok=True)
    out = RAW / ("idle-quick.json" if args.quick else "idle.json")
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))
    if args.write:
        write_section(HEADING, render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
