"""Reads of the telemetry app: devices, topics and readings, with the ownership rules.

A topic belongs to the device named by its first level; a user may read the topics of the
devices they own, staff may read every topic (also those of devices nobody registered).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from telemetry import cache_keys
from telemetry.layouts import DEFAULT_KIND, LAYOUTS
from telemetry.models import Device, DeviceEvent
from telemetry.records import SERIES_PATTERN, TOPIC_MAX_LENGTH, DeviceProfile
from telemetry.rollups import AggregatePlan, aggregate_plan, rollup_store
from telemetry.routers import telemetry_alias
from telemetry.storage import Bucket, Point, TopicSummary, get_storage, storage_errors

_TOPIC_RE = re.compile(SERIES_PATTERN)
_NO_OWNER = 0  # cached for "no device of that name"; user ids start at 1


def storage_check() -> None:
    """Raise if the telemetry storage does not answer."""
    with storage_errors():
        get_storage().check()


def topic_is_valid(*, topic: str) -> bool:
    """A series name as stored (``telemetry.records.SERIES_PATTERN``): a device name, then
    '.'-separated levels of any printable characters but '/' (and '.'), at most
    ``TOPIC_MAX_LENGTH`` long. ``bridge1.living room sensor.temperature`` is one."""
    return len(topic) <= TOPIC_MAX_LENGTH and _TOPIC_RE.fullmatch(topic) is not None


def topic_device(*, topic: str) -> str:
    return topic.split(".", 1)[0]


def device_owner_id(*, name: str) -> int | None:
    """The owner of the device ``name`` (cached), or ``None`` when nobody registered it."""
    owner = cache.get(cache_keys.device_owner(name))
    if owner is None:
        owner = _device_owner_load(name)
    return None if owner == _NO_OWNER else owner


def _device_owner_load(name: str) -> int:
    """The owner from the database (``_NO_OWNER`` if none), put in the cache."""
    owner = (
        Device.objects.using(telemetry_alias())
        .filter(name=name)
        .values_list("owner_id", flat=True)
        .first()
    )
    owner = _NO_OWNER if owner is None else owner
    cache.set(cache_keys.device_owner(name), owner, timeout=cache_keys.timeout())
    return owner


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


@dataclass(frozen=True, slots=True)
class TopicHead:
    """A topic's newest reading and the topic's unit (``None``: no payload gave one)."""

    point: Point
    unit: str | None


def reading_latest(*, topic: str) -> Point | None:
    """The newest reading of ``topic``: from the cache kept by the write path, else the index."""
    head = _topic_head(topic)
    return head.point if head is not None else None


def _topic_head(topic: str) -> TopicHead | None:
    cached = cache.get(cache_keys.latest(topic))
    if cached is not None:
        return _head(cached)
    return _topic_head_load(topic)


def _head(cached: tuple) -> TopicHead:
    ts, value, text, unit = cached
    return TopicHead(Point(ts, value, text), unit)


def _topic_head_load(topic: str) -> TopicHead | None:
    with storage_errors():
        storage = get_storage()
        point = storage.latest(topic=topic)
        if point is None:
            return None
        summary = storage.topic_get(topic=topic)
    head = TopicHead(point, summary.unit if summary is not None else None)
    # add, not set: a newer value the write path put meanwhile must not be overwritten.
    cache.add(
        cache_keys.latest(topic),
        (point.ts, point.value, point.text, head.unit),
        timeout=cache_keys.timeout(),
    )
    return head


def topic_head_for_user(*, topic: str, user_id: int, is_staff: bool) -> TopicHead | None:
    """The newest reading and the unit of ``topic`` if the user may read it, else ``None``
    (also if it is missing).

    The hot path of ``/iot/<topic>/latest``: the device's owner and the latest value come
    from the cache in one round trip (``get_many``); only what is missing is loaded.
    """
    device = topic_device(topic=topic)
    owner_key, latest_key = cache_keys.device_owner(device), cache_keys.latest(topic)
    cached = cache.get_many([latest_key] if is_staff else [owner_key, latest_key])
    if not is_staff:
        owner = cached.get(owner_key)
        if owner is None:
            owner = _device_owner_load(device)
        if owner == _NO_OWNER or owner != user_id:
            return None
    hit = cached.get(latest_key)
    return _head(hit) if hit is not None else _topic_head_load(topic)


def topic_latest_for_user(*, topic: str, user_id: int, is_staff: bool) -> Point | None:
    """The newest reading of ``topic`` if the user may read it (``topic_head_for_user``)."""
    head = topic_head_for_user(topic=topic, user_id=user_id, is_staff=is_staff)
    return head.point if head is not None else None


def topics_known(*, names: Collection[str]) -> set[str]:
    """Which of the series ``names`` already have at least one reading stored.

    One query of the topic summaries (SQL or MongoDB); for the ingester, which keeps a
    replayed retained message only for a series that has nothing yet.
    """
    if not names:
        return set()
    with storage_errors():
        return get_storage().topics_known(names=names)


def reading_range(
    *, topic: str, start: datetime | None, end: datetime | None, descending: bool, limit: int
) -> list[Point]:
    """Up to ``limit`` readings of ``topic`` in [start, end)."""
    with storage_errors():
        return get_storage().range(
            topic=topic, start=start, end=end, descending=descending, limit=limit
        )


# Units of a bucket size (``10s``, ``5m``, ``1h``, ``1d``) and the largest bucket there is.
_BUCKET_UNITS = (("s", 1), ("m", 60), ("h", 3600), ("d", 86400))
MAX_BUCKET_SECONDS = 86400


def reading_bucket_count(
    *, topic: str, start: datetime | None, end: datetime | None, bucket_seconds: int
) -> tuple[int, str | None]:
    """How many epoch-aligned buckets of ``bucket_seconds`` the range spans (from raw
    readings and rollups alike), and the smallest bucket that would keep it within
    ``TELEMETRY_AGG_MAX_BUCKETS`` (``None``: not even a day does). An open end is the
    topic's first or last reading; a topic without readings spans nothing."""
    if start is None or end is None:
        first = reading_range(topic=topic, start=start, end=end, descending=False, limit=1)
        last = reading_range(topic=topic, start=start, end=end, descending=True, limit=1)
        if not first:
            return 0, None
        start = start or first[0].ts
        end = end or last[0].ts + timedelta(microseconds=1)
    lo, hi = int(start.timestamp()), math.ceil(end.timestamp())
    if hi <= lo:
        return 0, None

    def count(size: int) -> int:
        return (hi - 1) // size - lo // size + 1

    limit = settings.TELEMETRY_AGG_MAX_BUCKETS
    size = max(1, math.ceil((hi - lo) / limit))
    while size <= MAX_BUCKET_SECONDS and count(size) > limit:
        size += 1  # epoch alignment can add one bucket at each end
    smallest = None
    if size <= MAX_BUCKET_SECONDS:
        unit, seconds = next((u, n) for u, n in reversed(_BUCKET_UNITS) if size % n == 0)
        smallest = f"{size // seconds}{unit}"
    return count(bucket_seconds), smallest


def reading_count(*, topic: str, start: datetime | None, end: datetime | None, cap: int) -> int:
    """Readings of ``topic`` in [start, end), counted up to ``cap`` (bounds the work)."""
    with storage_errors():
        return get_storage().count(topic=topic, start=start, end=end, cap=cap)


def reading_aggregate_plan(
    *, topic: str, start: datetime | None, end: datetime | None, bucket_seconds: int
) -> AggregatePlan | None:
    """Which parts of an aggregate query rollups answer; ``None``: all from raw readings.

    Only buckets that are whole minutes or hours, wholly inside [start, end) and below the
    topic's up-to-date rollups (``telemetry.rollups``); the rest comes from raw readings,
    so the result is the same as aggregating raw readings alone.
    """
    if not settings.TELEMETRY_AGG_USE_ROLLUPS or bucket_seconds % 60:
        return None
    with storage_errors():
        state = rollup_store().state(topic=topic)
    return aggregate_plan(
        start=start, end=end, bucket_seconds=bucket_seconds, valid_until_us=state.valid_until
    )


def reading_aggregate(
    *,
    topic: str,
    start: datetime | None,
    end: datetime | None,
    bucket_seconds: int,
    aggregates: Sequence[str],
    plan: AggregatePlan | None = None,
) -> list[Bucket]:
    """Aggregates of the numeric readings per epoch-aligned bucket, oldest first.

    With a ``plan`` (``reading_aggregate_plan``) whole buckets come from rollups.
    """
    storage = get_storage()

    def raw(lo: datetime | None, hi: datetime | None) -> list[Bucket]:
        return storage.aggregate(
            topic=topic, start=lo, end=hi, bucket_seconds=bucket_seconds, aggregates=aggregates
        )

    with storage_errors():
        if plan is None or plan.rollup is None:
            return raw(start, end)
        lo, hi, resolution = plan.rollup
        buckets = raw(*plan.head) if plan.head else []
        buckets += rollup_store().aggregate(
            topic=topic,
            start=lo,
            end=hi,
            resolution=resolution,
            bucket_seconds=bucket_seconds,
            aggregates=aggregates,
        )
        if plan.tail:
            buckets += raw(*plan.tail)
        return buckets


def device_events(*, name: str, limit: int = 50) -> list[DeviceEvent]:
    """The newest liveness changes of a device (and of its sub-devices, by ``source``),
    newest first."""
    return list(DeviceEvent.objects.using(telemetry_alias()).filter(device=name)[:limit])


def device_profiles(*, names: Collection[str]) -> dict[str, DeviceProfile]:
    """The registered devices among ``names`` (enabled or not) with their kind and time zone,
    by name, in one query; names nobody registered are absent."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with storage_errors():
        rows = (
            Device.objects.using(telemetry_alias())
            .filter(name__in=wanted)
            .values_list("name", "kind", "tz")
        )
        return {name: DeviceProfile(name=name, kind=kind, tz=tz) for name, kind, tz in rows}


def device_kinds() -> list[str]:
    """The device kinds ``POST /devices`` accepts, the default first."""
    return [DEFAULT_KIND, *sorted(kind for kind in LAYOUTS if kind != DEFAULT_KIND)]


def device_list_for_owner(*, owner_id: int) -> QuerySet[Device]:
    return Device.objects.using(telemetry_alias()).filter(owner_id=owner_id).order_by("name")


def device_list() -> QuerySet[Device]:
    return Device.objects.using(telemetry_alias()).order_by("name")


def device_get_for_user(*, name: str, user_id: int, is_staff: bool) -> Device | None:
    """The device if the user owns it (staff: any device); ``None`` otherwise."""
    devices = device_list() if is_staff else device_list_for_owner(owner_id=user_id)
    return devices.filter(name=name).first()


def device_credentials_list() -> list[tuple[str, str, str]]:
    """(MQTT username, kind, Mosquitto ``$7$`` password hash) of every enabled device."""
    return list(
        device_list().filter(enabled=True).values_list("name", "kind", "mqtt_password_hash")
    )
