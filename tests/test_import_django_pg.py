"""`sched import django-celery-beat` from PostgreSQL: the rows of test_import_django.py, made
by django-celery-beat's own migrations and models on a real server (``postgres.py``) and on
SQLite, import to exactly the same YAML and the same warnings from both."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from postgres import postgres_url  # noqa: F401 - the fixture
from test_import_celery import sched
from test_import_django import ROWS, SETTINGS

# The rows only (not test_import_django's Celery oracle), then every task's date_changed
# (auto_now: the time of the insert) pinned, so both databases hold the same instants.
PINNED_ROWS = (
    textwrap.dedent(ROWS).split("\nfires = {}")[0]
    + "\nPeriodicTask.objects.update(date_changed=datetime(2026, 11, 3, 8, 0, 0, 250000, "
    "tzinfo=UTC))\n"
)

POSTGRES_SETTINGS = """
SECRET_KEY = "only-for-tests"
INSTALLED_APPS = ["django_celery_beat"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": {name!r},
              "USER": {user!r}, "HOST": {host!r}, "PORT": {port!r}}}}}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""


def make_beat_database(folder: Path, settings: str) -> None:
    """django-celery-beat's tables by its migrations, and the rows by its models."""
    folder.mkdir()
    (folder / "beat_settings.py").write_text(settings, encoding="utf-8")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "beat_settings", "PYTHONPATH": str(folder),
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    admin = Path(sys.executable).with_name("django-admin")
    subprocess.run([str(admin), "migrate", "-v", "0"], env=env, check=True, timeout=120)
    subprocess.run([sys.executable, "-c", PINNED_ROWS], env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def imported(url: str, shown: str) -> tuple[int, str, str]:
    done = sched("import", "django-celery-beat", "--database-url", url, "--skip-inexact")
    # The header names the database it read; the rest must not differ.
    return (done.returncode, done.stdout.replace(shown, "<database>"),
            done.stderr.replace(shown, "<database>"))  # fmt: skip


def test_postgresql_imports_exactly_what_sqlite_does_for_the_same_rows(
    postgres_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    parts = urlsplit(postgres_url)
    make_beat_database(tmp_path / "pg", POSTGRES_SETTINGS.format(
        name=parts.path.lstrip("/"), user=parts.username, host=parts.hostname,
        port=str(parts.port)))  # fmt: skip
    sqlite_db = tmp_path / "sqlite" / "beat.sqlite3"
    make_beat_database(tmp_path / "sqlite", SETTINGS.format(db=str(sqlite_db)))

    # Sessions that do not set their own zone, as sched's does not, get instants in this
    # one (+12:45, +13:45 in the southern summer): aware, and not UTC. Django sets UTC.
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"ALTER DATABASE {parts.path.lstrip('/')} SET timezone TO 'Pacific/Chatham'")
    from_pg = imported(postgres_url, postgres_url.split("@")[-1])
    from_sqlite = imported(f"sqlite:///{sqlite_db}", f"sqlite:///{sqlite_db}")
    assert from_pg == from_sqlite
    code, yaml_text, warnings = from_pg
    assert code == 0, warnings
    # PostgreSQL's aware instants (timestamptz, in Chatham's zone) read as SQLite's naive UTC.
    for block in [
        "  every-minute:\n    celery_task: proj.tasks.job\n    every: 1m\n"
        "    start: '2027-01-01T00:00:30Z'\n",
        "  every-two-hours:\n    celery_task: proj.tasks.job\n    every: 2h\n"
        "    start: '2026-11-03T10:00:01Z'\n",
        '  one-off:\n    celery_task: proj.tasks.job\n    cron: "0 0 10 1 6 *"\n'
        "    start: '2027-06-01T10:00:00Z'\n    end: '2027-06-01T10:00:01Z'\n",
        '  until-march:\n    celery_task: proj.tasks.job\n    cron: "0 12 * * *"\n'
        "    end: '2027-03-01T11:59:59Z'\n",
        '  switched-off:\n    celery_task: proj.tasks.job\n    cron: "0 3 * * *"\n'
        "    enabled: false\n",
        "    cron: \"15 */4 * * *\"\n    start: '2027-02-01T00:15:00Z'\n",
        "  # Celery beat entry 'weekly report (ops)'\n  weekly-report-ops:\n"
        '    celery_task: proj.tasks.job\n    cron: "0 7 * * 1"\n    args: [1, 2]\n'
        "    kwargs: {to: ops@example.com}\n    queue: reports\n    priority: 0\n"
        '    expires: 30s\n    description: "The weekly report"\n',
    ]:
        assert block in yaml_text


def test_a_postgresql_database_without_the_tables_says_so(
    postgres_url: str,  # noqa: F811 - the fixture
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute('CREATE DATABASE "empty"')
    url = postgres_url.rsplit("/", 1)[0] + "/empty"
    done = sched("import", "django-celery-beat", "--database-url", url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: cannot read django-celery-beat's tables: relation "
                                  '"django_celery_beat_periodictask" does not exist')  # fmt: skip
