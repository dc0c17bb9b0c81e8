"""The consumer of account events (``accounts.outbox``): devices follow their owner's account.

Deactivated: the owner's enabled devices are disabled (``disabled_by_account``; readings
kept). Reactivated: exactly those are enabled again. Deleted: the devices are deleted;
with ``ACCOUNT_DELETE_DATA=purge`` their readings and rollups (and those of devices the
owner deleted before) are purged in batches and the names freed for anyone, with ``keep``
the data stays for staff and the names stay reserved (``RetiredDeviceName``).

Idempotent and ordered per owner: ``AccountState.last_seq`` is the newest event applied;
an event at or below it changes nothing. Each event carries the account's state after its
change, so the newest event alone decides, whatever order the transport delivered them in.
An event that cannot be used is parked (``ParkedAccountEvent``) with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telemetry import cache_keys, rollups
from telemetry.models import (
    AccountState,
    Device,
    DeviceEvent,
    ParkedAccountEvent,
    RetiredDeviceName,
)
from telemetry.routers import telemetry_alias
from telemetry.storage import storage_errors

logger = logging.getLogger(__name__)

DEACTIVATED = "user.deactivated"
REACTIVATED = "user.reactivated"
DELETED = "user.deleted"
PASSWORD_CHANGED = "user.password_changed"
EVENT_TYPES = frozenset({DEACTIVATED, REACTIVATED, DELETED, PASSWORD_CHANGED})


class PoisonedEvent(ValueError):
    """The message is not an account event this consumer can apply."""


@dataclass(frozen=True, slots=True)
class AccountEventIn:
    owner_id: int
    seq: int
    type: str
    active: bool
    created_at: datetime | None


def _parse(message: dict) -> AccountEventIn:
    if not isinstance(message, dict):
        raise PoisonedEvent("message is not an object")
    owner_id, seq, kind = message.get("user_id"), message.get("seq"), message.get("type")
    payload = message.get("payload")
    if type(owner_id) is not int or type(seq) is not int or seq < 1:
        raise PoisonedEvent("user_id and seq must be integers, seq from 1")
    if kind not in EVENT_TYPES:
        raise PoisonedEvent(f"unknown event type {kind!r}")
    if not isinstance(payload, dict) or type(payload.get("active")) is not bool:
        raise PoisonedEvent("payload must be an object with a boolean 'active'")
    created = message.get("created_at")
    created_at = parse_datetime(created) if isinstance(created, str) else None
    return AccountEventIn(owner_id, seq, kind, payload["active"], created_at)


def account_event_apply(*, message: dict) -> str:
    """Apply one account event; what happened: ``applied``, ``duplicate`` (seq already
    applied or older) or ``parked``. Database errors are raised: the transport retries."""
    try:
        event = _parse(message)
    except PoisonedEvent as exc:
        _park(message, reason=str(exc))
        return "parked"
    alias = telemetry_alias()
    with transaction.atomic(using=alias):
        AccountState.objects.using(alias).get_or_create(owner_id=event.owner_id)
        state = AccountState.objects.using(alias).select_for_update().get(owner_id=event.owner_id)
        if event.seq <= state.last_seq or state.deleted:
            outcome = "duplicate"
        else:
            _react(alias, event=event, state=state)
            state.last_seq, state.applied_at = event.seq, timezone.now()
            state.event_created_at = event.created_at
            state.save(using=alias)
            outcome = "applied"
    logger.info(
        "account event %s #%s of owner %s: %s", event.type, event.seq, event.owner_id, outcome
    )
    account_data_purge(owner_id=event.owner_id)  # resumes a purge a crash cut short
    return outcome


def _react(alias: str, *, event: AccountEventIn, state: AccountState) -> None:
    devices = Device.objects.using(alias).filter(owner_id=event.owner_id)
    if event.type == DELETED:
        _devices_retire(alias, owner_id=event.owner_id)
        state.deleted, state.active = True, False
    elif event.active and not state.active:
        devices.filter(disabled_by_account=True).update(enabled=True, disabled_by_account=False)
        state.active = True
    elif not event.active and state.active:
        devices.filter(enabled=True).update(enabled=False, disabled_by_account=True)
        state.active = False
    _owner_cache_clear(alias, owner_id=event.owner_id)


def _devices_retire(alias: str, *, owner_id: int) -> None:
    """Delete the owner's devices; their names stay reserved (``keep``) or wait for the purge."""
    purge = settings.ACCOUNT_DELETE_DATA == "purge"
    names = list(
        Device.objects.using(alias).filter(owner_id=owner_id).values_list("name", flat=True)
    )
    for name in names:
        RetiredDeviceName.objects.using(alias).update_or_create(
            name=name, defaults={"owner_id": owner_id, "purge_pending": purge}
        )
    Device.objects.using(alias).filter(owner_id=owner_id).delete()
    if purge:  # names the owner retired before hold their old data as well
        RetiredDeviceName.objects.using(alias).filter(owner_id=owner_id).update(purge_pending=True)
    for name in names:
        cache.delete(cache_keys.device_owner(name))
    logger.info(
        "account %s deleted: %d devices removed, data %s",
        owner_id,
        len(names),
        "purged" if purge else "kept",
    )


def _owner_cache_clear(alias: str, *, owner_id: int) -> None:
    names = Device.objects.using(alias).filter(owner_id=owner_id).values_list("name", flat=True)
    cache.delete_many([cache_keys.device_owner(name) for name in names])


def account_data_purge(*, owner_id: int | None = None) -> int:
    """Purge the readings, rollups, summaries and liveness events of the names waiting for it
    (of one owner, or all), in batches of ``TELEMETRY_RETENTION_BATCH_SIZE``; each name is
    freed once its data is gone. Rows deleted. Safe to interrupt and run again."""
    alias = telemetry_alias()
    pending = RetiredDeviceName.objects.using(alias).filter(purge_pending=True)
    if owner_id is not None:
        pending = pending.filter(owner_id=owner_id)
    size = settings.TELEMETRY_RETENTION_BATCH_SIZE
    deleted = 0
    for retired in pending.order_by("name"):
        with storage_errors():
            store = rollups.rollup_store()
            for topic in store.device_topics(device=retired.name):
                deleted += store.topic_purge(topic=topic, batch_size=size)
                cache.delete(cache_keys.latest(topic))
        DeviceEvent.objects.using(alias).filter(device=retired.name).delete()
        retired.delete(using=alias)  # the name is free for anyone from now on
        logger.info("device name %s purged and freed", retired.name)
    return deleted


def _park(message, *, reason: str) -> None:
    data = message if isinstance(message, dict) else {"message": repr(message)[:1000]}
    owner_id, seq = data.get("user_id"), data.get("seq")
    ParkedAccountEvent.objects.using(telemetry_alias()).create(
        owner_id=owner_id if type(owner_id) is int else None,
        seq=seq if type(seq) is int else None,
        type=str(data.get("type", ""))[:64],
        message=data,
        reason=reason[:255],
    )
    logger.warning("account event parked: %s", reason)


def account_owner_state(*, owner_id: int) -> AccountState | None:
    return AccountState.objects.using(telemetry_alias()).filter(owner_id=owner_id).first()


def account_events_parked_count() -> int:
    return ParkedAccountEvent.objects.using(telemetry_alias()).count()
