"""A small HTTP server on threads of its own: bounded, with timeouts, never in a loop's way.

At most ``MAX_CLIENTS`` requests are served at once. When they are all taken (slow
clients, a slow Redis), ``PROBE_SLOTS`` more serve only the health probes, so an
orchestrator never restarts a process because its page was busy; beyond that a request is
answered 503 at once and closed. A client has ``TIMEOUT_S`` in all to send its request
line and headers (not per read: one byte every few seconds does not keep a slot), and each
write of the answer the same, and the body (at most ``BODY_MAX``, read only for POST, PATCH
and DELETE) the same again; lines and headers are bounded by the standard library (64
KiB a line, 100 headers). HTTP/1.0: one request per connection, so no idle connection holds
a thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scheduler.errors import SchedError
from scheduler.web.app import BODY_MAX, App, Request
from scheduler.web.health import Health

log = logging.getLogger("sched.http")

MAX_CLIENTS = 16
PROBE_SLOTS = 4
PROBES = ("/livez", "/readyz", "/healthz")
BUSY = b'{"error": "busy: only health probes are answered now"}\n'
TIMEOUT_S = 5.0
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class AddressError(SchedError):
    """An ``--http`` value that is not HOST:PORT."""


def parse_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6), or None for ``off``."""
    if text.strip().lower() in ("off", "no", "none", ""):
        return None
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise AddressError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8642) or off")
    return host, int(port)


class HttpServer:
    """Serves ``/livez``, ``/readyz``, ``/healthz`` and ``/metrics`` until ``close()``."""

    def __init__(
        self, address: tuple[str, int], health: Health, metrics: Callable[[], bytes],
        app: App | None = None, max_clients: int = MAX_CLIENTS, timeout_s: float = TIMEOUT_S,
    ) -> None:  # fmt: skip
        handler = _handler(health, metrics, app, timeout_s)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.server = _Server(address, handler, family, max_clients)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.2}, daemon=True, name="sched-http")  # fmt: skip

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> HttpServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], family: int,
        max_clients: int,
    ) -> None:  # fmt: skip
        self.address_family = family
        self.slots = threading.BoundedSemaphore(max_clients)
        self.probe_slots = threading.BoundedSemaphore(PROBE_SLOTS)
        self.probes_only = threading.local()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        for slots, probes_only in ((self.slots, False), (self.probe_slots, True)):
            if slots.acquire(blocking=False):
                args = (request, client_address, slots, probes_only)
                thread = threading.Thread(target=self._serve_one, args=args, daemon=True)
                thread.start()
                return
        with contextlib.suppress(OSError):  # every slot busy: say so, do not queue
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        self.shutdown_request(request)

    def _serve_one(
        self, request: Any, client_address: Any, slots: threading.BoundedSemaphore,
        probes_only: bool,
    ) -> None:  # fmt: skip
        self.probes_only.value = probes_only
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("a request from %s failed", client_address, exc_info=True)


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # No inline script or style runs, whatever a schedule name or an error message holds;
    # and no other site may frame the page to click its buttons.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _handler(
    health: Health, metrics: Callable[[], bytes], app: App | None, timeout_s: float
) -> type[BaseHTTPRequestHandler]:
    probes: dict[str, Callable[[], tuple[bool, dict[str, Any]]]] = {
        "/livez": health.live, "/readyz": health.ready, "/healthz": health.details,
    }  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        timeout = timeout_s
        server: _Server

        def setup(self) -> None:
            super().setup()
            # The whole request line and headers within timeout_s, however slowly sent.
            self.reading = threading.Timer(timeout_s, self._too_slow)
            self.reading.daemon = True
            self.reading.start()

        def _too_slow(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def parse_request(self) -> bool:
            done = super().parse_request()
            self.reading.cancel()
            return done

        def finish(self) -> None:
            self.reading.cancel()
            super().finish()

        def version_string(self) -> str:
            return "sched"

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            try:
                if getattr(self.server.probes_only, "value", False) and path not in PROBES:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, "application/json", BUSY)
                elif path in probes:
                    ok, body = probes[path]()
                    self._send(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE,
                               "application/json", json.dumps(body).encode() + b"\n")  # fmt: skip
                elif path == "/metrics":
                    self._send(HTTPStatus.OK, METRICS_TYPE, metrics())
                elif app is not None:
                    self._app()
                else:
                    self._send(HTTPStatus.NOT_FOUND, "application/json",
                               b'{"error": "not found"}\n')  # fmt: skip
            except Exception:  # a bug in a probe must answer 500, never kill the server
                log.exception("answering GET %s failed", path)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "application/json",
                           b'{"error": "internal error"}\n')  # fmt: skip

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            self._act()

        def do_PATCH(self) -> None:
            self._act()

        def do_DELETE(self) -> None:
            self._act()

        def _act(self) -> None:
            try:
                if getattr(self.server.probes_only, "value", False):
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, "application/json", BUSY)
                elif app is None:
                    self._send(HTTPStatus.NOT_FOUND, "application/json",
                               b'{"error": "not found"}\n')  # fmt: skip
                else:
                    self._app()
            except Exception:
                log.exception("answering %s %s failed", self.command, self.path)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "application/json",
                           b'{"error": "internal error"}\n')  # fmt: skip

        def _app(self) -> None:
            assert app is not None
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = BODY_MAX + 1
            body = self._body(length) if self.command in ("POST", "PATCH", "DELETE") else b""
            if body is None:
                return  # too slow, or cut short: the connection is gone
            request = Request.parse(self.command if self.command != "HEAD" else "GET",
                                    self.path, dict(self.headers.items()), body)  # fmt: skip
            response = app.handle(request, length)
            self._send(response.status, response.kind, response.body, response.headers)

        def _body(self, length: int) -> bytes | None:
            """``length`` bytes within ``timeout_s`` in all; a body over the limit is left
            unread (the app refuses it); None if the client was too slow or hung up."""
            if length <= 0 or length > BODY_MAX:
                return b""
            reading = threading.Timer(timeout_s, self._too_slow)
            reading.daemon = True
            reading.start()
            try:
                body = self.rfile.read(length)
            except OSError:
                return None
            finally:
                reading.cancel()
            return body if len(body) == length else None

        def _send(
            self, status: HTTPStatus, kind: str, body: bytes, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for header, value in {**SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(header, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
