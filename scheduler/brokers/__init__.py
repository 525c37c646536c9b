"""The Celery brokers the relay publishes to, when a Celery app's broker is not sched's own
Redis: each takes a batch of outbox entries and says which the broker confirmed
(``scheduler.core.celery.Published``); an unreachable broker is a ``BrokerError``.

``amqp`` (RabbitMQ, with publisher confirms; the only
module in sched that imports py-amqp).
"""

from __future__ import annotations

from scheduler.brokers.amqp import AmqpAddress, AmqpPublisher
from scheduler.core.urls import redact

__all__ = ["AmqpAddress", "AmqpPublisher", "redact"]
