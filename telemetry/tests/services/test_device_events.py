"""Availability from the device's own topics: ``reading_bulk_append(events=...)``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.models import Device, DeviceEvent
from telemetry.records import DeviceEventIn
from telemetry.services import device_offline_mark, reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")

S = timedelta(seconds=1)


def _events(device: str = "pi", source: str | None = None) -> list[tuple]:
    found = DeviceEvent.objects.filter(device=device).order_by("at", "id")
    if source is not None:
        found = found.filter(source=source)
    return [(e.source, e.kind, e.at) for e in found]


def online(device: str = "pi", at=T0, source: str = "") -> DeviceEventIn:
    return DeviceEventIn(device=device, online=True, at=at, source=source)


def offline(device: str = "pi", at=T0, source: str = "") -> DeviceEventIn:
    return DeviceEventIn(device=device, online=False, at=at, source=source)


def test_status_sets_online_and_each_change_is_recorded_once():
    DeviceFactory(name="pi")

    reading_bulk_append(readings=[], events=[online(at=T0)])
    up = Device.objects.get(name="pi")
    reading_bulk_append(readings=[], events=[offline(at=T0 + 10 * S)])
    down = Device.objects.get(name="pi")
    reading_bulk_append(readings=[], events=[offline(at=T0 + 20 * S)])  # no change

    assert (up.online, up.online_since, up.availability_at) == (True, T0, T0)
    assert (down.online, down.availability_at) == (False, T0 + 10 * S)
    assert Device.objects.get(name="pi").availability_at == T0 + 20 * S
    assert _events() == [("", "online", T0), ("", "offline", T0 + 10 * S)]


def test_a_retained_online_replayed_at_every_resubscription_adds_no_event(client_for):
    DeviceFactory(name="pi", owner_id=1)
    for restart in range(3):
        reading_bulk_append(readings=[], events=[online(at=T0 + restart * timedelta(hours=1))])

    body = client_for(user_id=1).get("/devices/pi").json()

    assert _events() == [("", "online", T0)]
    assert body["online"] is True


def test_several_events_of_one_batch_apply_in_time_order():
    DeviceFactory(name="pi")

    reading_bulk_append(
        readings=[], events=[online(at=T0 + 2 * S), offline(at=T0 + S), online(at=T0)]
    )

    device = Device.objects.get(name="pi")
    assert _events() == [("", "online", T0), ("", "offline", T0 + S), ("", "online", T0 + 2 * S)]
    assert (device.online, device.online_since) == (True, T0 + 2 * S)


def test_an_event_older_than_the_last_availability_message_is_stale():
    DeviceFactory(name="pi")
    reading_bulk_append(readings=[], events=[online(at=T0 + 10 * S)])

    reading_bulk_append(readings=[], events=[offline(at=T0)])

    assert Device.objects.get(name="pi").online is True
    assert _events() == [("", "online", T0 + 10 * S)]


def test_sub_device_events_are_recorded_per_source_and_leave_the_device_alone():
    DeviceFactory(name="bridge")

    reading_bulk_append(
        readings=[],
        events=[
            online("bridge", T0),
            online("bridge", T0, source="living room sensor"),
            online("bridge", T0, source="0x00158d0001"),
        ],
    )
    reading_bulk_append(
        readings=[],
        events=[
            online("bridge", T0 + S, source="living room sensor"),  # retained replay
            offline("bridge", T0 + 2 * S, source="0x00158d0001"),
        ],
    )
    reading_bulk_append(
        readings=[],
        events=[
            offline("bridge", T0 + 3 * S, source="0x00158d0001"),
            online("bridge", T0 + 4 * S, source="0x00158d0001"),
        ],
    )

    bridge = Device.objects.get(name="bridge")
    assert bridge.online is True and bridge.availability_at == T0
    assert _events("bridge", source="") == [("", "online", T0)]
    assert _events("bridge", source="living room sensor") == [("living room sensor", "online", T0)]
    assert [kind for _, kind, _ in _events("bridge", source="0x00158d0001")] == [
        "online",
        "offline",
        "online",
    ]


def test_a_sub_device_offline_does_not_take_its_bridge_offline():
    DeviceFactory(name="edge")
    reading_bulk_append(readings=readings("edge.temp", 1))

    reading_bulk_append(readings=[], events=[offline("edge", T0, source="plc1")])

    edge = Device.objects.get(name="edge")
    assert edge.online is True and edge.availability_at is None
    assert _events("edge", source="plc1") == [("plc1", "offline", T0)]


def test_events_of_unregistered_devices_are_ignored():
    DeviceFactory(name="pi")

    reading_bulk_append(
        readings=[], events=[online("ghost", T0), online("ghost", T0, source="x"), online("pi")]
    )

    assert DeviceEvent.objects.filter(device="ghost").count() == 0
    assert _events() == [("", "online", T0)]


def test_a_device_with_its_own_availability_is_not_marked_online_by_readings():
    DeviceFactory(name="pi")
    reading_bulk_append(readings=[], events=[offline(at=T0)])  # its last will

    reading_bulk_append(readings=readings("pi.temp", 3))  # e.g. a retained state replayed

    device = Device.objects.get(name="pi")
    assert device.online is False
    assert device.last_seen is not None  # readings still stamp it
    assert _events() == []  # it was never online: offline -> offline is no change


def test_offline_event_and_readings_in_one_batch_leave_the_device_offline():
    DeviceFactory(name="pi")

    reading_bulk_append(readings=readings("pi.temp", 1), events=[offline(at=T0)])

    assert Device.objects.get(name="pi").online is False


def test_a_device_with_its_own_availability_is_not_marked_offline_by_silence(settings):
    settings.DEVICE_OFFLINE_AFTER_SECONDS = 60
    DeviceFactory(name="pi")
    DeviceFactory(name="plain")
    reading_bulk_append(
        readings=readings("pi.temp", 1) + readings("plain.temp", 1), events=[online(at=T0)]
    )

    marked = device_offline_mark(now=timezone.now() + timedelta(hours=1))

    assert marked == ["plain"]
    assert Device.objects.get(name="pi").online is True
    assert _events("plain")[-1][1] == "offline"


def test_a_device_without_availability_messages_is_still_online_by_its_readings():
    DeviceFactory(name="pi")

    reading_bulk_append(readings=readings("pi.temp", 1))

    device = Device.objects.get(name="pi")
    assert device.online is True and device.availability_at is None
    assert [kind for _, kind, _ in _events()] == ["online"]


def test_events_batch_is_a_fixed_number_of_queries(telemetry_num_queries):
    for name in ("a", "b", "c"):
        DeviceFactory(name=name)
    batch = [online(name) for name in ("a", "b", "c")] + [
        online(name, source=f"sub{i}") for name in ("a", "b") for i in range(3)
    ]

    # savepoint, device rows, device update, last sub-device states, events insert, release
    with telemetry_num_queries(6):
        reading_bulk_append(readings=[], events=batch)

    assert DeviceEvent.objects.count() == 3 + 6


@pytest.mark.mongo
def test_events_on_the_mongo_backend_go_to_the_sql_devices(mongo_backend, client_for):
    DeviceFactory(name="pi", owner_id=1)

    reading_bulk_append(readings=readings("pi.temp", 1), events=[offline(at=T0)])

    body = client_for(user_id=1).get("/devices/pi").json()
    assert body["online"] is False and body["last_seen"]
    assert client_for(user_id=1).get("/iot/pi.temp").status_code == 200
