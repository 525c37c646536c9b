"""Scale benchmarks (issue 12, schedules from code): sched with up to 1,000,000 API schedules,
next to celery-redbeat where the comparison makes sense.

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    SCHED_SERVER_BINARY=/usr/bin/redis-server python bench/bench_scale.py --write   # ~20 min
    python bench/bench_scale.py --quick     # smoke run (2k / 10k / 50k, short windows)

One embedded Redis per invocation (``EmbeddedRedis``, as ``bench_scheduler.py``): the
bundled Valkey, or the binary ``SCHED_SERVER_BINARY`` names. The reference run uses Debian's
``redis-server`` (``SCHED_SERVER_BINARY=/usr/bin/redis-server``, jemalloc), the kind of
shared Redis a million schedules would live on: the bundled Valkey is built with libc's
malloc, which costs it about a third more CPU a definition written (creating tenants: 18,900/s
median on it, 22,500/s on Redis 7 in the same hour). sched's
leader is its real CLI, ``python -m scheduler scheduler FILE --redis-url URL``, where FILE
holds one unrelated schedule (``canary``, every 1 s); everything else is created through
``scheduler.Client``. redbeat runs from ``bench/.venv-celery`` (``requirements-compare.txt``):
entries are created by ``bench/scale_redbeat.py``, beat is ``bench/celery_side.py beat``
(``redbeat.RedBeatScheduler``, its ``beat_schedule`` only the same canary). sched uses
database 0, redbeat database 2 (its broker database 1).

**The mix** (both sides): schedule *i* is, by ``i % 4``, a monthly cron (``M H D * *``), a
weekly cron (``M H * * W``), a daily cron (``M H * * *``), with M, H, D, W taken from *i*,
in one of six time zones (sched; Celery's crontab has none of its own: UTC), or an interval
of 1 to 7 days (sched: starting between 1 and 2 days out; redbeat: last run now). So most are
not due for a long time, and a few hundred crons fire in any minute at 1,000,000.

1. **Create**: 100,000 schedules on an empty database, timed from the first call to the
   last reply, for at most CREATE_CAP_S (the rate is over what was created by then); each
   row is the median of CREATE_REPEATS runs, with their range.
   sched: ``Client.add_many``, 10,000 per call (it pipelines 1,000 per round trip), on
   the mix (every schedule different) and on tenants (``tenant_fields``: a daily report per
   tenant at one of 24 hours in one of the six zones, the tenant in ``kwargs``).
   redbeat: ``RedBeatSchedulerEntry(...).save()`` per entry (its API: one round trip
   each), and the same ``save()`` calls through one pipeline executed every 1,000 entries
   (reaching into redbeat; see ``scale_redbeat.py``). Redis memory per schedule =
   ``used_memory`` after - before, / count.
2. **Memory**: sched's schedules grow 10,000 -> 100,000 -> 1,000,000 (the same database,
   topped up by ``sched_bulk``: ``add_many`` of renamed copies of 1,440 schedules of the
   mix, which take its lane for a known shape); at each count a
   leader is started, and its VmRSS read from /proc right after its first dispatch (+2 s)
   and 60 s later (and VmHWM, the peak). The same for redbeat's beat (entries topped up
   by ``scale_redbeat.py``'s ``bulk`` mode, the same way: what ``save()`` writes for 1,440
   entries, renamed; RSS from its first tick).
3. **Lateness**: 2,000 API schedules ``every: 1s`` (intervals: the shape of
   ``bench_scheduler.py sustained``; all fire at each whole second, and a cron of six
   fields would fire at the same instants through the cron code, which ``bench_fire_times``
   covers) with the 1,000,000 others, then alone on an emptied database. A thread pops
   every run off the queue as soon as it is visible (``bench_scheduler.Observer``);
   lateness = receipt - fire time. 5 s warm-up, then a 30 s window; the pair (with the
   others, alone) is measured LATENESS_PAIRS times, alternating, every other pair in the
   other order (a drift of the machine over the run then lands on both sides alike).
   Compared: the medians of the windows' p50 and p99, and p50 and p99 pooled over every
   fire of a side. Redis' main-thread CPU time over each window, per 1,000 fires, shows
   what the million others cost the server itself.
   "Alone" is a second server of the same binary, running beside the first throughout.
   Both have automatic AOF rewrites off for this part (a rewrite forks: the small server
   would rewrite every few windows, the large one never), and the runs of the previous
   window (no worker takes them) are deleted before each.
   The goal compares 2,000 fires among a million schedules that do not fire with 2,000
   alone, so the window holds no whole minute: the mix's crons all fire at whole minutes
   (several hundred at once at some of them) and its intervals start a day out, so none
   of the others fires inside it. The others' fires the observer saw in the window are
   counted and reported (0 expected).
   A window in which Redis forked (``total_forks``: an AOF rewrite or a snapshot of the
   1.3 GB database, which the shared machine's two cores feel) is measured again, up to
   twice, and the count of such windows is reported.
4. **Start-up and failover** at each count: start-up = process start to the first run it
   enqueued (a restart: the canary's fire time has passed, so the first tick dispatches
   it); failover = a standby started and registered, the leader killed with SIGKILL, until
   the first run enqueued under the new leader's epoch (the lease TTL is 5 s).

Each step is bounded (``CAP_S``); a step cut short says so. Raw results go to
``bench/results/scale.json`` (``scale-quick.json`` with ``--quick``, which refuses ``--write``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from statistics import median
from typing import Any, cast

import redis
from bench_scheduler import (
    BENCH,
    CELERY_SIDE,
    RAW,
    REDBEAT_DB,
    SCHED_DB,
    Env,
    Observer,
    Proc,
    ensure_celery_venv,
    git_describe,
    lateness_stats,
    log,
    markdown_table,
    now,
    proc_memory_mb,
    server_prefix,
    sleep_until,
    spawn,
    write_section,
)

from scheduler import Client
from scheduler.store import Store
from scheduler.store.embedded import EmbeddedRedis, free_port, server_version

HEADING = "## Scale: up to 1,000,000 schedules from code"
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney",
         "Asia/Kolkata")  # fmt: skip
TASK = "scheduler.tasks:heartbeat"
CAP_S = 300.0  # any one step (creating, waiting for a leader) longer than this is cut
CREATE_CAP_S = 60.0  # part 1: creating is timed this long at most, the rate over what was done
REDBEAT_FILL_CAP_S = CAP_S  # filling redbeat for part 2, per count (bulk: ~20,000/s)
ADD_CHUNK = 10_000  # schedules per add_many call (add_many checks all before writing)
CREATE_REPEATS = 3  # part 1: each row is the median of this many runs, their range shown
LATENESS_PAIRS = 8  # (with the others, alone) windows, alternating
FORK_RETRIES = 2  # a window in which Redis forked is measured again, at most this often
REDBEAT_SCALE = BENCH / "scale_redbeat.py"
CANARY = 'schedules:\n  canary: {task: "scheduler.tasks:heartbeat", every: 1s}\n'


def fields_for(i: int, base_s: int) -> dict[str, Any]:
    zone, m, h = ZONES[i % len(ZONES)], i % 60, (i // 60) % 24
    kind = i % 4
    if kind == 0:
        return {"task": TASK, "cron": f"{m} {h} {1 + i % 28} * *", "timezone": zone}
    if kind == 1:
        return {"task": TASK, "cron": f"{m} {h} * * {i % 7}", "timezone": zone}
    if kind == 2:
        return {"task": TASK, "cron": f"{m} {h} * * *", "timezone": zone}
    start = datetime.fromtimestamp(base_s + 86_400 + i % 86_400, UTC)
    return {"task": TASK, "every": f"{1 + i % 7}d", "start": start, "kwargs": {"tenant": i}}


def tenant_fields(i: int, base_s: int) -> dict[str, Any]:
    """A daily report per tenant: one of 24 hours in one of the six zones, the tenant in
    kwargs (144 shapes: the rest of each schedule is its tenant)."""
    zone, hour = ZONES[i % len(ZONES)], (i // len(ZONES)) % 24
    return {"task": TASK, "cron": f"0 {hour} * * *", "timezone": zone, "kwargs": {"tenant": i}}


def fresh(env: Env) -> Path:
    """``env.fresh()``, with the memory freed before it returns (a lazy FLUSHALL would
    leave the old data in ``used_memory`` for a while)."""
    deadline = now() + CAP_S
    client = redis.Redis.from_url(env.url(0), socket_timeout=CAP_S)  # 3,000,000 keys take long
    while True:
        try:
            cast(Any, client).execute_command("FLUSHALL", "SYNC")
            break
        except redis.exceptions.ResponseError as exc:
            # BUSY: a script a stopped leader started still runs (repair.lua at 1,000,000
            # schedules takes ~5 s; see RESULTS.md)
            if not str(exc).startswith("BUSY") or now() > deadline:
                raise
            time.sleep(0.5)
    client.close()
    return env.fresh()


def used_memory(env: Env) -> int:
    info: Any = env.client(0).info("memory")
    return int(info["used_memory"])


# -- sched ------------------------------------------------------------------------------


def sched_create(env: Env, first: int, count: int, cap_s: float,
                 fields: Any = None) -> dict[str, Any]:  # fmt: skip
    """add_many schedules ``first`` .. ``first + count``, ADD_CHUNK per call, each with
    ``fields(i, base_s)`` (the mix: ``fields_for``)."""
    fields = fields or fields_for
    base_s = math.ceil(now())
    client = Client(env.url(SCHED_DB))
    before = used_memory(env)
    started = now()
    written = 0
    for start in range(first, first + count, ADD_CHUNK):
        stop = min(first + count, start + ADD_CHUNK)
        results = client.add_many((f"s{i:07d}", fields(i, base_s)) for i in range(start, stop))
        assert all(r == "added" for r in results), set(results)
        written = stop - first
        if now() - started > cap_s:
            break
    seconds = now() - started
    client.close()
    return {"created": written, "seconds": seconds, "per_s": written / seconds,
            "redis_bytes": used_memory(env) - before, "cut": written < count}  # fmt: skip


BULK_TEMPLATES = 1440  # distinct schedules the bulk loader copies under new names


def sched_bulk(env: Env, first: int, count: int, cap_s: float) -> dict[str, Any]:
    """``add_many`` of copies of BULK_TEMPLATES schedules of the mix under their own names
    (each copy takes add_many's lane for a known shape: the rate of the tenants row), ADD_CHUNK
    per call through one Client. Only to fill the database for parts 2 to 4."""
    base_s = math.ceil(now())
    client = Client(env.url(SCHED_DB))
    templates = [fields_for(k, base_s) for k in range(BULK_TEMPLATES)]
    before = used_memory(env)
    started = now()
    written = 0
    for start in range(first, first + count, ADD_CHUNK):
        stop = min(first + count, start + ADD_CHUNK)
        results = client.add_many((f"s{i:07d}", templates[i % BULK_TEMPLATES])
                                  for i in range(start, stop))  # fmt: skip
        assert all(r == "added" for r in results), set(results)
        written = stop - first
        if now() - started > cap_s:
            break
    seconds = now() - started
    client.close()
    return {"created": written, "seconds": seconds, "per_s": written / seconds,
            "redis_bytes": used_memory(env) - before, "cut": written < count}  # fmt: skip


def start_sched(env: Env, run_dir: Path, name: str) -> Proc:
    files = run_dir / "canary.yaml"
    if not files.exists():
        files.write_text(CANARY)
    argv = [sys.executable, "-m", "scheduler", "scheduler", str(files), "--redis-url",
            env.url(SCHED_DB)]  # fmt: skip
    proc = spawn(name, argv, run_dir)
    env.procs.append(proc)
    return proc


def first_fire_after(observer: Observer, since: float, deadline: float, proc: Proc,
                     epoch_above: int = -1) -> float | None:  # fmt: skip
    """When the first run enqueued after ``since`` (under an epoch above ``epoch_above``)
    was seen; None past ``deadline``."""
    checked = 0
    while now() < deadline:
        fires = observer.fires()
        fresh = [f for f in fires[checked:] if f.seen >= since]
        checked = len(fires)
        if fresh and epoch_above >= 0:
            epochs = observer.epochs(fresh)
            fresh = [f for f, e in zip(fresh, epochs, strict=True) if e > epoch_above]
        if fresh:
            return fresh[0].seen
        proc.check()
        time.sleep(0.01)
    return None


def leader_epoch(env: Env) -> int:
    return Store(env.client(SCHED_DB)).reads.leader().epoch


def replicas(env: Env) -> int:
    return int(env.client(SCHED_DB).zcard("{sched}:replicas"))


def stop(env: Env, proc: Proc, sig: int = signal.SIGTERM) -> None:
    proc.stop(sig)
    env.procs.remove(proc)


def sched_at_count(env: Env, run_dir: Path, count: int, run_s: float) -> dict[str, Any]:
    """One leader: RSS after start-up and after ``run_s``; a failover; a cold restart."""
    row: dict[str, Any] = {"count": count, "redis_used_bytes": used_memory(env)}
    with Observer(env, "sched") as observer:
        leader = start_sched(env, run_dir, f"leader-{count}")
        first = first_fire_after(observer, leader.spawned, leader.spawned + CAP_S, leader)
        row["first_start_s"] = None if first is None else first - leader.spawned
        if first is None:
            stop(env, leader)
            return {**row, "cut": f"no dispatch within {CAP_S:.0f} s"}
        time.sleep(2.0)
        row["rss_start_mb"] = proc_memory_mb(leader.pid)["VmRSS"]
        sleep_until(first + run_s)
        mem = proc_memory_mb(leader.pid)
        row["rss_run_mb"], row["hwm_mb"] = mem["VmRSS"], mem["VmHWM"]
        row["cpu_s"] = leader.cpu_s()
        log(
            f"  {count:,}: leader RSS {row['rss_start_mb']:.0f} MB after start-up, "
            f"{row['rss_run_mb']:.0f} MB after {run_s:.0f} s (peak {row['hwm_mb']:.0f} MB)"
        )
        # failover: a standby registered, then the leader killed
        standby = start_sched(env, run_dir, f"standby-{count}")
        deadline = now() + CAP_S
        while replicas(env) < 2 and now() < deadline:
            standby.check()
            time.sleep(0.05)
        row["standby_ready_s"] = now() - standby.spawned
        time.sleep(1.0)
        row["standby_rss_mb"] = proc_memory_mb(standby.pid)["VmRSS"]
        epoch = leader_epoch(env)
        killed_at = now()
        os.kill(leader.pid, signal.SIGKILL)
        leader.popen.wait()
        env.procs.remove(leader)
        took = first_fire_after(observer, killed_at, killed_at + 60, standby, epoch)
        row["failover_s"] = None if took is None else took - killed_at
        stop(env, standby)
        # a restart: start-up to the first dispatch
        time.sleep(1.5)
        again = start_sched(env, run_dir, f"restart-{count}")
        took = first_fire_after(observer, again.spawned, again.spawned + CAP_S, again)
        row["startup_s"] = None if took is None else took - again.spawned
        stop(env, again)
        log(f"  {count:,}: start-up {row['startup_s']:.2f} s (first start "
            f"{row['first_start_s']:.2f} s), failover {row['failover_s']:.2f} s, standby "
            f"registered after {row['standby_ready_s']:.2f} s")  # fmt: skip
    env.client(SCHED_DB).delete("{sched}:queue:default", "{sched}:runs")
    return row


def forks(env: Env) -> int:
    info: Any = env.client(0).info("stats")
    return int(info["total_forks"])


def sched_lateness(env: Env, run_dir: Path, hot: int, warmup_s: float,
                   window_s: float) -> dict[str, Any]:  # fmt: skip
    """``hot`` API schedules every 1 s next to whatever the database holds; measured again
    (at most FORK_RETRIES times) while Redis forks during the window."""
    client = Client(env.url(SCHED_DB))
    client.add_many((f"hot{i:05d}", {"task": TASK, "every": "1s"}) for i in range(hot))
    client.close()
    for attempt in range(FORK_RETRIES + 1):
        # The runs no worker took (the observer pops the queue, not the runs hash) go, so
        # that every window starts with the same data on both servers.
        env.client(SCHED_DB).unlink("{sched}:runs", "{sched}:queue:default")
        row = lateness_window(env, run_dir, hot, warmup_s, window_s, attempt)
        if not row["forked"]:
            break
        log(f"  Redis forked during the window (attempt {attempt + 1}): measured again")
    row["disturbed"] = attempt
    return row


BUCKET_MS = 0.25  # the resolution of the histograms that pool lateness over windows


def histogram(lateness_s: Sequence[float]) -> dict[str, int]:
    """Lateness in buckets of BUCKET_MS (bucket k: [k, k + 1) * BUCKET_MS; early: 0)."""
    counts: dict[str, int] = {}
    for value in lateness_s:
        key = str(max(0, int(value * 1000 / BUCKET_MS)))
        counts[key] = counts.get(key, 0) + 1
    return counts


def pooled_ms(rows: Sequence[dict[str, Any]], p: float) -> float:
    """The ``p`` percentile (nearest rank) of every fire of ``rows``, to BUCKET_MS: the
    upper edge of the bucket that holds it."""
    counts: dict[int, int] = {}
    for row in rows:
        for key, n in row["histogram"].items():
            counts[int(key)] = counts.get(int(key), 0) + n
    rank, seen = math.ceil(p / 100 * sum(counts.values())), 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return (bucket + 1) * BUCKET_MS
    return math.nan


def redis_cpu_s(env: Env) -> float:
    """CPU seconds of Redis' main thread so far (the one that runs commands; the whole
    process where the server does not report it)."""
    info: Any = env.client(0).info("cpu")
    user = info.get("used_cpu_user_main_thread", info["used_cpu_user"])
    system = info.get("used_cpu_sys_main_thread", info["used_cpu_sys"])
    return float(user) + float(system)


def window_start(earliest: float, window_s: float) -> int:
    """The first whole second from ``earliest`` on whose window of ``window_s`` seconds holds
    no whole minute (when the mix's crons fire)."""
    t0 = math.ceil(earliest)
    second = t0 % 60
    if second == 0 or second + window_s > 60:
        t0 += (60 - second) % 60 + 1
    return t0


def lateness_window(env: Env, run_dir: Path, hot: int, warmup_s: float, window_s: float,
                    attempt: int) -> dict[str, Any]:  # fmt: skip
    others = int(env.client(SCHED_DB).zcard("{sched}:due")) - hot
    with Observer(env, "sched") as observer:
        leader = start_sched(env, run_dir, f"hot-{others}-{attempt}")
        t0 = window_start(now() + warmup_s, window_s)
        sleep_until(t0)
        forks_before, redis_before = forks(env), redis_cpu_s(env)
        sleep_until(t0 + window_s + 0.5)
        redis_s = redis_cpu_s(env) - redis_before
        forked = forks(env) != forks_before
        leader.check()
        cpu_s = leader.cpu_s()
        stop(env, leader)
        seen = [f for f in observer.fires() if t0 <= f.due < t0 + window_s]
    fires = [f for f in seen if f.name.startswith("hot")]
    others_fired = sum(1 for f in seen if f.name.startswith("s"))
    expected = hot * int(window_s)
    stats = lateness_stats([f.seen - f.due for f in fires])
    row = {"others": others, "hot": hot, "window_s": window_s, "expected": expected,
           "fires": len(fires), "cpu_pct": 100 * cpu_s / (now() - leader.spawned),
           "forked": forked, "others_fired": others_fired, "window_start_s": t0,
           "redis_ms_per_1000": 1e6 * redis_s / max(1, len(seen)),
           "histogram": histogram([f.seen - f.due for f in fires]),
           **stats}  # fmt: skip
    log(
        f"  {hot:,} every 1 s with {others:,} others: {len(fires):,}/{expected:,} fires, "
        f"p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms"
    )
    return row


def run_sched(env: Env, counts: Sequence[int], create_n: int, run_s: float, hot: int,
              window_s: float) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    fresh(env)
    out["create"] = []
    for label, fields in (("mix", fields_for), ("tenants", tenant_fields)):
        runs = []
        for _ in range(CREATE_REPEATS):
            fresh(env)
            log(f"sched: creating {create_n:,} schedules with add_many ({label})")
            row = {**sched_create(env, 0, create_n, CREATE_CAP_S, fields), "set": label}
            runs.append(row)
            log(f"  {row['per_s']:,.0f} schedules/s, "
                f"{row['redis_bytes'] / row['created']:,.0f} bytes each in Redis")  # fmt: skip
        out["create"].append(median_run(runs))
    run_dir = fresh(env)
    empty = used_memory(env)
    rows, have = [], 0
    for count in counts:
        log(f"sched: {count:,} schedules (bulk loader)")
        step = sched_bulk(env, have, count - have, CAP_S)
        log(f"  topped up at {step['per_s']:,.0f}/s")
        have += step["created"]
        if step["cut"]:
            log(f"  creating cut at {have:,} after {step['seconds']:.0f} s")
        row = sched_at_count(env, run_dir, have, run_s)
        row["redis_per_schedule_b"] = (row["redis_used_bytes"] - empty) / have
        row["topped_up"] = step
        rows.append(row)
        if step["cut"]:
            break
    out["counts"] = rows
    out["lateness"] = run_lateness(env, run_dir, have, hot, window_s, filled=True)
    return out


def run_lateness(env: Env, run_dir: Path, others: int, hot: int, window_s: float,
                 filled: bool) -> list[dict[str, Any]]:  # fmt: skip
    """Part 3: LATENESS_PAIRS pairs of windows, with ``others`` schedules then alone
    (``filled``: ``env``'s database already holds the others). "Alone" is a second server
    of the same binary, started here and running throughout, so both sides share the
    machine's state and the windows can alternate without filling a million again."""
    log(f"sched: lateness, {hot:,} every 1 s, {LATENESS_PAIRS} pairs")
    if not filled:
        run_dir = fresh(env)
        sched_bulk(env, 0, others, CAP_S)
    server = EmbeddedRedis(env.workdir / "alone", port=free_port()).start()
    alone = replace(env, redis_server=server, procs=[])
    for side in (env, alone):  # a rewrite forks; the small server would rewrite often
        side.client(SCHED_DB).config_set("auto-aof-rewrite-percentage", 0)
    alone_dir = env.workdir / "alone-runs"
    alone_dir.mkdir()
    rows = []
    try:
        sides = [(env, run_dir), (alone, alone_dir)]
        for pair in range(LATENESS_PAIRS):
            for side, where in sides if pair % 2 == 0 else sides[::-1]:
                rows.append(sched_lateness(side, where, hot, 5.0, window_s))
    finally:
        alone.stop_all()
        server.kill()
    return rows


# -- redbeat ----------------------------------------------------------------------------


def redbeat_create(env: Env, run_dir: Path, first: int, count: int, mode: str,
                   cap_s: float) -> dict[str, Any]:  # fmt: skip
    spec = {"redbeat_url": env.url(REDBEAT_DB), "first": first, "count": count, "mode": mode,
            "cap_s": cap_s}  # fmt: skip
    path = run_dir / f"create-{first}-{mode}.json"
    path.write_text(json.dumps(spec))
    before = used_memory(env)
    done = subprocess.run([str(env.celery_python), str(REDBEAT_SCALE), "create", str(path)],
                          capture_output=True, text=True, cwd=BENCH, check=False)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"scale_redbeat.py failed:\n{done.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["per_s"] = row["created"] / row["seconds"]
    row["redis_bytes"] = used_memory(env) - before
    return row


def start_redbeat(env: Env, run_dir: Path, name: str) -> tuple[Proc, Path]:
    ready = run_dir / f"ready-{name}"
    spec = {
        "scheduler": "redbeat", "broker_url": env.url(1), "redbeat_url": env.url(REDBEAT_DB),
        "max_interval_s": 1, "lock_timeout_s": 5,
        "schedule_file": str(run_dir / f"celerybeat-schedule-{name}"), "ready_file": str(ready),
        "groups": [{"prefix": "canary", "count": 1, "every_s": 1,
                    "first_due": math.ceil(now()) + 1}],
    }  # fmt: skip
    spec_path = run_dir / f"spec-{name}.json"
    spec_path.write_text(json.dumps(spec))
    proc = spawn(name, [str(env.celery_python), str(CELERY_SIDE), "beat", str(spec_path)], run_dir)
    env.procs.append(proc)
    return proc, ready


def redbeat_at_count(env: Env, run_dir: Path, count: int, run_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"count": count}
    proc, ready = start_redbeat(env, run_dir, f"redbeat-{count}")
    deadline = proc.spawned + CAP_S
    while not (ready.exists() and ready.read_text()) and now() < deadline:
        proc.check()
        time.sleep(0.02)
    if not (ready.exists() and ready.read_text()):
        stop(env, proc)
        return {**row, "cut": f"no first tick within {CAP_S:.0f} s"}
    first = float(ready.read_text())
    row["first_tick_s"] = first - proc.spawned
    time.sleep(2.0)
    row["rss_start_mb"] = proc_memory_mb(proc.pid)["VmRSS"]
    sleep_until(first + run_s)
    mem = proc_memory_mb(proc.pid)
    row["rss_run_mb"], row["hwm_mb"] = mem["VmRSS"], mem["VmHWM"]
    row["cpu_s"] = proc.cpu_s()
    stop(env, proc)
    log(
        f"  {count:,}: redbeat RSS {row['rss_start_mb']:.0f} MB after its first tick, "
        f"{row['rss_run_mb']:.0f} MB after {run_s:.0f} s (peak {row['hwm_mb']:.0f} MB)"
    )
    env.client(1).flushdb()
    return row


def run_redbeat(env: Env, counts: Sequence[int], create_n: int, run_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"create": []}
    for mode in ("save", "pipelined"):
        runs = []
        for _ in range(CREATE_REPEATS):
            run_dir = fresh(env)
            log(f"redbeat: creating {create_n:,} entries ({mode})")
            row = redbeat_create(env, run_dir, 0, create_n, mode, CREATE_CAP_S)
            runs.append(row)
            log(
                f"  {row['per_s']:,.0f} entries/s, {row['redis_bytes'] / row['created']:,.0f} "
                "bytes each in Redis" + (" (cut)" if row["cut"] else "")
            )
        out["create"].append(median_run(runs))
    run_dir = fresh(env)
    empty = used_memory(env)
    rows, have = [], 0
    for count in counts:
        log(f"redbeat: {count:,} entries")
        step = redbeat_create(env, run_dir, have, count - have, "bulk", REDBEAT_FILL_CAP_S)
        have += step["created"]
        row = redbeat_at_count(env, run_dir, have, run_s)
        row["redis_per_schedule_b"] = (used_memory(env) - empty) / have
        row["topped_up"] = step
        rows.append(row)
        if step["cut"]:
            log(f"  creating cut at {have:,} after {step['seconds']:.0f} s")
            break
    out["counts"] = rows
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median rate, with every run's rate (``samples``): one run of creating
    varies by up to 30% on a shared machine."""
    ordered = sorted(runs, key=lambda r: r["per_s"])
    return {**ordered[len(ordered) // 2], "samples": [r["per_s"] for r in runs]}


# -- reporting --------------------------------------------------------------------------


def num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def rate(row: dict[str, Any]) -> str:
    """A create row's rate: the median run's, and the range of all runs."""
    samples = row.get("samples", [])
    spread = f" ({num(min(samples))}-{num(max(samples))})" if len(samples) > 1 else ""
    return num(row["per_s"]) + spread


CREATE_SETS = {"mix": "the mix (each different)",
               "tenants": "tenants (144 shapes, a tenant each)"}  # fmt: skip


def render(data: dict[str, Any]) -> str:
    meta, sched, redbeat = data["meta"], data["sched"], data.get("redbeat")
    quick = " (**--quick**: a smoke run, not the reference numbers)" if meta["quick"] else ""
    head = (f"`{meta['command']}`, {meta['date']}{quick}. {meta['machine']}; Python "
            f"{meta['python']}, sched {meta['sched']}, server {meta['redis_server']}"
            + (f", celery-redbeat {meta['redbeat']}" if redbeat else "") + ". Method: the "
            "docstring of `bench/bench_scale.py`.")  # fmt: skip
    creates = sched["create"] if isinstance(sched["create"], list) else [sched["create"]]
    rows = [[f"sched `Client.add_many`, {CREATE_SETS[c.get('set', 'mix')]}",
             f"{c['created']:,}", num(c["seconds"], 1), rate(c),
             num(c["redis_bytes"] / c["created"]), "-"] for c in creates]  # fmt: skip
    c = creates[0]  # the mix, as redbeat's
    for r in (redbeat or {}).get("create", []):
        label = ("redbeat `entry.save()` each, the mix" if r["mode"] == "save" else
                 "redbeat `save()` through one pipeline per 1,000, the mix")  # fmt: skip
        rows.append([label + (" (cut)" if r["cut"] else ""), f"{r['created']:,}",
                     num(r["seconds"], 1), rate(r),
                     num(r["redis_bytes"] / r["created"]),
                     f"{c['per_s'] / r['per_s']:.1f}x"])  # fmt: skip
    part1 = markdown_table(["Create", "Schedules", "Seconds", "per s (median; range)",
                            "Redis bytes each", "sched ÷ this"], rows, 1)  # fmt: skip
    rb = {r["count"]: r for r in (redbeat or {}).get("counts", [])}
    rows = []
    for r in sched["counts"]:
        o = rb.get(r["count"], {})
        rows.append([f"{r['count']:,}", num(r.get("rss_start_mb")), num(r.get("rss_run_mb")),
                     num(r.get("hwm_mb")), num(r.get("standby_rss_mb")),
                     num(r["redis_per_schedule_b"]), num(o.get("rss_start_mb")),
                     num(o.get("rss_run_mb")), num(o.get("hwm_mb")),
                     num(o.get("redis_per_schedule_b"))])  # fmt: skip
    after = f"after {meta['run_s']:.0f} s"
    part2 = markdown_table(["Schedules", "sched leader RSS MB, start", after,
                            "peak (VmHWM)", "standby RSS", "Redis B/schedule",
                            "redbeat RSS MB, start", f"after {meta['run_s']:.0f} s",
                            "peak (VmHWM)", "Redis B/entry"], rows, 1)  # fmt: skip
    rows = [[f"{r['hot']:,} every 1 s" + (f" + {r['others']:,} others" if r["others"] > 1
                                            else " alone"),
             f"{r['fires']:,} / {r['expected']:,}", str(r.get("others_fired", "-")),
             num(r["p50_ms"], 1), num(r["p99_ms"], 1),
             num(r["max_ms"], 1), f"{r['cpu_pct']:.0f} %", num(r.get("redis_ms_per_1000"), 1),
             str(r.get("disturbed", "-"))]
            for r in sched["lateness"]]  # fmt: skip
    loaded = [r for r in sched["lateness"] if r["others"] > 1]
    alone = [r for r in sched["lateness"] if r["others"] <= 1]
    base = alone[0]
    header = ["sched leader", "fires seen / due", "others' fires in the window", "p50 ms",
              "p99 ms", "max ms", "leader CPU", "Redis CPU ms per 1,000 fires",
              "windows redone (Redis forked)"]  # fmt: skip
    p50 = median([r["p50_ms"] for r in loaded]) / median([r["p50_ms"] for r in alone])
    p99 = median([r["p99_ms"] for r in loaded]) / median([r["p99_ms"] for r in alone])
    pooled = ""
    if all("histogram" in r for r in sched["lateness"]):
        p50s = [pooled_ms(side, 50) for side in (loaded, alone)]
        p99s = [pooled_ms(side, 99) for side in (loaded, alone)]
        redis = [median([r["redis_ms_per_1000"] for r in side]) for side in (loaded, alone)]
        pooled = (
            f" Pooled over every fire of a side (to {BUCKET_MS} ms): p50 {p50s[0]:.2f} vs "
            f"{p50s[1]:.2f} ms ({p50s[0] / p50s[1]:.2f}x), p99 {p99s[0]:.2f} vs {p99s[1]:.2f} "
            f"ms ({p99s[0] / p99s[1]:.2f}x). Redis' CPU per 1,000 fires, medians: "
            f"{redis[0]:.1f} vs {redis[1]:.1f} ms ({redis[0] / redis[1]:.2f}x)."
        )  # fmt: skip
    again = meta.get("lateness_again")
    remeasured = "" if again is None else (
        f" Measured again on {again['date']} with `{again['command']}` (sched "
        f"{again['sched']}, server {again['redis_server']}); parts 1, 2 and 4 are the "
        "run above.")  # fmt: skip
    part3 = markdown_table(header, rows, 1) + (
        f"\n\nWith the others ÷ alone, medians of {len(loaded)} and {len(alone)} windows: "
        f"p50 {p50:.2f}x, p99 {p99:.2f}x.{pooled}"
    )
    rows = [[f"{r['count']:,}", num(r.get("first_start_s"), 2), num(r.get("startup_s"), 2),
             num(r.get("standby_ready_s"), 2), num(r.get("failover_s"), 2)]
            for r in sched["counts"]]  # fmt: skip
    part4 = markdown_table(["Schedules", "first start to first dispatch s",
                            "restart to first dispatch s", "standby start to registered s",
                            "failover (SIGKILL) s"], rows, 1)  # fmt: skip
    return (
        f"{head}\n\n**1. Creating schedules** on an empty database.\n\n{part1}\n\n"
        f"**2. Memory** of the leader (sched) and of beat (redbeat), VmRSS from /proc, "
        f"2 s after the first dispatch (redbeat: first tick) and {meta['run_s']:.0f} s "
        "after it; the database topped up from one count to the next.\n\n"
        f"{part2}\n\n**3. Fire lateness** (receipt on the queue - fire time), "
        f"{base['window_s']:.0f} s window after 5 s of warm-up, holding no whole minute (when "
        f"the others' crons fire).{remeasured}\n\n{part3}\n\n"
        f"**4. Start-up and failover** (sched).\n\n{part4}\n"
    )


def again_lateness(raw: Path, others: int, hot: int, window_s: float, command: str,
                   write: bool) -> int:  # fmt: skip
    """Part 3 measured again, into the results of a whole run (kept for parts 1, 2 and 4)."""
    data = json.loads(raw.read_text())
    with environment(Path(sys.executable)) as env:
        run_dir = fresh(env)
        data["sched"]["lateness"] = run_lateness(env, run_dir, others, hot, window_s, False)
        info: Any = env.client(0).info()
        data["meta"]["lateness_again"] = {
            "date": f"{datetime.now(UTC):%Y-%m-%d}", "command": command + " --only-lateness",
            "sched": f"{version('sched')} ({git_describe()})",
            "redis_server": f"{server_version(info)} ({info['mem_allocator']})"}  # fmt: skip
    raw.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))
    if write:
        write_section(HEADING, render(data))
    return 0


@contextmanager
def environment(celery_python: Path) -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="sched-bench-scale-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        env = Env(server, workdir, celery_python, ("sched", "redbeat"), False)
        try:
            yield env
        finally:
            env.stop_all()
            server.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller and shorter: a smoke run")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--report", action="store_true", help="rewrite RESULTS.md from JSON")
    parser.add_argument("--sides", nargs="+", default=["sched", "redbeat"],
                        choices=["sched", "redbeat"])  # fmt: skip
    parser.add_argument(
        "--only-lateness",
        action="store_true",
        help="measure part 3 again into the existing JSON (the rest is kept)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--write records reference numbers: run it without --quick")
    raw = RAW / ("scale-quick.json" if args.quick else "scale.json")
    if args.report:
        write_section(HEADING, render(json.loads(raw.read_text())))
        return 0
    if args.quick:
        counts, create_n, run_s, hot, window_s = (2_000, 10_000, 50_000), 10_000, 10.0, 500, 8.0
    else:
        counts, create_n, run_s, hot, window_s = (10_000, 100_000, 1_000_000), 100_000, 60.0, \
            2_000, 30.0  # fmt: skip
    command = server_prefix() + "python bench/bench_scale.py" + \
        (" --quick" if args.quick else "") + (" --write" if args.write else "")  # fmt: skip
    started = now()
    RAW.mkdir(exist_ok=True)
    if args.only_lateness:
        return again_lateness(raw, counts[-1], hot, window_s, command, args.write)
    celery_python = ensure_celery_venv() if "redbeat" in args.sides else Path(sys.executable)
    data: dict[str, Any] = {}
    with environment(celery_python) as env:
        import platform

        from bench_scheduler import cpu_model

        info: Any = env.client(0).info()
        data["meta"] = {
            "date": f"{datetime.now(UTC):%Y-%m-%d}", "command": command, "quick": args.quick,
            "python": platform.python_version(),
            "redis_server": f"{server_version(info)} ({info['mem_allocator']})",
            "sched": f"{version('sched')} ({git_describe()})", "run_s": run_s,
            "machine": f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} "
            f"{platform.machine()}",
        }  # fmt: skip
        if "sched" in args.sides:
            data["sched"] = run_sched(env, counts, create_n, run_s, hot, window_s)
            raw.write_text(json.dumps(data, indent=1) + "\n")  # kept if redbeat fails
        if "redbeat" in args.sides:
            versions = subprocess.run([str(celery_python), str(CELERY_SIDE), "versions"],
                                      capture_output=True, text=True, check=True)  # fmt: skip
            data["meta"]["redbeat"] = json.loads(versions.stdout)["celery-redbeat"]
            data["redbeat"] = run_redbeat(env, counts, create_n, run_s)
    data["meta"]["seconds"] = now() - started
    raw.write_text(json.dumps(data, indent=1) + "\n")
    if "sched" in data:
        print(render(data))
        if args.write:
            write_section(HEADING, render(data))
    log(f"done in {now() - started:.0f} s" + (f"; wrote {HEADING}" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
