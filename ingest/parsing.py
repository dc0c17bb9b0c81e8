"""Turn one MQTT message (topic + payload bytes) into readings and availability events, per
DESIGN.md's "Devices and MQTT".

No network: the writer loop asks a :class:`MessageReader` what each message of a batch is.
The topic says which device sent it and what it is (``telemetry.layouts``: the device's
layout, by its fixed prefix or its registered ``kind``); the payload is recognised by shape
(``ingest.formats``: bare values, JSON, ThingsBoard, SenML, line protocol, Sparkplug B).
A :class:`PayloadError` is a dead letter with its reason, :class:`IgnoredTopic` a message
that is not telemetry (the broker's ``$SYS``, commands, metadata): acknowledged and dropped.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta, tzinfo

from ingest.formats import jsonshape, lineproto
from ingest.formats.values import Decoded, PayloadError, time_read, value_read, zone
from telemetry.layouts import AVAILABILITY, IGNORE, LAYOUTS, Route, topic_device, topic_route
from telemetry.records import SERIES_PATTERN, TOPIC_MAX_LENGTH, DeviceEventIn, DeviceProfile

logger = logging.getLogger(__name__)

__all__ = ["IgnoredTopic", "MessageReader", "PayloadError", "message_parse"]

SERIES_RE = re.compile(SERIES_PATTERN)
DEVICE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_CACHE_MAX = 10_000
# DESIGN.md's time window: a reading's own time must fall in [1970, receive time + 1 day].
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_NO_PROFILES: Callable[[Collection[str]], Mapping[str, DeviceProfile]] = lambda names: {}  # noqa: E731


class IgnoredTopic(Exception):
    """Not telemetry (``$SYS``, a command, metadata): acknowledge and drop it."""


class MessageReader:
    """Reads messages for one ingester: caches the registry's device profiles (kind and
    zone, refreshed every ``profile_ttl`` seconds), routes and validated series names, and
    keeps the Sparkplug alias maps learnt from births."""

    def __init__(
        self,
        *,
        max_payload_bytes: int = 65536,
        profiles: Callable[[Collection[str]], Mapping[str, DeviceProfile]] | None = None,
        profile_ttl: float = 30.0,
    ) -> None:
        self.max_payload_bytes = max_payload_bytes
        self._profiles_load = profiles or _NO_PROFILES
        self._profile_ttl = profile_ttl
        self._profiles: dict[str, tuple[DeviceProfile | None, float]] = {}
        self._routes: dict[str, tuple[Route | None, str | None]] = {}
        self._valid_series: set[str] = set()
        self._sparkplug = None

    # --- device profiles ----------------------------------------------------------------
    def prefetch(self, topics: Collection[str]) -> None:
        """Load, in one query, the profiles of the devices of ``topics`` not cached yet (or
        cached longer than the TTL): the writer calls it once per batch."""
        now = time.monotonic()
        wanted = set()
        for topic in topics:
            name = topic_device(topic.split("/", 5)) if "/" in topic else topic
            if not name:
                continue
            cached = self._profiles.get(name)
            if cached is None or cached[1] < now:
                wanted.add(name)
        if not wanted:
            return
        try:
            found = self._profiles_load(wanted)
        except Exception:  # the registry is away: read with what is cached, retry later
            logger.warning("device profiles not loaded; reading as native", exc_info=True)
            found = {}
            expires = now + 1.0
        else:
            expires = now + self._profile_ttl
        if len(self._profiles) + len(wanted) > _CACHE_MAX:
            self._profiles.clear()
            self._routes.clear()
        for name in wanted:
            self._profiles[name] = (found.get(name), expires)

    def _profile(self, name: str) -> DeviceProfile | None:
        cached = self._profiles.get(name)
        return cached[0] if cached is not None else None

    def _kind_of(self, name: str) -> str | None:
        profile = self._profile(name)
        return profile.kind if profile is not None else None

    def _zone(self, name: str) -> tzinfo:
        profile = self._profile(name)
        return zone(profile.tz) if profile is not None else UTC

    # --- routing --------------------------------------------------------------------------
    def route(self, mqtt_topic: str) -> Route:
        first = mqtt_topic.split("/", 1)[0]
        kind = self._kind_of(first)
        cached = self._routes.get(mqtt_topic)
        if cached is not None and cached[1] == kind:
            route = cached[0]
        else:
            route = self._route_compute(mqtt_topic)
            if len(self._routes) >= _CACHE_MAX:
                self._routes.clear()
            self._routes[mqtt_topic] = (route, kind)
        if route is None:
            raise PayloadError("the topic names no device")
        if route.role == IGNORE:
            raise IgnoredTopic(mqtt_topic)
        return route

    def _route_compute(self, mqtt_topic: str) -> Route | None:
        if mqtt_topic.startswith("$"):
            return Route("", IGNORE)
        levels = mqtt_topic.split("/")
        if any(level == "" for level in levels):
            raise PayloadError("empty topic level")
        route = topic_route(levels, kind_of=self._kind_of)
        if route is not None and not DEVICE_NAME_RE.match(route.device):
            raise PayloadError("invalid device name: it must match [A-Za-z0-9_-]{1,64}")
        return route

    # --- messages -------------------------------------------------------------------------
    def read(self, *, mqtt_topic: str, payload: bytes, received_at: datetime) -> Decoded:
        """What the message is; raises :class:`PayloadError` or :class:`IgnoredTopic`."""
        route = self.route(mqtt_topic)
        if len(payload) > self.max_payload_bytes:
            raise PayloadError(f"payload of {len(payload)} bytes exceeds {self.max_payload_bytes}")
        if route.role == AVAILABILITY:
            return _availability(route, payload, received_at)
        if route.codec == "sparkplug":
            out = self._sparkplug_read(route, mqtt_topic, payload, received_at)
        else:
            out = self._payload_read(route, payload, received_at)
        self._check(out, received_at)
        return out

    def _payload_read(self, route: Route, payload: bytes, received_at: datetime) -> Decoded:
        out = Decoded()
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise PayloadError("payload is not UTF-8") from None
        if not text:
            out.skipped += 1  # firmware clears a retained topic with an empty message
            return out
        if text[0] not in '{["':
            if lineproto.looks_like(text):
                lineproto.decode(out, series=route.series, text=text, received_at=received_at)
            else:
                out.add(route.series, text, received_at)
            return out
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise PayloadError("malformed JSON") from None
        tz = self._zone(route.device)
        ts = received_at
        units: Mapping[str, str] = {}
        shape = getattr(LAYOUTS.get(_codec_kind(route.codec)), "shape", None)
        if shape is not None and route.codec:
            shaped = shape(route, data)
            if shaped.online is not None:
                out.events.append(DeviceEventIn(route.device, shaped.online, received_at))
                return out
            if shaped.ignore:
                raise IgnoredTopic(route.series)
            data, units = shaped.data, shaped.units
            if shaped.time is not None:
                ts = time_read(shaped.time, tz=tz)
        jsonshape.decode(
            out, series=route.series, data=data, ts=ts, tz=tz, received_at=received_at, units=units
        )
        return out

    def _sparkplug_read(
        self, route: Route, mqtt_topic: str, payload: bytes, received_at: datetime
    ) -> Decoded:
        from ingest.formats import sparkplug

        if self._sparkplug is None:
            self._sparkplug = sparkplug.SparkplugState()
        return sparkplug.sparkplug_decode(
            state=self._sparkplug,
            device=route.device,
            group=mqtt_topic.split("/", 2)[1],
            message_type=route.detail,
            sub_device=route.source or None,
            payload=payload,
            received_at=received_at,
        )

    def _check(self, out: Decoded, received_at: datetime) -> None:
        """Every series valid (as the API accepts it), every time inside the window."""
        latest = received_at + FUTURE_TOLERANCE
        valid = self._valid_series
        for reading in out.readings:
            topic = reading.topic
            if topic not in valid:
                if len(topic) > TOPIC_MAX_LENGTH:
                    raise PayloadError(f"series is longer than {TOPIC_MAX_LENGTH} characters")
                if SERIES_RE.fullmatch(topic) is None:
                    raise PayloadError(
                        f"series {topic[:80]!r} is not a valid name: the device name, then "
                        "levels of 1 to 128 printable characters but '/' and '.'"
                    )
                if len(valid) >= _CACHE_MAX:
                    valid.clear()
                valid.add(topic)
            ts = reading.ts
            if ts < EARLIEST_TS:
                raise PayloadError(f"ts {ts.isoformat()} is before 1970")
            if ts > latest:
                raise PayloadError(f"ts {ts.isoformat()} is more than a day after it was received")


def _codec_kind(codec: str) -> str:
    return "shelly" if codec == "shelly-rpc" else codec


def _availability(route: Route, payload: bytes, received_at: datetime) -> Decoded:
    """``online``/``offline``, ``true``/``false``, ``ON``/``OFF`` (any case), or a JSON
    ``{"state": ...}`` (Zigbee2MQTT): the device's own word on its availability."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PayloadError("availability payload is not UTF-8") from None
    out = Decoded()
    raw: object = text
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise PayloadError("malformed JSON") from None
        raw = data.get("state") if isinstance(data, dict) else None
    value = value_read(raw) if isinstance(raw, str | bool | type(None)) else None
    if value is None or not isinstance(value, float) or value not in (0.0, 1.0):
        if text == "":
            out.skipped += 1  # a retained will cleared by the firmware
            return out
        raise PayloadError("availability must be online/offline, true/false or ON/OFF")
    out.events.append(DeviceEventIn(route.device, value == 1.0, received_at, route.source))
    return out


_default_reader: MessageReader | None = None


def message_parse(
    *, mqtt_topic: str, payload: bytes, received_at: datetime, max_payload_bytes: int = 65536
) -> list:
    """The readings of one message for a registry that knows no device (every device read
    as its topic's layout, ``native`` by default, in UTC); raises like ``MessageReader.read``."""
    global _default_reader
    if _default_reader is None or _default_reader.max_payload_bytes != max_payload_bytes:
        _default_reader = MessageReader(max_payload_bytes=max_payload_bytes)
    decoded = _default_reader.read(mqtt_topic=mqtt_topic, payload=payload, received_at=received_at)
    return decoded.readings
