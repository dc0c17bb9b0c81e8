"""Plain records that cross the boundary between the ingester and telemetry storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The longest stored topic (readings, topic summaries and dead letters keep it in a column of
# this length): the ingester dead-letters readings whose topic is longer.
TOPIC_MAX_LENGTH = 255
# A series name as the API accepts it (``/iot/<series>``) and the ingester stores it
# (DESIGN.md, "Devices and MQTT"): the device name, then '.'-separated levels of any
# printable characters but '/' and '.' (no control characters: C0, DEL, C1).
SERIES_PATTERN = r"[A-Za-z0-9_-]{1,64}(?:\.[^./\x00-\x1f\x7f-\x9f]{1,128})*"
# The same pattern for the OpenAPI schema (ECMA-262 syntax, anchored).
SERIES_PATTERN_ECMA = r"^[A-Za-z0-9_-]{1,64}(\.[^./\u0000-\u001f\u007f-\u009f]{1,128})*$"
# The longest unit kept on a series (SenML ``u``, Tasmota ``TempUnit``).
UNIT_MAX_LENGTH = 32


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """One reading to store. ``ts`` is timezone-aware; exactly one of value/text is set.
    ``unit`` is the series' unit when the payload carries one (kept on the series)."""

    topic: str
    ts: datetime
    value: float | None = None
    text: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    """A message the ingester could not turn into readings, kept with the reason."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceEventIn:
    """What a device said about its availability on its last-will / status topic.

    ``device`` is the registered device; ``source`` names a sub-device when the message
    was about one (a Zigbee2MQTT end device, a Sparkplug device behind an edge node):
    such an event is recorded but leaves the registered device's own ``online`` alone."""

    device: str
    online: bool
    at: datetime
    source: str = ""


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the ingester needs to know of a registered device to read its messages."""

    name: str
    kind: str
    tz: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    stored: int
    duplicates: int
    dead_lettered: int
