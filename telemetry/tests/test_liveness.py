"""Device liveness: online while publishing, offline after a silence, each change recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from iotserver.celery import app as celery_app
from telemetry import selectors, tasks
from telemetry.services import device_offline_mark, reading_bulk_append
from telemetry.tests.factories import DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")


def _devices(client) -> dict[str, dict]:
    return {d["name"]: d for d in client.get("/devices").json()}


def test_silent_device_goes_offline_once_and_comes_back(client_for, settings):
    settings.DEVICE_OFFLINE_AFTER_SECONDS = 120
    DeviceFactory(name="pi", owner_id=1)
    DeviceFactory(name="edison", owner_id=1)
    client = client_for(user_id=1)
    before = _devices(client)

    reading_bulk_append(readings=readings("pi.temp", 3) + readings("edison.pot", 1))
    publishing = _devices(client)
    seen = publishing["pi"]["last_seen"]
    now = timezone.now()

    assert device_offline_mark(now=now + timedelta(seconds=60)) == []
    assert device_offline_mark(now=now + timedelta(seconds=121)) == ["edison", "pi"]
    assert device_offline_mark(now=now + timedelta(seconds=500)) == []  # already offline
    silent = _devices(client)
    silent_at = datetime.fromisoformat(seen)
    reading_bulk_append(readings=readings("pi.temp", 1, start=now))
    back = _devices(client)

    assert before["pi"]["online"] is False and before["pi"]["last_seen"] is None
    assert publishing["pi"]["online"] is True and seen is not None
    assert silent["pi"]["online"] is False and silent["pi"]["last_seen"] == seen
    assert back["pi"]["online"] is True and back["edison"]["online"] is False
    from telemetry.models import DeviceEvent

    events = DeviceEvent.objects.filter(device="pi").order_by("id")  # "now" moved forward above
    assert [(e.kind, e.last_seen == silent_at) for e in events] == [
        ("online", False),
        ("offline", True),
        ("online", False),
    ]


def test_device_detail_shows_liveness(client_for):
    DeviceFactory(name="pi", owner_id=3)
    reading_bulk_append(readings=readings("pi.temp", 1))

    body = client_for(user_id=3).get("/devices/pi").json()

    assert body["online"] is True and body["last_seen"]


@pytest.fixture
def celery_eager():
    """Run tasks in this process even when REDIS_URL points Celery at a real broker
    (tests/test_tasks_worker.py covers the real worker)."""
    # Settings come from Django with the CELERY_ namespace: override the namespaced keys.
    conf = celery_app.conf
    saved = conf.CELERY_TASK_ALWAYS_EAGER, conf.CELERY_TASK_EAGER_PROPAGATES
    conf.CELERY_TASK_ALWAYS_EAGER = conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    conf.CELERY_TASK_ALWAYS_EAGER, conf.CELERY_TASK_EAGER_PROPAGATES = saved


def test_liveness_task_and_command_mark_offline(settings, celery_eager):
    settings.DEVICE_OFFLINE_AFTER_SECONDS = 1
    DeviceFactory(name="pi", owner_id=1)
    reading_bulk_append(readings=readings("pi.temp", 1))
    from telemetry.models import Device

    Device.objects.filter(name="pi").update(last_seen=timezone.now() - timedelta(seconds=5))

    result = tasks.device_offline_mark.delay().get()
    call_command("telemetry_maintenance", "--only", "liveness")

    assert result == {"offline": ["pi"]}
    assert Device.objects.get(name="pi").online is False
    assert [e.kind for e in selectors.device_events(name="pi")] == ["offline", "online"]


def test_a_task_already_running_is_not_run_twice(settings, celery_eager):
    DeviceFactory(name="pi", owner_id=1)
    with tasks.task_lock("device_offline_mark") as held:
        overlapping = tasks.device_offline_mark.delay().get()
    after = tasks.device_offline_mark.delay().get()

    assert held is True
    assert overlapping == {"skipped": True}
    assert after == {"offline": []}


def test_maintenance_command_runs_every_step(capsys):
    reading_bulk_append(readings=readings("pi.temp", 120))

    call_command("telemetry_maintenance")

    out = capsys.readouterr().out
    assert "rollups: " in out and "retention: " in out and "liveness: " in out
    assert (
        selectors.reading_aggregate_plan(topic="pi.temp", start=None, end=None, bucket_seconds=60)
        is not None
    )
