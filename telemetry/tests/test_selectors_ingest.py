"""Selectors the ingester calls: ``device_profiles`` and ``topics_known`` (plain records)."""

from __future__ import annotations

import pytest

from telemetry.records import DeviceProfile
from telemetry.selectors import device_profiles, topics_known
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")


def test_device_profiles_are_the_registered_devices_with_kind_and_tz(telemetry_num_queries):
    DeviceFactory(name="pi")
    DeviceFactory(name="plug", kind="tasmota", tz="Europe/Berlin", enabled=False)
    DeviceFactory(name="other")

    with telemetry_num_queries(1):
        profiles = device_profiles(names={"pi", "plug", "ghost"})

    assert profiles == {
        "pi": DeviceProfile(name="pi", kind="native", tz="UTC"),
        "plug": DeviceProfile(name="plug", kind="tasmota", tz="Europe/Berlin"),
    }
    assert device_profiles(names=[]) == {}


@pytest.mark.parametrize("backend", ["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def test_topics_known_are_the_series_with_a_reading(request, backend, telemetry_num_queries):
    if backend == "mongo":
        request.getfixturevalue("mongo_backend")
    reading_bulk_append(readings=readings("pi.temp", 2) + readings("pi.switch:0.output", 1))

    with telemetry_num_queries(1 if backend == "sql" else 0):
        known = topics_known(names=["pi.temp", "pi.switch:0.output", "pi.hum", "ghost.x"])

    assert known == {"pi.temp", "pi.switch:0.output"}
    assert topics_known(names=()) == set()
