"""Input parsing and the documented shapes of the telemetry API.

Reading endpoints build their JSON as plain dicts (they are the hot path); the output
serializers here describe those shapes for the OpenAPI schema.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from rest_framework import serializers

from telemetry.layouts import DEFAULT_KIND, LAYOUTS
from telemetry.models import DEFAULT_TZ, DEVICE_NAME_PATTERN, TZ_MAX_LENGTH, Device, tz_is_valid
from telemetry.records import UNIT_MAX_LENGTH
from telemetry.storage import AGGREGATES

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BUCKET_RE = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKET_SECONDS = 86400


def parse_instant(raw: str, *, field: str) -> tuple[datetime, bool]:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 datetime (naive means UTC).

    Returns the instant and whether it was a bare date. In a query string '+' arrives as a
    space, so "2024-01-01T00:00:00 01:00" is read as "+01:00".
    """
    text = raw.strip()
    try:
        if _DATE_RE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC), True
        if "T" in text and " " in text:
            text = text.replace(" ", "+")
        value = datetime.fromisoformat(text)
    except ValueError:
        raise serializers.ValidationError(
            {field: [f"'{raw}' is not a date (YYYY-MM-DD) or an ISO 8601 datetime."]}
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC), False


def legacy_range(start_raw: str, end_raw: str) -> tuple[datetime, datetime]:
    """``/iot/<topic>/<start>/<end>``: both ends inclusive (a date end covers its whole day).

    Returns the half-open [start, end) the storage works with.
    """
    start, _ = parse_instant(start_raw, field="start")
    end, end_is_date = parse_instant(end_raw, field="end")
    end = end + (timedelta(days=1) if end_is_date else timedelta(microseconds=1))
    if start >= end:
        raise serializers.ValidationError({"detail": "start must not be after end."})
    return start, end


def encode_cursor(ts: datetime) -> str:
    micros = (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"t{micros}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> datetime:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.startswith("t"):
            raise ValueError(text)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(text[1:]))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise serializers.ValidationError(
            {"cursor": ["Invalid cursor: use the 'next' link of a previous page."]}
        ) from None


class ReadingsQuerySerializer(serializers.Serializer):
    """Query parameters of ``/iot/<topic>/readings``."""

    start = serializers.CharField(required=False, help_text="Inclusive, ISO 8601 or YYYY-MM-DD.")
    end = serializers.CharField(required=False, help_text="Exclusive, ISO 8601 or YYYY-MM-DD.")
    limit = serializers.IntegerField(
        required=False, min_value=1, help_text="Page size, default 100, at most TELEMETRY_PAGE_MAX."
    )
    cursor = serializers.CharField(required=False, help_text="From the 'next' link.")
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    bucket = serializers.CharField(
        required=False, help_text="Aggregate per bucket: <n><s|m|h|d>, from 1s to 1d."
    )
    agg = serializers.CharField(
        required=False, help_text=f"Comma-separated aggregates of {', '.join(AGGREGATES)}."
    )
    format = serializers.ChoiceField(choices=["json", "csv", "api"], required=False)

    def validate_limit(self, value: int) -> int:
        if value > settings.TELEMETRY_PAGE_MAX:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.TELEMETRY_PAGE_MAX}."
            )
        return value

    def validate_start(self, value: str) -> datetime:
        return parse_instant(value, field="start")[0]

    def validate_end(self, value: str) -> datetime:
        return parse_instant(value, field="end")[0]

    def validate_cursor(self, value: str) -> datetime:
        return decode_cursor(value)

    def validate_bucket(self, value: str) -> int:
        match = _BUCKET_RE.fullmatch(value.strip())
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]] if match else 0
        if not 1 <= seconds <= MAX_BUCKET_SECONDS:
            raise serializers.ValidationError(
                "Use a number and a unit s, m, h or d, from 1s to 1d (e.g. 1m, 15m, 1h)."
            )
        return seconds

    def validate_agg(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in AGGREGATES]
        if unknown or not names:
            raise serializers.ValidationError(
                f"Unknown aggregate {', '.join(unknown) or '(empty)'}; use {', '.join(AGGREGATES)}."
            )
        return list(dict.fromkeys(names))

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"detail": "start must be before end."})
        if "agg" in attrs and "bucket" not in attrs:
            raise serializers.ValidationError({"bucket": ["agg needs a bucket, e.g. bucket=1m."]})
        if "bucket" in attrs:
            attrs.setdefault("agg", ["avg"])
        return attrs


# --- documented response shapes -------------------------------------------------------
class PointSerializer(serializers.Serializer):
    date = serializers.DateTimeField()
    value = serializers.JSONField(help_text="A number, or text for non-numeric payloads.")


def _unit_field() -> serializers.CharField:
    return serializers.CharField(
        allow_null=True,
        max_length=UNIT_MAX_LENGTH,
        help_text="The series' unit as its payloads give it (SenML `u`, Tasmota `TempUnit`), "
        "e.g. `Cel` or `°C`; null when none did.",
    )


class TopicReadingsSerializer(serializers.Serializer):
    topic = serializers.CharField()
    unit = _unit_field()
    data = PointSerializer(many=True)


class ReadingsPageSerializer(TopicReadingsSerializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, or null.")


class BucketSerializer(serializers.Serializer):
    date = serializers.DateTimeField(help_text="Bucket start, aligned to the epoch in UTC.")
    avg = serializers.FloatField(required=False, allow_null=True)
    min = serializers.FloatField(required=False, allow_null=True)
    max = serializers.FloatField(required=False, allow_null=True)
    count = serializers.IntegerField(required=False)
    sum = serializers.FloatField(required=False, allow_null=True)


class AggregatePageSerializer(serializers.Serializer):
    topic = serializers.CharField()
    unit = _unit_field()
    bucket = serializers.CharField()
    agg = serializers.ListField(child=serializers.CharField())
    data = BucketSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="Always null: every bucket is listed.")


class TopicSummarySerializer(serializers.Serializer):
    topic = serializers.CharField()
    last_date = serializers.DateTimeField()
    last_value = serializers.JSONField()
    unit = _unit_field()


class TopicListSerializer(serializers.Serializer):
    data = TopicSummarySerializer(many=True)


class DeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = [
            "name",
            "kind",
            "tz",
            "enabled",
            "owner_id",
            "created_at",
            "last_seen",
            "online",
        ]
        read_only_fields = ["online"]
        extra_kwargs = {
            "online": {
                "help_text": "From the device's availability topic (last will, status) once "
                "it has sent one, else from its readings (offline after a silence)."
            },
            "last_seen": {"help_text": "When the device's last reading arrived."},
        }


def _tz_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=TZ_MAX_LENGTH,
        help_text="IANA time zone (e.g. `Europe/Berlin`) in which payload times without an "
        "offset are read.",
        **kwargs,
    )


def _tz_validate(value: str) -> str:
    if not tz_is_valid(value):
        raise serializers.ValidationError(
            f"Unknown time zone '{value}': use an IANA zone name such as 'UTC' or 'Europe/Berlin'."
        )
    return value


class DeviceCreateSerializer(serializers.Serializer):
    name = serializers.RegexField(
        rf"^{DEVICE_NAME_PATTERN}\Z",
        max_length=64,
        error_messages={"invalid": "Use 1 to 64 letters, digits, '_' or '-' (no dots or slashes)."},
    )
    kind = serializers.ChoiceField(choices=sorted(LAYOUTS), default=DEFAULT_KIND)
    tz = _tz_field(default=DEFAULT_TZ)

    def validate_tz(self, value: str) -> str:
        return _tz_validate(value)


class DeviceUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(
        required=False,
        help_text="false: the broker refuses the device's login and closes its connection.",
    )
    tz = _tz_field(required=False)

    def validate_tz(self, value: str) -> str:
        return _tz_validate(value)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"detail": "Give 'enabled' and/or 'tz'."})
        return attrs


class MqttCredentialsSerializer(serializers.Serializer):
    """How the device connects: shown once, when created or when its password is reset."""

    broker = serializers.CharField(help_text="Broker URL devices connect to (MQTT_PUBLIC_URL).")
    username = serializers.CharField(help_text="MQTT username: the device name.")
    password = serializers.CharField(help_text="MQTT password: shown only in this response.")
    publish = serializers.ListField(
        child=serializers.CharField(), help_text="Topic filters the device may publish to."
    )
    subscribe = serializers.ListField(
        child=serializers.CharField(), help_text="Topic filters the device may subscribe to."
    )


class DeviceCreatedSerializer(DeviceSerializer, MqttCredentialsSerializer):
    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, *MqttCredentialsSerializer().fields]
