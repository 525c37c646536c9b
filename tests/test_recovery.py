"""After a worker crash its runs come back together, not one at a time as poison suspects."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
from test_worker_processes import WORKER_TIMEOUT_S, enqueue, lines, start_worker, wait_for

from scheduler.store import Store

RUNS = 50
RUN_S = 1.0


@pytest.fixture
def workers(processes: list[subprocess.Popen[Any]]) -> list[subprocess.Popen[Any]]:
    return processes


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    current = best = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


def test_fifty_runs_of_a_crashed_worker_run_together_on_the_next_one(
    redis_url: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    s = Store(redis.Redis.from_url(redis_url))
    out = tmp_path / "done.jsonl"
    ids = {enqueue(s, f"r{i:02d}", "stamp", str(out), RUN_S) for i in range(RUNS)}
    first = start_worker(redis_url, "--concurrency", str(RUNS))
    workers.append(first)

    def all_started() -> bool:
        owners: list[bytes] = s.client.hvals(s.keys.claims)  # type: ignore[assignment]
        return sum(owner.endswith(b"|s") for owner in owners) == RUNS

    wait_for(all_started, 15)
    first.send_signal(signal.SIGKILL)  # every run started, none finished
    first.wait(timeout=10)
    second = start_worker(redis_url, "--concurrency", str(RUNS))
    workers.append(second)
    wait_for(lambda: len(lines(out)) >= RUNS,
             WORKER_TIMEOUT_S + 60)  # fmt: skip
    rows = lines(out)
    assert {row["run_id"] for row in rows} == ids
    spans = [(float(str(row["start"])), float(str(row["end"])))
             for row in rows if row["pid"] != first.pid]  # fmt: skip
    # One at a time would be 1; a worker with 50 slots runs (nearly) all of them at once.
    assert most_at_once(spans) >= RUNS // 2
