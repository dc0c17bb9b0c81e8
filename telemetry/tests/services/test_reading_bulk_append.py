from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connections

from telemetry import cache_keys
from telemetry.models import DeadLetter, Device, Reading, Topic
from telemetry.records import DeadLetterIn, ReadingIn
from telemetry.routers import telemetry_alias
from telemetry.services import StorageError, reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")


def test_append_stores_every_reading_and_reports_counts():
    result = reading_bulk_append(readings=readings("pi.temp", 5) + readings("pi.hum", 3))

    assert (result.stored, result.duplicates, result.dead_lettered) == (8, 0, 0)
    assert Reading.objects.filter(topic="pi.temp").count() == 5


def test_reappending_the_same_batch_is_a_no_op_counted_as_duplicates():
    batch = readings("pi.temp", 4)
    reading_bulk_append(readings=batch)

    again = reading_bulk_append(
        readings=[*batch, ReadingIn(topic="pi.temp", ts=T0 - timedelta(1), value=9.0)]
    )

    assert (again.stored, again.duplicates) == (1, 4)
    assert Reading.objects.filter(topic="pi.temp").count() == 5
    # the first write wins: a redelivered reading does not overwrite it
    assert Reading.objects.get(topic="pi.temp", ts=T0).value == 0.0


def test_duplicates_inside_one_batch_are_stored_once():
    one = ReadingIn(topic="pi.temp", ts=T0, value=1.0)

    result = reading_bulk_append(readings=[one, one])

    assert (result.stored, result.duplicates) == (1, 1)


def test_topic_summary_only_moves_forward():
    reading_bulk_append(readings=readings("pi.temp", 3))
    reading_bulk_append(
        readings=[ReadingIn(topic="pi.temp", ts=T0 - timedelta(hours=1), value=-5.0)]
    )

    topic = Topic.objects.get(name="pi.temp")
    assert (topic.device, topic.last_ts, topic.last_value) == ("pi", T0 + timedelta(seconds=2), 2.0)


def test_text_readings_are_stored_as_text():
    reading_bulk_append(readings=[ReadingIn(topic="pi.state", ts=T0, text="open")])

    stored = Reading.objects.get(topic="pi.state")
    assert (stored.value, stored.text) == (None, "open")


def test_dead_letters_are_stored_with_the_batch():
    letter = DeadLetterIn(topic="pi.temp", payload=b"\xff\xfe", reason="not UTF-8", received_at=T0)

    result = reading_bulk_append(readings=readings("pi.temp", 1), dead_letters=[letter])

    assert result.dead_lettered == 1
    stored = DeadLetter.objects.get()
    assert (bytes(stored.payload), stored.reason) == (b"\xff\xfe", "not UTF-8")


def test_last_seen_is_updated_for_registered_devices_in_the_batch():
    pi = DeviceFactory(name="pi")
    other = DeviceFactory(name="other")

    reading_bulk_append(readings=readings("pi.temp", 1))

    pi.refresh_from_db()
    other.refresh_from_db()
    assert pi.last_seen is not None
    assert other.last_seen is None


def test_latest_cache_is_refreshed_after_commit(telemetry_on_commit):
    with telemetry_on_commit(execute=True):
        reading_bulk_append(readings=readings("pi.temp", 3))

    assert cache.get(cache_keys.latest("pi.temp")) == (
        T0 + timedelta(seconds=2),
        2.0,
        None,
        None,
    )


def test_latest_cache_is_not_touched_when_the_batch_does_not_commit(telemetry_on_commit):
    with telemetry_on_commit(execute=False) as callbacks:
        reading_bulk_append(readings=readings("pi.temp", 1))

    assert len(callbacks) == 1
    assert cache.get(cache_keys.latest("pi.temp")) is None


def test_database_failure_is_raised_as_storage_error():
    with connections[telemetry_alias()].cursor() as cursor:
        cursor.execute("DROP TABLE telemetry_topic")

    with pytest.raises(StorageError):
        reading_bulk_append(readings=readings("pi.temp", 1))
    assert Device.objects.count() == 0  # the test transaction is still usable
