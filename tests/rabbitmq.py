"""A RabbitMQ server of the test's own: Debian's ``rabbitmq-server`` started from its binary,
with everything it writes in a temporary folder, on free ports, and stopped at the end.

No system service is used or touched. The server gets its own node name
(``sched-test-<port>@localhost``), its own Erlang cookie (in a private ``HOME``), no plugins,
and an ``epmd`` of its own on a free port (``ERL_EPMD_PORT``), started first by this module:
left to itself, Erlang would start a shared epmd as a daemon that outlives the test. Both
run in one process group, which ``stop`` kills as a whole.

It also listens for AMQP over TLS (``tls_url``) with a certificate for ``localhost`` signed by
a CA of its own (``ca_file``), made with the ``openssl`` command where there is one.

Tests get a server through the fixtures ``rabbitmq_server`` (one per session) and
``own_rabbitmq`` (one per test, for tests that stop or restart it); both skip the test, with
the reason, where ``rabbitmq-server`` is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import amqp
import pytest

from scheduler.store.embedded import free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
FIXTURES = ("rabbitmq_server", "own_rabbitmq")  # a test using one is marked `amqp`


def server_script() -> Path | None:
    """The script that starts a node. Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper
    that switches to the ``rabbitmq`` user and logs to /var/log, so its target comes first."""
    debian = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    if debian.is_file():
        return debian
    found = shutil.which("rabbitmq-server")
    return Path(found) if found else None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    if server_script() is None:
        return "needs rabbitmq-server (apt-get install rabbitmq-server; .ci/run installs it)"
    if shutil.which("epmd") is None:
        return "needs Erlang's epmd on PATH (Debian's erlang-base, a rabbitmq-server dependency)"
    return None


def make_certificates(folder: Path) -> Path:
    """A CA (``ca.pem``) and a server certificate for ``localhost`` that it signed
    (``server.pem``, ``server.key``), valid for two days; the CA's path."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True,
                       timeout=30)  # fmt: skip

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sched test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (folder / "server.ext").write_text(
        "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n", encoding="utf-8"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "server.ext")  # fmt: skip
    return folder / "ca.pem"


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class RabbitMQ:
    """One RabbitMQ node in ``folder``; ``stop`` and ``start`` again keep its data (durable
    queues and their messages), as a broker restart does."""

    def __init__(self, folder: Path, config: str = "") -> None:
        """``config``: more lines of rabbitmq.conf."""
        self.folder = folder
        self.port, self.tls_port, self.dist_port, self.epmd_port = free_ports(4)
        self.node = f"sched-test-{self.port}@localhost"
        self.log_path = folder / "stdout.log"
        self._epmd: subprocess.Popen[bytes] | None = None
        self._server: subprocess.Popen[bytes] | None = None
        (folder / "home").mkdir(parents=True, exist_ok=True)
        self.ca_file: Path | None = make_certificates(folder) if shutil.which("openssl") else None
        tls = (
            f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {folder / 'ca.pem'}\n"
            f"ssl_options.certfile = {folder / 'server.pem'}\n"
            f"ssl_options.keyfile = {folder / 'server.key'}\n"
            "ssl_options.verify = verify_none\n"
            if self.ca_file is not None
            else ""
        )
        (folder / "rabbitmq.conf").write_text(
            tls + f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            # A test machine's tmp may be nearly full; the default (50 MB) would block
            # every publisher, which is not what these tests are about.
            "disk_free_limit.absolute = 1MB\n"
            "log.console = true\nlog.console.level = warning\nlog.file.level = info\n" + config,
            encoding="utf-8",
        )
        (folder / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (folder / "rabbitmq-env.conf").write_text("", encoding="utf-8")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def tls_url(self) -> str:
        """Over TLS; the certificate names ``localhost`` and is signed by ``ca_file``."""
        return f"amqps://guest:guest@localhost:{self.tls_port}//"

    def environment(self) -> dict[str, str]:
        folder = self.folder
        return {
            **os.environ,
            "HOME": str(folder / "home"),  # the Erlang cookie lives here
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),  # not /etc's
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid"),
        }

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        script, epmd = server_script(), shutil.which("epmd")
        assert script is not None and epmd is not None, missing()
        env = self.environment()
        with self.log_path.open("ab") as log:
            self._epmd = subprocess.Popen(
                [epmd, "-port", str(self.epmd_port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, process_group=0,
            )  # fmt: skip
            try:
                self._wait_for_port(self.epmd_port, time.monotonic() + 10.0, "epmd")
                self._server = subprocess.Popen(
                    [str(script)], cwd=self.folder, env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    process_group=self._epmd.pid,
                )  # fmt: skip
                self._wait_until_it_speaks_amqp(time.monotonic() + timeout_s)
            except BaseException:
                self.stop(timeout_s=0)
                raise

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """A clean shutdown (SIGTERM) within ``timeout_s``, else SIGKILL; then every process
        left in the group, epmd included, is killed and reaped."""
        server, epmd = self._server, self._epmd
        self._server = self._epmd = None
        if server is not None and server.poll() is None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=timeout_s)
        if epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(epmd.pid, signal.SIGKILL)
        for proc in (server, epmd):
            if proc is not None:
                proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait_for_port(self, port: int, deadline: float, what: str) -> None:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                    return
            except OSError:
                self._fail_if_exited(what)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not listen on {port} in time") from None
                time.sleep(0.1)

    def _wait_until_it_speaks_amqp(self, deadline: float) -> None:
        while True:
            connection = amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=2.0)
            try:
                connection.connect()
            except (OSError, amqp.AMQPError):
                connection.collect()
                self._fail_if_exited("rabbitmq-server")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"rabbitmq-server did not accept AMQP on {self.port} in time:\n"
                        + self.log_tail()
                    ) from None
                time.sleep(0.25)
            else:
                connection.close()
                return

    def _fail_if_exited(self, what: str) -> None:
        proc = self._server if what == "rabbitmq-server" else self._epmd
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{self.log_tail()}")

    def __enter__(self) -> RabbitMQ:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _skip_if_missing() -> None:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One RabbitMQ for the session; tests keep to queues of their own names."""
    _skip_if_missing()
    with RabbitMQ(tmp_path_factory.mktemp("rabbitmq")) as server:
        yield server


@pytest.fixture
def own_rabbitmq(tmp_path: Path) -> Iterator[RabbitMQ]:
    """A RabbitMQ of the test's own, for tests that stop or restart it."""
    _skip_if_missing()
    with RabbitMQ(tmp_path / "rabbitmq") as server:
        yield server
