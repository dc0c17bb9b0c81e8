"""Sparkplug B payloads (topic ``spBv1.0/<group>/<message type>/<edge node>[/<device>]``).

The registered device is the Sparkplug edge node; a Sparkplug device behind it is a
sub-device. The rules, from the Sparkplug 3.0 specification (chapters "Payloads" and
"Operational Behavior"):

- NBIRTH starts an edge node session: it replaces the node's alias map and forgets those of
  its devices; DBIRTH replaces one device's. A birth binds every metric's name to its alias
  and datatype, and its metrics' current values are readings.
- NDATA/DDATA metrics carry an alias (or a name): an alias is read through the map of the
  last birth. An alias the map does not have dead-letters the whole message (the data cannot
  be named). The datatype comes from the metric or, as DATA SHOULD NOT repeat it, its birth.
- NBIRTH/DBIRTH mark the node / device online; NDEATH marks the node and all its devices
  offline at the receive time (an NDEATH is the node's MQTT will: its timestamp is the
  connect's), unless its ``bdSeq`` differs from the last NBIRTH's (a late will of an earlier
  session, which the specification says to ignore); DDEATH marks one device offline.
- series: ``<node>[.<device>].<metric name levels>``, the name split at ``/`` (and ``.``);
  time: the metric's timestamp, else the payload's (both epoch milliseconds), else receipt.
- values: integers (signed ones read from their two's complement), Float, Double, Boolean
  (1/0), String/Text/UUID (text, by the shared value rules), DateTime (ISO 8601 text).
  Null, transient (not to be historized) and valueless metrics, DataSet, Template, Bytes,
  File, PropertySet and array metrics are skipped and counted. ``bdSeq`` and
  ``Node Control/...`` / ``Device Control/...`` metrics are controls, not readings.
- a metric's ``engUnit`` property (as Ignition / MQTT Transmission send it) is its unit.

The alias maps live in this ingester process's memory (:class:`SparkplugState`, bounded). So
after an ingester restart, or in a shared-subscription group where another ingester received
the birth, a DATA by alias that arrives before the node's next birth is dead-lettered. The
specification's remedy is a Rebirth request (``Node Control/Rebirth`` NCMD), which the
ingester does not send: it only reads.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.formats.values import Decoded, PayloadError, text_check
from sensors.sparkplug import DATATYPES, DecodeError, payload_decode
from telemetry.records import UNIT_MAX_LENGTH, DeviceEventIn

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONTROL_PREFIXES = ("Node Control/", "Device Control/")
_SIGNED_BITS = {DATATYPES[f"Int{bits}"]: bits for bits in (8, 16, 32, 64)}
_DATETIME = DATATYPES["DateTime"]
# Types that are not one value: DataSet, Bytes, File, Template, PropertySet(List), arrays.
_NOT_A_VALUE = frozenset(
    number
    for name, number in DATATYPES.items()
    if name in ("DataSet", "Bytes", "File", "Template", "PropertySet", "PropertySetList")
    or name.endswith("Array")
)
_SCALAR_FIELDS = frozenset(
    ("int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value")
)
_BIRTHS = {"NBIRTH", "DBIRTH"}
_DATA = {"NDATA", "DDATA"}
_DEATHS = {"NDEATH", "DDEATH"}
_COMMANDS = {"NCMD", "DCMD"}


@dataclass(slots=True)
class _Scope:
    """What one birth (NBIRTH of the node, or DBIRTH of a device) declared."""

    aliases: dict[int, tuple[str, int | None]] = field(default_factory=dict)  # -> name, type
    datatypes: dict[str, int] = field(default_factory=dict)  # metric name -> datatype


@dataclass(slots=True)
class _Node:
    scope: _Scope = field(default_factory=_Scope)
    devices: OrderedDict[str, _Scope] = field(default_factory=OrderedDict)
    bd_seq: int | None = None


class SparkplugState:
    """The alias maps of the edge nodes this ingester process has seen born, per edge node
    (group and node id) and per device behind it. Bounded: beyond ``max_nodes`` nodes (or
    ``max_devices`` devices of one node) the least recently used ones are forgotten, and
    their next DATA by alias is dead-lettered until they are born again."""

    def __init__(self, *, max_nodes: int = 10000, max_devices: int = 1000):
        self.max_nodes = max_nodes
        self.max_devices = max_devices
        self._nodes: OrderedDict[tuple[str, str], _Node] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._nodes

    def _node(self, key: tuple[str, str], *, birth: bool) -> _Node:
        """The node's maps: new ones on its birth; on DATA, the known ones (or empty ones,
        not kept: only a birth takes a place in the bounded memory)."""
        return _bounded(self._nodes, key, _Node, birth=birth, limit=self.max_nodes)

    def _device(self, node: _Node, device: str, *, birth: bool) -> _Scope:
        return _bounded(node.devices, device, _Scope, birth=birth, limit=self.max_devices)


def _bounded(entries: OrderedDict, key, make, *, birth: bool, limit: int):
    """``entries[key]``, least recently used last out: a birth replaces it with a new one
    (dropping the oldest entries beyond ``limit``); otherwise the known one, or a new one
    that is not kept."""
    entry = None if birth else entries.get(key)
    if entry is None:
        entry = make()
        if not birth:
            return entry
        entries[key] = entry
        while len(entries) > limit:
            entries.popitem(last=False)
    entries.move_to_end(key)
    return entry


def _ms_time(ms: int) -> datetime:
    """Sparkplug times are epoch milliseconds (UTC) by definition: no magnitude guessing."""
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise PayloadError(f"Sparkplug timestamp {ms} is out of range") from None


def _text(raw: str | bytes, *, what: str) -> str:
    # The schema is proto2, whose parser hands out a string field that is not UTF-8 as bytes.
    if isinstance(raw, bytes):
        raise PayloadError(f"{what} is not UTF-8")
    text_check(raw, what=what)
    return raw


def _levels(name: str) -> list[str]:
    return [part for part in name.replace("/", ".").split(".") if part]


def _is_control(name: str) -> bool:
    return name == "bdSeq" or name.startswith(_CONTROL_PREFIXES)


def _unit(metric) -> str | None:
    if not metric.HasField("properties"):
        return None
    properties = metric.properties
    for key, value in zip(properties.keys, properties.values, strict=False):
        if key in ("engUnit", "EngUnit") and value.WhichOneof("value") == "string_value":
            unit = value.string_value
            if isinstance(unit, str) and 0 < len(unit) <= UNIT_MAX_LENGTH:
                text_check(unit, what="Sparkplug engUnit")
                return unit
    return None


def _value(metric, datatype: int | None) -> object:
    """The metric's value as :meth:`Decoded.add` reads it, or ``None`` to skip it."""
    kind = metric.WhichOneof("value")
    if metric.is_null or metric.is_transient or kind not in _SCALAR_FIELDS:
        return None
    if datatype in _NOT_A_VALUE:
        return None
    raw = getattr(metric, kind)
    if kind in ("int_value", "long_value"):
        if datatype == _DATETIME:
            return _ms_time(raw).isoformat()
        bits = _SIGNED_BITS.get(datatype)
        if bits is not None:
            raw &= (1 << bits) - 1  # Java clients send Int8 -1 as uint32 0xFFFFFFFF, Tahu's
            if raw >= 1 << (bits - 1):  # Python one as 0xFF: the low bits are the value
                raw -= 1 << bits
        return raw
    if kind == "string_value":
        return _text(raw, what="Sparkplug text value")
    if kind == "float_value":
        return _float32(raw)
    return raw


def _float32(raw: float) -> float:
    """A 32-bit float as the shortest decimal that is the same float32 (12.1, not
    12.100000381469727), as the device meant it."""
    exact = struct.pack("<f", raw)
    for digits in range(6, 9):
        short = float(f"{raw:.{digits}g}")
        if struct.pack("<f", short) == exact:
            return short
    return raw


def sparkplug_decode(
    *,
    state: SparkplugState,
    device: str,
    group: str,
    message_type: str,
    sub_device: str | None,
    payload: bytes,
    received_at: datetime,
) -> Decoded:
    """Readings and availability events of one Sparkplug B message of the edge node
    ``device``. Raises :class:`PayloadError` (dead letter) for a payload that is not
    Sparkplug B protobuf or a DATA metric whose alias no birth declared."""
    decoded = Decoded()
    if message_type in _COMMANDS:
        return decoded
    if message_type not in _BIRTHS | _DATA | _DEATHS:
        raise PayloadError(f"unknown Sparkplug message type {message_type!r}")
    on_device = message_type[0] == "D"
    if on_device and not sub_device:
        raise PayloadError(f"Sparkplug {message_type} topic has no device level")
    if not on_device and sub_device:
        raise PayloadError(f"Sparkplug {message_type} topic has a device level")
    try:
        message = payload_decode(payload)
    except DecodeError as error:
        raise PayloadError(f"not a Sparkplug B payload: {error}") from None
    if payload and not message.ListFields():
        raise PayloadError("not a Sparkplug B payload: no Sparkplug field in it")
    sub = _text(sub_device, what="Sparkplug device id") if on_device else ""
    key = (group, device)
    if message_type == "NDEATH":  # its timestamp, if any, is the connect's: not used
        with state._lock:
            return _node_death(decoded, state._nodes.get(key), message, device, received_at)
    message_time = _ms_time(message.timestamp) if message.HasField("timestamp") else received_at
    with state._lock:
        if message_type == "DDEATH":
            decoded.events.append(DeviceEventIn(device, False, received_at, source=sub))
            return decoded
        birth = message_type in _BIRTHS
        # a DBIRTH of a node not born here (an ingester restart in between) keeps its place
        node = state._node(key, birth=message_type == "NBIRTH" or (birth and key not in state))
        scope = state._device(node, sub, birth=birth) if on_device else node.scope
        if birth:
            decoded.events.append(DeviceEventIn(device, True, received_at, source=sub))
            for metric in message.metrics:  # every declaration first, whatever the values
                _declare(scope, node, metric, on_device=on_device)
        where = f"{device}/{sub}" if on_device else device
        prefix = f"{device}.{sub.replace('.', '_')}" if on_device else device
        for metric in message.metrics:
            name, datatype = _resolve(scope, metric, where=where)
            if name is not None and _is_control(name):
                continue
            levels = _levels(name) if name is not None else ()
            value = _value(metric, datatype)
            if value is None or not levels:
                decoded.skipped += 1
                continue
            ts = _ms_time(metric.timestamp) if metric.HasField("timestamp") else message_time
            decoded.add(".".join((prefix, *levels)), value, ts, _unit(metric))
    return decoded


def _declare(scope: _Scope, node: _Node, metric, *, on_device: bool) -> None:
    """A birth's metric: its name bound to its alias and datatype (``bdSeq`` kept)."""
    if not metric.HasField("name"):
        return
    name = _text(metric.name, what="Sparkplug metric name")
    datatype = metric.datatype if metric.HasField("datatype") else None
    if metric.HasField("alias"):
        scope.aliases[metric.alias] = (name, datatype)
    if datatype is not None:
        scope.datatypes[name] = datatype
    if name == "bdSeq" and not on_device:
        node.bd_seq = metric.long_value


def _resolve(scope: _Scope, metric, *, where: str) -> tuple[str | None, int | None]:
    """(the metric's name, its datatype): its own, else what its birth declared."""
    datatype = metric.datatype if metric.HasField("datatype") else None
    if metric.HasField("name"):
        name = _text(metric.name, what="Sparkplug metric name")
        return name, datatype if datatype is not None else scope.datatypes.get(name)
    if not metric.HasField("alias"):
        return None, datatype  # neither a name nor an alias: nothing to call it
    known = scope.aliases.get(metric.alias)
    if known is None:
        raise PayloadError(
            f"unknown Sparkplug alias {metric.alias} for {where}; waiting for a birth"
        )
    return known[0], datatype if datatype is not None else known[1]


def _node_death(
    decoded: Decoded, node: _Node | None, message, device: str, at: datetime
) -> Decoded:
    bd_seq = next((m.long_value for m in message.metrics if m.name == "bdSeq"), None)
    born = node.bd_seq if node is not None else None
    if born is not None and bd_seq is not None and bd_seq != born:
        return decoded  # the will of an earlier session, arriving after the new NBIRTH
    decoded.events.append(DeviceEventIn(device, False, at))
    if node is not None:  # all its devices go offline with it
        decoded.events.extend(DeviceEventIn(device, False, at, source=d) for d in node.devices)
    return decoded
