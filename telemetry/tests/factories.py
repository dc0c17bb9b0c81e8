"""Factories for telemetry tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory

from telemetry.models import Device
from telemetry.records import ReadingIn
from telemetry.services import mqtt_password_hash

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    name = factory.Sequence(lambda n: f"device-{n}")
    owner_id = 1
    mqtt_password_hash = factory.LazyFunction(lambda: mqtt_password_hash(password="secret"))


def readings(
    topic: str,
    count: int,
    *,
    start: datetime = T0,
    step: timedelta = timedelta(seconds=1),
    value=lambda i: float(i),
) -> list[ReadingIn]:
    """``count`` numeric readings of ``topic``, ``step`` apart from ``start``, value i."""
    return [ReadingIn(topic=topic, ts=start + i * step, value=value(i)) for i in range(count)]
