"""Sparkplug B decoding (ingest.formats.sparkplug): births, data by alias, deaths. Pure: no
broker, no database. Payloads are built with the simulators' encoder
(sensors.sparkplug.payload_encode) or, for the golden vector, byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.formats.sparkplug import SparkplugState, sparkplug_decode
from ingest.formats.values import PayloadError
from sensors.sparkplug import Metric, Payload, payload_encode
from telemetry.records import DeviceEventIn, ReadingIn

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TS = 1486144502122  # the specification examples' timestamp
TS_AT = datetime(2017, 2, 3, 17, 55, 2, 122000, tzinfo=UTC)


def decode(state, message_type, data, *, sub=None, device="node1", group="plant"):
    return sparkplug_decode(
        state=state,
        device=device,
        group=group,
        message_type=message_type,
        sub_device=sub,
        payload=data,
        received_at=RECEIVED,
    )


def encode(metrics, *, ts=TS, seq=0, datatypes=True):
    return payload_encode(timestamp_ms=ts, seq=seq, metrics=metrics, datatypes=datatypes)


def values(decoded):
    return {r.topic: (r.value if r.text is None else r.text) for r in decoded.readings}


def nbirth(*metrics):
    return encode([Metric("bdSeq", None, "Int64", 3), *metrics])


# --- the specification's own examples -----------------------------------------------------
# Sparkplug 3.0.0 specification, chapter "Payloads", sections NBIRTH, NDATA, DBIRTH, DDATA
# and NDEATH (eclipse-sparkplug/sparkplug, specification/src/main/asciidoc/chapters/
# Sparkplug_6_Payloads.adoc): topic spBv1.0/Sparkplug B Devices/NBIRTH/Raspberry Pi.
SPEC_NBIRTH = [
    Metric("bdSeq", None, "UInt64", 0, TS),
    Metric("Node Control/Reboot", None, "Boolean", False, TS),
    Metric("Node Control/Rebirth", None, "Boolean", False, TS),
    Metric("Node Control/Next Server", None, "Boolean", False, TS),
    Metric("Node Control/Scan Rate", None, "Int64", 3000, TS),
    Metric("Properties/Hardware Make", None, "String", "Raspberry Pi", TS),
    Metric("Properties/Hardware Model", None, "String", "Pi 3 Model B", TS),
    Metric("Properties/OS", None, "String", "Raspbian", TS),
    Metric("Properties/OS Version", None, "String", "Jessie with PIXEL/11.01.2017", TS),
    Metric("Supply Voltage", None, "Float", 12.1, TS),
]


def test_the_specifications_nbirth_ndata_dbirth_ddata_examples():
    state = SparkplugState()
    birth = decode(state, "NBIRTH", encode(SPEC_NBIRTH, seq=0), device="raspberrypi")
    assert birth.events == [DeviceEventIn("raspberrypi", True, RECEIVED)]
    # bdSeq and the Node Control metrics are controls, not readings; the rest are readings
    assert values(birth) == {
        "raspberrypi.Properties.Hardware Make": "Raspberry Pi",
        "raspberrypi.Properties.Hardware Model": "Pi 3 Model B",
        "raspberrypi.Properties.OS": "Raspbian",
        "raspberrypi.Properties.OS Version": "Jessie with PIXEL/11.01.2017",
        "raspberrypi.Supply Voltage": 12.1,  # a Float: 12.1, not 12.100000381469727
    }
    assert {r.ts for r in birth.readings} == {TS_AT} and birth.skipped == 0

    ndata = encode([Metric("Supply Voltage", None, "Float", 12.3, TS)], seq=2)
    assert decode(state, "NDATA", ndata, device="raspberrypi").readings == [
        ReadingIn("raspberrypi.Supply Voltage", TS_AT, 12.3)
    ]

    pibrella = ["Inputs/A", "Inputs/B", "Inputs/C", "Inputs/D", "Inputs/Button", "Outputs/E"]
    dbirth = encode(
        [Metric(n, None, "Boolean", False, TS) for n in pibrella]
        + [Metric("Properties/Hardware Make", None, "String", "Pibrella", TS)],
        seq=1,
    )
    born = decode(state, "DBIRTH", dbirth, sub="Pibrella", device="raspberrypi")
    assert born.events == [DeviceEventIn("raspberrypi", True, RECEIVED, source="Pibrella")]
    assert values(born)["raspberrypi.Pibrella.Inputs.Button"] == 0.0
    assert values(born)["raspberrypi.Pibrella.Properties.Hardware Make"] == "Pibrella"

    ddata = encode(
        [
            Metric("Inputs/A", None, "Boolean", True, TS),
            Metric("Inputs/C", None, "Boolean", True, TS),
        ]
    )
    assert values(decode(state, "DDATA", ddata, sub="Pibrella", device="raspberrypi")) == {
        "raspberrypi.Pibrella.Inputs.A": 1.0,
        "raspberrypi.Pibrella.Inputs.C": 1.0,
    }


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def test_golden_bytes_of_the_specifications_ndeath_example():
    # NDEATH example of the same chapter: {"timestamp": 1486144502122, "metrics": [{"name":
    # "bdSeq", "timestamp": 1486144502122, "dataType": "UInt64", "value": 0}]}, written out
    # from the protobuf wire format and the field numbers of sparkplug_b.proto.
    metric = b"\x0a\x05bdSeq" + b"\x18" + _varint(TS) + b"\x20\x08" + b"\x58\x00"
    golden = b"\x08" + _varint(TS) + b"\x12" + _varint(len(metric)) + metric
    assert golden == payload_encode(
        timestamp_ms=TS, seq=None, metrics=[Metric("bdSeq", None, "UInt64", 0, TS)]
    )
    state = SparkplugState()
    decode(state, "NBIRTH", encode(SPEC_NBIRTH), device="raspberrypi")
    death = decode(state, "NDEATH", golden, device="raspberrypi")
    # offline at the receive time: an NDEATH is the will registered at connect time
    assert death.events == [DeviceEventIn("raspberrypi", False, RECEIVED)]
    assert death.readings == [] and death.skipped == 0


# --- aliases -----------------------------------------------------------------------------


def test_nbirth_then_ndata_by_alias_with_the_datatype_from_the_birth():
    state = SparkplugState()
    birth = nbirth(
        Metric("Node Control/Rebirth", 1, "Boolean", False),
        Metric("temperature", 2, "Double", 21.5),
        Metric("offset", 3, "Int32", -4),
    )
    assert values(decode(state, "NBIRTH", birth)) == {
        "node1.temperature": 21.5,
        "node1.offset": -4.0,
    }
    # DATA carries only aliases and, as the specification says it SHOULD, no datatype
    data = encode(
        [Metric(None, 2, "Double", 22.25), Metric(None, 3, "Int32", -7)], seq=1, datatypes=False
    )
    decoded = decode(state, "NDATA", data)
    assert values(decoded) == {"node1.temperature": 22.25, "node1.offset": -7.0}
    assert decoded.events == []


def test_dbirth_then_ddata_by_alias():
    state = SparkplugState()
    decode(state, "NBIRTH", nbirth(Metric("uptime", 1, "UInt32", 10)))
    dbirth = encode([Metric("Inputs/A", 10, "Boolean", False), Metric("rpm", 11, "UInt16", 900)])
    born = decode(state, "DBIRTH", dbirth, sub="motor")
    assert born.events == [DeviceEventIn("node1", True, RECEIVED, source="motor")]
    assert values(born) == {"node1.motor.Inputs.A": 0.0, "node1.motor.rpm": 900.0}
    ddata = encode([Metric(None, 10, "Boolean", True), Metric(None, 11, "UInt16", 1200)])
    assert values(decode(state, "DDATA", ddata, sub="motor")) == {
        "node1.motor.Inputs.A": 1.0,
        "node1.motor.rpm": 1200.0,
    }


def test_an_unknown_alias_dead_letters_the_message():
    state = SparkplugState()
    with pytest.raises(PayloadError) as error:
        decode(state, "NDATA", encode([Metric(None, 5, "Double", 1.0)]))
    assert str(error.value) == "unknown Sparkplug alias 5 for node1; waiting for a birth"

    decode(state, "NBIRTH", nbirth(Metric("a", 1, "Double", 1.0)))
    data = encode([Metric(None, 1, "Double", 2.0), Metric(None, 9, "Double", 3.0)])
    with pytest.raises(PayloadError, match="unknown Sparkplug alias 9 for node1;"):
        decode(state, "NDATA", data)  # the whole message, not just the unknown metric
    # a device's aliases are its own DBIRTH's
    with pytest.raises(PayloadError) as error:
        decode(state, "DDATA", encode([Metric(None, 1, "Double", 2.0)]), sub="pump")
    assert str(error.value) == "unknown Sparkplug alias 1 for node1/pump; waiting for a birth"


def test_a_new_nbirth_replaces_the_node_map_and_forgets_its_devices():
    state = SparkplugState()
    decode(state, "NBIRTH", nbirth(Metric("a", 1, "Double", 1.0)))
    decode(state, "DBIRTH", encode([Metric("x", 10, "Double", 1.0)]), sub="pump")
    decode(state, "NBIRTH", nbirth(Metric("b", 2, "Double", 1.0)))
    with pytest.raises(PayloadError, match="alias 1 for node1;"):
        decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]))
    with pytest.raises(PayloadError, match="alias 10 for node1/pump;"):
        decode(state, "DDATA", encode([Metric(None, 10, "Double", 2.0)]), sub="pump")
    assert values(decode(state, "NDATA", encode([Metric(None, 2, "Double", 5.0)]))) == {
        "node1.b": 5.0
    }


def test_alias_maps_are_per_group_and_edge_node():
    state = SparkplugState()
    decode(state, "NBIRTH", nbirth(Metric("a", 1, "Double", 1.0)), group="east")
    with pytest.raises(PayloadError):
        decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]), group="west")
    with pytest.raises(PayloadError):
        decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]), device="node2")


def test_memory_is_bounded_the_least_recently_used_node_is_forgotten():
    state = SparkplugState(max_nodes=2)
    for node in ("n1", "n2"):
        decode(state, "NBIRTH", nbirth(Metric("a", 1, "Double", 1.0)), device=node)
    decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]), device="n1")  # n1 used
    decode(state, "NBIRTH", nbirth(Metric("a", 1, "Double", 1.0)), device="n3")
    assert len(state) == 2
    with pytest.raises(PayloadError, match="alias 1 for n2;"):
        decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]), device="n2")
    assert decode(state, "NDATA", encode([Metric(None, 1, "Double", 2.0)]), device="n1").readings


def test_data_by_name_needs_no_birth():
    state = SparkplugState()
    decoded = decode(state, "NDATA", encode([Metric("Supply Voltage", None, "Float", 12.5)]))
    assert values(decoded) == {"node1.Supply Voltage": 12.5}


# --- deaths ------------------------------------------------------------------------------


def test_ndeath_takes_the_node_and_its_devices_offline():
    state = SparkplugState()
    decode(state, "NBIRTH", nbirth())
    decode(state, "DBIRTH", encode([Metric("x", 10, "Double", 1.0)]), sub="pump")
    decode(state, "DBIRTH", encode([Metric("y", 11, "Double", 1.0)]), sub="fan")
    death = decode(state, "NDEATH", encode([Metric("bdSeq", None, "Int64", 3)], seq=None))
    assert death.events == [
        DeviceEventIn("node1", False, RECEIVED),
        DeviceEventIn("node1", False, RECEIVED, source="pump"),
        DeviceEventIn("node1", False, RECEIVED, source="fan"),
    ]


def test_an_ndeath_of_an_earlier_session_is_ignored():
    # Sparkplug 3.0, "Edge Node Session Establishment": the bdSeq correlates an NDEATH with
    # its NBIRTH, "because timing with Will Messages may result in NDEATH messages arriving
    # after a new/next NBIRTH message".
    state = SparkplugState()
    decode(state, "NBIRTH", nbirth())  # bdSeq 3
    late = decode(state, "NDEATH", encode([Metric("bdSeq", None, "Int64", 2)], seq=None))
    assert late.events == [] and late.readings == []
    # without a birth seen (an ingester restart) any NDEATH counts
    fresh = decode(SparkplugState(), "NDEATH", encode([Metric("bdSeq", None, "Int64", 2)]))
    assert fresh.events == [DeviceEventIn("node1", False, RECEIVED)]


def test_ddeath_takes_one_device_offline_at_its_receive_time():
    # Availability is ordered by the ingester's clock (a device clock running ahead would
    # make a later death look older than the birth before it, and be skipped as stale).
    state = SparkplugState()
    death = decode(state, "DDEATH", encode([], ts=TS, seq=4), sub="pump")
    assert death.events == [DeviceEventIn("node1", False, RECEIVED, source="pump")]
    no_time = Payload(seq=5).SerializeToString()
    assert decode(state, "DDEATH", no_time, sub="pump").events == [
        DeviceEventIn("node1", False, RECEIVED, source="pump")
    ]


# --- times and values --------------------------------------------------------------------


def test_metric_timestamp_else_payload_timestamp_else_receive_time():
    state = SparkplugState()
    data = encode(
        [Metric("own", None, "Double", 1.0, TS + 1000), Metric("shared", None, "Double", 2.0)]
    )
    readings = {r.topic: r.ts for r in decode(state, "NDATA", data).readings}
    assert readings == {"node1.own": TS_AT + timedelta(seconds=1), "node1.shared": TS_AT}
    untimed = Payload()
    metric = untimed.metrics.add()
    metric.name, metric.double_value = "bare", 3.0
    assert decode(state, "NDATA", untimed.SerializeToString()).readings == [
        ReadingIn("node1.bare", RECEIVED, 3.0)
    ]


def test_booleans_strings_integers_and_datetimes():
    state = SparkplugState()
    data = encode(
        [
            Metric("relay", None, "Boolean", True),
            Metric("door", None, "Boolean", False),
            Metric("status", None, "String", "Running"),
            Metric("note", None, "Text", "filter changed"),
            Metric("count", None, "UInt64", 2**40),
            Metric("delta", None, "Int16", -300),
            Metric("Last Update FW", None, "DateTime", TS),
        ]
    )
    assert values(decode(state, "NDATA", data)) == {
        "node1.relay": 1.0,
        "node1.door": 0.0,
        "node1.status": "Running",
        "node1.note": "filter changed",
        "node1.count": float(2**40),
        "node1.delta": -300.0,
        "node1.Last Update FW": "2017-02-03T17:55:02.122000+00:00",
    }


def test_signed_integers_sent_as_32_bit_twos_complement_read_back_negative():
    # Tahu's Java client sends an Int8 of -1 as the uint32 0xFFFFFFFF, its Python one as 0xFF
    payload = Payload(timestamp=TS)
    for name, raw in (("java", 0xFFFFFFFF), ("python", 0xFF)):
        metric = payload.metrics.add()
        metric.name, metric.datatype, metric.int_value = name, 1, raw
    assert values(decode(SparkplugState(), "NDATA", payload.SerializeToString())) == {
        "node1.java": -1.0,
        "node1.python": -1.0,
    }


def test_null_transient_and_complex_metrics_are_skipped_and_counted():
    payload = Payload.FromString(
        encode([Metric("gone", None, "Double", None), Metric("ok", None, "Double", 1.0)])
    )
    table = payload.metrics.add()
    table.name, table.datatype = "table", 16  # DataSet
    table.dataset_value.num_of_columns = 1
    table.dataset_value.columns.append("c")
    blob = payload.metrics.add()
    blob.name, blob.datatype, blob.bytes_value = "blob", 17, b"\x00\x01"  # Bytes
    array = payload.metrics.add()
    array.name, array.datatype, array.bytes_value = "arr", 24, b"\x01\x00\x00\x00"  # Int32Array
    udt = payload.metrics.add()
    udt.name, udt.datatype, udt.template_value.version = "udt", 19, "v1"  # Template
    transient = payload.metrics.add()
    transient.name, transient.is_transient, transient.double_value = "scratch", True, 9.0
    decoded = decode(SparkplugState(), "NDATA", payload.SerializeToString())
    assert values(decoded) == {"node1.ok": 1.0}
    assert decoded.skipped == 6


def test_metric_name_levels_become_series_levels():
    state = SparkplugState()
    data = encode(
        [
            Metric("Outputs/LEDs/Green", None, "Boolean", True),
            Metric("/leading//double/", None, "Double", 1.0),
            Metric("v1.2/temp", None, "Double", 2.0),
        ]
    )
    assert values(decode(state, "DDATA", data, sub="pi.brella")) == {
        "node1.pi_brella.Outputs.LEDs.Green": 1.0,  # a '.' in a topic level becomes '_'
        "node1.pi_brella.leading.double": 1.0,
        "node1.pi_brella.v1.2.temp": 2.0,
    }


def test_eng_unit_property_is_the_series_unit():
    payload = Payload(timestamp=TS)
    metric = payload.metrics.add()
    metric.name, metric.alias, metric.datatype, metric.float_value = "Temperature", 1, 9, 21.5
    metric.properties.keys.append("engUnit")
    metric.properties.values.add(type=12, string_value="°C")
    (reading,) = decode(SparkplugState(), "NBIRTH", payload.SerializeToString()).readings
    assert (reading.topic, reading.value, reading.unit) == ("node1.Temperature", 21.5, "°C")


# --- what is not Sparkplug ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"not protobuf at all", b'{"temp": 21.5}', b"\xff\xfe\xfd", b"P\x01"]
)
def test_garbage_is_not_a_sparkplug_payload(data):
    with pytest.raises(PayloadError, match="^not a Sparkplug B payload: "):
        decode(SparkplugState(), "NDATA", data)


def test_a_metric_name_that_is_not_utf8_is_a_dead_letter():
    data = encode([Metric("x", None, "Double", 1.0)]).replace(b"\x0a\x01x", b"\x0a\x01\xff")
    with pytest.raises(PayloadError, match="metric name is not UTF-8"):
        decode(SparkplugState(), "NDATA", data)


def test_topics_and_message_types():
    state = SparkplugState()
    assert decode(state, "NCMD", b"garbage").readings == []  # commands are not telemetry
    with pytest.raises(PayloadError, match="no device level"):
        decode(state, "DDATA", encode([]))
    with pytest.raises(PayloadError, match="has a device level"):
        decode(state, "NDATA", encode([]), sub="pump")
    with pytest.raises(PayloadError, match="unknown Sparkplug message type"):
        decode(state, "NREBIRTH", encode([]))
