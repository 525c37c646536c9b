"""Prometheus metrics: ``Metrics`` counts what the loops report (it is their ``Observer``),
and ``ClusterCollector`` reads schedules, queues and workers from the store at scrape time
(in the leader only, so that every series has one source).

The metric names are a contract that dashboards and alert rules depend on; the README lists
them. Labels never include run ids.
"""

from scheduler.metrics.collector import ClusterCollector
from scheduler.metrics.registry import Metrics

__all__ = ["ClusterCollector", "Metrics"]
