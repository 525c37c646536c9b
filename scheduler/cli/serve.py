"""The long-running commands: run, scheduler, worker; with reload and signal handling."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from scheduler.beat import Scheduler
from scheduler.beat.reload import Reloader
from scheduler.beat.sync import owner_conflicts
from scheduler.cli.app import app
from scheduler.cli.common import (
    DEFAULT_PATHS,
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_USAGE,
    AppDir,
    CeleryBrokerUrl,
    LogFormat,
    Namespace,
    PathsArg,
    RedisUrl,
    fail,
    load_files,
    local_server,
    open_store,
    setup_logging,
    use_app_dir,
)
from scheduler.cli.http import (
    DEFAULT_ADDRESS,
    Http,
    PerSchedule,
    address_of,
    metrics_for,
    serve_http,
)
from scheduler.cli.signals import Signals
from scheduler.config.fields import BROKER_SCHEMES
from scheduler.core.celery import CeleryRouting, redis_identity
from scheduler.core.durations import parse_duration_s
from scheduler.core.model import Schedule
from scheduler.core.observe import SILENT, Observer
from scheduler.errors import DurationError, StoreError
from scheduler.store import Store, redact
from scheduler.store.embedded import EmbeddedRedis
from scheduler.store.keys import DEAD_MAX
from scheduler.worker import ALIASES, GRACE_S, MAX_DELIVERIES, POOLS, WORKER_TIMEOUT_S, Worker


@app.command("scheduler")
def scheduler_command(
    paths: PathsArg = None,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
    http: Http = "off",
    metrics_per_schedule: PerSchedule = None,
    celery_broker_url: CeleryBrokerUrl = None,
) -> None:
    """Run a scheduler replica: one of all replicas leads and dispatches due runs."""
    check_broker_url(celery_broker_url)
    setup_logging(log_format)
    stop = threading.Event()
    signals = Signals(stop)  # first: a SIGTERM during start-up still stops cleanly
    address = address_of(http)
    schedules, _ = load_files(paths)
    metrics = metrics_for(metrics_per_schedule, len(schedules))
    url = redis_url or local_server()
    store = open_store(url, namespace)
    routing = celery_routing(store, celery_broker_url)
    replica, reloader = _replica(paths, schedules, store, signals, metrics, routing)
    server = serve_http(address, url, namespace, metrics, replica, reloader)
    logging.getLogger("sched.scheduler").info(
        "scheduler %s started with %d schedules on %s",
        replica.identity, len(schedules), redact(redis_url or ""),
    )  # fmt: skip
    try:
        replica.run(stop, reloader.poll)
    finally:
        if server is not None:
            server.close()


Queues = Annotated[
    str, typer.Option("--queues", "-Q", help="Comma-separated queues, taken in turn.")
]
Concurrency = Annotated[int, typer.Option(min=1, max=1000, help="Runs executed at once.")]
Pool = Annotated[
    str,
    typer.Option(help="prefork: long-lived child processes (timeouts kill the run, CPU-bound "
                      "tasks run in parallel); thread: threads in this process (I/O-bound "
                      "tasks; a timed-out run keeps running in an abandoned thread)."),
]  # fmt: skip
MaxRunsPerChild = Annotated[
    int,
    typer.Option("--max-runs-per-child", min=0,
                 help="prefork: replace a child after this many runs (against leaks); 0: never."),
]  # fmt: skip
WorkerTimeout = Annotated[
    float,
    typer.Option(
        "--worker-timeout",
        min=1.0,
        max=86400.0,
        help="Seconds without a heartbeat before a worker's runs are delivered again.",
    ),
]
MaxDeliveries = Annotated[
    int,
    typer.Option(
        "--max-deliveries",
        min=1,
        help="Deliveries without an outcome (the run kills its worker) before dead-lettering.",
    ),
]
Grace = Annotated[
    float,
    typer.Option(
        "--grace", min=0.0, max=86400.0, help="On SIGTERM, seconds running runs may finish."
    ),
]


DeadMax = Annotated[
    int,
    typer.Option("--dead-letters-max", min=1, max=10_000_000,
                 help="Dead letters kept; the oldest are dropped (and counted) beyond it."),
]  # fmt: skip
DeadMaxAge = Annotated[
    str,
    typer.Option("--dead-letters-max-age",
                 help="Dead letters older than this are dropped (a duration: 180d, 12h)."),
]  # fmt: skip


def _worker(
    store: Store,
    queues: str,
    concurrency: int,
    pool: str,
    worker_timeout: float,
    max_deliveries: int,
    dead_max: int = DEAD_MAX,
    dead_max_age: str = "180d",
    max_runs_per_child: int = 0,
    observer: Observer = SILENT,
) -> Worker:
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise fail("--queues: name at least one queue", EXIT_USAGE)
    if pool not in (*POOLS, *ALIASES):
        raise fail(f"--pool: {pool!r} is not one of {', '.join(POOLS)}", EXIT_USAGE)
    try:
        dead_max_age_s = parse_duration_s(dead_max_age)
    except DurationError as exc:
        raise fail(f"--dead-letters-max-age: {exc}", EXIT_USAGE) from None
    return Worker(
        store,
        names,
        concurrency,
        pool,
        worker_timeout_s=worker_timeout,
        max_deliveries=max_deliveries,
        dead_max=dead_max,
        dead_max_age_s=dead_max_age_s,
        max_runs_per_child=max_runs_per_child,
        observer=observer,
    )


@app.command()
def worker(
    queues: Queues = "default",
    concurrency: Concurrency = 4,
    pool: Pool = "prefork",
    max_runs_per_child: MaxRunsPerChild = 0,
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
    max_deliveries: MaxDeliveries = MAX_DELIVERIES,
    dead_letters_max: DeadMax = DEAD_MAX,
    dead_letters_max_age: DeadMaxAge = "180d",
    grace: Grace = GRACE_S,
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
    app_dir: AppDir = Path("."),
    http: Http = "off",
    metrics_per_schedule: PerSchedule = None,
) -> None:
    """Execute runs from the queues (no scheduler)."""
    setup_logging(log_format)
    use_app_dir(app_dir)
    stop = threading.Event()
    signals = Signals(stop)
    address = address_of(http)
    url = redis_url or local_server()
    store = open_store(url, namespace)
    metrics = metrics_for(metrics_per_schedule, schedule_count(store))
    executor = _worker(store, queues, concurrency, pool, worker_timeout, max_deliveries,
                       dead_letters_max, dead_letters_max_age, max_runs_per_child,
                       metrics)  # fmt: skip
    server = serve_http(address, url, namespace, metrics, worker=executor)
    try:
        executor.run(stop, grace, signals.force)
    finally:
        if server is not None:
            server.close()


@app.command()
def run(
    paths: PathsArg = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            "-Q",
            help="Comma-separated queues, taken in turn "
            "(default: every queue the schedules name, and default).",
            show_default=False,
        ),
    ] = None,
    concurrency: Concurrency = 4,
    pool: Pool = "prefork",
    max_runs_per_child: MaxRunsPerChild = 0,
    worker_timeout: WorkerTimeout = WORKER_TIMEOUT_S,
    max_deliveries: MaxDeliveries = MAX_DELIVERIES,
    dead_letters_max: DeadMax = DEAD_MAX,
    dead_letters_max_age: DeadMaxAge = "180d",
    grace: Grace = GRACE_S,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="SCHED_DATA_DIR", help="Where the embedded Redis keeps its data (no Redis URL)."
        ),
    ] = Path(".sched"),
    redis_url: RedisUrl = None,
    namespace: Namespace = "sched",
    log_format: LogFormat = "text",
    app_dir: AppDir = Path("."),
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            envvar="SCHED_HTTP",
            metavar="HOST:PORT|off",
            help=f"Serve the web page, /metrics and the probes here (default: "
            f"{DEFAULT_ADDRESS}; if it is taken, go on without). Binding beyond "
            "loopback (0.0.0.0) is your explicit choice.",
            show_default=False,
        ),
    ] = None,
    metrics_per_schedule: PerSchedule = None,
    celery_broker_url: CeleryBrokerUrl = None,
) -> None:
    """Scheduler and worker in one process; with no Redis URL, an embedded Redis."""
    check_broker_url(celery_broker_url)
    setup_logging(log_format)
    use_app_dir(app_dir)
    stop = threading.Event()
    signals = Signals(stop)  # first: a SIGTERM during start-up still stops cleanly
    address = address_of(http or DEFAULT_ADDRESS)
    schedules, _ = load_files(paths)
    embedded = None
    if not redis_url:
        embedded = _embedded(data_dir)
        redis_url = embedded.url
        logging.getLogger("sched").info(
            "started an embedded Redis, %s (data in %s, socket %s); set SCHED_REDIS_URL to use "
            "a shared Redis with several replicas and workers",
            embedded.binary.describe() if embedded.binary else "?",
            data_dir,
            embedded.socket_path,
        )
    try:
        store = open_store(redis_url, namespace)
        metrics = metrics_for(metrics_per_schedule, len(schedules))
        served = queues or ",".join(queues_of(schedules))
        executor = _worker(store, served, concurrency, pool, worker_timeout, max_deliveries,
                           dead_letters_max, dead_letters_max_age, max_runs_per_child,
                           metrics)  # fmt: skip
        routing = celery_routing(store, celery_broker_url)
        replica, reloader = _replica(paths, schedules, store, signals, metrics, routing)
        server = serve_http(address, redis_url, namespace, metrics, replica, reloader, executor,
                            required=http is not None)  # fmt: skip
        if queues is None:  # the worker follows the schedules' queues through reloads
            reloader.apply = lambda new: _follow(replica, executor, new)
        died: list[BaseException] = []
        leading = threading.Thread(
            target=_lead, args=(replica, stop, reloader, died), daemon=True, name="sched-lead"
        )
        leading.start()
        try:
            executor.run(stop, grace, signals.force)
        finally:
            stop.set()  # the worker half ended (or died): the scheduler half stops too
            leading.join(timeout=10)
            if server is not None:
                server.close()
        if died:
            # The scheduler half died (and released its lease): never go on as a worker
            # alone while looking healthy.
            raise fail(f"the scheduler loop died: {type(died[0]).__name__}: {died[0]}",
                       EXIT_INTERNAL)  # fmt: skip
    finally:
        if embedded is not None:
            embedded.stop()
            logging.getLogger("sched").info("stopped the embedded Redis")


def refuse_owned(store: Store, schedules: Mapping[str, Schedule]) -> None:
    """Exit 1 when the files declare a name the API owns (an unreachable Redis is left to
    the loop, whose sync refuses such a schedule too)."""
    try:
        clashes = owner_conflicts(store.reads, schedules)
    except StoreError:
        return
    if clashes:
        raise fail("\n".join(clashes), EXIT_INVALID)


def check_broker_url(broker_url: str | None) -> None:
    if broker_url is not None:
        scheme = broker_url.partition("://")[0]
        if scheme not in BROKER_SCHEMES or "://" not in broker_url:
            raise fail(f"--celery-broker-url: {redact(broker_url)!r} is not a broker URL sched "
                       "can publish to; use redis://, rediss://, unix:// or amqp://",
                       EXIT_USAGE)  # fmt: skip
        try:
            redis_identity(broker_url)
        except ValueError as exc:
            raise fail(f"--celery-broker-url: {exc}", EXIT_USAGE) from None


def celery_routing(store: Store, broker_url: str | None) -> CeleryRouting:
    """Where celery_task schedules go: ``--celery-broker-url``, else sched's own Redis."""
    return CeleryRouting(store.identity(), broker_url or None, f"sched@{socket.gethostname()}")


def schedule_count(store: Store) -> int:
    """How many schedules Redis holds (0 when it cannot say yet: the worker's own loop
    waits out an outage)."""
    try:
        return store.reads.count()
    except StoreError:
        return 0


def _lead(
    replica: Scheduler, stop: threading.Event, reloader: Reloader, died: list[BaseException]
) -> None:
    try:
        replica.run(stop, reloader.poll)
    except BaseException as exc:  # logged by run(); the whole process stops with it
        died.append(exc)
        stop.set()


def _embedded(data_dir: Path) -> EmbeddedRedis:
    try:
        return EmbeddedRedis(data_dir, own_group=True).start()
    except OSError as exc:
        raise fail(f"--data-dir: cannot use {str(data_dir)!r}: {exc.strerror or exc}",
                   EXIT_USAGE) from None  # fmt: skip


def _replica(
    paths: list[Path] | None, schedules: dict[str, Schedule], store: Store, signals: Signals,
    observer: Observer = SILENT, routing: CeleryRouting | None = None,
) -> tuple[Scheduler, Reloader]:  # fmt: skip
    """A scheduler replica, and the reloader SIGHUP and file changes go to."""
    replica = Scheduler(store, schedules, observer=observer, routing=routing)
    refuse_owned(store, schedules)
    reloader = Reloader(list(paths or DEFAULT_PATHS), lambda: replica.schedules,
                        replica.replace_schedules, observer=observer,
                        conflicts=lambda new: owner_conflicts(store.reads, new))  # fmt: skip
    signals.on_hup = reloader.request
    return replica, reloader


def queues_of(schedules: Mapping[str, Schedule]) -> list[str]:
    """Every queue the schedules name, and ``default``: what ``sched run`` serves."""
    return sorted({"default", *(s.queue for s in schedules.values() if not s.is_celery)})


def _follow(replica: Scheduler, executor: Worker, schedules: Mapping[str, Schedule]) -> None:
    replica.replace_schedules(schedules)
    executor.queues = queues_of(schedules)
