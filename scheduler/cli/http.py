"""``--http`` for the long-running commands: metrics and health probes of this process."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from scheduler.beat import Scheduler
from scheduler.beat.reload import Reloader
from scheduler.cli.common import EXIT_USAGE, fail
from scheduler.core import clock
from scheduler.core.instants import to_ms
from scheduler.errors import SchedError
from scheduler.metrics import ClusterCollector, Metrics
from scheduler.metrics.collector import Leadership
from scheduler.store import Store, connect
from scheduler.web import Health, HttpServer, Loop, api, pages, parse_address
from scheduler.web.app import App, Context, parse_tokens
from scheduler.web.server import AddressError
from scheduler.worker import Worker

PROBE_TIMEOUT_S = 1.0  # Redis must answer a readiness probe within this
PAGE_TIMEOUT_S = 2.0  # and a page's or the API's reads within this
DEFAULT_ADDRESS = "127.0.0.1:8642"
PER_SCHEDULE_MAX = 10_000  # beyond this, metrics are not labelled by schedule by default

Http = Annotated[
    str,
    typer.Option("--http", envvar="SCHED_HTTP", metavar="HOST:PORT|off",
                 help="Serve the web page, its API, /metrics, /livez, /readyz and /healthz here. "
                      "Binding beyond "
                      "loopback (0.0.0.0) is your explicit choice."),
]  # fmt: skip
PerSchedule = Annotated[
    bool | None,
    typer.Option("--metrics-per-schedule/--no-metrics-per-schedule",
                 envvar="SCHED_METRICS_PER_SCHEDULE", show_default=False,
                 help=f"Label metrics by schedule (default: on up to {PER_SCHEDULE_MAX:,} "
                      "schedules, off beyond)."),
]  # fmt: skip


def metrics_for(per_schedule: bool | None, schedules: int) -> Metrics:
    """The process's metrics; per schedule unless told otherwise or beyond
    ``PER_SCHEDULE_MAX`` schedules (a scrape would read and render them all, for seconds)."""
    if per_schedule is None:
        per_schedule = schedules <= PER_SCHEDULE_MAX
        if not per_schedule:
            logging.getLogger("sched").warning(
                "%d schedules: metrics are not labelled by schedule (more than %d; "
                "--metrics-per-schedule turns them on)", schedules, PER_SCHEDULE_MAX)  # fmt: skip
    return Metrics(per_schedule)


def address_of(text: str) -> tuple[str, int] | None:
    try:
        return parse_address(text)
    except AddressError as exc:
        raise fail(f"--http: {exc}", EXIT_USAGE) from None


def serve_http(
    address: tuple[str, int] | None,
    redis_url: str,
    namespace: str,
    metrics: Metrics,
    replica: Scheduler | None = None,
    reloader: Reloader | None = None,
    worker: Worker | None = None,
    required: bool = True,
) -> HttpServer | None:
    """Start the HTTP server of this process (None when ``address`` is None, or when the
    address is taken and not ``required``)."""
    if address is None:
        return None
    try:
        tokens = parse_tokens(os.environ.get("SCHED_HTTP_TOKEN", ""))
    except SchedError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    loops: list[Loop] = []
    store = replica.store if replica is not None else worker.store if worker else None
    assert store is not None
    if replica is not None:
        loops.append(Loop("scheduler", replica.alive, replica.tick_age_s))
        leadership = Leadership(lambda: replica.is_leader, lambda: replica.epoch,
                                lambda: replica.schedules)  # fmt: skip
        metrics.watch(ClusterCollector(store, leadership, lambda: to_ms(replica.lease.clock.now()),
                                       metrics.per_schedule))  # fmt: skip
    if worker is not None:
        loops.append(Loop("worker", worker.alive, worker.tick_age_s))

    def role() -> str:
        roles = [] if replica is None else ["leader" if replica.is_leader else "standby"]
        return "+".join([*roles, *(["worker"] if worker is not None else [])])

    probe = Store(connect(redis_url, timeout_s=PROBE_TIMEOUT_S), namespace)
    health = Health(
        probe, loops, role,
        epoch=(lambda: replica.epoch) if replica else (lambda: 0),
        lease_left_s=replica.lease.left_s if replica else (lambda: None),
        reload_error=(lambda: reloader.last_error) if reloader else (lambda: ""),
    )  # fmt: skip
    sources = (lambda: {n: s.source for n, s in replica.schedules.items()}) if replica else dict
    hosts = frozenset(h.strip().lower() for h in os.environ.get("SCHED_HTTP_HOSTS", "").split(",")
                      if h.strip())  # fmt: skip
    # The page's reads get a connection of their own with short timeouts: a slow Redis
    # must not hold the server's few request slots for long.
    pages_store = Store(connect(redis_url, timeout_s=PAGE_TIMEOUT_S), namespace)
    context = Context(pages_store, clock.utc_now, tokens, sources, hosts)
    app = App(context, [*api.ROUTES, *pages.ROUTES], pages.error_page)
    try:
        server = HttpServer(address, health, metrics.exposition, app).start()
    except OSError as exc:
        text = f"cannot serve on {address[0]}:{address[1]}: {exc.strerror or exc}"
        if not required:  # the default address of `sched run`: another one may hold it
            logging.getLogger("sched").warning("%s; going on without metrics and health "
                                               "(choose one with --http)", text)  # fmt: skip
            return None
        raise fail(f"--http: {text}", EXIT_USAGE) from None
    host, port = server.address
    logging.getLogger("sched").info("serving the page, metrics and health on http://%s:%d "
                                    "(%s)", host, port, "actions need a token" if tokens
                                    else "read-only: no SCHED_HTTP_TOKEN")  # fmt: skip
    return server
