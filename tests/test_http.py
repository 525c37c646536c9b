"""The HTTP server of the long-running commands: /metrics scraped with Prometheus' own
parser while runs succeed, fail and are dead-lettered; probes flipping as Redis stops and
starts; and a server that hostile or slow clients cannot stall."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from scheduler.core.observe import Observer
from scheduler.metrics import Metrics
from scheduler.store import Store
from scheduler.store.embedded import EmbeddedRedis, free_port
from scheduler.web import Health, HttpServer, Loop, parse_address
from scheduler.web.server import AddressError

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}", "SCHED_REDIS_URL": "",
            "SCHED_HTTP": ""}  # fmt: skip


def get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and sorted labels, parsed by prometheus_client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sched(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    with (tmp_path / "sched.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "scheduler", *args], env=env(),
                                stdout=log, stderr=log, cwd=tmp_path)  # fmt: skip


def serving(port: int) -> bool:
    try:
        return get(port, "/livez", 1)[0] == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


# -- the exposition, from a real run ---------------------------------------------------------


def test_metrics_count_exactly_a_run_that_succeeded_and_one_retried_then_dead_lettered(
    tmp_path: Path, redis_url: str, processes: list[subprocess.Popen[Any]]
) -> None:
    # Each schedule fires once: every hour from when the leader surely runs (a new schedule
    # whose start has passed waits for its next fire time), ending before the next.
    at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "s.yaml").write_text(
        "defaults: {start: " + when + ", end: " + end + "}\n"
        "schedules:\n"
        "  ok: {task: worker_tasks:record, every: 1h}\n"
        "  bad:\n"
        "    task: worker_tasks:fail\n"
        "    every: 1h\n"
        "    retry: {max_attempts: 2, backoff: fixed, initial: 1s, jitter: false}\n",
        encoding="utf-8",
    )
    port = free_port()
    proc = sched(tmp_path, "run", str(tmp_path / "s.yaml"), "--redis-url", redis_url,
                 "--http", f"127.0.0.1:{port}", "--grace", "1")  # fmt: skip
    processes.append(proc)
    s = Store(redis.Redis.from_url(redis_url))
    wait_for(lambda: [e.event for e in s.reads.history("bad")][:1] == ["dead"], 30, "dead")
    wait_for(lambda: [e.event for e in s.reads.history("ok")][:1] == ["succeeded"], 5, "ok")
    status, text = get(port, "/metrics")
    assert status == 200
    got = samples(text)
    expected = {
        ("sched_fires_total", (("origin", "schedule"), ("schedule", "ok"))): 1,
        ("sched_fires_total", (("origin", "schedule"), ("schedule", "bad"))): 1,
        ("sched_runs_total", (("outcome", "succeeded"), ("schedule", "ok"))): 1,
        ("sched_runs_total", (("outcome", "retrying"), ("schedule", "bad"))): 1,
        ("sched_runs_total", (("outcome", "dead"), ("schedule", "bad"))): 1,
        ("sched_run_duration_seconds_count", (("schedule", "bad"),)): 2,
        ("sched_run_duration_seconds_count", (("schedule", "ok"),)): 1,
        ("sched_run_start_delay_seconds_count", ()): 2,  # first attempts only
        ("sched_fire_lateness_seconds_count", ()): 2,
        ("sched_redeliveries_total", ()): 0,
        ("sched_dead_letter_runs", ()): 1,
        ("sched_celery_outbox_messages", ()): 0,
        ("sched_celery_outbox_oldest_age_seconds", ()): 0,
        ("sched_celery_in_flight", ()): 0,
        ("sched_leader", ()): 1,
        ("sched_store_up", ()): 1,
        ("sched_queue_depth", (("queue", "default"),)): 0,
        ("sched_workers", (("queue", "default"),)): 1,
        ("sched_schedule_paused", (("schedule", "bad"),)): 0,
        ("sched_schedule_last_fire_timestamp_seconds", (("schedule", "ok"),)): at.timestamp(),
        ("sched_schedule_info", (("queue", "default"), ("schedule", "ok"),
                                 ("task", "worker_tasks:record"), ("trigger", "every 1h"))): 1,
    }  # fmt: skip
    assert {key: got.get(key) for key in expected} == expected
    assert got[("sched_leader_epoch", ())] >= 1
    success = got[("sched_schedule_last_success_timestamp_seconds", (("schedule", "ok"),))]
    assert at.timestamp() <= success < at.timestamp() + 30
    assert ("sched_schedule_last_success_timestamp_seconds", (("schedule", "bad"),)) not in got
    # The schedule fires never again: no next fire time is exported for it.
    assert ("sched_schedule_next_fire_timestamp_seconds", (("schedule", "ok"),)) not in got
    assert not any("run_id" in dict(labels) for _, labels in got)
    stop(proc)


def test_without_the_schedule_label_counters_are_summed_and_schedule_gauges_left_out() -> None:
    metrics = Metrics(per_schedule=False)
    observer: Observer = metrics
    observer.dispatched("a", 2, 1, 3, 0.25)
    observer.dispatched("b", 1, 0, 0, 0.5)
    observer.ended("a", "succeeded", 1.5)
    observer.ended("b", "succeeded", None)
    observer.started("a", 0.1, True)
    observer.reloaded(False)
    got = samples(metrics.exposition().decode())
    assert got[("sched_fires_total", (("origin", "schedule"),))] == 3
    assert got[("sched_skipped_total", (("reason", "overlap"),))] == 1
    assert got[("sched_missed_total", ())] == 3
    assert got[("sched_runs_total", (("outcome", "succeeded"),))] == 2
    assert got[("sched_run_duration_seconds_count", ())] == 1
    assert got[("sched_fire_lateness_seconds_sum", ())] == 0.75
    assert got[("sched_redeliveries_total", ())] == 1
    assert got[("sched_config_reloads_total", (("result", "rejected"),))] == 1
    assert not any("schedule" in dict(labels) for _, labels in got)


def test_lateness_is_observed_only_for_fire_times_that_were_enqueued() -> None:
    metrics = Metrics()
    metrics.dispatched("a", 0, 1, 0, 2.0)  # skipped by overlap: nothing ran late
    metrics.dispatched("a", 0, 0, 4, None)  # only missed
    got = samples(metrics.exposition().decode())
    assert got[("sched_fire_lateness_seconds_count", ())] == 0
    assert got[("sched_missed_total", (("schedule", "a"),))] == 4
    assert got[("sched_skipped_total", (("reason", "overlap"), ("schedule", "a")))] == 1


# -- probes ----------------------------------------------------------------------------------


def test_readiness_follows_redis_while_liveness_stays_up(
    tmp_path: Path, own_redis: EmbeddedRedis, processes: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "s.yaml").write_text("schedules:\n  beat: {task: scheduler.tasks:heartbeat, "
                                     "every: 1s}\n", encoding="utf-8")  # fmt: skip
    port = free_port()
    proc = sched(tmp_path, "run", str(tmp_path / "s.yaml"), "--redis-url", own_redis.url,
                 "--http", f"127.0.0.1:{port}", "--grace", "1")  # fmt: skip
    processes.append(proc)
    wait_for(lambda: serving(port) and get(port, "/readyz")[0] == 200, 20, "ready")
    status, body = get(port, "/healthz")
    health = json.loads(body)
    assert (status, health["role"], health["redis_error"]) == (200, "leader+worker", None)
    assert set(health["loops"]) == {"scheduler", "worker"}
    own_redis.stop()
    wait_for(lambda: get(port, "/readyz")[0] == 503, 10, "not ready without Redis")
    status, body = get(port, "/readyz")
    assert json.loads(body)["ready"] is False and json.loads(body)["redis"] != "ok"
    assert get(port, "/livez")[0] == 200  # an outage must not get the process restarted
    own_redis.start()
    wait_for(lambda: get(port, "/readyz")[0] == 200, 20, "ready again")
    stop(proc)


def test_a_standby_scheduler_is_ready_and_says_it_stands_by(
    tmp_path: Path, redis_url: str, processes: list[subprocess.Popen[Any]]
) -> None:
    (tmp_path / "s.yaml").write_text("schedules:\n  beat: {task: scheduler.tasks:heartbeat, "
                                     "every: 1m}\n", encoding="utf-8")  # fmt: skip
    ports = [free_port(), free_port()]
    for port in ports:
        processes.append(sched(tmp_path, "scheduler", str(tmp_path / "s.yaml"), "--redis-url",
                               redis_url, "--http", f"127.0.0.1:{port}"))  # fmt: skip

    def roles() -> list[str]:
        return sorted(json.loads(get(port, "/healthz")[1])["role"] for port in ports)

    wait_for(lambda: all(serving(p) for p in ports) and roles() == ["leader", "standby"], 20,
             "one leader, one standby")  # fmt: skip
    assert [get(port, "/readyz")[0] for port in ports] == [200, 200]
    leader = next(p for p in ports if json.loads(get(p, "/healthz")[1])["role"] == "leader")
    other = next(p for p in ports if p != leader)
    scraped = samples(get(other, "/metrics")[1])
    assert scraped[("sched_leader", ())] == 0
    assert ("sched_schedule_paused", (("schedule", "beat"),)) not in scraped  # leader only
    paused = ("sched_schedule_paused", (("schedule", "beat"),))
    wait_for(lambda: samples(get(leader, "/metrics")[1]).get(paused) == 0, 10, "synced")
    for proc in processes:
        stop(proc)


# -- hostile and slow clients ----------------------------------------------------------------


@pytest.fixture
def worker_http(tmp_path: Path, redis_url: str, processes: list[subprocess.Popen[Any]]) -> int:
    port = free_port()
    processes.append(sched(tmp_path, "worker", "--redis-url", redis_url, "--http",
                           f"127.0.0.1:{port}"))  # fmt: skip
    wait_for(lambda: serving(port), 20, "serving")
    return port


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_unknown_paths_and_huge_requests_are_refused_and_the_server_goes_on(
    worker_http: int,
) -> None:
    assert get(worker_http, "/nope")[0] == 404
    assert get(worker_http, "/livez/../metrics")[0] == 404
    with socket.create_connection(("127.0.0.1", worker_http), timeout=5) as conn:
        conn.sendall(b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.0 414")
    with socket.create_connection(("127.0.0.1", worker_http), timeout=5) as conn:
        conn.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert b"Error code: 400" in read_all(conn)
    status, body = get(worker_http, "/healthz")
    assert status == 200 and json.loads(body)["role"] == "worker"


def test_busy_or_slow_clients_never_make_the_probes_fail(worker_http: int) -> None:
    """16 connections that never send a byte take every request slot: the probes still
    answer (4 slots of their own), other paths get 503 at once; 4 more take those too, and
    then everything is 503 at once. After the 5 s request timeout every slot is free."""
    idle = [socket.create_connection(("127.0.0.1", worker_http), timeout=10) for _ in range(16)]
    try:
        time.sleep(0.3)  # let the server accept all of them
        assert get(worker_http, "/livez", 2)[0] == 200
        status, body = get(worker_http, "/api/status", 2)
        assert (status, json.loads(body)) == (503, {"error": "busy: only health probes are "
                                                             "answered now"})  # fmt: skip
        idle += [socket.create_connection(("127.0.0.1", worker_http), timeout=10)
                 for _ in range(4)]  # fmt: skip
        time.sleep(0.3)
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", worker_http), timeout=5) as conn:
            conn.sendall(b"GET /livez HTTP/1.0\r\n\r\n")
            assert conn.recv(64).startswith(b"HTTP/1.0 503")
        assert time.monotonic() - began < 2
        wait_for(lambda: get(worker_http, "/api/status", 2)[0] == 200, 15, "slots freed")
    finally:
        for conn in idle:
            conn.close()


def test_a_client_sending_a_byte_at_a_time_is_cut_off_after_the_request_timeout(
    worker_http: int,
) -> None:
    with socket.create_connection(("127.0.0.1", worker_http), timeout=15) as conn:
        began = time.monotonic()
        try:
            for byte in b"GET /livez HTTP/1.0\r\nX-Slow: " + b"a" * 100:
                conn.sendall(bytes([byte]))
                time.sleep(0.5)  # under the per-read timeout, 5 s in all after ten
        except OSError:
            pass  # cut off while sending
        assert conn.recv(64) in (b"", b"HTTP/1.0 408")  # closed, never answered
        assert 4.5 < time.monotonic() - began < 8


def test_a_page_is_refused_by_a_name_it_was_not_given(worker_http: int) -> None:
    """DNS rebinding: a page reached by an unknown name is refused; probes are not."""
    with socket.create_connection(("127.0.0.1", worker_http), timeout=5) as conn:
        conn.sendall(b"GET /api/status HTTP/1.0\r\nHost: attacker.example:80\r\n\r\n")
        answer = read_all(conn)
    assert answer.startswith(b"HTTP/1.0 400") and b"SCHED_HTTP_HOSTS" in answer
    with socket.create_connection(("127.0.0.1", worker_http), timeout=5) as conn:
        conn.sendall(b"GET /livez HTTP/1.0\r\nHost: attacker.example:80\r\n\r\n")
        assert read_all(conn).startswith(b"HTTP/1.0 200")
    assert get(worker_http, "/api/status?" + "&".join(f"k{i}=1" for i in range(21)))[0] == 400


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:8642", ("127.0.0.1", 8642)), ("0.0.0.0:9", ("0.0.0.0", 9)),
     ("[::1]:8642", ("::1", 8642)), ("off", None), ("OFF", None)],
)  # fmt: skip
def test_http_addresses_are_host_and_port_or_off(
    text: str, address: tuple[str, int] | None
) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["8642", "localhost", ":8642", "host:port", "h:70000"])
def test_an_address_without_host_or_port_is_refused(text: str) -> None:
    with pytest.raises(AddressError, match="is not HOST:PORT"):
        parse_address(text)


def test_liveness_fails_while_a_loop_is_stuck_and_recovers_with_it(redis_url: str) -> None:
    stuck = {"worker": False}
    loop = Loop("worker", lambda: not stuck["worker"], lambda: 20.0 if stuck["worker"] else 0.1)
    health = Health(Store(redis.Redis.from_url(redis_url)), [loop], lambda: "worker")
    server = HttpServer(("127.0.0.1", 0), health, lambda: b"").start()
    try:
        port = server.address[1]
        assert get(port, "/livez") == (200, '{"live": true, "stuck": []}\n')
        stuck["worker"] = True
        assert get(port, "/livez") == (503, '{"live": false, "stuck": ["worker"]}\n')
        assert get(port, "/readyz")[0] == 503
        status, body = get(port, "/healthz")
        assert status == 503
        assert json.loads(body)["loops"] == {"worker": {"alive": False, "last_tick_age_s": 20.0}}
        stuck["worker"] = False
        assert get(port, "/livez")[0] == 200 and get(port, "/readyz")[0] == 200
    finally:
        server.close()


def test_metrics_are_per_schedule_up_to_10000_schedules_unless_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from scheduler.cli.http import metrics_for

    assert metrics_for(None, 10_000).per_schedule is True
    assert caplog.records == []
    assert metrics_for(None, 10_001).per_schedule is False
    assert [r.getMessage() for r in caplog.records] == [
        "10001 schedules: metrics are not labelled by schedule (more than 10000; "
        "--metrics-per-schedule turns them on)"]  # fmt: skip
    assert metrics_for(True, 50_000).per_schedule is True
    assert metrics_for(False, 3).per_schedule is False
