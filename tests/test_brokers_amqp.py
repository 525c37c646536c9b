"""The relay's RabbitMQ publisher against a real RabbitMQ (tests/rabbitmq.py starts it): what
arrives is what Celery's own client publishes, a real Celery worker runs it, and only what
the broker confirmed counts as published. URL handling and bounded waits need no broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import amqp
import pytest
import rabbitmq
from rabbitmq import RabbitMQ

from scheduler.brokers import AmqpAddress, AmqpPublisher, redact
from scheduler.core.celery import CeleryMessage, OutboxEntry, Published, new_delivery_tag
from scheduler.core.model import JSONValue, Schedule, Target
from scheduler.errors import BrokerError

TESTS = Path(__file__).resolve().parent
FIRE_AT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
FIRE_TEXT = "2026-03-29T01:30:00+00:00"
ARGS: tuple[JSONValue, ...] = (1, "two", 2**60, {"nested": [None, True, 1.5]})
KWARGS: dict[str, JSONValue] = {"to": ["ops@example.com"], "dry_run": False}


def message_for(
    run_id: str,
    queue: str,
    priority: int = 5,
    args: tuple[JSONValue, ...] = ARGS,
    kwargs: dict[str, JSONValue] | None = None,
) -> CeleryMessage:
    schedule = Schedule(
        name=run_id.partition("@")[0], task="sched_test.record", timezone="UTC", every_s=60,
        args=args, kwargs=KWARGS if kwargs is None else kwargs, queue=queue, priority=priority,
        timeout_s=30, target=Target.CELERY,
    )  # fmt: skip
    return CeleryMessage.for_run(schedule, run_id, FIRE_AT, FIRE_TEXT, origin="sched@test")


def entry_for(url: str, run_id: str, queue: str, priority: int = 5) -> OutboxEntry:
    """An outbox entry as the leader writes it: the Redis envelope of the run's message."""
    message = message_for(run_id, queue, priority)
    return OutboxEntry.of(message, run_id, url, message.redis_envelope(new_delivery_tag()))


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.1)


class Broker:
    """A plain py-amqp client on the test RabbitMQ, to set queues up and look into them."""

    def __init__(self, server: RabbitMQ) -> None:
        self.connection = amqp.Connection(f"127.0.0.1:{server.port}", connect_timeout=5)
        self.connection.connect()
        self.channel = self.connection.channel()

    def declare(self, queue: str, **arguments: Any) -> None:
        """Declares a durable queue, as a Celery worker declares its queues."""
        self.channel.queue_delete(queue)
        self.channel.queue_declare(queue, durable=True, auto_delete=False, arguments=arguments)

    def take(self, queue: str) -> Any:
        """The next message in ``queue`` (acknowledged), or None."""
        return self.channel.basic_get(queue, no_ack=True)

    def depth(self, queue: str) -> int:
        return int(self.channel.queue_declare(queue, passive=True).message_count)

    def exists(self, queue: str) -> bool:
        channel = self.connection.channel()
        try:
            channel.queue_declare(queue, passive=True)
        except amqp.NotFound:
            return False  # the broker closed that channel
        channel.close()
        return True

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def broker(rabbitmq_server: RabbitMQ) -> Iterator[Broker]:
    client = Broker(rabbitmq_server)
    yield client
    client.close()


@pytest.fixture
def publisher(rabbitmq_server: RabbitMQ) -> Iterator[AmqpPublisher]:
    p = AmqpPublisher(rabbitmq_server.url, timeout_s=10.0)
    yield p
    p.close()


def test_a_published_message_carries_exactly_what_celery_send_task_publishes(
    rabbitmq_server: RabbitMQ, broker: Broker, publisher: AmqpPublisher
) -> None:
    from celery import Celery

    broker.declare("same-as-celery")
    broker.declare("sent-by-celery")
    ours = message_for("report@1774747800000", "same-as-celery", priority=7)
    envelope = ours.redis_envelope(new_delivery_tag())
    entry = OutboxEntry.of(ours, "report@1774747800000", rabbitmq_server.url, envelope)
    assert publisher.publish([entry]) == Published(["report@1774747800000"], {})

    app = Celery("sender", broker=rabbitmq_server.url.replace("amqp://", "pyamqp://"))
    try:
        app.send_task(
            "sched_test.record", args=list(ARGS), kwargs=KWARGS, queue="sent-by-celery",
            task_id=ours.task_id, priority=7, time_limit=30,
            headers={"sched_run_id": "report@1774747800000", "sched_fire_at": FIRE_TEXT},
        )  # fmt: skip
    finally:
        app.close()

    got, celerys = broker.take("same-as-celery"), broker.take("sent-by-celery")
    assert got.delivery_info["exchange"] == celerys.delivery_info["exchange"] == ""
    assert got.delivery_info["routing_key"] == "same-as-celery"
    assert got.body.encode() == ours.body  # py-amqp decodes a body that names its encoding
    assert json.loads(got.body) == json.loads(celerys.body)
    assert got.properties == {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": ours.headers,
        "delivery_mode": 2,
        "priority": 7,
        "correlation_id": ours.task_id,
        "reply_to": "",
    }
    # Celery's own client differs in two values only: the sender's name, and the queue its
    # result backend would reply to (sched waits for no reply).
    celerys.properties["application_headers"]["origin"] = "sched@test"
    celerys.properties["reply_to"] = ""
    assert got.properties == celerys.properties


def test_a_celery_worker_runs_a_published_message_and_sees_the_run(
    rabbitmq_server: RabbitMQ,
    broker: Broker,
    publisher: AmqpPublisher,
    tmp_path: Path,
    processes: list[subprocess.Popen[Any]],
) -> None:
    record = tmp_path / "record.jsonl"
    # No --without-heartbeat/-gossip/-mingle: without them its warm shutdown took 10 s.
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_amqp_app", "worker", "--pool", "solo",
         "-Q", "celery-runs", "-n", f"runs-{os.getpid()}@localhost", "--loglevel", "INFO"],
        env={**os.environ, "PYTHONPATH": str(TESTS), "SCHED_TEST_RECORD": str(record),
             "SCHED_TEST_BROKER_URL": rabbitmq_server.url},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    processes.append(worker)
    log.close()
    wait_for(lambda: broker.exists("celery-runs"), 60, "the worker declares its queue")

    published = publisher.publish([entry_for(rabbitmq_server.url, "nightly@1774747800000",
                                             "celery-runs", priority=9)])  # fmt: skip
    assert published == Published(["nightly@1774747800000"], {})

    wait_for(record.exists, 30, "the worker runs the task")
    worker.send_signal(signal.SIGTERM)  # a warm shutdown
    assert worker.wait(timeout=30) == 0
    assert [json.loads(line) for line in record.read_text().splitlines()] == [
        {
            "task_id": message_for("nightly@1774747800000", "celery-runs").task_id,
            "args": [1, "two", 2**60, {"nested": [None, True, 1.5]}],
            "kwargs": {"to": ["ops@example.com"], "dry_run": False},
            "sched_run_id": "nightly@1774747800000",
            "sched_fire_at": "2026-03-29T01:30:00+00:00",
            "priority": 9,
            "routing_key": "celery-runs",
        }
    ]


def test_a_message_for_a_queue_no_worker_declared_is_refused_not_confirmed(
    rabbitmq_server: RabbitMQ, broker: Broker, publisher: AmqpPublisher
) -> None:
    broker.declare("declared")
    url = rabbitmq_server.url
    batch = [entry_for(url, "a@1", "declared"), entry_for(url, "b@1", "nobody-consumes-this"),
             entry_for(url, "c@1", "declared")]  # fmt: skip

    assert publisher.publish(batch) == Published(
        confirmed=["a@1", "c@1"],
        refused={
            "b@1": "no queue 'nobody-consumes-this' on the broker (virtual host '/'): start a "
            "Celery worker that consumes it"
        },
    )
    assert broker.depth("declared") == 2
    assert broker.exists("nobody-consumes-this") is False


def test_the_same_run_is_confirmed_once_its_queue_exists(
    rabbitmq_server: RabbitMQ, broker: Broker, publisher: AmqpPublisher
) -> None:
    entry = entry_for(rabbitmq_server.url, "late@1", "declared-later")
    assert publisher.publish([entry]).confirmed == []

    broker.declare("declared-later")
    assert publisher.publish([entry]) == Published(["late@1"], {})
    assert broker.depth("declared-later") == 1


def test_a_message_the_broker_nacks_is_refused_not_confirmed(
    rabbitmq_server: RabbitMQ, broker: Broker, publisher: AmqpPublisher
) -> None:
    broker.declare("full", **{"x-max-length": 1, "x-overflow": "reject-publish"})
    url = rabbitmq_server.url

    published = publisher.publish([entry_for(url, "a@1", "full"), entry_for(url, "b@1", "full")])

    assert published == Published(
        confirmed=["a@1"],
        refused={
            "b@1": "the broker refused the message for queue 'full' (basic.nack): a queue at "
            "its length limit with overflow reject-publish, or a fault in the broker; see its log"
        },
    )
    assert broker.depth("full") == 1


def test_priorities_reach_the_messages_and_a_priority_queue_delivers_the_highest_first(
    rabbitmq_server: RabbitMQ, broker: Broker, publisher: AmqpPublisher
) -> None:
    broker.declare("prioritised", **{"x-max-priority": 9})
    url = rabbitmq_server.url
    batch = [entry_for(url, f"p{p}@1", "prioritised", priority=p) for p in (0, 5, 9, 3)]

    assert publisher.publish(batch).confirmed == ["p0@1", "p5@1", "p9@1", "p3@1"]

    taken = [broker.take("prioritised") for _ in range(4)]
    assert [(m.properties["priority"], m.headers["sched_run_id"]) for m in taken] == [
        (9, "p9@1"), (5, "p5@1"), (3, "p3@1"), (0, "p0@1")
    ]  # fmt: skip


def test_a_stopped_broker_is_a_broker_error_and_a_restarted_one_takes_the_next_batch(
    own_rabbitmq: RabbitMQ,
) -> None:
    broker = Broker(own_rabbitmq)
    broker.declare("survives")
    broker.close()
    url = own_rabbitmq.url
    publisher = AmqpPublisher(url, timeout_s=5.0)
    try:
        assert publisher.publish([entry_for(url, "a@1", "survives")]).confirmed == ["a@1"]

        own_rabbitmq.stop()
        started = time.monotonic()
        with pytest.raises(BrokerError) as raised:
            publisher.publish([entry_for(url, "b@1", "survives")])
        assert time.monotonic() - started < 5.0
        message = str(raised.value)
        assert message.startswith(
            f"cannot publish to the Celery broker amqp://guest:***@127.0.0.1:{own_rabbitmq.port}"
            "//: "
        )
        assert "guest:guest" not in message

        own_rabbitmq.start()
        assert publisher.publish([entry_for(url, "c@1", "survives")]) == Published(["c@1"], {})
    finally:
        publisher.close()
    broker = Broker(own_rabbitmq)
    assert [broker.take("survives").headers["sched_run_id"] for _ in range(2)] == ["a@1", "c@1"]
    broker.close()


def test_a_wrong_password_is_a_broker_error_that_does_not_show_it(
    rabbitmq_server: RabbitMQ,
) -> None:
    url = f"amqp://guest:s3cret@127.0.0.1:{rabbitmq_server.port}//"
    publisher = AmqpPublisher(url, timeout_s=5.0)

    with pytest.raises(BrokerError) as raised:
        publisher.publish([entry_for(url, "a@1", "declared")])

    message = str(raised.value)
    assert message.startswith(
        f"cannot publish to the Celery broker amqp://guest:***@127.0.0.1:{rabbitmq_server.port}//: "
    )
    assert "ACCESS_REFUSED" in message
    assert "s3cret" not in message


@pytest.mark.amqp
def test_a_batch_a_blocked_broker_does_not_confirm_in_time_is_refused_saying_why(
    tmp_path: Path,
) -> None:
    why_not = rabbitmq.missing()
    if why_not is not None:
        pytest.skip(why_not)
    # A memory limit of one byte: RabbitMQ raises its memory alarm and holds every publish.
    with RabbitMQ(tmp_path / "rabbitmq", config="vm_memory_high_watermark.absolute = 1\n") as low:
        broker = Broker(low)
        broker.declare("held")
        broker.close()
        url = low.url
        publisher = AmqpPublisher(url, timeout_s=1.0)
        started = time.monotonic()

        published = publisher.publish([entry_for(url, "a@1", "held")])

        assert time.monotonic() - started < 3.0
        publisher.close()
    assert published == Published(
        confirmed=[],
        refused={
            "a@1": "not confirmed by the broker within 1 s: it blocks publishers, which "
            "RabbitMQ does during a resource alarm (low on memory or disk space); see its log"
        },
    )


def test_an_outbox_entry_that_holds_no_message_is_refused_without_asking_the_broker() -> None:
    nowhere = "amqp://127.0.0.1:1//"  # nothing listens there
    unreadable = OutboxEntry("broken@1", nowhere, 5, "not json", "celery", "id", "x")

    assert AmqpPublisher(nowhere).publish([unreadable]) == Published(
        confirmed=[],
        refused={
            "broken@1": "the outbox entry holds no Celery message sched can read "
            "(JSONDecodeError('Expecting value: line 1 column 1 (char 0)')); please report it "
            "as a bug in sched"
        },
    )


def test_a_broker_that_never_answers_is_a_broker_error_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections into its backlog, and never says a word
        url = f"amqp://127.0.0.1:{silent.getsockname()[1]}//"
        publisher = AmqpPublisher(url, timeout_s=0.5)
        started = time.monotonic()

        with pytest.raises(BrokerError, match=r"^cannot publish to the Celery broker amqp://"):
            publisher.publish([entry_for(url, "a@1", "q")])

        assert time.monotonic() - started < 3.0


def test_nothing_to_publish_needs_no_broker() -> None:
    assert AmqpPublisher("amqp://127.0.0.1:1//").publish([]) == Published([], {})


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("amqp://", AmqpAddress("localhost:5672", "guest", "guest", "/", False, "localhost")),
        ("pyamqp://u:p@rabbit:5673//",
         AmqpAddress("rabbit:5673", "u", "p", "/", False, "rabbit")),
        ("amqp://u:p%40ss@rabbit/jobs",
         AmqpAddress("rabbit:5672", "u", "p@ss", "jobs", False, "rabbit")),
        ("amqp://rabbit/%2Fteam?heartbeat=30",
         AmqpAddress("rabbit:5672", "guest", "guest", "/team", False, "rabbit")),
        ("amqps://u:p@mq.example.com/",
         AmqpAddress("mq.example.com:5671", "u", "p", "/", True, "mq.example.com")),
        ("amqp://[::1]:5672//", AmqpAddress("[::1]:5672", "guest", "guest", "/", False, "::1")),
    ],
)  # fmt: skip
def test_broker_urls_are_read_as_kombu_reads_them(url: str, address: AmqpAddress) -> None:
    assert AmqpAddress.parse(url) == address


def test_amqps_verifies_the_certificate_against_the_host_name() -> None:
    assert AmqpAddress.parse("amqps://mq.example.com").ssl_options() == {
        "server_hostname": "mq.example.com"
    }
    assert AmqpAddress.parse("amqp://mq.example.com").ssl_options() is False


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis://:pw@host:6379/0",
         "unsupported broker URL 'redis://:***@host:6379/0': use amqp://, amqps:// or pyamqp://"),
        ("amqp://u:pw@host:http//",
         "invalid broker URL 'amqp://u:***@host:http//': the port is not a number"),
    ],
)  # fmt: skip
def test_a_url_of_another_kind_is_refused_without_its_password(url: str, error: str) -> None:
    with pytest.raises(BrokerError) as raised:
        AmqpPublisher(url)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@host:5672//", "amqp://guest:***@host:5672//"),
        ("amqps://:p@ss@host/v", "amqps://:***@host/v"),
        ("amqp://user@host//", "amqp://user@host//"),
        ("amqp://host//", "amqp://host//"),
    ],
)
def test_redact_hides_the_password_only(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.fixture
def tls_server(rabbitmq_server: RabbitMQ, monkeypatch: pytest.MonkeyPatch) -> RabbitMQ:
    """The test RabbitMQ, its CA trusted (OpenSSL reads SSL_CERT_FILE for the default CAs)."""
    if rabbitmq_server.ca_file is None:
        pytest.skip("needs the openssl command, to make the test broker's TLS certificate")
    monkeypatch.setenv("SSL_CERT_FILE", str(rabbitmq_server.ca_file))
    return rabbitmq_server


def test_amqps_publishes_over_tls_to_a_broker_with_a_trusted_certificate(
    tls_server: RabbitMQ, broker: Broker
) -> None:
    broker.declare("over-tls")
    url = tls_server.tls_url
    publisher = AmqpPublisher(url, timeout_s=5.0)
    try:
        assert publisher.publish([entry_for(url, "t@1", "over-tls")]) == Published(["t@1"], {})
    finally:
        publisher.close()
    assert broker.depth("over-tls") == 1


def test_amqps_refuses_a_certificate_for_another_host_name(tls_server: RabbitMQ) -> None:
    url = f"amqps://guest:guest@127.0.0.1:{tls_server.tls_port}//"  # it names localhost

    with pytest.raises(BrokerError, match=r"CERTIFICATE_VERIFY_FAILED.*IP address mismatch"):
        AmqpPublisher(url, timeout_s=5.0).publish([entry_for(url, "t@1", "over-tls")])


def test_amqps_refuses_a_certificate_no_trusted_ca_signed(
    rabbitmq_server: RabbitMQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    url = rabbitmq_server.tls_url

    with pytest.raises(
        BrokerError,
        match=r"CERTIFICATE_VERIFY_FAILED.*self-signed certificate in certificate chain",
    ):
        AmqpPublisher(url, timeout_s=5.0).publish([entry_for(url, "t@1", "over-tls")])
