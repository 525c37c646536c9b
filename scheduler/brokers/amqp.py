"""RabbitMQ (AMQP 0-9-1) for the relay: Celery's messages published with publisher confirms.

What goes on the wire is what Celery's ``app.send_task`` publishes through kombu's py-amqp
transport for protocol 2: to the default exchange ``''`` with the queue's name as routing
key, persistent (delivery mode 2), ``application/json`` in ``utf-8``, the task id as
correlation id, the Celery headers as application headers and ``[args, kwargs, embed]`` as
body. Two choices differ from Celery's client, on purpose:

- ``mandatory``: Celery declares a queue before it sends to it; sched does not (it does not
  know the queue's arguments, and declaring them wrong closes the channel), so a queue no
  worker has declared would silently drop the message. Mandatory makes RabbitMQ return it
  (``basic.return``) instead, and the relay keeps it.
- ``reply_to`` is empty: sched waits for no result, as in the Redis envelope it writes.

A message is confirmed only when RabbitMQ acked it (``confirm_select``) and did not return
it: an ack means the broker took responsibility for it (a persistent message on a durable
queue is on disk). One connection and one channel are kept between batches, opened on the
first publish and opened again after any failure; every wait is bounded by ``timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp

from scheduler.core.celery import CeleryMessage, OutboxEntry, Published, amqp_priority
from scheduler.core.urls import redact
from scheduler.errors import BrokerError

# scheme -> (default port, TLS); pyamqp:// is Celery's name for the same transport
SCHEMES = {"amqp": (5672, False), "pyamqp": (5672, False), "amqps": (5671, True)}
NO_ROUTE = 312  # AMQP's reply code of a mandatory message no queue is bound for
BLOCKED = (": it blocks publishers, which RabbitMQ does during a resource alarm (low on"
           " memory or disk space); see its log")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AmqpAddress:
    """Where and as whom to connect, read from a broker URL as kombu reads it:
    ``amqp://user:password@host:port/vhost``, user and password ``guest`` by default, the
    virtual host ``/`` for an empty path (``amqp://host//`` names it explicitly) and
    percent-decoded (``%2F`` is ``/``). Query options are Celery's business and ignored."""

    host: str  # "host:port", as py-amqp takes it
    userid: str
    password: str
    virtual_host: str
    tls: bool  # amqps: verify the certificate against the system's CAs and the host name
    hostname: str

    @classmethod
    def parse(cls, url: str) -> AmqpAddress:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise BrokerError(
                f"unsupported broker URL {redact(url)!r}: use amqp://, amqps:// or pyamqp://"
            )
        default_port, tls = SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise BrokerError(
                f"invalid broker URL {redact(url)!r}: the port is not a number"
            ) from None
        hostname = parts.hostname or "localhost"
        host = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"
        path = parts.path[1:]
        return cls(
            host=host,
            userid=unquote(parts.username) if parts.username is not None else "guest",
            password=unquote(parts.password) if parts.password is not None else "guest",
            virtual_host=unquote(path) if path else "/",
            tls=tls,
            hostname=hostname,
        )

    def ssl_options(self) -> dict[str, Any] | bool:
        # py-amqp checks the host name only when it is given one; without it, any trusted
        # certificate would do.
        return {"server_hostname": self.hostname} if self.tls else False


def amqp_message(message: CeleryMessage) -> amqp.Message:
    """The AMQP message Celery's client publishes for ``message`` (protocol 2)."""
    return amqp.Message(
        message.body,
        content_type="application/json",
        content_encoding="utf-8",
        application_headers=message.headers,
        delivery_mode=2,
        priority=amqp_priority(message.priority),
        correlation_id=message.task_id,
        reply_to="",
    )


def read_entries(
    entries: Sequence[OutboxEntry],
) -> tuple[list[tuple[OutboxEntry, CeleryMessage]], dict[str, str]]:
    """The entries' messages, and why any that cannot be read is refused: it stays in the
    outbox, reported, rather than stopping the relay for every other run."""
    batch: list[tuple[OutboxEntry, CeleryMessage]] = []
    unreadable: dict[str, str] = {}
    for entry in entries:
        try:
            batch.append((entry, CeleryMessage.from_envelope(entry.envelope, entry.priority)))
        except (ValueError, KeyError, TypeError) as exc:  # binascii.Error is a ValueError
            unreadable[entry.run_id] = (
                f"the outbox entry holds no Celery message sched can read ({exc!r}); "
                "please report it as a bug in sched"
            )
    return batch, unreadable


class Confirms:
    """Publisher-confirm bookkeeping for one channel. On a channel in confirm mode the
    broker numbers messages 1, 2, 3, ... in publish order; one ack or nack may settle every
    tag up to its own (``multiple``); a ``basic.return`` comes before the ack of the message
    it returns, and names it by its correlation id (the task id)."""

    def __init__(self) -> None:
        self.last_tag = 0
        self.pending: set[int] = set()
        self.acked: set[int] = set()
        self.nacked: set[int] = set()
        self.returned: dict[str, str] = {}  # task id -> the broker's reason, if not NO_ROUTE

    def start_batch(self) -> None:
        self.acked, self.nacked, self.returned = set(), set(), {}

    def sent(self) -> int:
        self.last_tag += 1
        self.pending.add(self.last_tag)
        return self.last_tag

    def on_ack(self, tag: int, multiple: bool) -> None:
        self.acked |= self._settle(tag, multiple)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked |= self._settle(tag, multiple)

    def on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        reason = "" if exc.reply_code == NO_ROUTE else f"{exc.reply_code} {exc.reply_text}"
        self.returned[str(message.properties.get("correlation_id"))] = reason

    def _settle(self, tag: int, multiple: bool) -> set[int]:
        settled = {t for t in self.pending if t <= tag} if multiple else {tag} & self.pending
        self.pending -= settled
        return settled


class AmqpPublisher:
    """Publishes outbox entries to one RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.address = AmqpAddress.parse(url)
        self._connection: amqp.Connection | None = None
        self._channel: Any = None
        self._confirms = Confirms()
        self._blocked = False  # whether the broker blocks this connection's publishes

    def publish(self, entries: Sequence[OutboxEntry]) -> Published:
        """Publishes ``entries`` and waits up to ``timeout_s`` for the broker's confirms.
        Raises BrokerError when the broker cannot be reached or the connection fails: then
        nothing of the batch counts as confirmed (some may have arrived: at least once)."""
        batch, unreadable = read_entries(entries)
        if not batch:
            return Published(confirmed=[], refused=unreadable)
        try:
            self._ensure_channel()
            self._confirms.start_batch()
            tags = [self._publish_one(message) for _, message in batch]
            self._wait_for_confirms()
        except (OSError, amqp.AMQPError) as exc:
            self._drop()
            raise BrokerError(
                f"cannot publish to the Celery broker {redact(self.url)}: {exc}"
            ) from exc
        published = self._judge(batch, tags)
        if self._confirms.pending:
            self._drop()  # a late confirm must not be read as one of the next batch's
        return Published(published.confirmed, {**published.refused, **unreadable})

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except (OSError, amqp.AMQPError):
                connection.collect()

    def _ensure_channel(self) -> None:
        if self._connection is not None and not self._is_alive(self._connection):
            self._drop()
        if self._connection is None:
            self._connection = self._connect()
        if self._channel is None or not self._channel.is_open:
            self._confirms = Confirms()
            channel = self._connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._confirms.on_ack)
            channel.events["basic_nack"].add(self._confirms.on_nack)
            channel.events["basic_return"].add(self._confirms.on_return)
            self._channel = channel

    def _connect(self) -> amqp.Connection:
        a = self.address
        self._blocked = False
        connection = amqp.Connection(
            host=a.host, userid=a.userid, password=a.password, virtual_host=a.virtual_host,
            ssl=a.ssl_options(), connect_timeout=self.timeout_s, read_timeout=self.timeout_s,
            write_timeout=self.timeout_s, on_blocked=self._on_blocked,
            on_unblocked=self._on_unblocked, client_properties={"connection_name": "sched relay"},
        )  # fmt: skip
        try:
            connection.connect()
        except BaseException:
            connection.collect()
            raise
        return connection

    @staticmethod
    def _is_alive(connection: amqp.Connection) -> bool:
        """Whether a kept connection still works: reading what the broker sent since (a
        ``connection.close`` when it shut down, or the end of the stream) tells, without
        waiting, so that the first publish after a broker restart need not fail."""
        if not connection.connected:
            return False
        try:
            connection.drain_events(timeout=0)
        except TimeoutError:
            return True  # nothing to read: as alive as can be known
        except (OSError, amqp.AMQPError):
            return False
        return True

    def _publish_one(self, message: CeleryMessage) -> int:
        tag = self._confirms.sent()
        self._channel.basic_publish(
            amqp_message(message), exchange="", routing_key=message.queue, mandatory=True,
            timeout=self.timeout_s,
        )  # fmt: skip
        return tag

    def _wait_for_confirms(self) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.timeout_s
        while self._confirms.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                return

    def _judge(self, batch: list[tuple[OutboxEntry, CeleryMessage]], tags: list[int]) -> Published:
        confirms = self._confirms
        confirmed: list[str] = []
        refused: dict[str, str] = {}
        for (entry, message), tag in zip(batch, tags, strict=True):
            returned = confirms.returned.get(message.task_id)
            if tag in confirms.nacked:
                refused[entry.run_id] = (
                    f"the broker refused the message for queue {message.queue!r} (basic.nack):"
                    " a queue at its length limit with overflow reject-publish, or a fault in"
                    " the broker; see its log"
                )
            elif tag in confirms.acked and returned is not None:
                refused[entry.run_id] = (
                    f"no queue {message.queue!r} on the broker (virtual host"
                    f" {self.address.virtual_host!r}): start a Celery worker that consumes it"
                    + (f" (the broker said {returned})" if returned else "")
                )
            elif tag in confirms.acked:
                confirmed.append(entry.run_id)
            else:
                blocked = BLOCKED if self._blocked else ""
                refused[entry.run_id] = (
                    f"not confirmed by the broker within {self.timeout_s:g} s{blocked}"
                )
        return Published(confirmed=confirmed, refused=refused)

    def _on_blocked(self, reason: str) -> None:
        self._blocked = True  # py-amqp does not pass on RabbitMQ's reason

    def _on_unblocked(self) -> None:
        self._blocked = False

    def _drop(self) -> None:
        """Forgets the connection without a closing handshake (it failed, or is suspect)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            connection.collect()
