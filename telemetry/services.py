"""Writes of the telemetry app: storing readings (the ingester's only entry point) and devices."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Sequence
from functools import partial

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from iotserver.routers import telemetry_alias
from telemetry import cache_keys
from telemetry.models import Device, device_name_validator
from telemetry.records import AppendResult, DeadLetterIn, ReadingIn
from telemetry.storage import StorageError, get_storage, storage_errors

__all__ = [
    "DeviceNameTaken",
    "StorageError",
    "device_create",
    "device_delete",
    "mqtt_password_hash",
    "reading_bulk_append",
]

logger = logging.getLogger(__name__)

# Mosquitto's "$7$" format: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash, standard base64.
MQTT_HASH_ITERATIONS = 1000
MQTT_SALT_BYTES = 12


class DeviceNameTaken(Exception):
    """Another device (of any owner) already has this name."""


def reading_bulk_append(
    *, readings: Sequence[ReadingIn], dead_letters: Sequence[DeadLetterIn] = ()
) -> AppendResult:
    """Store a batch of readings and dead letters in one transaction.

    Idempotent: a (topic, ts) already stored is skipped and counted in ``duplicates``, so a
    whole batch can be retried after a failure. Updates ``Device.last_seen`` of the devices
    in the batch and, after commit, the cached latest values of its topics.
    Raises ``StorageError`` for any database or MongoDB failure.
    """
    if not readings and not dead_letters:
        return AppendResult(stored=0, duplicates=0, dead_lettered=0)
    storage = get_storage()
    alias = telemetry_alias()
    devices = sorted({r.topic.split(".", 1)[0] for r in readings})
    with storage_errors():
        if getattr(storage, "uses_django_database", False):
            with transaction.atomic(using=alias):
                result = storage.append(readings=readings, dead_letters=dead_letters)
                _device_touch(alias=alias, names=devices)
        else:
            result = storage.append(readings=readings, dead_letters=dead_letters)
            _device_touch(alias=alias, names=devices)
    if readings:
        topics = {r.topic for r in readings}
        transaction.on_commit(partial(_latest_cache_refresh, topics=topics), using=alias)
    return result


def _device_touch(*, alias: str, names: Sequence[str]) -> None:
    if names:
        Device.objects.using(alias).filter(name__in=names).update(last_seen=timezone.now())


def _latest_cache_refresh(*, topics: set[str]) -> None:
    """Copy the committed topic summaries into the cache (they only ever move forward)."""
    try:
        with storage_errors():
            summaries = get_storage().topic_list(names=topics)
        cache.set_many(
            {cache_keys.latest(s.name): (s.last_ts, s.last_value, s.last_text) for s in summaries},
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


def device_create(*, owner_id: int, name: str) -> tuple[Device, str]:
    """Register a device for ``owner_id``; returns it and its MQTT password (shown only once).

    Raises ``ValidationError`` for a malformed name and ``DeviceNameTaken`` when it is in use.
    """
    device_name_validator(name)
    password = secrets.token_urlsafe(24)
    alias = telemetry_alias()
    device = Device(
        name=name, owner_id=owner_id, mqtt_password_hash=mqtt_password_hash(password=password)
    )
    try:
        with transaction.atomic(using=alias):
            device.save(using=alias, force_insert=True)
    except IntegrityError:
        raise DeviceNameTaken(name) from None
    cache.delete(cache_keys.device_owner(name))
    logger.info("device %s registered by user %s", name, owner_id)
    return device, password


def device_delete(*, device: Device) -> None:
    """Remove a device: its MQTT login stops working; its readings stay, visible to staff."""
    device.delete(using=telemetry_alias())
    cache.delete(cache_keys.device_owner(device.name))
    logger.info("device %s deleted", device.name)
