"""Celery application; configuration comes from Django settings with the ``CELERY_`` prefix.

Worker: ``celery -A iotserver worker -l INFO``; schedule: ``celery -A iotserver beat -l INFO``
(the schedule is ``CELERY_BEAT_SCHEDULE`` in settings). Without ``REDIS_URL`` tasks run
eagerly in the caller and ``manage.py telemetry_maintenance`` does the periodic work once.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotserver.settings")

app = Celery("iotserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
