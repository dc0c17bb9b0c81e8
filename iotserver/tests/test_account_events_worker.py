"""Account events over the real transport: the relay sends to Redis, a Celery worker
(subprocess) applies them; the worker down while accounts change, then up."""

from __future__ import annotations

import signal
import time

import pytest
import redis
from celery import Celery
from django.conf import settings

from accounts import outbox
from accounts.models import AccountEvent
from accounts.outbox import outbox_relay
from accounts.services import user_active_set, user_delete
from accounts.tests.factories import UserFactory
from telemetry.models import AccountState, Device
from telemetry.services import device_create

if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
    pytest.skip(
        "needs DATABASE_URL=postgres://...: the worker subprocess must share the test database",
        allow_module_level=True,
    )

from telemetry.tests.test_tasks_worker import Worker, _free_redis_db  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Issue 16: every change is applied within this time after the consumer is back.
APPLIED_WITHIN_SECONDS = 10.0


@pytest.fixture
def redis_url():
    url = _free_redis_db()
    yield url
    redis.Redis.from_url(url).flushdb()


def _enabled(owner_id: int) -> dict[str, bool]:
    return dict(Device.objects.filter(owner_id=owner_id).values_list("name", "enabled"))


def test_changes_made_while_the_worker_is_down_are_applied_once_it_is_back(redis_url, monkeypatch):
    # The relay after commit would use this process's REDIS_URL; here the test relays.
    monkeypatch.setattr(outbox, "outbox_relay_after_commit", lambda: None)
    transport = Celery("account-events-tests", broker=redis_url, set_as_current=False)
    transport.conf.task_always_eager = False
    stays, flips, goes = UserFactory(), UserFactory(), UserFactory()
    for user in (stays, flips, goes):
        device_create(owner_id=user.pk, name=f"w-{user.pk}")
    # No worker runs: the events are published into Redis and wait there.
    user_active_set(user=stays, active=False)
    user_active_set(user=flips, active=False)
    user_active_set(user=flips, active=True)
    user_delete(user=goes)
    report = outbox_relay(app=transport)
    assert (report.published, report.failed) == (4, False)
    assert outbox_relay(app=transport).published == 0
    # Redelivered on purpose: the consumer must apply each change once.
    AccountEvent.objects.update(published_at=None)
    assert outbox_relay(app=transport).published == 4
    assert all(_enabled(u.pk) == {f"w-{u.pk}": True} for u in (stays, flips, goes))

    worker = Worker(redis_url)
    worker.start()
    try:
        back = time.monotonic()
        while time.monotonic() - back < APPLIED_WITHIN_SECONDS:
            if AccountState.objects.filter(last_seq__gt=0).count() == 3:
                break
            time.sleep(0.2)
        assert _enabled(stays.pk) == {f"w-{stays.pk}": False}
        assert _enabled(flips.pk) == {f"w-{flips.pk}": True}
        assert not Device.objects.filter(owner_id=goes.pk).exists()
        seqs = dict(AccountState.objects.values_list("owner_id", "last_seq"))
        assert seqs == {stays.pk: 1, flips.pk: 2, goes.pk: 1}
    finally:
        worker.kill(signal.SIGTERM)
