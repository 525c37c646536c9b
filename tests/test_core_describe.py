"""A trigger in words: common cron shapes spelled out, everything else left as written."""

from __future__ import annotations

import pytest

from scheduler.core.describe import describe


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("30 2 * * *", "at 02:30 every day"),
        ("*/15 * * * *", "every 15 minutes"),
        ("*/1 * * * *", "every minute"),
        ("* * * * *", "every minute"),
        ("5 * * * *", "at minute 5 of every hour"),
        ("0 9 * * mon-fri", "at 09:00 on Monday to Friday"),
        ("0 9 * * 1,3,5", "at 09:00 on Monday, Wednesday and Friday"),
        ("0 9 * * 0", "at 09:00 on Sunday"),
        ("0 9 * * 7", "at 09:00 on Sunday"),
        ("0 9 * * sat,sun", "at 09:00 on Saturday and Sunday"),
        ("0 0 1 * *", "at 00:00 on day 1 of every month"),
        # Left as written: month fields, day-of-month with weekday, #, L, steps, 6 fields.
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 1 * 1", "0 0 1 * 1"),
        ("0 9 * * 1#2", "0 9 * * 1#2"),
        ("0 9 L * *", "0 9 L * *"),
        ("0 */2 * * *", "0 */2 * * *"),
        ("*/10 * * * * *", "*/10 * * * * *"),
        ("@daily", "@daily"),
        ("0 9 * * 1-funday", "0 9 * * 1-funday"),
    ],
)
def test_a_cron_expression_in_words(cron: str, words: str) -> None:
    assert describe(cron, None) == words


def test_an_interval_in_words() -> None:
    assert describe(None, 90) == "every 1m30s"
    assert describe(None, 86400) == "every 1d"
