"""Values and times as every payload format reads them (DESIGN.md, "Devices and MQTT").

- ``ON``/``OFF``, ``true``/``false``, ``online``/``offline`` (any case) are booleans, 1/0;
- ``null``, ``""``, ``NaN``, ``None`` are skipped (counted), not dead-lettered;
- a string holding a finite number is that number; any other string is a text reading;
- times: ISO 8601 (a local time without offset is read in the device's zone) or epoch
  numbers by magnitude (seconds, milliseconds, microseconds, nanoseconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telemetry.records import UNIT_MAX_LENGTH, DeviceEventIn, ReadingIn

_BOOLEAN_WORDS = {"on": 1.0, "off": 0.0, "true": 1.0, "false": 0.0, "online": 1.0, "offline": 0.0}
_SKIP_WORDS = frozenset(("", "null", "none", "nan"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch magnitudes: below 10^11 seconds (year 5138), below 10^14 milliseconds, below 10^17
# microseconds, else nanoseconds. Now is about 1.8·10^9 s = 1.8·10^12 ms = 1.8·10^18 ns.
_EPOCH_LIMITS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000))


class PayloadError(ValueError):
    """The message cannot be stored as readings; ``str(error)`` is the dead-letter reason."""


class Skip:
    """Marker for a value to skip (``null``, ``""``, ``NaN``, ``None``)."""


SKIP = Skip()


@dataclass(slots=True)
class Decoded:
    """What one message becomes: readings, availability events and the count of skipped
    values. A format appends to it; ``add`` applies the value rules."""

    readings: list[ReadingIn] = field(default_factory=list)
    events: list[DeviceEventIn] = field(default_factory=list)
    skipped: int = 0

    def add(self, series: str, raw: object, ts: datetime, unit: str | None = None) -> None:
        """One value on ``series``: a reading, or a skip. Raises :class:`PayloadError`."""
        value = value_read(raw)
        if unit is not None:
            unit = unit_read(unit)
        if value is SKIP:
            self.skipped += 1
        elif isinstance(value, float):
            self.readings.append(ReadingIn(series, ts, value, None, unit))
        else:
            self.readings.append(ReadingIn(series, ts, None, value, unit))

    def add_text(self, series: str, text: str, ts: datetime, unit: str | None = None) -> None:
        """A text reading as is (a SenML ``vs``, a line-protocol string field)."""
        text_check(text, what="text value")
        self.readings.append(
            ReadingIn(series, ts, None, text, unit_read(unit) if unit is not None else None)
        )


def encodable(text: str) -> bool:
    """False for text no UTF-8 store can take: a lone surrogate, which JSON's ``\\ud800``
    escape produces from perfectly valid UTF-8 bytes."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_check(text: str, *, what: str) -> None:
    if "\x00" in text:  # no SQL text column stores it: the batch would fail, not the message
        raise PayloadError(f"{what} contains a NUL character")
    if not encodable(text):
        raise PayloadError(f"{what} is not encodable as UTF-8 (a lone surrogate)")


def unit_read(raw: object) -> str | None:
    """A unit as kept on a series: a short printable text, else none."""
    if not isinstance(raw, str):
        return None
    unit = raw.strip()[:UNIT_MAX_LENGTH]
    if not unit or not unit.isprintable() or not encodable(unit):
        return None
    return unit


def value_read(raw: object) -> float | str | Skip:
    """A payload value as stored: a float, a text, or :data:`SKIP`."""
    if raw is None:
        return SKIP
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise PayloadError("value is out of range") from None
        if math.isnan(value):
            return SKIP
        if math.isinf(value):
            raise PayloadError("value is not a finite number")
        return value
    if isinstance(raw, str):
        word = raw.strip()
        lowered = word.lower()
        if lowered in _SKIP_WORDS:
            return SKIP
        boolean = _BOOLEAN_WORDS.get(lowered)
        if boolean is not None:
            return boolean
        if word[0] in "+-.0123456789iI" and word.isascii():
            try:
                number = float(word)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
        text_check(raw, what="text value")
        return raw
    raise PayloadError(f"value must be a number, a boolean or a string, got {type(raw).__name__}")


@lru_cache(maxsize=512)
def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (UTC when unknown: the registry validates zones)."""
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def epoch_time(number: float) -> datetime:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    if not math.isfinite(number):
        raise PayloadError("time is not a finite number")
    magnitude = abs(number)
    divisor = 1_000_000_000
    for limit, candidate in _EPOCH_LIMITS:
        if magnitude < limit:
            divisor = candidate
            break
    try:
        if isinstance(number, int):
            micros = number * 1_000_000 // divisor
            return _EPOCH + timedelta(microseconds=micros)
        return _EPOCH + timedelta(microseconds=round(number * 1_000_000 / divisor))
    except OverflowError:
        raise PayloadError("time is out of range") from None


def time_read(raw: object, *, tz: tzinfo = UTC) -> datetime:
    """A payload's own time: ISO 8601 (naive read in ``tz``) or an epoch number."""
    if isinstance(raw, bool):
        raise PayloadError("time must be ISO 8601 or an epoch number, got a boolean")
    if isinstance(raw, int | float):
        return epoch_time(raw)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                return epoch_time(float(text))
            except ValueError:
                raise PayloadError(f"time {text[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise PayloadError("time is out of range") from None
    raise PayloadError("time must be ISO 8601 or an epoch number")
