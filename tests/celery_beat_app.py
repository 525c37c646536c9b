"""A Celery app whose beat_schedule covers every form `sched import celery` reads.

Imported by the tests as ``celery_beat_app:app`` (tests/ is on the import path).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery import Celery
from celery.schedules import crontab, schedule, solar

app = Celery("beat_app", broker="memory://", set_as_current=False)
app.conf.timezone = "Europe/Berlin"
app.conf.enable_utc = True


def tokyo_now() -> datetime:
    return datetime.now(ZoneInfo("Asia/Tokyo"))


def sunrise_in_berlin() -> solar:
    """A solar schedule as Celery holds it, built without the ephem package that its
    constructor needs (only its type and fields are read)."""
    sunrise: Any = solar.__new__(solar)
    sunrise.event, sunrise.lat, sunrise.lon = "sunrise", 52.52, 13.40
    return sunrise


app.conf.beat_schedule = {
    # intervals: a number, a timedelta, a schedule object
    "every-ten-seconds": {"task": "proj.tasks.tick", "schedule": 10.0},
    "every-five-minutes": {"task": "proj.tasks.tick", "schedule": timedelta(minutes=5)},
    "every-90-minutes": {"task": "proj.tasks.tick", "schedule": schedule(timedelta(minutes=90))},
    # crontab forms: steps, ranges, wrap-around ranges, lists, both positional orders
    "quarter-hourly": {"task": "proj.tasks.tick", "schedule": crontab(minute="*/15")},
    "nightly": {"task": "proj.tasks.report", "schedule": crontab(minute=30, hour=3)},
    "workday-mornings": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour="7-9", day_of_week="mon-fri"),
    },
    "long-weekend-noon": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=12, day_of_week="fri-mon"),
    },
    "around-midnight": {"task": "proj.tasks.tick", "schedule": crontab(minute=0, hour="22-1")},
    "steps-in-a-range": {
        "task": "proj.tasks.tick",
        "schedule": crontab(minute="10-50/20", hour="*/6"),
    },
    "listed-minutes": {
        "task": "proj.tasks.tick",
        "schedule": crontab(minute="5,7,9,11", hour="1,13"),
    },
    "positional-monthly": {
        "task": "proj.tasks.report",
        "schedule": crontab("45", "4", "*", "1", "*"),
    },
    "from-string-first-monday": {
        "task": "proj.tasks.report",
        "schedule": crontab.from_string("0 6 1-7 * 1"),
    },
    "quarterly": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=0, day_of_month=1, month_of_year="*/3"),
    },
    "leap-day": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=0, day_of_month=29, month_of_year=2),
    },
    # day of month AND day of week, as Celery reads them
    "first-monday": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=8, day_of_month="1-7", day_of_week="mon"),
    },
    "fourth-friday": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=8, day_of_month="22-28", day_of_week="fri"),
    },
    "odd-day-sundays": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=10, day_of_month="*/2", day_of_week="sun"),
    },
    "friday-the-13th": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=13, day_of_month=13, day_of_week="fri"),
    },
    # zones: a nowfun in another zone; a time in the spring-forward gap
    "tokyo-nowfun": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0, hour=9, nowfun=tokyo_now),
    },
    "in-the-gap": {"task": "proj.tasks.report", "schedule": crontab(minute=30, hour=2)},
    # options, arguments, names
    "with options": {
        "task": "proj.tasks.export",
        "schedule": crontab(minute=0, hour=5),
        "args": [1, "two", None],
        "kwargs": {"fmt": "csv", "limits": {"rows": 10}},
        "options": {
            "queue": "reports",
            "priority": 7,
            "expires": 300,
            "time_limit": 120.5,
            "routing_key": "reports.daily",
        },
    },
    "disabled": {"task": "proj.tasks.tick", "schedule": 60, "enabled": False},
    # refused
    "sunrise": {"task": "proj.tasks.wake", "schedule": sunrise_in_berlin()},
    "hourly-on-the-clock": {"task": "proj.tasks.tick", "schedule": 3600, "relative": True},
    "dated-args": {
        "task": "proj.tasks.tick",
        "schedule": 60,
        "args": [datetime(2026, 1, 1, tzinfo=UTC)],
    },
}
