"""What a device of each firmware publishes: topics, payload encoding, retain flags, its last
will and the messages it sends on every connect (``python -m sensors ... --kind KIND``).

One small encoder class per kind; the reader still produces the values, the encoder decides
how that firmware puts them on the wire (DESIGN.md, "Devices and MQTT", the layouts table):

- ``native``: ``<name>/<metric>`` ``{"value", "ts", "seq"}`` (the original format);
- ``tasmota``: ``tele/<name>/SENSOR`` ``{"Time": <local ISO, ms>, "<Sensor>": {...},
  "TempUnit": "C"}``; ``tele/<name>/LWT`` ``Online`` retained at connect, will ``Offline``;
- ``esphome``: ``<name>/sensor/<object>/state`` bare values, retained; ``<name>/status``;
- ``shelly`` (Gen2): ``<name>/events/rpc`` ``NotifyStatus`` with ``params.ts``;
  ``<name>/online`` ``true``, will ``false``;
- ``zigbee2mqtt`` (``base_topic`` = the device name): ``<name>/<friendly name>`` JSON state;
  ``<name>/bridge/state`` ``{"state":"online"}`` retained, will ``{"state":"offline"}``;
- ``owntracks``: ``owntracks/<name>/<phone>`` ``_type: location``, will ``_type: lwt``;
- ``sparkplug``: ``spBv1.0/<group>/NBIRTH/<name>`` (aliases) at connect, then ``NDATA`` by
  alias; will ``NDEATH`` with the birth's ``bdSeq``;
- ``senml``: ``<name>/senml`` SenML packs (RFC 8428: ``bn``, ``bt``, ``u``, relative ``t``).

Times are strictly increasing per device at the resolution the firmware sends (a second's
worth of fast readings would otherwise collapse into one stored reading). Plain Python: no
Django, nothing of the apps.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message a device publishes (always at QoS 1 here)."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class FirmwareOptions:
    """Settings some firmwares have (each named after the setting of that firmware)."""

    tz: str = "UTC"  # tasmota: the zone its local ``Time`` is in (Tasmota's ``Timezone``)
    friendly_name: str = "living room"  # zigbee2mqtt: the device's friendly_name
    phone: str = "phone"  # owntracks: the device id (topic owntracks/<user>/<device>)
    group: str = "sensors"  # sparkplug: the group id
    batch: int = 10  # senml: readings per SenML pack


# How each firmware names a reader's metric, with its usual resolution. A metric not listed
# keeps its own name everywhere.
@dataclass(frozen=True, slots=True)
class _Metric:
    decimals: int
    esphome: str  # object id under <name>/sensor/
    zigbee: str  # key in the Zigbee2MQTT state
    shelly: tuple[str, str]  # Gen2 component and status key
    senml_unit: str | None  # RFC 8428 section 12.1 unit


_METRICS = {
    "temp": _Metric(1, "temperature", "temperature", ("temperature:0", "tC"), "Cel"),
    "humidity": _Metric(1, "humidity", "humidity", ("humidity:0", "rh"), "%RH"),
    "pot": _Metric(0, "potentiometer", "pot", ("pot:0", "value"), None),
}


def _metric(name: str) -> _Metric:
    return _METRICS.get(name) or _Metric(2, name, name, (f"{name}:0", "value"), None)


def _rounded(metric: str, value: float) -> float | int:
    decimals = _metric(metric).decimals
    return int(round(value)) if decimals == 0 else round(value, decimals)


class _Ticks:
    """Strictly increasing integer times: ``per_second`` ticks a second from ``clock``."""

    def __init__(self, clock: Clock, per_second: int) -> None:
        self.clock, self.per_second, self.last = clock, per_second, 0

    def next(self) -> int:
        now = int(self.clock() * self.per_second)
        self.last = now if now > self.last else self.last + 1
        return self.last


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class Encoder:
    """A device of one firmware. ``readings`` turns one reading of every metric into the
    messages it publishes (possibly none: SenML batches); ``flush`` returns what is still
    held back; ``on_connect`` is published on every connect, ``will`` is the last will (and
    is published on a clean stop, as these firmwares do when they shut down)."""

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        name: str,
        metrics: Sequence[str],
        options: FirmwareOptions | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self.metrics = tuple(metrics)
        self.options = options or FirmwareOptions()
        self.clock = clock

    def will(self) -> Message | None:
        return None

    def on_connect(self) -> list[Message]:
        return []

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        raise NotImplementedError

    def flush(self) -> list[Message]:
        return []


class Native(Encoder):
    """``<name>/<metric>`` with ``{"value": v, "ts": <epoch s, µs>, "seq": n}``: ``ts``
    strictly increases per device so the ingester stores each reading once however often it
    is redelivered, and ``seq`` numbers every message of a device from 1."""

    kind = "native"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seq = 0
        self._us = _Ticks(self.clock, 1_000_000)
        self.topics = {metric: f"{self.name}/{metric}" for metric in self.metrics}

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        out = []
        for metric, value in values.items():
            self.seq += 1
            body = {"value": value, "ts": self._us.next() / 1e6, "seq": self.seq}
            out.append(Message(self.topics[metric], json.dumps(body).encode()))
        return out


class Tasmota(Encoder):
    """Tasmota with FullTopic ``%prefix%/%topic%/`` and Topic = the device name; ``Time 4``
    (timestamps with milliseconds), in the device's local time without offset.
    Sources: https://tasmota.github.io/docs/MQTT/, https://tasmota.github.io/docs/BME280/,
    https://tasmota.github.io/docs/Commands/#time"""

    kind = "tasmota"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.zone = ZoneInfo(self.options.tz)
        self._ms = _Ticks(self.clock, 1000)
        # A DHT22 reports as AM2301 (temperature and humidity); a lone temperature probe as
        # DS18B20; an analog input as ANALOG/A0.
        paired = "humidity" in self.metrics
        self.keys = {
            "temp": ("AM2301" if paired else "DS18B20", "Temperature"),
            "humidity": ("AM2301", "Humidity"),
            "pot": ("ANALOG", "A0"),
        }

    def will(self) -> Message:
        return Message(f"tele/{self.name}/LWT", b"Offline", retain=True)

    def on_connect(self) -> list[Message]:
        return [Message(f"tele/{self.name}/LWT", b"Online", retain=True)]

    def local_time(self, ms: int) -> str:
        moment = datetime.fromtimestamp(ms / 1000, self.zone)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        body: dict[str, object] = {"Time": self.local_time(self._ms.next())}
        temperature = False
        for metric, value in values.items():
            sensor, key = self.keys.get(metric, ("SENSOR", metric))
            body.setdefault(sensor, {})[key] = _rounded(metric, value)  # type: ignore[index]
            temperature = temperature or key.endswith("Temperature")
        if temperature:
            body["TempUnit"] = "C"
        return [Message(f"tele/{self.name}/SENSOR", _json(body))]


class ESPHome(Encoder):
    """ESPHome's MQTT client with ``topic_prefix`` left at the node name (the device name):
    every state retained (``retain`` defaults to true), birth ``online`` and will ``offline``
    on ``<name>/status``, retained. Sources: https://esphome.io/components/mqtt.html,
    esphome/components/mqtt/mqtt_sensor.cpp (``value_accuracy_to_string``)."""

    kind = "esphome"

    def will(self) -> Message:
        return Message(f"{self.name}/status", b"offline", retain=True)

    def on_connect(self) -> list[Message]:
        return [Message(f"{self.name}/status", b"online", retain=True)]

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        out = []
        for metric, value in values.items():
            info = _metric(metric)
            text = f"{value:.{info.decimals}f}"
            out.append(Message(f"{self.name}/sensor/{info.esphome}/state", text.encode(), True))
        return out


class Shelly(Encoder):
    """A Shelly Gen2 with its MQTT ``topic_prefix`` set to the device name and RPC status
    notifications on: ``NotifyStatus`` frames on ``<name>/events/rpc`` (``params.ts`` in
    seconds, two decimals), ``<name>/online`` ``true`` at connect and ``false`` as its will.
    Sources: https://shelly-api-docs.shelly.cloud/gen2/General/Notifications,
    https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt"""

    kind = "shelly"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cs = _Ticks(self.clock, 100)

    def will(self) -> Message:
        return Message(f"{self.name}/online", b"false")

    def on_connect(self) -> list[Message]:
        return [Message(f"{self.name}/online", b"true")]

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        params: dict[str, object] = {"ts": round(self._cs.next() / 100, 2)}
        for metric, value in values.items():
            component, key = _metric(metric).shelly
            status = params.setdefault(component, {"id": 0})
            status[key] = _rounded(metric, value)  # type: ignore[index]
            if key == "tC":
                status["tF"] = round(value * 9 / 5 + 32, 1)  # type: ignore[index]
        frame = {
            "src": self.name,
            "dst": f"{self.name}/events",
            "method": "NotifyStatus",
            "params": params,
        }
        return [Message(f"{self.name}/events/rpc", _json(frame))]


class Zigbee2MQTT(Encoder):
    """Zigbee2MQTT with ``base_topic`` set to the device name, one end device (its
    ``friendly_name``, which may hold spaces) and the JSON availability payload.
    Sources: https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html,
    https://www.zigbee2mqtt.io/guide/configuration/device-availability.html"""

    kind = "zigbee2mqtt"

    def will(self) -> Message:
        return Message(f"{self.name}/bridge/state", b'{"state":"offline"}', retain=True)

    def on_connect(self) -> list[Message]:
        return [Message(f"{self.name}/bridge/state", b'{"state":"online"}', retain=True)]

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        state = {_metric(metric).zigbee: value for metric, value in values.items()}
        return [Message(f"{self.name}/{self.options.friendly_name}", _json(state))]


class OwnTracks(Encoder):
    """The OwnTracks app in MQTT mode, user = the device name: ``_type: location`` on
    ``owntracks/<name>/<phone>`` (retained, the apps' ``pubRetain``), its will ``_type: lwt``
    with the time it connected. A phone reports where it is, not the reader's metrics: the
    position is a walk around a point picked from the device name (a reader that has
    ``lat``/``lon``/... metrics supplies them instead). ``tst`` is whole seconds, strictly
    increasing. Source: https://owntracks.org/booklet/tech/json/"""

    kind = "owntracks"
    KEYS = ("lat", "lon", "acc", "alt", "vel", "batt")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.topic = f"owntracks/{self.name}/{self.options.phone}"
        self._s = _Ticks(self.clock, 1)
        self.rng = random.Random(zlib.crc32(self.name.encode()))
        self.lat = 48.0 + self.rng.uniform(-4, 6)
        self.lon = 8.0 + self.rng.uniform(-4, 8)
        self.heading = self.rng.uniform(0, 2 * math.pi)
        self.batt = 100.0

    def will(self) -> Message:
        return Message(self.topic, _json({"_type": "lwt", "tst": int(self.clock())}))

    def _walk(self) -> dict[str, float]:
        self.heading += self.rng.gauss(0, 0.3)
        speed = max(0.0, self.rng.gauss(4.5, 1.5))  # km/h, walking
        step = speed / 3600 / 111.0  # degrees covered in a second
        self.lat += step * math.cos(self.heading)
        self.lon += step * math.sin(self.heading) / max(0.1, math.cos(math.radians(self.lat)))
        self.batt = max(5.0, self.batt - 0.05)
        return {
            "acc": self.rng.choice((5, 8, 10, 12, 16)),
            "alt": 110 + self.rng.randint(-3, 3),
            "batt": int(self.batt),
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "vel": int(round(speed)),
        }

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        fix = self._walk()
        fix.update({key: values[key] for key in self.KEYS if key in values})
        body: dict[str, object] = {"_type": "location"}
        for key in sorted((*fix, "conn", "tid", "tst")):
            if key == "conn":
                body[key] = "w"
            elif key == "tid":
                body[key] = self.topic[-2:]  # the apps' default: the topic's last two chars
            elif key == "tst":
                body[key] = self._s.next()
            elif fix[key] or key in ("lat", "lon", "batt"):  # acc/alt/vel only when not 0
                body[key] = fix[key]
        return [Message(self.topic, _json(body), retain=True)]


class Sparkplug(Encoder):
    """A Sparkplug B edge node (the edge node id is the device name), no devices of its own:
    ``NBIRTH`` at connect (``seq`` 0, ``bdSeq``, ``Node Control/Rebirth``, every metric
    with its alias and datatype), then ``NDATA`` by alias only, ``seq`` 1..255 then 0; the
    will is ``NDEATH`` with the same ``bdSeq``. The payloads are ``sensors.sparkplug``'s.
    Source: https://sparkplug.eclipse.org/specification/version/3.0/documents/sparkplug-specification-3.0.0.pdf"""

    kind = "sparkplug"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prefix = f"spBv1.0/{self.options.group}"
        self.aliases = {metric: alias for alias, metric in enumerate(self.metrics, start=1)}
        self.bd_seq = 0  # one session per run: the will is set once, before the first connect
        self.seq = 0
        self.last: dict[str, float] = {}
        self._ms = _Ticks(self.clock, 1000)
        self._lock = threading.Lock()  # on_connect runs in the network thread

    def topic(self, message_type: str) -> str:
        return f"{self.prefix}/{message_type}/{self.name}"

    def will(self) -> Message:
        from sensors import sparkplug

        death = sparkplug.payload_encode(
            timestamp_ms=self._ms.next(),
            seq=None,
            metrics=[sparkplug.Metric("bdSeq", None, "Int64", self.bd_seq)],
        )
        return Message(self.topic("NDEATH"), death)

    def on_connect(self) -> list[Message]:
        from sensors import sparkplug

        with self._lock:
            self.seq = 0
            metrics = [
                sparkplug.Metric("bdSeq", None, "Int64", self.bd_seq),
                sparkplug.Metric("Node Control/Rebirth", None, "Boolean", False),
            ]
            metrics += [
                sparkplug.Metric(metric, alias, "Double", self.last.get(metric))
                for metric, alias in self.aliases.items()
            ]
            birth = sparkplug.payload_encode(timestamp_ms=self._ms.next(), seq=0, metrics=metrics)
        return [Message(self.topic("NBIRTH"), birth)]

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        from sensors import sparkplug

        with self._lock:
            self.last.update(values)
            self.seq = (self.seq + 1) % 256
            data = sparkplug.payload_encode(
                timestamp_ms=self._ms.next(),
                seq=self.seq,
                metrics=[
                    sparkplug.Metric(None, self.aliases[metric], "Double", float(value))
                    for metric, value in values.items()
                ],
                datatypes=False,
            )
        return [Message(self.topic("NDATA"), data)]


class SenML(Encoder):
    """SenML JSON packs (RFC 8428) on ``<name>/senml``: ``options.batch`` readings a pack,
    the first record carrying ``bn`` (``<name>:``) and ``bt`` (the first reading's time,
    seconds with milliseconds), later readings a relative ``t``, every record its ``u``.
    Source: https://www.rfc-editor.org/rfc/rfc8428#section-5"""

    kind = "senml"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.options.batch < 1:
            raise ValueError("the SenML batch must hold at least one reading")
        self._ms = _Ticks(self.clock, 1000)
        self.held: list[tuple[int, dict[str, float]]] = []

    def readings(self, values: Mapping[str, float]) -> list[Message]:
        self.held.append((self._ms.next(), dict(values)))
        return self.flush() if len(self.held) >= self.options.batch else []

    def flush(self) -> list[Message]:
        if not self.held:
            return []
        base_ms = self.held[0][0]
        pack: list[dict[str, object]] = []
        for ms, values in self.held:
            for metric, value in values.items():
                record: dict[str, object] = {}
                if not pack:
                    record.update(bn=f"{self.name}:", bt=base_ms / 1000)
                record["n"] = metric
                unit = _metric(metric).senml_unit
                if unit:
                    record["u"] = unit
                if ms != base_ms:
                    record["t"] = (ms - base_ms) / 1000
                record["v"] = value
                pack.append(record)
        self.held = []
        return [Message(f"{self.name}/senml", _json(pack))]


KINDS: dict[str, type[Encoder]] = {
    cls.kind: cls
    for cls in (Native, Tasmota, ESPHome, Shelly, Zigbee2MQTT, OwnTracks, Sparkplug, SenML)
}


def encoder(
    kind: str,
    *,
    name: str,
    metrics: Sequence[str],
    options: FirmwareOptions | None = None,
    clock: Clock = time.time,
) -> Encoder:
    """The encoder of a ``kind`` device called ``name`` whose reader has ``metrics``."""
    try:
        cls = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown firmware kind {kind!r}; one of {', '.join(KINDS)}") from None
    return cls(name=name, metrics=metrics, options=options, clock=clock)
