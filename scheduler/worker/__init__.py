"""Workers: ``execute`` (one attempt) <- ``pools`` (threads or prefork processes, one
protocol) and ``outcomes`` (the pure judgement of an attempt) <- ``loop`` (``Worker``)."""

from scheduler.worker.loop import GRACE_S, MAX_DELIVERIES, WORKER_TIMEOUT_S, Worker
from scheduler.worker.pools import ALIASES, POOLS

__all__ = ["ALIASES", "GRACE_S", "MAX_DELIVERIES", "POOLS", "WORKER_TIMEOUT_S", "Worker"]
