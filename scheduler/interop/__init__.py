"""Moving to sched from Celery beat: a Celery app's ``beat_schedule`` (``celery_beat``) and
django-celery-beat's tables (``django_beat``) read into sched schedule files.

``cronfields`` (Celery's crontab sets to a cron expression; pure) <- ``imported`` (what an
entry becomes: fields, warnings, refusals; the file's text) <- ``celery_beat``,
``django_beat``. The only package of sched that imports celery and django.
"""
