"""The scheduler replica: ``lease`` (who leads) <- ``sync`` (definitions into Redis) and
``planner`` (steps for due schedules) <- ``loop`` (``Scheduler``: ``tick(now)``, ``run()``)."""

from scheduler.beat.loop import Scheduler

__all__ = ["Scheduler"]
