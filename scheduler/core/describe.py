"""A trigger in words, for people reading a list of schedules: common cron shapes spelled
out, anything else left as written (a wrong paraphrase is worse than none)."""

from __future__ import annotations

from scheduler.core.durations import format_duration_s

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
DAY_NAMES = {name[:3].lower(): i for i, name in enumerate(DAYS)}


def describe(cron: str | None, every_s: int | None) -> str:
    """``every 10s`` / ``at 02:30 every day`` / ``every 15 minutes`` / the expression."""
    if cron is None:
        return f"every {format_duration_s(every_s or 0)}"
    fields = cron.split()
    if len(fields) != 5:
        return cron
    minute, hour, dom, month, dow = fields
    if month != "*" or (dom != "*" and dow != "*"):
        return cron
    if minute.startswith("*/") and minute[2:].isdigit() and hour == dom == dow == "*":
        step = int(minute[2:])
        return "every minute" if step == 1 else f"every {step} minutes"
    if minute == "*" and hour == dom == dow == "*":
        return "every minute"
    if minute.isdigit() and hour == "*" and dom == dow == "*":
        return f"at minute {int(minute)} of every hour"
    if not (minute.isdigit() and hour.isdigit()):
        return cron
    at = f"at {int(hour):02d}:{int(minute):02d}"
    if dom == "*" and dow == "*":
        return f"{at} every day"
    if dom != "*":
        return f"{at} on day {int(dom)} of every month" if dom.isdigit() else cron
    days = _days(dow)
    return f"{at} on {days}" if days else cron


def _days(dow: str) -> str:
    """``1-5`` -> Monday to Friday; ``0,6`` -> Sunday and Saturday; '' when not simple."""

    def day(text: str) -> int | None:
        if text.isdigit() and int(text) <= 7:
            return int(text) % 7
        return DAY_NAMES.get(text.lower())

    if "-" in dow and "," not in dow:
        first, _, last = dow.partition("-")
        a, b = day(first), day(last)
        return f"{DAYS[a]} to {DAYS[b]}" if a is not None and b is not None else ""
    picked = [day(part) for part in dow.split(",")]
    if any(d is None for d in picked):
        return ""
    names = [DAYS[d] for d in picked if d is not None]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
