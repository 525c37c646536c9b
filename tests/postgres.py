"""A PostgreSQL server of the test's own: ``initdb`` and ``postgres`` run from the server
binaries (on PATH, else Debian's ``/usr/lib/postgresql/<version>/bin``), with the cluster in a
temporary folder, listening on a free TCP port on 127.0.0.1 and on a socket in that folder,
trust authentication for its superuser, and stopped at the end.

No system service is used or touched. ``initdb`` and ``postgres`` refuse to run as root, so
as root both run as an unprivileged user (``nobody``, through ``subprocess``'s ``user=``),
the folder theirs. The server runs in a process group of its own, which ``stop`` kills as a
whole after a bounded fast shutdown.

Tests get a database URL through the fixture ``postgres_url``; it skips the test, with the
reason, where the binaries, the psycopg package or a user to run them as are missing
(`.ci/run` installs Debian's ``postgresql``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from scheduler.store.embedded import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
SUPERUSER = "sched"
UNPRIVILEGED = "nobody"  # who runs the server when the tests run as root


def bin_dir() -> Path | None:
    """The folder with ``initdb`` and ``postgres``: PATH first, then Debian's newest."""
    found = shutil.which("initdb")
    if found and (Path(found).parent / "postgres").exists():
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    for initdb in reversed(debian):
        if (initdb.parent / "postgres").is_file():
            return initdb.parent
    return None


def run_as() -> pwd.struct_passwd | str | None:
    """The user the server runs as: None for the current one (not root), else the
    unprivileged user's entry; a string says why neither works."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        return (f"runs as root, and initdb refuses root; no {UNPRIVILEGED!r} user to run "
                "PostgreSQL as")  # fmt: skip


def missing() -> str | None:
    """Why no server can be started here, or None."""
    if bin_dir() is None:
        return (
            "needs PostgreSQL's initdb and postgres (on PATH or in /usr/lib/postgresql/*/bin; "
            "apt-get install postgresql; .ci/run installs it)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs the psycopg package (pip install -e '.[dev]')"
    user = run_as()
    return user if isinstance(user, str) else None


class PostgreSQL:
    """One cluster in a folder of its own, one server process group."""

    def __init__(self, binaries: Path, user: pwd.struct_passwd | None) -> None:
        self.binaries = binaries
        self.user = user
        # Not under pytest's tmp_path: as root that is root's alone (0700), which the
        # unprivileged user cannot enter.
        self.folder = Path(tempfile.mkdtemp(prefix="sched-pg-"))
        self.data = self.folder / "data"
        self.log_path = self.folder / "postgres.log"
        self.port = free_port()
        self._server: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run_kwargs(self) -> dict[str, Any]:
        """As root: the unprivileged user's uid and gid, and no supplementary groups."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        try:
            self._start(time.monotonic() + timeout_s)
        except BaseException:
            self.stop(timeout_s=0)
            raise

    def _start(self, deadline: float) -> None:
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC",
               "HOME": str(self.folder)}  # fmt: skip
        with self.log_path.open("ab") as log:
            if self.user is not None:
                os.chown(self.log_path, self.user.pw_uid, self.user.pw_gid)
            subprocess.run(
                [str(self.binaries / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                 "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
                cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, timeout=120, check=False, **self._run_kwargs(),
            )  # fmt: skip
            if not (self.data / "PG_VERSION").exists():
                raise RuntimeError(f"initdb failed:\n{self.log_tail()}")
            self._server = subprocess.Popen(
                [str(self.binaries / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.folder), "-F",
                 "-c", "max_connections=20", "-c", "shared_buffers=16MB"],
                cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, process_group=0, **self._run_kwargs(),
            )  # fmt: skip
        self._wait_until_it_answers(deadline)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """A fast shutdown (SIGINT) within ``timeout_s``, else SIGKILL; then every process
        left in the group is killed, the server reaped and the folder removed."""
        server, self._server = self._server, None
        if server is not None:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_it_answers(self, deadline: float) -> None:
        import psycopg

        while True:
            if self._server is not None and self._server.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self._server.returncode}:\n{self.log_tail()}"
                )
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres did not accept connections on {self.port} in time:\n"
                        + self.log_tail()
                    ) from None
                time.sleep(0.1)

    def __enter__(self) -> PostgreSQL:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The URL of an empty database (``beat``) on a PostgreSQL of the module's own."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    binaries, user = bin_dir(), run_as()
    assert binaries is not None and not isinstance(user, str)
    with PostgreSQL(binaries, user) as server:
        yield server.create_database("beat")
