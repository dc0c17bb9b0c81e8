"""Celery tasks of the telemetry app: thin wrappers around ``telemetry.services``.

Every task is idempotent (acks_late: a task lost with its worker runs again), retries with
exponential backoff on storage errors, and never runs twice at once: a second copy that
finds the lock taken returns at once. The lock lives in the cache (Redis when ``REDIS_URL``
is set) with a timeout a little above the task's hard time limit, so a killed worker's lock
expires by itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError

from telemetry import account_events, services
from telemetry.storage import StorageError

logger = logging.getLogger(__name__)

SOFT_LIMIT = 240
HARD_LIMIT = 300
LOCK_TIMEOUT = HARD_LIMIT + 30
# Rollup windows per task run: a long catch-up continues in the next run (a new task is
# queued at once), so no single run nears the time limit.
ROLLUP_WINDOWS_PER_RUN = 2000

_TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (StorageError, DatabaseError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "soft_time_limit": SOFT_LIMIT,
    "time_limit": HARD_LIMIT,
}


def _lock_key(name: str) -> str:
    return f"telemetry:task-lock:{name}"


@contextmanager
def task_lock(name: str, *, timeout: int = LOCK_TIMEOUT) -> Iterator[bool]:
    """Yield whether this caller holds the lock ``name``; released on exit if still ours.

    ``cache.add`` is atomic (SET NX on Redis). The value is a token so that a run whose
    lock expired does not release the lock of the run that took it over.
    """
    key, token = _lock_key(name), uuid.uuid4().hex
    acquired = cache.add(key, token, timeout=timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


@shared_task(name="telemetry.rollup_refresh", bind=True, **_TASK_OPTIONS)
def rollup_refresh(self) -> dict:
    with task_lock("rollup_refresh") as held:
        if not held:
            logger.info("rollup_refresh already running; skipped")
            return {"skipped": True}
        report = services.rollup_refresh(max_windows=ROLLUP_WINDOWS_PER_RUN)
    if report.more:
        rollup_refresh.apply_async(countdown=1)
    return {"windows": report.windows, "topics": report.topics, "more": report.more}


@shared_task(name="telemetry.retention_enforce", bind=True, **_TASK_OPTIONS)
def retention_enforce(self) -> dict:
    with task_lock("retention_enforce") as held:
        if not held:
            logger.info("retention_enforce already running; skipped")
            return {"skipped": True}
        report = services.retention_enforce()
        # Deleted accounts' data whose purge a crash or an outage cut short.
        account_events.account_data_purge()
    return {
        "readings": report.readings,
        "rollups": report.rollups,
        "dead_letters": report.dead_letters,
    }


@shared_task(name="telemetry.device_offline_mark", bind=True, **_TASK_OPTIONS)
def device_offline_mark(self) -> dict:
    with task_lock("device_offline_mark") as held:
        if not held:
            logger.info("device_offline_mark already running; skipped")
            return {"skipped": True}
        offline = services.device_offline_mark()
    return {"offline": offline}


@shared_task(name="telemetry.account_event_apply", bind=True, acks_late=True, ignore_result=True)
def account_event_apply(self, **message) -> str:
    """Apply one account event sent by ``accounts.outbox`` (by name: no import crosses).

    A database or storage error retries every few seconds, without end: the event is
    committed on the auth side and must be applied once the telemetry database answers.
    Eager (no ``REDIS_URL``) the error reaches the relay, which keeps the event instead.
    """
    try:
        return account_events.account_event_apply(message=message)
    except (StorageError, DatabaseError) as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=2, max_retries=None) from exc
