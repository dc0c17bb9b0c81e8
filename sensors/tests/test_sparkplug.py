"""Sparkplug B payloads built from Tahu's schema at import: encode, decode, round trip."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

from sensors.sparkplug import (
    DATATYPES,
    SCHEMA,
    DecodeError,
    Metric,
    Payload,
    payload_decode,
    payload_encode,
)

TS = 1486144502122


def test_the_schema_is_tahus_with_its_license_and_source():
    text = SCHEMA.read_text()
    assert text.startswith("// * Copyright (c) 2015, 2018 Cirrus Link Solutions and others")
    assert "SPDX-License-Identifier: EPL-2.0" in text
    assert "https://github.com/eclipse/tahu/blob/" in text
    assert "package org.eclipse.tahu.protobuf;" in text
    assert Payload.DESCRIPTOR.full_name == "org.eclipse.tahu.protobuf.Payload"
    assert DATATYPES["Int8"] == 1 and DATATYPES["Text"] == 14 and DATATYPES["DateTimeArray"] == 34


def test_classes_live_in_a_private_pool_so_another_copy_of_the_schema_cannot_clash():
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")


def test_round_trip_of_every_scalar_datatype():
    metrics = [
        Metric("i8", 1, "Int8", -128),
        Metric("i16", 2, "Int16", -2),
        Metric("i32", 3, "Int32", -(2**31)),
        Metric("i64", 4, "Int64", -1),
        Metric("u8", 5, "UInt8", 255),
        Metric("u16", 6, "UInt16", 65535),
        Metric("u32", 7, "UInt32", 2**32 - 1),
        Metric("u64", 8, "UInt64", 2**64 - 1),
        Metric("f", 9, "Float", 12.5),
        Metric("d", 10, "Double", math.pi),
        Metric("b", 11, "Boolean", True),
        Metric("s", 12, "String", "Raspberry Pi"),
        Metric("t", 13, "Text", "a longer text"),
        Metric("when", 14, "DateTime", TS, timestamp_ms=TS - 5),
    ]
    message = payload_decode(payload_encode(timestamp_ms=TS, seq=0, metrics=metrics))
    assert message.timestamp == TS and message.seq == 0
    got = {
        m.name: (m.alias, m.datatype, getattr(m, m.WhichOneof("value"))) for m in message.metrics
    }
    assert got == {
        # signed integers as their two's complement, N bits wide (Tahu's Python encoding)
        "i8": (1, 1, 0x80),
        "i16": (2, 2, 0xFFFE),
        "i32": (3, 3, 0x80000000),
        "i64": (4, 4, 2**64 - 1),
        "u8": (5, 5, 255),
        "u16": (6, 6, 65535),
        "u32": (7, 7, 2**32 - 1),
        "u64": (8, 8, 2**64 - 1),
        "f": (9, 9, 12.5),
        "d": (10, 10, math.pi),
        "b": (11, 11, True),
        "s": (12, 12, "Raspberry Pi"),
        "t": (13, 14, "a longer text"),
        "when": (14, 13, TS),
    }
    assert message.metrics[-1].timestamp == TS - 5
    assert not message.metrics[0].HasField("timestamp")


def test_null_value_no_seq_alias_only_and_datatypes_left_out():
    data = payload_encode(
        timestamp_ms=TS,
        seq=None,
        metrics=[Metric(None, 7, "Double", 1.5), Metric("gone", None, "Int32", None)],
        datatypes=False,
    )
    message = Payload.FromString(data)
    assert not message.HasField("seq")
    by_alias, null = message.metrics
    assert not by_alias.HasField("name") and by_alias.alias == 7 and by_alias.double_value == 1.5
    assert not by_alias.HasField("datatype") and not null.HasField("datatype")
    assert null.is_null and null.WhichOneof("value") is None and not null.HasField("alias")


@pytest.mark.parametrize(
    "metric",
    [
        Metric("x", None, "Int8", 128),
        Metric("x", None, "UInt8", -1),
        Metric("x", None, "UInt32", 2**32),
        Metric("x", None, "Int32", 1.5),
        Metric("x", None, "Int16", True),
        Metric("x", None, "DataSet", 1),
    ],
)
def test_values_the_datatype_cannot_hold_are_refused(metric):
    with pytest.raises(ValueError):
        payload_encode(timestamp_ms=TS, seq=1, metrics=[metric])


@pytest.mark.parametrize("data", [b"not protobuf at all", b"\xff\xff", b'{"temp": 21.5}'])
def test_decoding_garbage_raises_decode_error(data):
    with pytest.raises(DecodeError):
        payload_decode(data)


def test_imports_nothing_of_django_or_the_apps():
    code = (
        "import sys, sensors.sparkplug; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'iotserver', 'telemetry', 'ingest', 'accounts')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
