"""Sparkplug B (v1.0, the payload of Sparkplug 3.0) protobuf payloads; no Django.

The schema is Eclipse Tahu's ``sparkplug_b.proto``, kept beside this module as published.
No generated code is kept: at import, the protoc bundled with ``grpcio-tools`` compiles the
schema to a ``FileDescriptorSet`` (in a temporary directory) and the ``protobuf`` runtime
builds the message classes from it, in a private descriptor pool (so another copy of the
schema loaded elsewhere in the process cannot clash with it). This happens once per process.

``Payload`` is the message class; :func:`payload_encode` builds what the simulators publish
and :func:`payload_decode` parses what the ingester receives.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

__all__ = [
    "DATATYPES",
    "DecodeError",
    "Metric",
    "Payload",
    "payload_decode",
    "payload_encode",
]

SCHEMA = Path(__file__).with_name("sparkplug_b.proto")
_PACKAGE = "org.eclipse.tahu.protobuf"


def _message_classes() -> tuple[type, dict[str, int]]:
    """(the ``Payload`` class, the ``DataType`` enum as name -> number), from the schema."""
    from grpc_tools import protoc  # only needed here, once

    with tempfile.TemporaryDirectory(prefix="sparkplug-") as tmp:
        descriptor_set = Path(tmp) / "sparkplug_b.desc"
        status = protoc.main(
            [
                "protoc",
                f"--proto_path={SCHEMA.parent}",
                f"--descriptor_set_out={descriptor_set}",
                SCHEMA.name,
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc could not compile {SCHEMA} (exit status {status})")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    classes = message_factory.GetMessageClassesForFiles([file.name for file in files], pool)
    enum = pool.FindEnumTypeByName(f"{_PACKAGE}.DataType")
    return classes[f"{_PACKAGE}.Payload"], {value.name: value.number for value in enum.values}


Payload, DATATYPES = _message_classes()

# Signed integers travel as their two's complement in the unsigned field (uint32 for Int8 to
# Int32, uint64 for Int64), N bits wide, as Tahu's Python client encodes them.
_SIGNED_BITS = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
_UNSIGNED_BITS = {"UInt8": 8, "UInt16": 16, "UInt32": 32, "UInt64": 64}
_FIELD = {
    **dict.fromkeys(("Int8", "Int16", "Int32", "UInt8", "UInt16", "UInt32"), "int_value"),
    **dict.fromkeys(("Int64", "UInt64", "DateTime"), "long_value"),
    "Float": "float_value",
    "Double": "double_value",
    "Boolean": "boolean_value",
    "String": "string_value",
    "Text": "string_value",
}


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric to encode. ``datatype`` is a Sparkplug type name (``Int8`` ... ``UInt64``,
    ``Float``, ``Double``, ``Boolean``, ``String``, ``Text``, ``DateTime``: milliseconds
    since the epoch); ``value`` ``None`` is sent as ``is_null``."""

    name: str | None
    alias: int | None
    datatype: str
    value: object
    timestamp_ms: int | None = None


def _metric_set(target, metric: Metric, *, datatype: bool) -> None:
    field = _FIELD.get(metric.datatype)
    if field is None:
        raise ValueError(f"unsupported Sparkplug datatype {metric.datatype!r}")
    if metric.name is not None:
        target.name = metric.name
    if metric.alias is not None:
        target.alias = metric.alias
    if metric.timestamp_ms is not None:
        target.timestamp = metric.timestamp_ms
    if datatype:
        target.datatype = DATATYPES[metric.datatype]
    value = metric.value
    if value is None:
        target.is_null = True
        return
    if field in ("int_value", "long_value"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{metric.datatype} metric value must be an int, got {value!r}")
        bits = _SIGNED_BITS.get(metric.datatype)
        if bits is not None:
            if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                raise ValueError(f"{value} is out of range for {metric.datatype}")
            value &= (1 << bits) - 1
        elif not 0 <= value < 1 << _UNSIGNED_BITS.get(metric.datatype, 64):
            raise ValueError(f"{value} is out of range for {metric.datatype}")
    setattr(target, field, value)


def payload_encode(
    *, timestamp_ms: int, seq: int | None, metrics: list[Metric], datatypes: bool = True
) -> bytes:
    """A serialized Sparkplug B payload. ``seq`` ``None`` leaves it out (NDEATH, commands).
    ``datatypes=False`` leaves each metric's datatype out: births MUST carry it, and the
    specification says DATA messages SHOULD NOT (the receiver knows it from the birth)."""
    payload = Payload(timestamp=timestamp_ms)
    if seq is not None:
        payload.seq = seq
    for metric in metrics:
        _metric_set(payload.metrics.add(), metric, datatype=datatypes)
    return payload.SerializeToString()


def payload_decode(data: bytes):
    """The ``Payload`` message of ``data``. Raises :class:`DecodeError` when it is not one."""
    return Payload.FromString(data)
