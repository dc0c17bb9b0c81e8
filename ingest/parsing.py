"""Turn one MQTT message (topic + payload bytes) into readings, per DESIGN.md's MQTT section.

Pure functions, no database and no network: the writer loop calls :func:`message_parse` for
every message of a batch and sends a :class:`PayloadError` to the dead-letter table.

Payload rules (the contract devices rely on):

- a bare number (``28.4``) or a bare string (``on``) is one reading on the message topic;
- a JSON object whose keys are only ``value``, ``ts`` and ``seq`` is one reading;
- any other JSON object is key-values: ``{"temp": 28.4, "humidity": 41}`` published on
  ``raspberrypi`` stores ``raspberrypi.temp`` and ``raspberrypi.humidity``. A ``ts`` key in it
  applies to every value and a ``seq`` key is ignored, so ``{"temp": 1, "ts": ...}`` is what a
  device means it to be; a value may itself be a ``{value, ts}`` object;
- a JSON array of any of these (not nested);
- ``ts`` is ISO 8601 (naive means UTC) or epoch seconds, or milliseconds when above 10^11;
- a reading without ``ts`` gets the receive time, plus its index in microseconds inside an array.

The stored topic is the MQTT topic with ``/`` replaced by ``.``; its first level is the device
name and must match ``[A-Za-z0-9_-]{1,64}``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

from telemetry.records import SERIES_PATTERN, TOPIC_MAX_LENGTH, ReadingIn

DEVICE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
# Exactly what the API accepts as ``/iot/<series>``: a series it would refuse is never stored.
SERIES_RE = re.compile(SERIES_PATTERN)
_SERIES_CACHE_MAX = 10_000
EPOCH_MS_THRESHOLD = 10**11
_READING_KEYS = frozenset(("value", "ts", "seq"))
_META_KEYS = ("ts", "seq")
_ONE_MICROSECOND = timedelta(microseconds=1)
# DESIGN.md's time window: a reading's own time must fall in [1970, receive time + 1 day].
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
_TOPIC_CACHE_MAX = 10_000


class PayloadError(ValueError):
    """The message cannot be stored as readings; ``str(error)`` is the dead-letter reason."""


class IgnoredTopic(Exception):
    """The message is not telemetry (the broker's ``$SYS`` tree): acknowledge and drop it."""


_topic_cache: dict[str, str] = {}
_valid_series: set[str] = set()


def _series_check(topic: str) -> None:
    if topic in _valid_series:
        return
    if len(topic) > TOPIC_MAX_LENGTH:
        raise PayloadError(f"topic is longer than {TOPIC_MAX_LENGTH} characters")
    if SERIES_RE.fullmatch(topic) is None:
        raise PayloadError(
            f"series {topic[:80]!r} is not a valid name: levels of 1 to 64 letters, digits, "
            "'_' or '-'"
        )
    if len(_valid_series) >= _SERIES_CACHE_MAX:
        _valid_series.clear()
    _valid_series.add(topic)


def topic_to_stored(*, mqtt_topic: str) -> str:
    """``raspberrypi/temp`` -> ``raspberrypi.temp``, validating the device (first) level."""
    stored = _topic_cache.get(mqtt_topic)
    if stored is not None:
        return stored
    if mqtt_topic.startswith("$"):
        raise IgnoredTopic(mqtt_topic)
    levels = mqtt_topic.split("/")
    if not DEVICE_NAME_RE.match(levels[0]):
        raise PayloadError("invalid device name: first topic level must match [A-Za-z0-9_-]{1,64}")
    if any(level == "" for level in levels[1:]):
        raise PayloadError("empty topic level")
    stored = ".".join(levels)
    if len(_topic_cache) >= _TOPIC_CACHE_MAX:
        _topic_cache.clear()
    _topic_cache[mqtt_topic] = stored
    return stored


def ts_parse(raw: object) -> datetime:
    """A device timestamp: ISO 8601 string or epoch seconds / milliseconds (> 10^11)."""
    if isinstance(raw, bool):
        raise PayloadError("ts must be ISO 8601 or epoch seconds/milliseconds, got a boolean")
    if isinstance(raw, int | float):
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise PayloadError("ts is not a finite number")
        if abs(seconds) > EPOCH_MS_THRESHOLD:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError("ts is out of range") from None
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise PayloadError("ts is not ISO 8601") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed
    raise PayloadError("ts must be ISO 8601 or epoch seconds/milliseconds")


def _encodable(text: str) -> bool:
    """False for text no UTF-8 store can take: a lone surrogate, which JSON's ``\\ud800``
    escape produces from perfectly valid UTF-8 bytes."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reading(*, topic: str, raw: object, ts: datetime) -> ReadingIn:
    _series_check(topic)
    if isinstance(raw, bool):
        return ReadingIn(topic=topic, ts=ts, value=1.0 if raw else 0.0)
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise PayloadError("value is out of range") from None
        if not math.isfinite(value):
            raise PayloadError("value is not a finite number")
        return ReadingIn(topic=topic, ts=ts, value=value)
    if isinstance(raw, str):
        if "\x00" in raw:  # no SQL text column stores it: the batch would fail, not the message
            raise PayloadError("text value contains a NUL character")
        if not _encodable(raw):
            raise PayloadError("text value is not encodable as UTF-8 (a lone surrogate)")
        return ReadingIn(topic=topic, ts=ts, text=raw)
    if raw is None:
        raise PayloadError("value is null")
    raise PayloadError(f"value must be a number or a string, got {type(raw).__name__}")


def _object_readings(*, topic: str, obj: dict, default_ts: datetime) -> list[ReadingIn]:
    if obj.keys() <= _READING_KEYS:
        if "value" not in obj:
            raise PayloadError("reading object has no value")
        ts = ts_parse(obj["ts"]) if "ts" in obj else default_ts
        return [_reading(topic=topic, raw=obj["value"], ts=ts)]
    ts = ts_parse(obj["ts"]) if "ts" in obj else default_ts
    readings = []
    for key, raw in obj.items():
        if key in _META_KEYS:
            continue
        if not isinstance(key, str) or key == "" or "/" in key or "." in key or "\x00" in key:
            raise PayloadError("key-value keys must be non-empty and contain no '/', '.' or NUL")
        if not _encodable(key):
            raise PayloadError("key is not encodable as UTF-8 (a lone surrogate)")
        sub_topic = f"{topic}.{key}"
        if isinstance(raw, dict):
            if not raw.keys() <= _READING_KEYS or "value" not in raw:
                raise PayloadError(f"key {key!r}: nested objects must be {{value, ts}} readings")
            readings.extend(_object_readings(topic=sub_topic, obj=raw, default_ts=ts))
        else:
            readings.append(_reading(topic=sub_topic, raw=raw, ts=ts))
    if not readings:
        raise PayloadError("object holds no readings")
    return readings


def _item_readings(*, topic: str, item: object, default_ts: datetime) -> list[ReadingIn]:
    if isinstance(item, dict):
        return _object_readings(topic=topic, obj=item, default_ts=default_ts)
    if isinstance(item, list):
        raise PayloadError("nested arrays are not supported")
    return [_reading(topic=topic, raw=item, ts=default_ts)]


def _decode_json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("malformed JSON") from None


def payload_parse(*, topic: str, payload: bytes, received_at: datetime) -> list[ReadingIn]:
    """Readings of one payload on the stored ``topic``; raises :class:`PayloadError`."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8") from None
    if not text:
        raise PayloadError("empty payload")
    first = text[0]
    if first in '{["':
        data = _decode_json(text)
    else:
        try:
            data = float(text)
        except ValueError:
            data = text
        else:
            if not math.isfinite(data):
                data = text
        if text in ("true", "false", "null"):
            data = _decode_json(text)
    if isinstance(data, list):
        if not data:
            raise PayloadError("empty array")
        readings: list[ReadingIn] = []
        for index, item in enumerate(data):
            item_ts = received_at + _ONE_MICROSECOND * index
            readings.extend(_item_readings(topic=topic, item=item, default_ts=item_ts))
        return readings
    return _item_readings(topic=topic, item=data, default_ts=received_at)


def message_parse(
    *, mqtt_topic: str, payload: bytes, received_at: datetime, max_payload_bytes: int
) -> list[ReadingIn]:
    """Readings of one MQTT message. Raises :class:`PayloadError` (dead letter) or
    :class:`IgnoredTopic` (not telemetry)."""
    stored_topic = topic_to_stored(mqtt_topic=mqtt_topic)
    if len(payload) > max_payload_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {max_payload_bytes}")
    readings = payload_parse(topic=stored_topic, payload=payload, received_at=received_at)
    latest = received_at + FUTURE_TOLERANCE
    for reading in readings:
        if reading.ts < EARLIEST_TS:
            raise PayloadError(f"ts {reading.ts.isoformat()} is before 1970")
        if reading.ts > latest:
            raise PayloadError(
                f"ts {reading.ts.isoformat()} is more than a day after it was received"
            )
    return readings


def array_span(*, readings_count: int) -> timedelta:
    """How far past its receive time a message's default timestamps may reach."""
    return _ONE_MICROSECOND * max(readings_count, 1)
