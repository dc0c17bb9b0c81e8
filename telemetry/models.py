"""Telemetry data: registered devices, readings, per-topic summaries and dead letters.

All of these live in the telemetry database (``telemetry.routers.telemetry_alias()``).
With ``TELEMETRY_BACKEND=mongo`` readings, topic summaries and dead letters live in MongoDB
instead and only ``Device`` rows are used here.
"""

from __future__ import annotations

import functools
import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from telemetry.layouts import LAYOUTS
from telemetry.records import TOPIC_MAX_LENGTH, UNIT_MAX_LENGTH

DEVICE_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"

# First topic levels that firmware uses (DESIGN.md, "Devices and MQTT"), beyond those the
# layouts fix (``telemetry.layouts``): a device named like one would own other devices' topics.
RESERVED_TOPIC_LEVELS = frozenset(
    {"tele", "stat", "cmnd", "shellies", "owntracks", "spBv1.0", "homeassistant"}
)
# Broker accounts of the system itself (ingesters, ...) are named with this prefix.
INTERNAL_ACCOUNT_PREFIX = "iotserver"

device_name_validator = RegexValidator(
    rf"^{DEVICE_NAME_PATTERN}\Z",
    "Device names are 1 to 64 letters, digits, '_' or '-'.",
)

DEFAULT_TZ = "UTC"
TZ_MAX_LENGTH = 64


@functools.cache
def _iana_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def tz_is_valid(name: str) -> bool:
    """An IANA zone name this machine's tz database knows (``Europe/Berlin``, ``UTC``)."""
    return isinstance(name, str) and name in _iana_zones()


def tz_validator(value: str) -> None:
    if not tz_is_valid(value):
        raise ValidationError(
            f"Unknown time zone {value!r}: use an IANA zone name such as 'UTC' or 'Europe/Berlin'.",
            code="invalid_tz",
        )


class Device(models.Model):
    """A device a user registered; its name is the first level of the MQTT topics it publishes.

    ``owner_id`` is the owner's user id as a plain integer: in the microservice deployment
    the telemetry database has no user table to point a foreign key at.
    ``mqtt_password_hash`` is a Mosquitto ``$7$`` PBKDF2-SHA512 hash; the password itself is
    shown once, when the device is created (or its password reset), and never stored.
    A device that is not ``enabled`` keeps its data but the broker refuses its login.
    ``tz`` is the IANA zone in which the ingester reads payload times without an offset.

    ``online`` comes from the device's own availability topic (last will, status) once it has
    sent one (``availability_at`` is set): readings then no longer mark it online, nor does
    a silence mark it offline. Until then readings mark it online and a silence offline.
    """

    name = models.CharField(max_length=64, unique=True, validators=[device_name_validator])
    owner_id = models.BigIntegerField()
    mqtt_password_hash = models.CharField(max_length=255)
    kind = models.CharField(
        max_length=32, default="native", choices=[(kind, kind) for kind in LAYOUTS]
    )
    tz = models.CharField(max_length=TZ_MAX_LENGTH, default=DEFAULT_TZ, validators=[tz_validator])
    enabled = models.BooleanField(default=True)
    # Disabled because its owner's account was deactivated (not by the owner): reactivation
    # enables exactly these again.
    disabled_by_account = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    # Set by the ingest path: from the availability topic, else with last_seen by readings
    # (and cleared by the liveness task after a silence).
    online = models.BooleanField(default=False)
    online_since = models.DateTimeField(null=True, blank=True)
    # When the device last spoke on its availability topic; set: it reports its own state.
    availability_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["owner_id", "name"], name="telemetry_device_owner_idx")]

    def __str__(self) -> str:
        return self.name


class RetiredDeviceName(models.Model):
    """The name of a deleted device, kept so that only its previous owner can take it again.

    Readings outlive their device (topics are keyed by name): another user registering the
    same name would otherwise read the old owner's whole history.
    """

    name = models.CharField(max_length=64, unique=True)
    owner_id = models.BigIntegerField()
    retired_at = models.DateTimeField(auto_now_add=True)
    # The owner's account was deleted with ACCOUNT_DELETE_DATA=purge: the name's readings
    # are being deleted in batches, and the name is freed (this row deleted) at the end.
    purge_pending = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name} (retired, owner {self.owner_id})"


class Reading(models.Model):
    """One value of one topic at one instant: numeric ``value`` or, for other payloads, ``text``.

    (topic, ts) is the primary key, so storing the same reading twice is a no-op and there is
    no surrogate id index to maintain on the hot insert path. On PostgreSQL the key index also
    carries ``value`` (``INCLUDE``, added in migration 0001) so "latest" and "range" of numeric
    topics are index-only scans.
    """

    pk = models.CompositePrimaryKey("topic", "ts")
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH)
    ts = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    text = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "numeric reading"

    def __str__(self) -> str:
        return f"{self.topic}@{self.ts.isoformat()}"


class Topic(models.Model):
    """Summary of one topic, kept by the write path so listing topics never scans readings.

    ``last_*`` only ever move forward in time: an older reading arriving late does not
    replace a newer last value. ``unit`` is the series' unit as its payloads last gave it
    (SenML ``u``, Tasmota ``TempUnit``), ``NULL`` when none ever did.
    """

    name = models.CharField(max_length=TOPIC_MAX_LENGTH, unique=True)
    device = models.CharField(max_length=64)
    last_ts = models.DateTimeField()
    last_value = models.FloatField(null=True, blank=True)
    last_text = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means numeric
    unit = models.CharField(max_length=UNIT_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001 - NULL: no unit known

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["device", "name"], name="telemetry_topic_device_idx")]

    def __str__(self) -> str:
        return self.name


class DeadLetter(models.Model):
    """A message the ingester could not parse, kept with the reason for inspection."""

    topic = models.CharField(max_length=TOPIC_MAX_LENGTH)
    payload = models.BinaryField()
    reason = models.CharField(max_length=255)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="telemetry_deadletter_recv_idx")]

    def __str__(self) -> str:
        return f"{self.topic}: {self.reason}"


class RollupState(models.Model):
    """How far the rollups of one topic are complete, and where late readings made them stale.

    Rollup rows of buckets before ``watermark`` are complete, except from ``dirty_since`` on:
    a reading written with a timestamp before the watermark (a late reading) lowers
    ``dirty_since`` in the same transaction as the reading, so a query never trusts a rollup
    that misses it. The rollup job re-aggregates from there and clears it. Both are
    microseconds since the epoch (one comparison on the ingest path, same on both backends).
    """

    topic = models.CharField(max_length=TOPIC_MAX_LENGTH, primary_key=True)
    watermark = models.BigIntegerField(null=True, blank=True)
    dirty_since = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.topic} rolled up until {self.watermark}"


class RollupBase(models.Model):
    """Aggregates of the numeric readings of one topic in one bucket starting at ``start``."""

    pk = models.CompositePrimaryKey("topic", "start")
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH)
    start = models.DateTimeField()
    count = models.BigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.topic}@{self.start.isoformat()}"


class RollupMinute(RollupBase):
    """One-minute rollup of a topic (see ``telemetry.rollups``)."""


class RollupHour(RollupBase):
    """One-hour rollup of a topic, built from its one-minute rollups."""


class DeviceEvent(models.Model):
    """A change of a device's liveness: it went ``offline`` (its last will, a silence) or came
    back. ``source`` names a sub-device behind it (a Zigbee end device, a Sparkplug device)
    whose availability the device reported; empty for the device itself."""

    OFFLINE = "offline"
    ONLINE = "online"

    device = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=[(OFFLINE, OFFLINE), (ONLINE, ONLINE)])
    at = models.DateTimeField()
    last_seen = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["device", "-at"], name="telemetry_devevent_dev_idx"),
            models.Index(fields=["device", "source", "-at"], name="telemetry_devevent_src_idx"),
        ]

    def __str__(self) -> str:
        source = f"/{self.source}" if self.source else ""
        return f"{self.device}{source} {self.kind} at {self.at.isoformat()}"


class AccountState(models.Model):
    """What the telemetry side last heard of one account (``telemetry.account_events``).

    ``last_seq`` is the seq of the newest event applied: an event with a seq at or below it
    is a redelivery or arrived late, and changes nothing.
    """

    owner_id = models.BigIntegerField(primary_key=True)
    last_seq = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    deleted = models.BooleanField(default=False)
    applied_at = models.DateTimeField(null=True, blank=True)
    # When the auth side recorded the newest applied event: applied_at minus this is the lag.
    event_created_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"account {self.owner_id} at event #{self.last_seq}"


class ParkedAccountEvent(models.Model):
    """An account event the consumer could not use (unknown type, bad payload), kept with
    the reason; the events after it are applied all the same."""

    owner_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=64, blank=True)
    message = models.JSONField(default=dict)
    reason = models.CharField(max_length=255)
    parked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-parked_at"]

    def __str__(self) -> str:
        return f"parked account event {self.type!r} of {self.owner_id}: {self.reason}"
