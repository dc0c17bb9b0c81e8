"""Reads of the telemetry app: devices, topics and readings, with the ownership rules.

A topic belongs to the device named by its first level; a user may read the topics of the
devices they own, staff may read every topic (also those of devices nobody registered).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from django.core.cache import cache
from django.db.models import QuerySet

from iotserver.routers import telemetry_alias
from telemetry import cache_keys
from telemetry.models import DEVICE_NAME_PATTERN, Device
from telemetry.storage import Bucket, Point, TopicSummary, get_storage, storage_errors

TOPIC_MAX_LENGTH = 255
_TOPIC_RE = re.compile(rf"{DEVICE_NAME_PATTERN}(\.[A-Za-z0-9_-]{{1,64}})*")
_NO_OWNER = 0  # cached for "no device of that name"; user ids start at 1


def storage_check() -> None:
    """Raise if the telemetry storage does not answer."""
    with storage_errors():
        get_storage().check()


def topic_is_valid(*, topic: str) -> bool:
    """A stored topic: a device name, then '.'-separated levels of letters, digits, '_', '-'."""
    return len(topic) <= TOPIC_MAX_LENGTH and _TOPIC_RE.fullmatch(topic) is not None


def topic_device(*, topic: str) -> str:
    return topic.split(".", 1)[0]


def device_owner_id(*, name: str) -> int | None:
    """The owner of the device ``name`` (cached), or ``None`` when nobody registered it."""
    key = cache_keys.device_owner(name)
    owner = cache.get(key)
    if owner is None:
        owner = (
            Device.objects.using(telemetry_alias())
            .filter(name=name)
            .values_list("owner_id", flat=True)
            .first()
        )
        owner = _NO_OWNER if owner is None else owner
        cache.set(key, owner, timeout=cache_keys.timeout())
    return None if owner == _NO_OWNER else owner


def topic_readable(*, topic: str, user_id: int, is_staff: bool) -> bool:
    if is_staff:
        return True
    owner = device_owner_id(name=topic_device(topic=topic))
    return owner is not None and owner == user_id


def topic_list_for_user(*, user_id: int, is_staff: bool) -> list[TopicSummary]:
    """Topics the user may read with their newest reading; never scans readings."""
    storage = get_storage()
    devices = None
    if not is_staff:
        devices = Device.objects.using(telemetry_alias()).filter(owner_id=user_id).values("name")
        if not getattr(storage, "uses_django_database", False):
            devices = [d["name"] for d in devices]
    with storage_errors():
        return storage.topic_list(devices=devices)


def reading_latest(*, topic: str) -> Point | None:
    """The newest reading of ``topic``: from the cache kept by the write path, else the index."""
    key = cache_keys.latest(topic)
    cached = cache.get(key)
    if cached is not None:
        return Point(*cached)
    with storage_errors():
        point = get_storage().latest(topic=topic)
    if point is not None:
        # add, not set: a newer value the write path put meanwhile must not be overwritten.
        cache.add(key, (point.ts, point.value, point.text), timeout=cache_keys.timeout())
    return point


def reading_range(
    *, topic: str, start: datetime | None, end: datetime | None, descending: bool, limit: int
) -> list[Point]:
    """Up to ``limit`` readings of ``topic`` in [start, end)."""
    with storage_errors():
        return get_storage().range(
            topic=topic, start=start, end=end, descending=descending, limit=limit
        )


def reading_count(*, topic: str, start: datetime | None, end: datetime | None, cap: int) -> int:
    """Readings of ``topic`` in [start, end), counted up to ``cap`` (bounds the work)."""
    with storage_errors():
        return get_storage().count(topic=topic, start=start, end=end, cap=cap)


def reading_aggregate(
    *,
    topic: str,
    start: datetime | None,
    end: datetime | None,
    bucket_seconds: int,
    aggregates: Sequence[str],
) -> list[Bucket]:
    """Aggregates of the numeric readings per epoch-aligned bucket, oldest first."""
    with storage_errors():
        return get_storage().aggregate(
            topic=topic,
            start=start,
            end=end,
            bucket_seconds=bucket_seconds,
            aggregates=aggregates,
        )


def device_list_for_owner(*, owner_id: int) -> QuerySet[Device]:
    return Device.objects.using(telemetry_alias()).filter(owner_id=owner_id).order_by("name")


def device_list() -> QuerySet[Device]:
    return Device.objects.using(telemetry_alias()).order_by("name")


def device_get_for_user(*, name: str, user_id: int, is_staff: bool) -> Device | None:
    """The device if the user owns it (staff: any device); ``None`` otherwise."""
    devices = device_list() if is_staff else device_list_for_owner(owner_id=user_id)
    return devices.filter(name=name).first()


def device_credentials_list() -> list[tuple[str, str]]:
    """(MQTT username, Mosquitto ``$7$`` password hash) of every registered device."""
    return list(device_list().values_list("name", "mqtt_password_hash"))
