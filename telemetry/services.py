"""Writes of the telemetry app: storing readings (the ingester's only entry point) and devices."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from telemetry import cache_keys, rollups
from telemetry.layouts import DEFAULT_KIND, LAYOUTS, fixed_first_levels
from telemetry.models import (
    DEFAULT_TZ,
    INTERNAL_ACCOUNT_PREFIX,
    RESERVED_TOPIC_LEVELS,
    AccountState,
    Device,
    DeviceEvent,
    RetiredDeviceName,
    device_name_validator,
    tz_is_valid,
)
from telemetry.records import AppendResult, DeadLetterIn, DeviceEventIn, ReadingIn
from telemetry.routers import telemetry_alias
from telemetry.storage import StorageError, StorageRefused, get_storage, storage_errors

__all__ = [
    "DeviceNameReserved",
    "DeviceNameTaken",
    "StorageError",
    "StorageRefused",
    "device_create",
    "device_delete",
    "device_password_reset",
    "device_update",
    "mqtt_password_hash",
    "device_offline_mark",
    "reading_bulk_append",
    "retention_enforce",
    "rollup_refresh",
]

logger = logging.getLogger(__name__)

# Mosquitto's "$7$" format: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash, standard base64.
MQTT_HASH_ITERATIONS = 1000
MQTT_SALT_BYTES = 12


class DeviceNameTaken(Exception):
    """Another device (of any owner) has this name, or had it and was deleted by its owner."""

    def __init__(self, name: str, *, reason: str = "This device name is already taken") -> None:
        super().__init__(name)
        self.name = name
        self.reason = reason


class DeviceNameReserved(Exception):
    """The name is one no device may take (a layout's fixed topic level, an internal account)."""

    def __init__(self, name: str, *, reason: str) -> None:
        super().__init__(name)
        self.name = name
        self.reason = reason


def reading_bulk_append(
    *,
    readings: Sequence[ReadingIn],
    dead_letters: Sequence[DeadLetterIn] = (),
    events: Sequence[DeviceEventIn] = (),
) -> AppendResult:
    """Store a batch of readings, dead letters and availability events in one transaction.

    Idempotent: a (topic, ts) already stored is skipped and counted in ``duplicates``, so a
    whole batch can be retried after a failure. Updates ``Device.last_seen`` of the devices
    in the batch and, after commit, the cached latest values (and units) of its topics.
    ``events`` set the devices' ``online`` flags (``_device_events_apply``); on the mongo
    backend they and the device stamps are written to the SQL database after the readings.
    Raises ``StorageError`` for any database or MongoDB failure, ``StorageRefused`` (one
    of those) when the data itself was refused and retrying it cannot succeed.
    """
    if not readings and not dead_letters and not events:
        return AppendResult(stored=0, duplicates=0, dead_lettered=0)
    storage = get_storage()
    alias = telemetry_alias()
    devices = sorted({r.topic.split(".", 1)[0] for r in readings})
    with storage_errors():
        if getattr(storage, "uses_django_database", False):
            with transaction.atomic(using=alias):
                result = storage.append(readings=readings, dead_letters=dead_letters)
                _device_events_apply(alias=alias, events=events)
                _device_touch(alias=alias, names=devices)
        else:
            result = storage.append(readings=readings, dead_letters=dead_letters)
            with transaction.atomic(using=alias):
                _device_events_apply(alias=alias, events=events)
                _device_touch(alias=alias, names=devices)
    if readings:
        topics = {r.topic for r in readings}
        transaction.on_commit(partial(_latest_cache_refresh, topics=topics), using=alias)
    return result


def _device_touch(*, alias: str, names: Sequence[str]) -> None:
    """Stamp ``last_seen``; mark online the devices that do not report their own availability
    (``availability_at`` unset), and record the ones among them that came back.

    One statement per batch as before; ``online_since`` moves only when a device was
    offline, so the (rare) offline -> online transitions need no extra read.
    """
    if not names:
        return
    now = timezone.now()
    connection = connections[alias]
    table = connection.ops.quote_name(Device._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    marks = ",".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        # SET sees the old row: online_since changes only for devices that were offline.
        cursor.execute(
            f"UPDATE {table} SET last_seen = %s, "  # noqa: S608
            "online = CASE WHEN availability_at IS NULL THEN %s ELSE online END, "
            "online_since = CASE WHEN online OR availability_at IS NOT NULL "
            "THEN online_since ELSE %s END "
            f"WHERE name IN ({marks}) RETURNING name, online_since, availability_at",
            [stamp, True, stamp, *names],
        )
        back = sorted(
            name
            for name, since, availability_at in cursor.fetchall()
            if availability_at is None and _is_instant(since, now)
        )
    if back:
        DeviceEvent.objects.using(alias).bulk_create(
            DeviceEvent(device=name, kind=DeviceEvent.ONLINE, at=now) for name in back
        )


_SOURCE_MAX_LENGTH = DeviceEvent._meta.get_field("source").max_length


def _device_events_apply(*, alias: str, events: Sequence[DeviceEventIn]) -> None:
    """Apply what devices said on their availability topics, oldest first.

    A device's own event (``source == ""``) sets its ``online`` flag and ``availability_at``
    (from then on it reports its own state: readings no longer mark it online, a silence no
    longer offline); a ``DeviceEvent`` is recorded only when the flag changes, so the
    retained "online" the broker replays at every resubscription adds nothing. An event
    older than the device's last availability message is stale and skipped. Events about a
    sub-device (``source``) are recorded when that source's last recorded state differs and
    leave the device's flag alone. Events of devices nobody registered are ignored.
    """
    if not events:
        return
    names = sorted({e.device for e in events})
    devices = {
        d.name: d
        for d in Device.objects.using(alias)
        .select_for_update()
        .filter(name__in=names)
        .order_by("name")
        .only("id", "name", "online", "online_since", "availability_at", "last_seen")
    }
    ordered = sorted((e for e in events if e.device in devices), key=lambda e: e.at)
    recorded: list[DeviceEvent] = []
    changed: dict[str, Device] = {}
    for event in ordered:
        if event.source:
            continue
        device = devices[event.device]
        if device.availability_at is not None and event.at < device.availability_at:
            continue
        if device.online != event.online:
            device.online = event.online
            if event.online:
                device.online_since = event.at
            recorded.append(_event(device=device.name, event=event, last_seen=device.last_seen))
        device.availability_at = event.at
        changed[device.name] = device
    if changed:
        Device.objects.using(alias).bulk_update(
            list(changed.values()), ["online", "online_since", "availability_at"]
        )
    recorded += _sub_device_events(alias=alias, events=[e for e in ordered if e.source])
    if recorded:
        DeviceEvent.objects.using(alias).bulk_create(recorded)


def _event(*, device: str, event: DeviceEventIn, last_seen=None, source: str = "") -> DeviceEvent:
    kind = DeviceEvent.ONLINE if event.online else DeviceEvent.OFFLINE
    return DeviceEvent(
        device=device,
        source=source,
        kind=kind,
        at=event.at,
        last_seen=None if event.online else last_seen,
    )


def _sub_device_events(*, alias: str, events: Sequence[DeviceEventIn]) -> list[DeviceEvent]:
    """The events of sub-devices (oldest first) whose state differs from the last recorded
    one of the same (device, source); one query for those last states."""
    if not events:
        return []
    pairs = {(e.device, e.source[:_SOURCE_MAX_LENGTH]) for e in events}
    newest_first = Window(
        RowNumber(),
        partition_by=[F("device"), F("source")],
        order_by=[F("at").desc(), F("id").desc()],
    )
    rows = (
        DeviceEvent.objects.using(alias)
        .filter(device__in=sorted({d for d, _ in pairs}), source__in=sorted({s for _, s in pairs}))
        .annotate(rank=newest_first)
        .filter(rank=1)
        .values_list("device", "source", "kind", "at")
    )
    last = {
        (device, source): (kind == DeviceEvent.ONLINE, at)
        for device, source, kind, at in rows
        if (device, source) in pairs
    }
    recorded = []
    for event in events:
        key = (event.device, event.source[:_SOURCE_MAX_LENGTH])
        known = last.get(key)
        if known is not None and (event.at < known[1] or known[0] == event.online):
            continue
        last[key] = (event.online, event.at)
        recorded.append(_event(device=key[0], event=event, source=key[1]))
    return recorded


def _is_instant(value, instant: datetime) -> bool:
    """A datetime column read back by a raw cursor (naive UTC on SQLite) equals ``instant``."""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value == instant


def _latest_cache_refresh(*, topics: set[str]) -> None:
    """Copy the committed topic summaries into the cache (they only ever move forward)."""
    try:
        with storage_errors():
            summaries = get_storage().topic_list(names=topics)
        cache.set_many(
            {
                cache_keys.latest(s.name): (s.last_ts, s.last_value, s.last_text, s.unit)
                for s in summaries
            },
            timeout=cache_keys.timeout(),
        )
    except Exception:  # the readings are committed; a stale cache must not fail the batch
        logger.warning(
            "latest-value cache refresh failed for %d topics", len(topics), exc_info=True
        )
        try:
            cache.delete_many([cache_keys.latest(t) for t in topics])
        except Exception:
            logger.warning("latest-value cache invalidation failed", exc_info=True)


def mqtt_password_hash(*, password: str, salt: bytes | None = None) -> str:
    """A Mosquitto password_file hash: ``$7$<iterations>$<b64 salt>$<b64 sha512 pbkdf2>``."""
    salt = salt if salt is not None else secrets.token_bytes(MQTT_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MQTT_HASH_ITERATIONS)
    encoded_salt = base64.b64encode(salt).decode()
    return f"$7${MQTT_HASH_ITERATIONS}${encoded_salt}${base64.b64encode(digest).decode()}"


def device_name_reservation(*, name: str) -> str | None:
    """Why no device may be called ``name``, or ``None`` when it may.

    Topic levels are case-sensitive, names are compared without case all the same: ``Tele``
    next to ``tele`` only confuses people reading ACLs and logs.
    """
    folded = name.casefold()
    if name.startswith("$"):
        return "names starting with '$' are reserved for the broker"
    if folded in {level.casefold() for level in RESERVED_TOPIC_LEVELS | fixed_first_levels()}:
        return f"'{name}' is a fixed topic level of a firmware layout"
    if folded.startswith(INTERNAL_ACCOUNT_PREFIX) or folded in {
        user.casefold() for user in settings.MQTT_INTERNAL_USERNAMES
    }:
        return f"'{name}' is reserved for the broker accounts of iotserver itself"
    return None


def device_create(
    *, owner_id: int, name: str, kind: str = DEFAULT_KIND, tz: str = DEFAULT_TZ
) -> tuple[Device, str]:
    """Register a device for ``owner_id``; returns it and its MQTT password (shown only once).

    ``tz`` is an IANA zone name: the ingester reads the device's local times in it.
    Raises ``ValidationError`` for a malformed name, an unknown kind or zone,
    ``DeviceNameReserved`` for a name no device may take, and ``DeviceNameTaken`` when
    another device has it or another owner's device had it. The broker learns of the device
    through ``manage.py mqtt_auth_sync``.
    """
    device_name_validator(name)
    reason = device_name_reservation(name=name)
    if reason:
        raise DeviceNameReserved(name, reason=reason)
    password = secrets.token_urlsafe(24)
    alias = telemetry_alias()
    if kind not in LAYOUTS:
        raise ValidationError({"kind": f"Unknown device kind {kind!r}."})
    _tz_check(tz)
    device = Device(
        name=name,
        owner_id=owner_id,
        kind=kind,
        tz=tz,
        mqtt_password_hash=mqtt_password_hash(password=password),
    )
    try:
        with transaction.atomic(using=alias):
            retired = (
                RetiredDeviceName.objects.using(alias).select_for_update().filter(name=name).first()
            )
            if retired is not None and retired.owner_id != owner_id:
                raise DeviceNameTaken(
                    name,
                    reason="This device name belonged to a deleted device of another account",
                )
            _device_account_check(alias, device=device)
            device.save(using=alias, force_insert=True)
            if retired is not None:
                retired.delete(using=alias)
    except IntegrityError:
        raise DeviceNameTaken(name) from None
    cache.delete(cache_keys.device_owner(name))
    logger.info("device %s registered by user %s", name, owner_id)
    return device, password


def _device_account_check(alias: str, *, device: Device) -> None:
    """A device registered with an access token still valid after its account was
    deactivated starts disabled by the account; after the account was deleted, not at all."""
    state = AccountState.objects.using(alias).filter(owner_id=device.owner_id).first()
    if state is not None and state.deleted:
        raise ValidationError({"detail": "This account was deleted."})
    if state is not None and not state.active:
        device.enabled, device.disabled_by_account = False, True


def _tz_check(tz: str) -> None:
    if not tz_is_valid(tz):
        raise ValidationError(
            {"tz": f"Unknown time zone {tz!r}: use an IANA zone name such as 'Europe/Berlin'."}
        )


def device_update(*, device: Device, enabled: bool | None = None, tz: str | None = None) -> Device:
    """Enable or disable a device (a disabled device's broker login is refused), and/or
    change its time zone; ``None`` leaves that setting as it is. Raises ``ValidationError``
    for an unknown zone."""
    fields = []
    if enabled and device.disabled_by_account:
        raise ValidationError(
            {
                "enabled": "The owner's account is deactivated: the device is enabled again "
                "when the account is reactivated."
            }
        )
    if enabled is False and device.disabled_by_account:
        # The owner wants it off too: reactivating the account leaves it off.
        device.disabled_by_account = False
        fields.append("disabled_by_account")
    if enabled is not None and device.enabled != enabled:
        device.enabled = enabled
        fields.append("enabled")
        logger.info("device %s %s", device.name, "enabled" if enabled else "disabled")
    if tz is not None and device.tz != tz:
        _tz_check(tz)
        device.tz = tz
        fields.append("tz")
        logger.info("device %s reads local times in %s", device.name, tz)
    if fields:
        device.save(using=telemetry_alias(), update_fields=fields)
    return device


def device_password_reset(*, device: Device) -> str:
    """Give a device a new MQTT password (returned once); the old one stops working."""
    password = secrets.token_urlsafe(24)
    device.mqtt_password_hash = mqtt_password_hash(password=password)
    device.save(using=telemetry_alias(), update_fields=["mqtt_password_hash"])
    logger.info("device %s has a new MQTT password", device.name)
    return password


def device_delete(*, device: Device) -> None:
    """Remove a device: its MQTT login stops working; its readings stay, visible to staff.

    Its name is retired: only the same owner can register it again (and so see that history).
    """
    alias = telemetry_alias()
    with transaction.atomic(using=alias):
        device.delete(using=alias)
        RetiredDeviceName.objects.using(alias).update_or_create(
            name=device.name, defaults={"owner_id": device.owner_id}
        )
    cache.delete(cache_keys.device_owner(device.name))
    logger.info("device %s deleted", device.name)


# --- background maintenance (run by telemetry.tasks and manage.py telemetry_maintenance) ---
@dataclass(frozen=True, slots=True)
class RollupReport:
    topics: int
    windows: int
    more: bool  # stopped at max_windows with work left


def rollup_refresh(*, now: datetime | None = None, max_windows: int | None = None) -> RollupReport:
    """Bring the 1-minute and 1-hour rollups of every topic up to date.

    Idempotent and safe to interrupt: each window is its own transaction (see
    ``telemetry.rollups``). ``max_windows`` bounds the work of one call; the report says
    whether work is left. Raises ``StorageError`` for any database or MongoDB failure.
    """
    now = now or timezone.now()
    cutoff, raw_floor = rollups.cutoff_for(now), rollups.raw_floor_for(now)
    windows, touched = 0, set()
    with storage_errors():
        store = rollups.rollup_store()
        plans = {}
        for topic in store.topics():
            state = store.state(topic=topic)
            first = store.first_reading_us(topic=topic) if state.watermark is None else None

            def plan(current, first=first):
                return rollups.next_window(
                    current, first_us=first, cutoff_us=cutoff, raw_floor_us=raw_floor
                )

            plans[topic] = plan
        # Round robin, one window per topic per round: a topic with years of history to
        # roll up (a reading far in the past) gets its share and no more.
        while plans:
            for topic, plan in list(plans.items()):
                if max_windows is not None and windows >= max_windows:
                    return RollupReport(topics=len(touched), windows=windows, more=True)
                if store.window_apply(topic=topic, plan_next=plan) is None:
                    del plans[topic]
                    continue
                windows += 1
                touched.add(topic)
    if windows:
        logger.info("rollups: %d windows over %d topics", windows, len(touched))
    return RollupReport(topics=len(touched), windows=windows, more=False)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    readings: int
    rollups: int
    dead_letters: int


def retention_enforce(*, now: datetime | None = None) -> RetentionReport:
    """Delete readings, rollups and dead letters older than their retention settings.

    A setting of 0 keeps that data forever. Deletes go in batches of
    ``TELEMETRY_RETENTION_BATCH_SIZE`` rows, each its own short transaction.
    """
    now = now or timezone.now()
    size = settings.TELEMETRY_RETENTION_BATCH_SIZE
    counts = {"readings": 0, "rollups": 0, "dead_letters": 0}
    days = {
        "readings": settings.TELEMETRY_RAW_RETENTION_DAYS,
        "rollups": settings.TELEMETRY_ROLLUP_RETENTION_DAYS,
        "dead_letters": settings.TELEMETRY_DEAD_LETTER_RETENTION_DAYS,
    }
    with storage_errors():
        store = rollups.rollup_store()
        expire = {
            "readings": store.readings_expire,
            "rollups": store.rollups_expire,
            "dead_letters": store.dead_letters_expire,
        }
        for what, keep in days.items():
            if keep:
                counts[what] = expire[what](before=now - timedelta(days=keep), batch_size=size)
    if any(counts.values()):
        logger.info("retention: deleted %s", counts)
    return RetentionReport(**counts)


def device_offline_mark(*, now: datetime | None = None) -> list[str]:
    """Mark devices silent for ``DEVICE_OFFLINE_AFTER_SECONDS`` offline; record each change.

    Returns the names marked offline. Idempotent: a device already offline is left alone.
    Devices that report their own availability (``availability_at`` set) are left to it: a
    sensor that sends once an hour is online as long as its last will has not said otherwise.
    """
    now = now or timezone.now()
    alias = telemetry_alias()
    silent_since = now - timedelta(seconds=settings.DEVICE_OFFLINE_AFTER_SECONDS)
    with storage_errors(), transaction.atomic(using=alias):
        stale = list(
            Device.objects.using(alias)
            .select_for_update()
            .filter(online=True, availability_at__isnull=True)
            .filter(Q(last_seen__lt=silent_since) | Q(last_seen__isnull=True))
            .order_by("name")
            .values_list("id", "name", "last_seen")
        )
        if not stale:
            return []
        Device.objects.using(alias).filter(id__in=[row[0] for row in stale]).update(online=False)
        DeviceEvent.objects.using(alias).bulk_create(
            DeviceEvent(device=name, kind=DeviceEvent.OFFLINE, at=now, last_seen=last_seen)
            for _, name, last_seen in stale
        )
    names = [name for _, name, _ in stale]
    logger.info("devices offline after silence: %s", ", ".join(names))
    return names
