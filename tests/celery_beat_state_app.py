"""A Celery app that the tests run a real ``celery beat`` with, to get its state file.

``app`` is what beat runs; ``grown`` is the same app with an entry added after beat ran, so
beat's state file holds no last run of it. The broker is in memory: beat only sends.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

BEAT_SCHEDULE = {
    "every-two-seconds": {"task": "proj.tasks.tick", "schedule": 2.0},
    "hourly": {"task": "proj.tasks.report", "schedule": crontab(minute=0)},
}

app = Celery("beat_state_app", broker="memory://", set_as_current=False)
app.conf.timezone = "Europe/Berlin"
app.conf.beat_schedule = BEAT_SCHEDULE

grown = Celery("beat_state_app", broker="memory://", set_as_current=False)
grown.conf.timezone = "Europe/Berlin"
grown.conf.beat_schedule = {
    **BEAT_SCHEDULE,
    "added-after-beat": {"task": "proj.tasks.tick", "schedule": 60},
}
