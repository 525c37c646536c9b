"""sched's HTTP server: health probes and Prometheus metrics, on a thread of its own.

``health`` decides what the probes answer; ``server`` serves them (and ``/metrics``) with
bounded threads, request sizes and timeouts, so a slow or hostile client cannot stall the
loops of its process.
"""

from scheduler.web.health import Health, Loop
from scheduler.web.server import HttpServer, parse_address

__all__ = ["Health", "HttpServer", "Loop", "parse_address"]
