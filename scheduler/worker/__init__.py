"""Workers: ``execute`` (one attempt) <- ``pools`` (threads or processes, one protocol) and
``outcomes`` (the pure judgement of an attempt) <- ``loop`` (``Worker``)."""

from scheduler.worker.loop import GRACE_S, MAX_DELIVERIES, WORKER_TIMEOUT_S, Worker

__all__ = ["GRACE_S", "MAX_DELIVERIES", "WORKER_TIMEOUT_S", "Worker"]
