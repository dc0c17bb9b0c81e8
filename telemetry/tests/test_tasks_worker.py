"""The telemetry tasks on a real Celery worker (subprocess), real Redis and PostgreSQL.

The worker is pointed at this session's test database (pytest-django's ``test_<name>``) and
at a Redis database nobody else uses, so the test and the worker see the same rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connections
from django.utils import timezone

from telemetry import selectors
from telemetry.models import Device, DeviceEvent, Reading, RollupMinute, RollupState
from telemetry.routers import telemetry_alias
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import DeviceFactory, readings

if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
    pytest.skip(
        "needs DATABASE_URL=postgres://...: the worker subprocess must share the test database",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

REPO = Path(__file__).resolve().parents[2]
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
CELERY = str(Path(sys.executable).with_name("celery"))


def _free_redis_db() -> str:
    """An empty Redis database number (9-15), so tasks and locks of others never mix in."""
    for number in range(15, 8, -1):
        client = redis.Redis.from_url(f"{REDIS}/{number}")
        if client.dbsize() == 0:
            return f"{REDIS}/{number}"
    pytest.skip("no empty Redis database among 9-15")


def _database_url(alias: str) -> str:
    db = connections[alias].settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url("default"),
            "REDIS_URL": redis_url,
            "TELEMETRY_BACKEND": "sql",
            "TELEMETRY_RAW_RETENTION_DAYS": "7",
            "DEVICE_OFFLINE_AFTER_SECONDS": "120",
            "LOG_LEVEL": "INFO",
        }
        if telemetry_alias() != "default":
            self.env["TELEMETRY_DATABASE_URL"] = _database_url(telemetry_alias())
        self.process: subprocess.Popen | None = None
        # Not the current app: later tests (the account-events relay) send through the
        # project's own app, eager or on REDIS_URL as configured.
        self.client = Celery(
            "telemetry-tests", broker=redis_url, backend=redis_url, set_as_current=False
        )

    def start(self) -> None:
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.process = subprocess.Popen(
            [CELERY, "-A", "iotserver", "worker", "-c", "1", "-n", name, "-l", "INFO"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: kill -9 reaches the pool child
        )
        deadline = time.monotonic() + 60
        while not self.client.control.ping(timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def run(self, task: str, timeout: float = 120):
        return self.client.send_task(task).get(timeout=timeout)


@pytest.fixture(scope="module")
def redis_url():
    url = _free_redis_db()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def worker(redis_url):
    running = Worker(redis_url)
    running.start()
    yield running
    running.kill(signal.SIGTERM)
    redis.Redis.from_url(redis_url).flushdb()


def _aggregates(client, topic: str, *, rollups: bool) -> list[dict]:
    settings.TELEMETRY_AGG_USE_ROLLUPS = rollups
    try:
        body = client.get(
            f"/iot/{topic}/readings", {"bucket": "1h", "agg": "avg,min,max,count,sum"}
        ).json()
    finally:
        settings.TELEMETRY_AGG_USE_ROLLUPS = True
    return body["data"]


def _hours_ago(hours: int):
    """A recent hour: the worker keeps 7 days of raw readings and rolls up only those."""
    return (timezone.now() - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def test_worker_builds_rollups_that_answer_like_raw(worker, client_for):
    start = _hours_ago(4)
    reading_bulk_append(
        readings=readings("pi.temp", 9000, start=start, value=lambda i: (i % 37) / 4)
    )
    staff = client_for(user_id=1, is_staff=True)

    result = worker.run("telemetry.rollup_refresh")
    again = worker.run("telemetry.rollup_refresh")

    assert result["windows"] >= 1 and again["windows"] == 0
    assert _aggregates(staff, "pi.temp", rollups=True) == _aggregates(
        staff, "pi.temp", rollups=False
    )
    plan = selectors.reading_aggregate_plan(
        topic="pi.temp", start=start, end=start + timedelta(hours=2), bucket_seconds=3600
    )
    assert plan is not None and plan.raw_ranges == []


def _wait_for(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_killed_worker_leaves_no_partial_rollup_and_the_next_run_completes(worker, client_for):
    import psycopg2

    reading_bulk_append(readings=readings("pi.temp", 7200, start=_hours_ago(3)))
    dsn = _database_url(telemetry_alias())
    blocker = psycopg2.connect(dsn)
    observer = psycopg2.connect(dsn)
    observer.autocommit = True
    try:
        # Hold the hour table: the worker's window writes its minutes, then waits here.
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE telemetry_rolluphour IN EXCLUSIVE MODE")
        worker.client.send_task("telemetry.rollup_refresh")

        def stuck_backend():
            with observer.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE '%%telemetry_rolluphour%%'"
                )
                row = cursor.fetchone()
            return row and row[0]

        pid = _wait_for(stuck_backend, "the worker to block inside its window")
        worker.kill(signal.SIGKILL)
        blocker.rollback()

        def gone():
            with observer.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                return cursor.fetchone()[0] == 0

        _wait_for(gone, "the killed worker's transaction to end")
    finally:
        blocker.close()
        observer.close()

    assert RollupMinute.objects.count() == 0
    assert RollupState.objects.get(topic="pi.temp").watermark is None
    # Its task lock expires by itself (TTL); let it expire now instead of in minutes.
    locks = redis.Redis.from_url(worker.redis_url)
    keys = locks.keys("*task-lock:rollup_refresh")
    assert keys and 0 < locks.ttl(keys[0]) <= 330
    locks.delete(*keys)

    worker.start()
    result = worker.run("telemetry.rollup_refresh")

    assert result["windows"] >= 1
    staff = client_for(user_id=1, is_staff=True)
    counts = [b["count"] for b in _aggregates(staff, "pi.temp", rollups=True)]
    assert counts == [3600, 3600]
    assert _aggregates(staff, "pi.temp", rollups=True) == _aggregates(
        staff, "pi.temp", rollups=False
    )


def test_worker_marks_a_silent_device_offline(worker):
    DeviceFactory(name="pi", owner_id=1)
    DeviceFactory(name="edison", owner_id=1)
    reading_bulk_append(readings=readings("pi.temp", 1) + readings("edison.pot", 1))
    Device.objects.filter(name="pi").update(last_seen=timezone.now() - timedelta(minutes=10))

    result = worker.run("telemetry.device_offline_mark")

    assert result == {"offline": ["pi"]}
    assert dict(Device.objects.values_list("name", "online")) == {"pi": False, "edison": True}
    assert DeviceEvent.objects.filter(device="pi", kind="offline").count() == 1


def test_worker_retention_and_lock(worker):
    now = timezone.now()
    reading_bulk_append(
        readings=readings("pi.temp", 30, start=now - timedelta(days=10))
        + readings("pi.temp", 20, start=now - timedelta(days=1))
    )
    locks = redis.Redis.from_url(worker.redis_url)

    result = worker.run("telemetry.retention_enforce")
    locks.set("iotserver:1:telemetry:task-lock:retention_enforce", "someone", ex=30)
    overlapping = worker.run("telemetry.retention_enforce")

    assert result["readings"] == 30
    assert Reading.objects.filter(topic="pi.temp").count() == 20
    assert overlapping == {"skipped": True}
