"""Input parsing and the documented shapes of the telemetry API.

Reading endpoints build their JSON as plain dicts (they are the hot path); the output
serializers here describe those shapes for the OpenAPI schema.
"""

from __future__ import annotations

import base64
import binascii
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from telemetry.layouts import DEFAULT_KIND, LAYOUTS
from telemetry.models import DEFAULT_TZ, DEVICE_NAME_PATTERN, TZ_MAX_LENGTH, Device, tz_is_valid
from telemetry.records import UNIT_MAX_LENGTH
from telemetry.storage import AGGREGATES

# What the query parameters and path segments accept, exactly: the server matches these
# (``fullmatch``) and the OpenAPI schema states them anchored (``pattern()``).
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A date, or an ISO 8601 extended-format datetime, seconds and offset optional (no offset:
# UTC). A space stands for the offset's '+': that is how an unencoded '+' in a query string
# arrives ("2024-01-01T00:00:00 01:00" is read as "+01:00").
_HH_MM = r"[0-9]{2}:[0-9]{2}"
INSTANT_SYNTAX = rf"{_DATE}(T{_HH_MM}(:[0-9]{{2}}(\.[0-9]{{1,6}})?)?(Z|[- +]{_HH_MM})?)?"
BUCKET_SYNTAX = r"[1-9][0-9]{0,5}[smhd]"
AGG_SYNTAX = rf"({'|'.join(AGGREGATES)})(,({'|'.join(AGGREGATES)}))*"
CURSOR_SYNTAX = r"[A-Za-z0-9_-]{1,32}"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKET_SECONDS = 86400
BUCKET_INVALID = "Use a number and a unit s, m, h or d, from 1s to 1d (e.g. 1m, 15m, 1h)."
# Instants beyond what datetime holds in UTC ("0001-01-01T00:00:00+01:00") are read as its
# ends: no reading lies beyond them, so a range reaching there means "from the start".
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def pattern(syntax: str) -> str:
    """The anchored form for the OpenAPI schema (ECMA-262, as JSON Schema reads it)."""
    return f"^(?:{syntax})$"


INSTANT_INVALID = (
    "Use a date (YYYY-MM-DD) or an ISO 8601 datetime "
    "(YYYY-MM-DDThh:mm[:ss[.ffffff]][Z|+hh:mm|-hh:mm])."
)


def _not_an_instant(raw: str) -> str:
    return f"'{raw}' is not a date or time of the calendar. {INSTANT_INVALID}"


def parse_instant(raw: str, *, field: str | None = None) -> tuple[datetime, bool]:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 datetime (``INSTANT_SYNTAX``; naive
    means UTC). Returns the instant and whether it was a bare date. The error names
    ``field`` when given (a path segment), else it is the field's own (a query parameter)."""
    try:
        if not re.fullmatch(INSTANT_SYNTAX, raw):
            raise ValueError(raw)
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC), True
        value = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        message = [_not_an_instant(raw)]
        raise serializers.ValidationError({field: message} if field else message) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC), False
    try:
        return value.astimezone(UTC), False
    except OverflowError:
        return (EARLIEST if value.year == 1 else LATEST), False


def legacy_range(start_raw: str, end_raw: str) -> tuple[datetime, datetime]:
    """``/iot/<topic>/<start>/<end>``: both ends inclusive (a date end covers its whole day).

    Returns the half-open [start, end) the storage works with.
    """
    start, _ = parse_instant(start_raw, field="start")
    end, end_is_date = parse_instant(end_raw, field="end")
    step = timedelta(days=1) if end_is_date else timedelta(microseconds=1)
    end = LATEST if end > LATEST - step else end + step
    if start >= end:
        raise serializers.ValidationError({"detail": "start must not be after end."})
    return start, end


def encode_cursor(ts: datetime) -> str:
    micros = (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"t{micros}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> datetime:
    try:
        # Matched first: the decoder would skip characters outside the alphabet.
        if not re.fullmatch(CURSOR_SYNTAX, raw):
            raise ValueError(raw)
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not re.fullmatch(r"t-?[0-9]{1,18}", text):
            raise ValueError(text)
        ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(text[1:]))
        if ts == LATEST:  # the next page would start after the end of time
            raise ValueError(text)
        return ts
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise serializers.ValidationError(
            "Invalid cursor: use the 'next' link of a previous page."
        ) from None


def _syntax_field(syntax: str, *, invalid: str, help_text: str) -> serializers.RegexField:
    """An optional query parameter matching ``syntax`` exactly (no trimming: the schema's
    pattern is what the server takes); the schema states the pattern anchored."""
    return serializers.RegexField(
        rf"\A(?:{syntax})\Z",
        required=False,
        trim_whitespace=False,
        error_messages={"invalid": invalid},
        help_text=help_text,
    )


class QueryIntegerField(serializers.IntegerField):
    """Digits only, as the schema's integer: DRF's field also takes '5.0' and ' 5'."""

    def to_internal_value(self, data):
        if not (isinstance(data, str) and re.fullmatch(r"-?[0-9]{1,18}", data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class ReadingsQuerySerializer(serializers.Serializer):
    """Query parameters of ``/iot/<topic>/readings``."""

    start = _syntax_field(
        INSTANT_SYNTAX,
        invalid=INSTANT_INVALID,
        help_text="Inclusive: YYYY-MM-DD or an ISO 8601 datetime (no offset: UTC).",
    )
    end = _syntax_field(
        INSTANT_SYNTAX,
        invalid=INSTANT_INVALID,
        help_text="Exclusive: YYYY-MM-DD or an ISO 8601 datetime (no offset: UTC).",
    )
    limit = QueryIntegerField(
        required=False, min_value=1, help_text="Page size, default 100, at most TELEMETRY_PAGE_MAX."
    )
    cursor = _syntax_field(
        CURSOR_SYNTAX,
        invalid="Invalid cursor: use the 'next' link of a previous page.",
        help_text="From the 'next' link.",
    )
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    bucket = _syntax_field(
        BUCKET_SYNTAX,
        invalid=BUCKET_INVALID,
        help_text="Aggregate per bucket: <n><s|m|h|d>, from 1s to 1d.",
    )
    agg = _syntax_field(
        AGG_SYNTAX,
        invalid=f"Use a comma-separated list of {', '.join(AGGREGATES)} (e.g. avg,min,max).",
        help_text=f"Comma-separated aggregates of {', '.join(AGGREGATES)}; default avg.",
    )
    format = serializers.ChoiceField(choices=["json", "csv", "api"], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The schema's maximum; validate_limit checks it (the setting may change at run time).
        self.fields["limit"].max_value = settings.TELEMETRY_PAGE_MAX

    def validate_limit(self, value: int) -> int:
        if value > settings.TELEMETRY_PAGE_MAX:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.TELEMETRY_PAGE_MAX}."
            )
        return value

    def validate_start(self, value: str) -> datetime:
        return parse_instant(value)[0]

    def validate_end(self, value: str) -> datetime:
        return parse_instant(value)[0]

    def validate_cursor(self, value: str) -> datetime:
        return decode_cursor(value)

    def validate_bucket(self, value: str) -> int:
        seconds = int(value[:-1]) * _UNIT_SECONDS[value[-1]]
        if seconds > MAX_BUCKET_SECONDS:
            raise serializers.ValidationError(BUCKET_INVALID)
        return seconds

    def validate_agg(self, value: str) -> list[str]:
        return list(dict.fromkeys(value.split(",")))

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


@extend_schema_field({"type": "string", "enum": sorted(zoneinfo.available_timezones())})
class _TzField(serializers.CharField):
    """A zone of this machine's tz database (``tz_is_valid``); the schema lists them."""


def _tz_field(**kwargs) -> serializers.CharField:
    return _TzField(
        max_length=TZ_MAX_LENGTH,
        help_text="IANA time zone (e.g. `Europe/Berlin`) in which payload times without an "
        "offset are read.",
        **kwargs,
    )


# A JSON body whose values have the types the schema states: DRF alone would take 0 for a
# string field ("0") and 1 or "yes" for a boolean one. (A comment, not a docstring: the
# schema would show a docstring as every subclass's description.)
class JSONInput(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: [problem]
                for name, field in self.fields.items()
                if name in data and (problem := _json_type_problem(field, data[name]))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _json_type_problem(field: serializers.Field, value) -> str | None:
    if value is None and field.allow_null:
        return None
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.CharField | serializers.ChoiceField) and not isinstance(
        value, str
    ):
        return "Must be a string."
    return None


def _tz_validate(value: str) -> str:
    if not tz_is_valid(value):
        raise serializers.ValidationError(
            f"Unknown time zone '{value}': use an IANA zone name such as 'UTC' or 'Europe/Berlin'."
        )
    return value


class DeviceCreateSerializer(JSONInput):
    name = serializers.RegexField(
        rf"^{DEVICE_NAME_PATTERN}\Z",
        max_length=64,
        error_messages={"invalid": "Use 1 to 64 letters, digits, '_' or '-' (no dots or slashes)."},
    )
    kind = serializers.ChoiceField(choices=sorted(LAYOUTS), default=DEFAULT_KIND)
    tz = _tz_field(default=DEFAULT_TZ)

    def validate_tz(self, value: str) -> str:
        return _tz_validate(value)


class DeviceUpdateSerializer(JSONInput):
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
